"""Rule 9 — proration: a monthly recurring charge for the partial first month is charged
``amount x days / days of that billing month`` (:mod:`cpqsim.pricing_periods`); the result
reports it beside the full monthly amount."""

from __future__ import annotations

from decimal import Decimal

from cpqsim.pricing_charge import (
    DIVISION,
    Apply,
    ChargeContext,
    ChargeFacts,
    ChargeState,
    RuleStep,
    Sites,
)
from cpqsim.pricing_rules.rounding import settler

__all__ = ["STEP"]


def prepare(f: ChargeFacts, ctx: ChargeContext, sites: Sites) -> Apply | None:
    fp = ctx.first_period
    source = f.source
    if not (
        fp is not None and fp.partial and source.kind == "recurring" and source.period == "month"
    ):
        return None
    settle = settler(ctx, sites, f.subject, "prorated amount")
    site = sites.site("proration", "proration", ctx.policy_version, f.subject)
    days, period_days = fp.days, Decimal(fp.period_days)
    head = (
        f"first period {fp.service_start}..{fp.period_end} is {fp.days} of "
        f"{fp.period_days} days ({fp.period_start}..{fp.period_end}): "
    )
    tail = f" x {fp.days}/{fp.period_days}"

    def apply(c: ChargeState, quantity: int, units: Decimal | None) -> None:
        running = c.running
        prorated = settle(c, DIVISION.divide(running * days, period_days))
        c.prorated = prorated
        c.steps.append((site, running, prorated, f"{head}{running}{tail}"))

    return apply


STEP = RuleStep("proration", prepare)
