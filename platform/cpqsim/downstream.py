"""Fake downstream systems, defined once as data plus pure sampling functions.

A downstream is *defined* here (capacity, service-time distribution, fault profile,
ledger semantics) and *embodied* by the runtimes: as SimPy processes in the sim runtime
and inside Ray actors in the live runtime. Both draw from the same functions with a
``random.Random`` they own, so a seed fixes every draw.

The ledger is the downstream's ground truth: which side effects really happened. The
platform never reads it directly except through ``query`` (query-by-reference, the
reconciliation path real systems offer); the invariant checker reads all of it.
"""

from __future__ import annotations

import math
import random
from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

# Bounds on durations (seconds): generous for any business scenario, and small enough
# that a typo cannot ask for a run that never ends.
DAY_S = 86_400.0
MAX_TIME_S = 400 * DAY_S


class ServiceTime(BaseModel):
    """Service-time distribution in seconds of (virtual) time."""

    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)

    distribution: Literal["constant", "exponential", "lognormal", "uniform"] = "exponential"
    mean_s: float = Field(default=2.0, gt=0, le=DAY_S)
    sigma: float = Field(default=0.5, ge=0, le=5, description="lognormal shape (of the log)")
    min_s: float = Field(default=0.0, ge=0, le=DAY_S, description="uniform lower bound")
    max_s: float = Field(default=0.0, ge=0, le=DAY_S, description="uniform upper bound")

    @model_validator(mode="after")
    def _uniform_bounds(self) -> ServiceTime:
        if self.distribution == "uniform" and self.max_s <= self.min_s:
            raise ValueError("uniform service time needs max_s > min_s")
        return self


class Outage(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)

    start_s: float = Field(ge=0, le=MAX_TIME_S)
    end_s: float = Field(gt=0, le=MAX_TIME_S)

    @model_validator(mode="after")
    def _ordered(self) -> Outage:
        if self.end_s <= self.start_s:
            raise ValueError("outage end_s must be after start_s")
        return self


class FaultProfile(BaseModel):
    """How a downstream misbehaves. Rates are probabilities per request."""

    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)

    error_rate: float = Field(default=0.0, ge=0, le=1, description="executes, fails, says so")
    timeout_rate: float = Field(
        default=0.0, ge=0, le=1, description="stalls for stall_s before executing"
    )
    lost_response_rate: float = Field(
        default=0.0, ge=0, le=1, description="executes, but the reply never arrives"
    )
    rejection_rate: float = Field(
        default=0.0,
        ge=0,
        le=1,
        description="refuses on business grounds (e.g. invalid account data): no side "
        "effect, and retrying cannot help",
    )
    duplicate_reply_rate: float = Field(
        default=0.0,
        ge=0,
        le=1,
        description="executes once and replies twice (a duplicate callback, late)",
    )
    stall_s: float = Field(default=120.0, ge=0, le=DAY_S)
    outages: list[Outage] = Field(default_factory=list, max_length=1_000)

    @model_validator(mode="after")
    def _rates_sum(self) -> FaultProfile:
        total = (
            self.error_rate
            + self.timeout_rate
            + self.lost_response_rate
            + self.rejection_rate
            + self.duplicate_reply_rate
        )
        if total > 1:
            raise ValueError(
                "error_rate + timeout_rate + lost_response_rate + rejection_rate + "
                f"duplicate_reply_rate must be <= 1 (got {total:g})"
            )
        return self


class DownstreamProfile(BaseModel):
    """One downstream system: capacity model, faults and ledger semantics."""

    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)

    name: str = Field(min_length=1, max_length=100)
    servers: int = Field(default=4, ge=1, le=10_000)
    queue_limit: int = Field(
        default=100, ge=0, le=10_000_000, description="waiting requests beyond busy servers"
    )
    service_time: ServiceTime = Field(default_factory=ServiceTime)
    network_latency_s: float = Field(default=0.05, ge=0, le=3600)
    query_latency_s: float = Field(default=0.2, ge=0, le=3600)
    faults: FaultProfile = Field(default_factory=FaultProfile)
    deduplicates: bool = Field(
        default=True, description="honours idempotency keys: a repeated key has no new effect"
    )


