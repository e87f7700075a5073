"""The sim runtime's quote-to-order journey, written once as a step generator.

A journey yields what it wants next: wait some virtual seconds, run a quote command, or
convert. The live driver collects the commands of every journey that is due and sends
them to the shards in batches, then resumes each journey with its own answer. The steps
and their order mirror ``SimRuntime._journey`` exactly, so both runtimes replay the same
customer behaviour from the same plans.
"""

from __future__ import annotations

from collections.abc import Generator
from dataclasses import dataclass
from typing import Any

from cpqsim.quote import (
    AcceptQuote,
    ApproveQuote,
    CreateQuote,
    PriceQuote,
    QuoteCommand,
    RejectQuote,
    ReviseQuote,
    SubmitQuoteForApproval,
)
from cpqsim_actors.messages import CommandResult
from cpqsim_scenarios.journeys import FALLBACK_DISCOUNT, JourneyPlan
from cpqsim_scenarios.outcome import JourneyStats


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


Step = Wait | Command | Convert
Journey = Generator[Step, Any, None]


def journey(plan: JourneyPlan, stats: JourneyStats) -> Journey:
    """Starts at the plan's arrival time (the driver schedules the first step)."""
    stats.started += 1
    qid, seller = plan.quote_id, plan.requester
    created: CommandResult = yield Command(
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
        return
    priced: CommandResult = yield Command(PriceQuote(quote_id=qid), seller)
    if not priced.ok or priced.view is None:
        return
    quote = priced.view.quote
    if quote.approval_required:
        stats.approvals_requested += 1
        yield Command(SubmitQuoteForApproval(quote_id=qid), seller)
        yield Wait(plan.approval_delay_s)
        role = quote.required_role or "sales_manager"
        if plan.approve:
            yield Command(
                ApproveQuote(quote_id=qid, approver=plan.approver, role=role), plan.approver
            )
        else:
            stats.rejected += 1
            yield Command(
                RejectQuote(
                    quote_id=qid, approver=plan.approver, role=role, reason="discount too deep"
                ),
                plan.approver,
            )
            # The seller comes back within policy: a new revision, no approval needed.
            yield Wait(600)
            stats.revised += 1
            yield Command(
                ReviseQuote(quote_id=qid, discount_pct=FALLBACK_DISCOUNT, reason="within policy"),
                seller,
            )
            yield Command(PriceQuote(quote_id=qid), seller)
    accepted: CommandResult = yield Command(AcceptQuote(quote_id=qid), seller)
    if not accepted.ok:
        return
    stats.accepted += 1
    yield Wait(60)
    for _attempt in range(1 + plan.convert_retries):
        yield Convert(qid, plan.idempotency_key, plan.requester)
        yield Wait(5)
    if plan.second_conversion:
        yield Convert(qid, f"{plan.idempotency_key}:again", plan.requester)
