"""Rule 8 — manual discount: the request's ``discount_pct`` on what is left (the amount
approval thresholds judge). It applies to contracted charges too."""

from __future__ import annotations

from decimal import Decimal

from cpqsim.pricing_charge import Apply, ChargeContext, ChargeFacts, ChargeState, RuleStep, Sites
from cpqsim.pricing_rules.discount import taker

__all__ = ["STEP"]


def prepare(f: ChargeFacts, ctx: ChargeContext, sites: Sites) -> Apply | None:
    rate = ctx.discount_rate
    if not rate or f.included_in is not None:
        return None
    take_off = taker(f, ctx, sites, "discount", "manual-discount", ctx.policy_version)
    head = f"{rate!s} of "

    def apply(c: ChargeState, quantity: int, units: Decimal | None) -> None:
        running = c.running
        off = running * rate
        take_off(c, off, f"{head}{running!s} = {off!s}")

    return apply


STEP = RuleStep("manual_discount", prepare)
