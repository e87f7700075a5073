"""Rule 9 — proration: a monthly recurring charge for the partial first month is charged
``amount x days / days of that billing month`` (:mod:`cpqsim.pricing_periods`); the result
reports it beside the full monthly amount."""

from __future__ import annotations

from decimal import Decimal

from cpqsim.pricing_charge import (
    DIVISION,
    Charge,
    ChargeContext,
    ChargeFacts,
    RuleStep,
    Step,
    step,
)
from cpqsim.pricing_rules.rounding import settle

__all__ = ["STEP"]


def considers(f: ChargeFacts, ctx: ChargeContext) -> bool:
    fp = ctx.first_period
    entry = f.source.entry
    return fp is not None and fp.partial and entry.kind == "recurring" and entry.period == "month"


def apply(charge: Charge, ctx: ChargeContext) -> tuple[Charge, tuple[Step, ...]]:
    fp = ctx.first_period
    assert fp is not None  # considered
    f = charge.facts
    running = charge.running
    exact = DIVISION.divide(running * fp.days, Decimal(fp.period_days))
    prorated, steps = settle(exact, ctx, f.subject, "prorated amount")
    detail = (
        f"first period {fp.service_start}..{fp.period_end} is {fp.days} of "
        f"{fp.period_days} days ({fp.period_start}..{fp.period_end}): "
        f"{running} x {fp.days}/{fp.period_days}"
    )
    return charge.prorated_to(prorated), (
        *steps,
        step("proration", "proration", ctx.policy_version, f.subject, running, prorated, detail),
    )


STEP = RuleStep("proration", apply, considers=considers)
