"""Rule 8 — manual discount: the request's ``discount_pct`` on what is left (the amount
approval thresholds judge). It applies to contracted charges too."""

from __future__ import annotations

from cpqsim.pricing_charge import Charge, ChargeContext, ChargeFacts, RuleStep, Step
from cpqsim.pricing_rules.discount import take_off

__all__ = ["STEP"]


def considers(f: ChargeFacts, ctx: ChargeContext) -> bool:
    return bool(ctx.discount_rate) and f.included_in is None


def apply(charge: Charge, ctx: ChargeContext) -> tuple[Charge, tuple[Step, ...]]:
    rate = ctx.discount_rate
    running = charge.running
    off = running * rate
    detail = f"{rate!s} of {running!s} = {off!s}"
    return take_off(charge, ctx, "discount", "manual-discount", ctx.policy_version, off, detail)


STEP = RuleStep("manual_discount", apply, considers=considers)
