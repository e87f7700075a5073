"""Rule 5 — volume discount: the highest ``min_quantity`` reached by the quote-wide
quantity of the offering (one-time and recurring charges; not contracted ones)."""

from __future__ import annotations

from cpqsim.pricing_charge import Charge, ChargeContext, ChargeFacts, RuleStep, Step
from cpqsim.pricing_rules.discount import take_off

__all__ = ["STEP"]


def considers(f: ChargeFacts, ctx: ChargeContext) -> bool:
    return (
        f.volume is not None
        and f.included_in is None
        and f.contract is None
        and f.source.entry.kind != "usage"
    )


def apply(charge: Charge, ctx: ChargeContext) -> tuple[Charge, tuple[Step, ...]]:
    f = charge.facts
    assert f.volume is not None  # considered
    vd, quantity = f.volume
    running = charge.running
    detail = (
        f"{vd.pct!s} of {running!s}: quote quantity {quantity} of {vd.offering} "
        f"reaches {vd.min_quantity}"
    )
    return take_off(charge, ctx, "volume_discount", vd.id, vd.version, running * vd.pct, detail)


STEP = RuleStep("volume_discount", apply, considers=considers)
