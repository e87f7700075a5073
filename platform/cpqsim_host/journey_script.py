"""The quote-to-order journey, written once as a step generator both runtimes interpret.

A journey yields what it wants next — wait some virtual seconds, run a quote command,
convert — and is resumed with the answer. The sim runtime interprets the steps with
SimPy timeouts and direct core calls; the live runtime batches the due commands of many
journeys per shard. Same script, same plans: the same customer behaviour on both.
"""

from __future__ import annotations

import re
from collections.abc import Generator
from dataclasses import dataclass
from typing import Any, Protocol

from cpqsim.order_commands import CancelOrder, OrderCommand
from cpqsim.principals import same_principal
from cpqsim.quote import (
    AcceptQuote,
    ApproveQuote,
    CreateQuote,
    PresentQuote,
    PriceQuote,
    Quote,
    QuoteCommand,
    RejectQuote,
    ReviseQuote,
    SubmitQuoteForApproval,
)
from cpqsim_host.journeys import FALLBACK_DISCOUNT, JourneyPlan
from cpqsim_host.outcome import JourneyStats

SELLER_RETURNS_AFTER_S = 600  # a rejected seller comes back with a revision
CONVERT_AFTER_ACCEPT_S = 60
CONVERT_RETRY_AFTER_S = 5
PRICING_RETRY_AFTER_S = 600  # a seller told "pricing is down" tries again this much later
PRICING_RETRIES = 6
ESCALATED_DECISION_S = 900  # an escalated approval is decided this long after escalation
ESCALATION_DESK = "approvals-desk"


@dataclass(frozen=True)
class Wait:
    seconds: float


@dataclass(frozen=True)
class Command:
    command: QuoteCommand
    actor: str


@dataclass(frozen=True)
class Convert:
    quote_id: str
    key: str
    actor: str


class Answer(Protocol):
    """What a runtime resumes a journey with after a command."""

    @property
    def ok(self) -> bool: ...

    @property
    def quote(self) -> Quote | None: ...


@dataclass(frozen=True)
class CommandAnswer:
    ok: bool
    quote: Quote | None = None


@dataclass(frozen=True)
class OrderCommandStep:
    command: OrderCommand
    actor: str


Step = Wait | Command | Convert | OrderCommandStep
Journey = Generator[Step, Any, None]


def journey(plan: JourneyPlan, stats: JourneyStats) -> Journey:
    """Starts at the plan's arrival time (the runtime schedules the first step)."""
    stats.started += 1
    if any(line.changes_asset for line in plan.lines):
        stats.changes_started += 1
    qid, seller = plan.quote_id, plan.requester
    created: Answer = yield Command(
        CreateQuote(
            quote_id=qid,
            account_id=plan.account_id,
            requester=seller,
            lines=plan.lines,
            discount_pct=plan.discount_pct,
        ),
        seller,
    )
    if not created.ok:
        _count_change_refusal(stats, created)
        return
    priced: Answer = yield from _priced(plan, stats)
    if not priced.ok or priced.quote is None:
        _count_change_refusal(stats, priced)
        return
    if not (yield from _approved(plan, stats, priced.quote)):
        return
    accepted: Answer = yield from _presented_and_accepted(plan, stats)
    if not accepted.ok and getattr(accepted, "code", None) == "stale_price":
        # The catalog changed since the price: the seller quotes again at today's prices.
        stats.requoted += 1
        yield Command(ReviseQuote(quote_id=qid, reason="the catalog changed"), seller)
        priced = yield from _priced(plan, stats)
        if not priced.ok or priced.quote is None:
            return
        if not (yield from _approved(plan, stats, priced.quote)):
            return
        accepted = yield from _presented_and_accepted(plan, stats)
    if not accepted.ok:
        return
    stats.accepted += 1
    yield Wait(CONVERT_AFTER_ACCEPT_S)
    order_id = None
    for _attempt in range(1 + plan.convert_retries):
        converted: Answer = yield Convert(qid, plan.idempotency_key, plan.requester)
        if converted is not None and converted.ok and converted.quote is not None:
            order_id = converted.quote.order_id
        yield Wait(CONVERT_RETRY_AFTER_S)
    if plan.second_conversion:
        yield Convert(qid, f"{plan.idempotency_key}:again", plan.requester)
    if plan.cancel_after_s is not None and order_id is not None:
        yield Wait(plan.cancel_after_s)
        stats.cancellations_requested += 1
        answer: Answer = yield OrderCommandStep(
            CancelOrder(
                order_id=order_id, requested_by="customer", reason="the customer changed their mind"
            ),
            f"customer:{plan.account_id}",
        )
        if answer.ok:
            stats.cancellations_accepted += 1
        else:
            stats.cancellations_refused += 1


