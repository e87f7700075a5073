"""What went wrong with orders, told from the evidence: the event log and the ledgers.

An architect reading a run wants three things the verdict alone does not give: how the
fallout queue grew and drained (people are the scarce resource in exception handling),
how long repairs took and who did them, and what cancellations cost each downstream
system in compensations. And when an invariant breaks, the order's story must be read
*beside* what the downstream systems recorded, since the platform's own view is exactly
what may be wrong.

Pure functions over events and ledger snapshots, each reading the log once, so the sim
report, the live platform and a notebook all tell the same story.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime

from cpqsim.context import EPOCH
from cpqsim.downstream import EntryStatus, LedgerSnapshot
from cpqsim.events import CloudEvent

FALLOUT_OPENED = "order.fallout_opened"
FALLOUT_RESOLVED = "order.fallout_resolved"
REPAIR_REFUSED = "order.repair_refused"
CANCELLATION_ACCEPTED = "order.cancellation_accepted"
CANCELLED = "order.cancelled"
COMPENSATION_PLANNED = "order.compensation_planned"


def seconds_since_start(time: str) -> float:
    """An event's time as seconds after the run's start (the samples' time axis)."""
    return (datetime.fromisoformat(time) - EPOCH).total_seconds()


ORDER_ENDS = frozenset(
    {"order.completed", "order.partially_completed", "order.failed", "order.cancelled",
     "order.rejected"}
)  # fmt: skip


@dataclass(frozen=True)
class Repair:
    """One fallout case from opening to resolution (``resolved_s`` None: still open)."""

    case_id: str
    order_id: str
    task_id: str
    kind: str
    owner: str
    opened_s: float
    resolved_s: float | None = None
    action: str | None = None
    resolved_by: str | None = None

    @property
    def took_s(self) -> float | None:
        return None if self.resolved_s is None else self.resolved_s - self.opened_s


@dataclass
class OrderFacts:
    """What the order-exception figures and plots need, read from a log in one pass.

    A streamed log is read back from its file on every pass, so the summary, the plots
    and a sweep all take their figures from one reading.
    """

    repairs: list[Repair] = field(default_factory=list)
    cancellations: Counter[str] = field(default_factory=Counter)  # kind -> accepted
    cancelled_s: list[float] = field(default_factory=list)  # when orders ended cancelled
    repairs_refused: int = 0
    lead_times_s: list[float] = field(default_factory=list)  # creation to end, per order


def read_order_facts(events: Iterable[CloudEvent]) -> OrderFacts:
    facts = OrderFacts()
    cases: dict[str, Repair] = {}
    created: dict[str, float] = {}
    for e in events:
        name = e.name
        if not name.startswith("order."):
            continue
        if name == "order.created":
            created[e.subject] = seconds_since_start(e.time)
        elif name in ORDER_ENDS and e.subject in created:
            facts.lead_times_s.append(seconds_since_start(e.time) - created.pop(e.subject))
        if name == FALLOUT_OPENED:
            cases[e.data["case_id"]] = Repair(
                case_id=e.data["case_id"],
                order_id=e.subject.removeprefix("order/"),
                task_id=e.data.get("task_id", ""),
                kind=e.data.get("kind", "task"),
                owner=e.data.get("owner", ""),
                opened_s=seconds_since_start(e.time),
            )
        elif name == FALLOUT_RESOLVED and e.data["case_id"] in cases:
            case = cases[e.data["case_id"]]
            cases[case.case_id] = replace(
                case,
                resolved_s=seconds_since_start(e.time),
                action=e.data.get("action"),
                resolved_by=e.data.get("role"),
            )
        elif name == CANCELLATION_ACCEPTED:
            facts.cancellations[e.data.get("kind", "customer")] += 1
        elif name == CANCELLED:
            facts.cancellations["completed"] += 1
            facts.cancelled_s.append(seconds_since_start(e.time))
        elif name == REPAIR_REFUSED:
            facts.repairs_refused += 1
    facts.repairs = list(cases.values())
    return facts


def repairs(events: Iterable[CloudEvent]) -> list[Repair]:
    """Every fallout case in the order it was opened, with its resolution if any."""
    return read_order_facts(events).repairs


def order_lead_times(events: Iterable[CloudEvent]) -> list[float]:
    """Seconds from each order's creation to its end (orders still open are left out)."""
    return read_order_facts(events).lead_times_s


def fallout_queue(found: Iterable[Repair]) -> list[tuple[float, int]]:
    """Open fallout cases after every change, as (seconds since start, open cases) steps."""
    changes: list[tuple[float, int]] = []
    for r in found:
        changes.append((r.opened_s, +1))
        if r.resolved_s is not None:
            changes.append((r.resolved_s, -1))
    steps: list[tuple[float, int]] = []
    open_now = 0
    for t, delta in sorted(changes, key=lambda c: (c[0], -c[1])):
        open_now += delta
        steps.append((t, open_now))
    return steps


def percentile(values: list[float], q: float) -> float | None:
    """The nearest-rank ``q`` quantile, to the millisecond (None for no values)."""
    if not values:
        return None
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))], 3)


