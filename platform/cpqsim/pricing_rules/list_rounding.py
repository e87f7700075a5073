"""Rule 3 — the list amount settled: what the price source (or the contract) asks,
rounded to the currency's places when rounding applies per line."""

from __future__ import annotations

from cpqsim.pricing_charge import Charge, ChargeContext, ChargeFacts, RuleStep, Step
from cpqsim.pricing_rules.rounding import settle

__all__ = ["STEP"]


def considers(f: ChargeFacts, ctx: ChargeContext) -> bool:
    return ctx.rounding.per_line


def apply(charge: Charge, ctx: ChargeContext) -> tuple[Charge, tuple[Step, ...]]:
    f = charge.facts
    what = "usage amount" if f.source.entry.kind == "usage" else "list amount"
    amount, steps = settle(charge.running, ctx, f.subject, what)
    return charge.settled(amount), steps


STEP = RuleStep("list_rounding", apply, considers=considers)
