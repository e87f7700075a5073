"""Rule 10 — recurring equivalents: the monthly equivalent of a recurring charge (an
annual one divided by 12, rounded like any produced amount) and its amount over the
commitment term (an annual charge bills whole prepaid years)."""

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

_TWELVE = Decimal(12)


def prepare(f: ChargeFacts, ctx: ChargeContext, sites: Sites) -> Apply | None:
    source = f.source
    if source.kind != "recurring":
        return None
    months = source.term_months
    if source.period != "year":

        def apply_monthly(c: ChargeState, quantity: int, units: Decimal | None) -> None:
            running = c.running
            c.monthly = running
            c.term = running * months if months else None

        return apply_monthly

    settle = settler(ctx, sites, f.subject, "monthly equivalent")
    years = -(-months // 12) if months else 0
    warning = None
    if months and months % 12:
        warning = (
            f"{f.subject}: {months}-month term on an annual charge bills "
            f"{years} whole prepaid years"
        )

    def apply_annual(c: ChargeState, quantity: int, units: Decimal | None) -> None:
        running = c.running
        c.monthly = settle(c, DIVISION.divide(running, _TWELVE))
        if months:
            if warning is not None:
                c.warnings.append(warning)
            c.term = running * years
        else:
            c.term = None

    return apply_annual


STEP = RuleStep("recurring_equivalents", prepare)
