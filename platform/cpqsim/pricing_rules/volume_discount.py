"""Rule 5 — volume discount: the highest ``min_quantity`` reached by the quote-wide
quantity of the offering (one-time and recurring charges; not contracted ones)."""

from __future__ import annotations

from decimal import Decimal

from cpqsim.pricing_charge import Apply, ChargeContext, ChargeFacts, ChargeState, RuleStep, Sites
from cpqsim.pricing_rules.discount import taker

__all__ = ["STEP"]


def prepare(f: ChargeFacts, ctx: ChargeContext, sites: Sites) -> Apply | None:
    if (
        f.volume is None
        or f.included_in is not None
        or f.contract is not None
        or f.source.kind == "usage"
    ):
        return None
    vd, quantity = f.volume
    pct = vd.pct
    take_off = taker(f, ctx, sites, "volume_discount", vd.id, vd.version)
    head = f"{pct!s} of "
    tail = f": quote quantity {quantity} of {vd.offering} reaches {vd.min_quantity}"

    def apply(c: ChargeState, quantity: int, units: Decimal | None) -> None:
        running = c.running
        take_off(c, running * pct, f"{head}{running!s}{tail}")

    return apply


STEP = RuleStep("volume_discount", prepare)
