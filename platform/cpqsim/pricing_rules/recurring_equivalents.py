"""Rule 10 — recurring equivalents: the monthly equivalent of a recurring charge (an
annual one divided by 12, rounded like any produced amount) and its amount over the
commitment term (an annual charge bills whole prepaid years)."""

from __future__ import annotations

from decimal import Decimal

from cpqsim.pricing_charge import DIVISION, Charge, ChargeContext, ChargeFacts, RuleStep, Step
from cpqsim.pricing_rules.rounding import settle

__all__ = ["STEP"]

_TWELVE = Decimal(12)


def considers(f: ChargeFacts, ctx: ChargeContext) -> bool:
    return f.source.entry.kind == "recurring"


def apply(charge: Charge, ctx: ChargeContext) -> tuple[Charge, tuple[Step, ...]]:
    f = charge.facts
    entry = f.source.entry
    running = charge.running
    months = getattr(entry, "term_months", None)
    steps: tuple[Step, ...] = ()
    warnings = charge.warnings
    if entry.period == "year":
        monthly, steps = settle(
            DIVISION.divide(running, _TWELVE), ctx, f.subject, "monthly equivalent"
        )
        term = None
        if months:
            years = -(-months // 12)
            if months % 12:
                warnings += (
                    f"{f.subject}: {months}-month term on an annual charge bills "
                    f"{years} whole prepaid years",
                )
            term = running * years
    else:
        monthly = running
        term = running * months if months else None
    return charge.with_equivalents(monthly, term, warnings), steps


STEP = RuleStep("recurring_equivalents", apply, considers=considers)
