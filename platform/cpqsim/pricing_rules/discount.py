"""Taking an amount off a charge: what every discount step (volume, promotion, bundle,
manual) does the same way."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal

from cpqsim.pricing_charge import ChargeContext, ChargeFacts, ChargeState, Sites
from cpqsim.pricing_rules.rounding import settler

__all__ = ["TakeOff", "taker"]

#: ``take_off(state, off, detail)``: see :func:`taker`.
TakeOff = Callable[[ChargeState, Decimal, str], None]


def taker(
    f: ChargeFacts, ctx: ChargeContext, sites: Sites, rule: str, rule_id: str, version: str
) -> TakeOff:
    """How ``rule_id`` takes ``off`` off what is left of a charge of this kind (rounded
    first under line rounding), writing its step with ``detail``.

    Never below zero: a discount larger than what is left is capped, and a warning says
    so (a negative charge would be a credit, which needs an explicit rule of its own).
    """
    subject = f.subject
    settle = settler(ctx, sites, subject, "discount")
    site = sites.site(rule, rule_id, version, subject)

    def take_off(state: ChargeState, off: Decimal, detail: str) -> None:
        off = settle(state, off)
        before = state.running
        if off > before:
            state.warnings.append(
                f"{subject}: {rule_id} would take {off} off {before}; capped at "
                f"{before} (no negative charge without an explicit credit)"
            )
            off = before
        state.discount_amount += off
        state.running = after = before - off
        state.applied.append(rule_id)
        state.steps.append((site, before, after, detail))

    return take_off
