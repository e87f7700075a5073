"""Rounding: every amount a step produces, quantized at once when rounding applies per line.

Rounding is not a position in the rule order but a duty of every step that produces an
amount (a list amount, a discount, a prorated amount, a monthly equivalent): under the
``line`` policy it settles that amount to the currency's places right away and records a
``rounding`` step when that changed it; under ``total`` amounts stay exact and only the
quote totals are rounded (:mod:`cpqsim.pricing_totals`).
"""

from __future__ import annotations

from decimal import Decimal

from cpqsim.pricing_charge import QUANTIZE, ChargeContext, Step, step

__all__ = ["settle"]


def settle(
    amount: Decimal, ctx: ChargeContext, subject: str, what: str
) -> tuple[Decimal, tuple[Step, ...]]:
    """``amount`` as the rounding policy leaves it, and the rounding step if any."""
    r = ctx.rounding
    if not r.per_line:
        return amount, ()
    out = amount.quantize(r.quantum, rounding=r.mode, context=QUANTIZE)
    if out != amount:
        return out, (
            step("rounding", "rounding", ctx.policy_version, subject, amount, out, r.detail(what)),
        )
    return out, ()