#: A change refusal names each reason as ``path (code): message``.
_REFUSAL_CODE = re.compile(r"\((\w+)\): ")
_REFUSAL_COUNTERS = {
    "asset_pending_change": "changes_refused_in_flight",
    "stale_asset_version": "changes_refused_stale",
    "incomplete_asset_metadata": "changes_refused_incomplete",
}


def _count_change_refusal(stats: JourneyStats, answer: Answer) -> None:
    """A quote the installed base refused: counted once, and once per telling reason."""
    if getattr(answer, "code", None) != "change_refused":
        return
    stats.changes_refused += 1
    codes = set(_REFUSAL_CODE.findall(getattr(answer, "message", None) or ""))
    for code in sorted(codes & set(_REFUSAL_COUNTERS)):
        counter = _REFUSAL_COUNTERS[code]
        setattr(stats, counter, getattr(stats, counter) + 1)


def _presented_and_accepted(plan: JourneyPlan, stats: JourneyStats) -> Generator:
    """Present the proposal; the customer reads it and accepts that very document.

    The acceptance names the proposal's hash. A customer who takes longer than the
    offer's validity finds it lapsed (the platform's validity timer expired it).
    """
    qid, seller = plan.quote_id, plan.requester
    shown: Answer = yield Command(PresentQuote(quote_id=qid), seller)
    if not shown.ok or shown.quote is None:
        return shown
    stats.presented += 1
    if plan.decision_s > 0:
        yield Wait(plan.decision_s)
    accepted: Answer = yield Command(
        AcceptQuote(quote_id=qid, proposal_sha256=shown.quote.proposal_sha256), seller
    )
    return accepted


def _priced(plan: JourneyPlan, stats: JourneyStats) -> Generator:
    """Ask for a price; while pricing is down, come back later (a few times)."""
    priced: Answer = yield Command(PriceQuote(quote_id=plan.quote_id), plan.requester)
    for _ in range(PRICING_RETRIES):
        if priced.ok or getattr(priced, "code", None) != "pricing_unavailable":
            break
        stats.pricing_waits += 1
        yield Wait(PRICING_RETRY_AFTER_S)
        priced = yield Command(PriceQuote(quote_id=plan.quote_id), plan.requester)
    return priced


def _approved(plan: JourneyPlan, stats: JourneyStats, quote: Quote) -> Generator:
    """Get the approval a price needs (or none); False if the quote is left waiting."""
    qid, seller = plan.quote_id, plan.requester
    if not quote.approval_required:
        return True
    stats.approvals_requested += 1
    yield Command(SubmitQuoteForApproval(quote_id=qid), seller)
    yield Wait(plan.approval_delay_s)
    chain = quote.approval_chain or [quote.required_role or "sales_manager"]
    role = chain[0]
    if plan.approval_lost:
        # The approver decided, but the callback never arrived: the quote waits until the
        # platform escalates it to an owner, who sees it decided (or nobody ever does).
        stats.approvals_lost += 1
        if plan.escalation_after_s is None:
            return False
        yield Wait(max(plan.escalation_after_s - plan.approval_delay_s, 0) + ESCALATED_DECISION_S)
        yield Command(
            ApproveQuote(quote_id=qid, approver=ESCALATION_DESK, role=role), ESCALATION_DESK
        )
        yield from _later_steps(plan, quote)
        return True
    approver = plan.approver_for(role)  # a principal holding the role (scenario cast)
    if plan.approve:
        yield Command(ApproveQuote(quote_id=qid, approver=approver, role=role), approver)
        yield from _later_steps(plan, quote)
        return True
    stats.rejected += 1
    yield Command(
        RejectQuote(quote_id=qid, approver=approver, role=role, reason="discount too deep"),
        approver,
    )
    yield Wait(SELLER_RETURNS_AFTER_S)
    stats.revised += 1
    yield Command(
        ReviseQuote(quote_id=qid, discount_pct=FALLBACK_DISCOUNT, reason="within policy"),
        seller,
    )
    yield Command(PriceQuote(quote_id=qid), seller)
    return True


def _later_steps(plan: JourneyPlan, quote: Quote) -> Generator:
    """Steps 2.. of a multi-step chain, each by another person in the step's role.

    Each takes the plan's approval delay again (no new draws: a one-step policy plans
    exactly the same day as before chains existed).
    """
    first = plan.approver_for(quote.approval_chain[0])
    for step, role in enumerate(quote.approval_chain[1:], start=2):
        yield Wait(plan.approval_delay_s)
        # The scenario's cast member for the role, unless they decided the first step.
        approver = plan.approvers_by_role.get(role)
        if approver is None or same_principal(approver, first):
            approver = f"{role.replace('_', '-')}-{plan.approver.rsplit('-', 1)[-1]}-{step}"
        yield Command(ApproveQuote(quote_id=plan.quote_id, approver=approver, role=role), approver)