class Fault(StrEnum):
    NONE = "none"
    ERROR = "error"
    STALL = "stall"
    LOST_RESPONSE = "lost_response"
    REJECTION = "rejection"  # a business refusal: not retryable
    DUPLICATE_REPLY = "duplicate_reply"


def sample_service_time(profile: DownstreamProfile, rng: random.Random) -> float:
    st = profile.service_time
    if st.distribution == "constant":
        return st.mean_s
    if st.distribution == "exponential":
        return rng.expovariate(1.0 / st.mean_s)
    if st.distribution == "uniform":
        return rng.uniform(st.min_s, st.max_s)
    # lognormal parameterised by its mean: mu = ln(mean) - sigma^2 / 2
    mu = math.log(st.mean_s) - st.sigma**2 / 2
    return rng.lognormvariate(mu, st.sigma)


def sample_fault(profile: DownstreamProfile, rng: random.Random) -> Fault:
    """One uniform draw per request decides its fate, so streams stay aligned."""
    f = profile.faults
    u = rng.random()
    if u < f.error_rate:
        return Fault.ERROR
    if u < f.error_rate + f.timeout_rate:
        return Fault.STALL
    edge = f.error_rate + f.timeout_rate + f.lost_response_rate
    if u < edge:
        return Fault.LOST_RESPONSE
    # Kinds added later come after the first three, so a profile without them draws
    # exactly as before (the same seed gives the same day).
    edge += f.rejection_rate
    if u < edge:
        return Fault.REJECTION
    if u < edge + f.duplicate_reply_rate:
        return Fault.DUPLICATE_REPLY
    return Fault.NONE


def in_outage(profile: DownstreamProfile, t: float) -> bool:
    return any(o.start_s <= t < o.end_s for o in profile.faults.outages)


# ------------------------------------------------------------------------ the ledger


class EntryStatus(StrEnum):
    ACCEPTED = "accepted"  # queued
    IN_PROGRESS = "in_progress"
    COMPLETED = "completed"  # side effect happened
    DEDUPLICATED = "deduplicated"  # repeated idempotency key: no new side effect
    FAILED = "failed"  # executed and failed: no side effect
    REJECTED = "rejected"  # refused at the door (queue full, outage): never executed


