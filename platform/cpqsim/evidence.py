"""The evidence package of a quote: what was offered, priced, approved, accepted, ordered.

A commercial commitment must be provable later. :func:`evidence_package` assembles it
from the facts alone (a run's event log, a live platform's journal): the accepted
snapshot with its configuration and price fingerprints, the price and its trace, every
approval decision (who, in which role, under which policy version, when), the proposal
hash, the acceptance, the conversion and the order. :func:`verify_evidence` then
recomputes every fingerprint from the stored inputs — prices the stored request again
against the catalog version it names, renders the proposal again, hashes the snapshot
again — and says, check by check, what matches. Both are pure: the caller passes the
facts and a way to price.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime

from pydantic import BaseModel, ConfigDict

from cpqsim.canonical import fingerprint
from cpqsim.events import CloudEvent
from cpqsim.lifecycle import DomainError
from cpqsim.pricing import PriceRequest, PriceResult
from cpqsim.proposal import proposal_sha256, render_proposal
from cpqsim.quote import (
    QUOTE_EVENTS,
    CommercialSnapshot,
    Quote,
    QuoteAccepted,
    QuoteApproved,
    QuoteConvertedToOrder,
    QuoteCreated,
    QuotePresented,
    QuotePriced,
    QuoteRejected,
    evolve,
)


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Decision(_Frozen):
    """One approval decision on the accepted revision."""

    decision: str  # approved | rejected
    actor: str
    role: str
    policy_version: str | None
    time: str
    reason: str
    snapshot_fingerprint: str | None


class Recorded(_Frozen):
    """Who established a fact and when (from its envelope)."""

    event_id: str
    actor: str
    time: str


class ProposalEvidence(_Frozen):
    sha256: str
    format: str
    presented_at: datetime
    valid_until: datetime
    policy_version: str
    recorded: Recorded


class AcceptanceEvidence(_Frozen):
    revision: int
    snapshot_fingerprint: str
    price_fingerprint: str
    proposal_sha256: str | None
    recorded: Recorded


class ConversionEvidence(_Frozen):
    order_id: str
    idempotency_key: str
    snapshot_fingerprint: str
    recorded: Recorded
    order_created: Recorded | None  # the order side's fact, when the log holds it


class EvidencePackage(_Frozen):
    """Everything needed to prove one quote's commitment, and nothing recomputed."""

    quote_id: str
    account_id: str
    requester: str
    status: str
    accepted_revision: int | None
    snapshot: CommercialSnapshot | None
    snapshot_fingerprint: str | None
    configuration_fingerprint: str | None
    price_request: PriceRequest | None
    price: PriceResult | None
    price_fingerprint: str | None
    approvals: list[Decision]
    proposal: ProposalEvidence | None
    acceptance: AcceptanceEvidence | None
    conversion: ConversionEvidence | None
    order_id: str | None


class Check(_Frozen):
    name: str
    ok: bool
    detail: str


class Verification(_Frozen):
    quote_id: str
    ok: bool
    checks: list[Check]


def configuration_fingerprint(snapshot: CommercialSnapshot) -> str:
    """sha256 of the accepted configuration (the lines, every element pinned)."""
    return fingerprint(snapshot.lines)


def _recorded(event: CloudEvent) -> Recorded:
    return Recorded(event_id=event.id, actor=event.actor, time=event.time)


def quote_ids(events: Iterable[CloudEvent]) -> list[str]:
    """Every quote the facts mention, in order of first mention."""
    seen: dict[str, None] = {}
    for event in events:
        if event.subject.startswith("quote/"):
            seen.setdefault(event.subject.removeprefix("quote/"), None)
    return list(seen)