def compensations_by_downstream(ledgers: Mapping[str, LedgerSnapshot]) -> dict[str, dict]:
    """Per downstream: compensations asked and undone (distinct references), failed
    compensation attempts, and references whose side effect is still live.

    ``live_references`` counts references whose side effect is still in force; for a run
    without cancellations it is simply the work done, so it is shown beside ``undone``.
    """
    out: dict[str, dict] = {}
    for name, ledger in sorted(ledgers.items()):
        asked = [e for e in ledger.entries if e.request.compensates is not None]
        live = ledger.live_side_effects()
        out[name] = {
            "compensations_requested": len({e.request.reference for e in asked}),
            "undone": len({e.request.reference for e in asked if e.reversal}),
            "failed": sum(
                1 for e in asked if e.status in (EntryStatus.FAILED, EntryStatus.REJECTED)
            ),
            "live_references": sum(1 for n in live.values() if n > 0),
        }
    return out


def exceptions_summary(
    events: Iterable[CloudEvent] | OrderFacts, ledgers: Mapping[str, LedgerSnapshot]
) -> dict:
    """The order-exception figures of a run, for ``result.json`` and the report (from the
    log, or from facts already read from it)."""
    facts = events if isinstance(events, OrderFacts) else read_order_facts(events)
    cases = {r.case_id: r for r in facts.repairs}
    cancellations = facts.cancellations
    refused_repairs = facts.repairs_refused
    took = [r.took_s for r in cases.values() if r.took_s is not None]
    queue = fallout_queue(cases.values())
    by_owner = Counter(r.owner for r in cases.values())
    return {
        "fallout": {
            "opened": len(cases),
            "resolved": len(took),
            "open_at_end": queue[-1][1] if queue else 0,
            "peak_open": max((n for _, n in queue), default=0),
            "by_kind": dict(sorted(Counter(r.kind for r in cases.values()).items())),
            "by_owner": dict(sorted(by_owner.items())),
            "repair_time_p50_s": percentile(took, 0.5),
            "repair_time_p90_s": percentile(took, 0.9),
            "repair_time_max_s": round(max(took), 3) if took else None,
            "repairs_refused": refused_repairs,
        },
        "cancellations": {
            "accepted_by_customer": cancellations["customer"],
            "accepted_by_operations": cancellations["operations"],
            "rollbacks": cancellations["rollback"],
            "orders_cancelled": cancellations["completed"],
        },
        "compensations": compensations_by_downstream(ledgers),
    }


def clock(t_s: float) -> str:
    """Seconds since the start as hh:mm:ss.mmm (the evidence tables' time column)."""
    hours, rest = divmod(t_s, 3600)
    minutes, seconds = divmod(rest, 60)
    return f"{int(hours):02d}:{int(minutes):02d}:{seconds:06.3f}"


@dataclass(frozen=True)
class EvidenceRow:
    """One line of an order's story: the platform's fact or a downstream's record."""

    t_s: float
    source: str  # "platform" or the downstream system's name
    what: str
    detail: str


_EVENT_DETAIL = ("task_id", "attempt", "found", "treated_as", "via", "reason", "case_id")


def order_evidence(
    events: Iterable[CloudEvent], ledgers: Mapping[str, LedgerSnapshot], order_id: str
) -> list[EvidenceRow]:
    """An order's events interleaved in time with every ledger entry about it.

    A ledger entry is placed at the instant it finished (or was accepted, if it never
    finished), which is when its side effect became true downstream; at equal times the
    platform's fact comes first, as the platform acted before it heard back.
    """
    rows: list[tuple[float, int, int, EvidenceRow]] = []
    subject = f"order/{order_id}"
    for n, e in enumerate(events):
        if e.subject != subject:
            continue
        detail = ", ".join(f"{k} {e.data[k]}" for k in _EVENT_DETAIL if k in e.data)
        t = seconds_since_start(e.time)
        rows.append((t, 0, n, EvidenceRow(t, "platform", e.name, detail)))
    for name, ledger in sorted(ledgers.items()):
        for entry in ledger.entries:
            if entry.request.order_id != order_id:
                continue
            at_ms = entry.finished_ms if entry.finished_ms is not None else entry.accepted_ms
            what = f"{entry.request.operation} {entry.status.value}"
            if entry.reversal:
                what += " (reversal)"
            elif entry.side_effect:
                what += " (side effect)"
            detail = f"ref {entry.request.reference}, attempt {entry.request.attempt}"
            if entry.request.compensates:
                detail += f", undoes {entry.request.compensates}"
            if entry.fault.value != "none":
                detail += f", fault {entry.fault.value}"
            rows.append((at_ms / 1000, 1, entry.seq, EvidenceRow(at_ms / 1000, name, what, detail)))
    return [row for *_, row in sorted(rows, key=lambda r: r[:3])]
