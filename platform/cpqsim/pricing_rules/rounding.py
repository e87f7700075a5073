"""Rounding: every amount a step produces, quantized at once when rounding applies per line.

Rounding is not a position in the rule order but a duty of every step that produces an
amount (a list amount, a discount, a prorated amount, a monthly equivalent): under the
``line`` policy it settles that amount to the currency's places right away and records a
``rounding`` step when that changed it; under ``total`` amounts stay exact and only the
quote totals are rounded (:mod:`cpqsim.pricing_totals`).
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal

from cpqsim.pricing_charge import QUANTIZE, ChargeContext, ChargeState, Sites

__all__ = ["Settle", "settler"]

#: ``settle(state, amount)``: ``amount`` as the rounding policy leaves it (a rounding
#: step is written to ``state`` when that changed it).
Settle = Callable[[ChargeState, Decimal], Decimal]


def _as_is(state: ChargeState, amount: Decimal) -> Decimal:
    return amount


def settler(ctx: ChargeContext, sites: Sites, subject: str, what: str) -> Settle:
    """How a step settles the amounts of ``what`` it produces for the charge ``subject``
    (prepared once per kind of charge: the rounding step's constant part and its detail
    are the same on every line)."""
    r = ctx.rounding
    if not r.per_line:
        return _as_is
    quantum, mode = r.quantum, r.mode
    site = sites.site("rounding", "rounding", ctx.policy_version, subject)
    detail = r.detail(what)

    def settle(state: ChargeState, amount: Decimal) -> Decimal:
        out = amount.quantize(quantum, rounding=mode, context=QUANTIZE)
        if out != amount:
            state.steps.append((site, amount, out, detail))
        return out

    return settle