class _Gathered:
    """The facts of one quote, kept per revision as they are read."""

    def __init__(self) -> None:
        self.created: QuoteCreated | None = None
        self.state: Quote | None = None
        self.consistent = True  # the facts fold into a lifecycle the table allows
        self.priced: dict[int, QuotePriced] = {}
        self.decisions: dict[int, list[Decision]] = {}
        self.presented: dict[int, tuple[QuotePresented, CloudEvent]] = {}
        self.accepted: tuple[QuoteAccepted, CloudEvent] | None = None
        self.converted: tuple[QuoteConvertedToOrder, CloudEvent] | None = None

    def add(self, event: CloudEvent) -> None:
        fact = QUOTE_EVENTS[event.type].model_validate(event.data)
        try:
            self.state = evolve(self.state, fact) if self.consistent else None
        except (DomainError, AssertionError):  # an edited log: say so, keep reading
            self.consistent, self.state = False, None
        if isinstance(fact, QuoteCreated):
            self.created = fact
        elif isinstance(fact, QuotePriced):
            self.priced[fact.revision] = fact
            self.decisions[fact.revision] = []  # a new price needs a new decision
        elif isinstance(fact, QuoteApproved | QuoteRejected):
            self.decisions.setdefault(fact.revision, []).append(
                Decision(
                    decision=fact.type_name,
                    actor=fact.approver,
                    role=fact.role,
                    policy_version=getattr(fact, "policy_version", None),
                    time=event.time,
                    reason=fact.reason,
                    snapshot_fingerprint=getattr(fact, "snapshot_fingerprint", None),
                )
            )
        elif isinstance(fact, QuotePresented):
            self.presented[fact.revision] = (fact, event)
        elif isinstance(fact, QuoteAccepted):
            self.accepted = (fact, event)
        elif isinstance(fact, QuoteConvertedToOrder):
            self.converted = (fact, event)


def evidence_package(quote_id: str, events: Iterable[CloudEvent]) -> EvidencePackage | None:
    """Assemble the evidence of ``quote_id`` from the facts; None if none mention it.

    ``events`` may be a whole log: only the quote's facts and the order its conversion
    named are read.
    """
    facts = _Gathered()
    order_created: Recorded | None = None
    subject = f"quote/{quote_id}"
    order_subject: str | None = None
    for event in events:
        if event.subject == subject:
            facts.add(event)
            if facts.converted is not None:
                order_subject = f"order/{facts.converted[0].order_id}"
        elif (
            event.subject == order_subject
            and event.name == "order.created"
            and order_created is None
        ):
            order_created = _recorded(event)
    if facts.created is None:
        return None
    created = facts.created
    accepted = facts.accepted[0] if facts.accepted else None
    revision = accepted.revision if accepted else None
    snapshot = accepted.snapshot if accepted else None
    priced = facts.priced.get(revision) if revision is not None else None
    presented = facts.presented.get(revision) if revision is not None else None
    converted = facts.converted
    return EvidencePackage(
        quote_id=quote_id,
        account_id=created.account_id,
        requester=created.requester,
        status=(
            facts.state.status.value
            if facts.state is not None
            else "inconsistent (the facts break the quote lifecycle)"
        ),
        accepted_revision=revision,
        snapshot=snapshot,
        snapshot_fingerprint=accepted.snapshot_fingerprint if accepted else None,
        configuration_fingerprint=configuration_fingerprint(snapshot) if snapshot else None,
        price_request=priced.price_request if priced else None,
        price=priced.price if priced else None,
        price_fingerprint=accepted.price_fingerprint if accepted else None,
        approvals=facts.decisions.get(revision, []) if revision is not None else [],
        proposal=(
            ProposalEvidence(
                sha256=presented[0].proposal_sha256,
                format=presented[0].proposal_format,
                presented_at=presented[0].presented_at,
                valid_until=presented[0].valid_until,
                policy_version=presented[0].policy_version,
                recorded=_recorded(presented[1]),
            )
            if presented
            else None
        ),
        acceptance=(
            AcceptanceEvidence(
                revision=accepted.revision,
                snapshot_fingerprint=accepted.snapshot_fingerprint,
                price_fingerprint=accepted.price_fingerprint,
                proposal_sha256=accepted.proposal_sha256,
                recorded=_recorded(facts.accepted[1]),
            )
            if accepted and facts.accepted
            else None
        ),
        conversion=(
            ConversionEvidence(
                order_id=converted[0].order_id,
                idempotency_key=converted[0].idempotency_key,
                snapshot_fingerprint=converted[0].snapshot_fingerprint,
                recorded=_recorded(converted[1]),
                order_created=order_created,
            )
            if converted
            else None
        ),
        order_id=converted[0].order_id if converted else None,
    )


Pricer = Callable[[PriceRequest, str], PriceResult]
"""Price a stored request against the catalog version named (raise KeyError if unknown)."""


def _check(checks: list[Check], name: str, ok: bool, detail: str) -> None:
    checks.append(Check(name=name, ok=ok, detail=detail))