class DownstreamRequest(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    system: str
    operation: str
    reference: str = Field(description="the caller's stable business reference for the task")
    idempotency_key: str | None = None
    order_id: str
    task_id: str
    attempt: int
    payload: dict[str, str] = Field(default_factory=dict)
    compensates: str | None = Field(
        default=None, description="the reference whose side effect this request undoes"
    )


class LedgerEntry(BaseModel):
    seq: int
    request: DownstreamRequest
    status: EntryStatus
    accepted_ms: int
    started_ms: int | None = None  # when a server took it (queued from accepted to started)
    finished_ms: int | None = None
    fault: Fault = Fault.NONE
    side_effect: bool = False
    duplicate_of: int | None = None

    @property
    def reversal(self) -> bool:
        """A compensation that took effect: it undoes ``request.compensates``."""
        return self.side_effect and self.request.compensates is not None


class QueryStatus(StrEnum):
    COMPLETED = "completed"
    IN_PROGRESS = "in_progress"
    FAILED = "failed"
    NOT_FOUND = "not_found"


class DownstreamLedger:
    """Ground truth of one downstream: every request it saw and every side effect."""

    def __init__(self, profile: DownstreamProfile) -> None:
        self.profile = profile
        self.entries: list[LedgerEntry] = []
        self._by_key: dict[str, int] = {}
        self._by_reference: dict[str, list[int]] = {}

    def accept(self, request: DownstreamRequest, now_ms: int) -> LedgerEntry:
        entry = LedgerEntry(
            seq=len(self.entries), request=request, status=EntryStatus.ACCEPTED, accepted_ms=now_ms
        )
        self.entries.append(entry)
        self._by_reference.setdefault(request.reference, []).append(entry.seq)
        return entry

    def reject(self, request: DownstreamRequest, now_ms: int, reason: Fault) -> LedgerEntry:
        entry = self.accept(request, now_ms)
        entry.status = EntryStatus.REJECTED
        entry.finished_ms = now_ms
        entry.fault = reason
        return entry

    def start(self, entry: LedgerEntry, now_ms: int | None = None) -> None:
        entry.status = EntryStatus.IN_PROGRESS
        entry.started_ms = now_ms

    def finish(self, entry: LedgerEntry, now_ms: int, fault: Fault) -> LedgerEntry:
        """Execute the request: record a side effect unless it failed or is a dedup hit."""
        entry.finished_ms = now_ms
        entry.fault = fault
        key = entry.request.idempotency_key
        if fault in (Fault.ERROR, Fault.REJECTION):
            entry.status = EntryStatus.FAILED
            return entry
        if self.profile.deduplicates and key is not None and key in self._by_key:
            entry.status = EntryStatus.DEDUPLICATED
            entry.duplicate_of = self._by_key[key]
            return entry
        entry.status = EntryStatus.COMPLETED
        entry.side_effect = True
        if key is not None:
            self._by_key.setdefault(key, entry.seq)
        return entry

    def query(self, reference: str) -> QueryStatus:
        """Query-by-reference: what happened to requests carrying this reference."""
        statuses = [self.entries[i].status for i in self._by_reference.get(reference, [])]
        if any(s in (EntryStatus.COMPLETED, EntryStatus.DEDUPLICATED) for s in statuses):
            return QueryStatus.COMPLETED
        if any(s in (EntryStatus.ACCEPTED, EntryStatus.IN_PROGRESS) for s in statuses):
            return QueryStatus.IN_PROGRESS
        if any(s is EntryStatus.FAILED for s in statuses):
            return QueryStatus.FAILED
        return QueryStatus.NOT_FOUND

    def side_effects(self) -> list[LedgerEntry]:
        return [e for e in self.entries if e.side_effect]

    def duplicates(self) -> dict[str, int]:
        return duplicate_side_effects(self.entries)

    def live_side_effects(self) -> dict[str, int]:
        return live_side_effects(self.entries)

    def snapshot(self) -> LedgerSnapshot:
        return LedgerSnapshot(
            system=self.profile.name, entries=[e.model_copy() for e in self.entries]
        )


class LedgerSnapshot(BaseModel):
    """A ledger as data, for the invariant checker and for shipping out of an actor."""

    system: str
    entries: list[LedgerEntry]

    def side_effects(self) -> list[LedgerEntry]:
        return [e for e in self.entries if e.side_effect]

    def duplicates(self) -> dict[str, int]:
        return duplicate_side_effects(self.entries)

    def live_side_effects(self) -> dict[str, int]:
        return live_side_effects(self.entries)


def live_side_effects(entries: list[LedgerEntry]) -> dict[str, int]:
    """Per reference, the side effects still in force: done minus undone (never below 0).

    A compensation is recorded as a reversal of the reference it names, so a cancelled
    order whose work was undone shows 0 live side effects downstream.
    """
    live: dict[str, int] = {}
    for e in entries:
        if not e.side_effect:
            continue
        if e.request.compensates is None:
            live[e.request.reference] = live.get(e.request.reference, 0) + 1
        else:
            ref = e.request.compensates
            live[ref] = max(live.get(ref, 0) - 1, 0)
    return {ref: n for ref, n in sorted(live.items()) if n > 0}


def duplicate_side_effects(entries: list[LedgerEntry]) -> dict[str, int]:
    """References with more than one side effect, and how many each has."""
    counts: dict[str, int] = {}
    for e in entries:
        if e.side_effect:
            counts[e.request.reference] = counts.get(e.request.reference, 0) + 1
    return {ref: n for ref, n in sorted(counts.items()) if n > 1}
