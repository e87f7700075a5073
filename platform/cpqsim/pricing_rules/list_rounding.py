"""Rule 3 — the list amount settled: what the price source (or the contract) asks,
rounded to the currency's places when rounding applies per line."""

from __future__ import annotations

from decimal import Decimal

from cpqsim.pricing_charge import Apply, ChargeContext, ChargeFacts, ChargeState, RuleStep, Sites
from cpqsim.pricing_rules.rounding import settler

__all__ = ["STEP"]


def prepare(f: ChargeFacts, ctx: ChargeContext, sites: Sites) -> Apply | None:
    if not ctx.rounding.per_line:
        return None
    what = "usage amount" if f.source.kind == "usage" else "list amount"
    settle = settler(ctx, sites, f.subject, what)

    def apply(c: ChargeState, quantity: int, units: Decimal | None) -> None:
        c.list_amount = c.running = settle(c, c.running)

    return apply


STEP = RuleStep("list_rounding", prepare)