def verify_evidence(package: EvidencePackage, price: Pricer) -> Verification:
    """Recompute every fingerprint of ``package`` from its stored inputs and compare."""
    checks: list[Check] = []
    snapshot = package.snapshot
    if snapshot is None:
        _check(checks, "accepted", False, f"quote {package.quote_id} was never accepted")
        return Verification(quote_id=package.quote_id, ok=False, checks=checks)
    again = snapshot.fingerprint()
    _check(
        checks,
        "snapshot fingerprint",
        again == package.snapshot_fingerprint,
        f"recomputed {again}, stored {package.snapshot_fingerprint}",
    )
    config = configuration_fingerprint(snapshot)
    _check(
        checks,
        "configuration fingerprint",
        config == package.configuration_fingerprint,
        f"recomputed {config}, stored {package.configuration_fingerprint}",
    )
    _verify_price(checks, package, snapshot, price)
    _verify_approvals(checks, package)
    _verify_proposal(checks, package, snapshot)
    if package.conversion is not None:
        conv = package.conversion
        _check(
            checks,
            "conversion carries the accepted snapshot",
            conv.snapshot_fingerprint == package.snapshot_fingerprint,
            f"conversion {conv.snapshot_fingerprint}, accepted {package.snapshot_fingerprint}",
        )
    return Verification(quote_id=package.quote_id, ok=all(c.ok for c in checks), checks=checks)


def _verify_price(
    checks: list[Check], package: EvidencePackage, snapshot: CommercialSnapshot, price: Pricer
) -> None:
    request = snapshot.price_request
    if request is None or package.price is None:
        _check(checks, "price", False, "no stored price request or price for the accepted revision")
        return
    priced_as_stated = (
        request.lines == snapshot.lines
        and request.discount_pct == snapshot.discount_pct
        and request.region == snapshot.region
        and request.account_id == snapshot.account_id
    )
    _check(
        checks,
        "the price request prices the snapshot's content",
        priced_as_stated,
        "lines, discount, region and account agree"
        if priced_as_stated
        else "the snapshot's lines, discount, region or account differ from what was priced",
    )
    _check(
        checks,
        "stored price request is the accepted one",
        package.price_request == request,
        "the priced fact's request equals the snapshot's"
        if package.price_request == request
        else "the priced fact's request differs from the accepted snapshot's",
    )
    try:
        repriced = price(request, package.price.catalog_version)
    except KeyError:
        _check(
            checks,
            "price fingerprint",
            False,
            f"catalog version {package.price.catalog_version} is not available to price again",
        )
        return
    except Exception as exc:  # a refusal of pricing is a finding, not a crash
        _check(checks, "price fingerprint", False, f"pricing the stored request failed: {exc}")
        return
    stored = package.price_fingerprint
    _check(
        checks,
        "price fingerprint",
        repriced.fingerprint == stored == package.price.fingerprint == snapshot.price_fingerprint,
        f"re-priced {repriced.fingerprint}, accepted {stored}, priced {package.price.fingerprint}",
    )


def _verify_approvals(checks: list[Check], package: EvidencePackage) -> None:
    approved = [d for d in package.approvals if d.decision == "approved"]
    for decision in approved:
        _check(
            checks,
            f"approval by {decision.actor} ({decision.role}) binds the accepted snapshot",
            decision.snapshot_fingerprint == package.snapshot_fingerprint,
            f"approved {decision.snapshot_fingerprint}, accepted {package.snapshot_fingerprint}",
        )


def _verify_proposal(
    checks: list[Check], package: EvidencePackage, snapshot: CommercialSnapshot
) -> None:
    proposal = package.proposal
    accepted = package.acceptance.proposal_sha256 if package.acceptance else None
    if proposal is None:
        _check(
            checks,
            "proposal",
            accepted is None,
            "accepted without a presented proposal"
            if accepted is None
            else f"acceptance names proposal {accepted} but none was presented",
        )
        return
    if package.price is None:
        _check(checks, "proposal hash", False, "no stored price to render the proposal from")
        return
    rendered = proposal_sha256(render_proposal(snapshot, package.price, proposal.valid_until))
    _check(
        checks,
        "proposal hash",
        rendered == proposal.sha256 == accepted,
        f"re-rendered {rendered}, presented {proposal.sha256}, accepted {accepted}",
    )


def render_accepted_proposal(package: EvidencePackage) -> str | None:
    """The accepted proposal document, rendered again from the package."""
    if package.snapshot is None or package.price is None or package.proposal is None:
        return None
    return render_proposal(package.snapshot, package.price, package.proposal.valid_until)
