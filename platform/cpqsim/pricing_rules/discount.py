"""Taking an amount off a charge: what every discount step (volume, promotion, bundle,
manual) does the same way."""

from __future__ import annotations

from decimal import Decimal

from cpqsim.pricing_charge import Charge, ChargeContext, Step, step
from cpqsim.pricing_rules.rounding import settle

__all__ = ["take_off"]


def take_off(
    charge: Charge,
    ctx: ChargeContext,
    rule: str,
    rule_id: str,
    version: str,
    off: Decimal,
    detail: str,
) -> tuple[Charge, tuple[Step, ...]]:
    """Take ``off`` (rounded first under line rounding) off what is left of the charge.

    Never below zero: a discount larger than what is left is capped, and a warning says
    so (a negative charge would be a credit, which needs an explicit rule of its own).
    """
    subject = charge.facts.subject
    off, steps = settle(off, ctx, subject, "discount")
    before = charge.running
    warnings = charge.warnings
    if off > before:
        warnings += (
            f"{subject}: {rule_id} would take {off} off {before}; capped at "
            f"{before} (no negative charge without an explicit credit)",
        )
        off = before
    discounted = charge.discounted(off, rule_id, warnings)
    return discounted, (
        *steps,
        step(rule, rule_id, version, subject, before, discounted.running, detail),
    )
