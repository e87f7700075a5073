"""Rule 6 — promotions: the ones :mod:`cpqsim.pricing_promotions` accepted for the line
and that price this kind of charge, in application order. On a contracted charge each
is recorded as not applied (the contract price is in force)."""

from __future__ import annotations

from cpqsim.pricing_charge import (
    Charge,
    ChargeContext,
    ChargeFacts,
    RuleStep,
    SegmentOutcome,
    Step,
    step,
)
from cpqsim.pricing_rules.discount import take_off

__all__ = ["STEP"]


def considers(f: ChargeFacts, ctx: ChargeContext) -> bool:
    return bool(f.promotions) and f.included_in is None


def apply(charge: Charge, ctx: ChargeContext) -> tuple[Charge, tuple[Step, ...]]:
    f = charge.facts
    steps: tuple[Step, ...] = ()
    for decision in f.promotions:
        p = decision.promotion
        running = charge.running
        if f.contract is not None:
            steps += (
                step(
                    "promotion",
                    p.id,
                    p.version,
                    f.subject,
                    running,
                    running,
                    "not applied: contract price in force",
                    applied=False,
                ),
            )
            continue
        if p.pct_off is not None:
            off, how = running * p.pct_off, f"{p.pct_off!s} of {running!s}"
        else:
            assert p.amount_off is not None  # a promotion gives exactly one benefit
            off, how = p.amount_off * f.quantity, f"{p.amount_off!s} x {f.quantity}"
        charge, produced = take_off(
            charge, ctx, "promotion", p.id, p.version, off, f"{how} ({decision.reason})"
        )
        steps += produced
    return charge, steps


def explain(segment: SegmentOutcome) -> tuple[Step, ...]:
    """A step per promotion considered for the segment and not applied, with the reason."""
    net = segment.net
    return tuple(
        step(
            "promotion",
            d.promotion.id,
            d.promotion.version,
            segment.subject,
            net,
            net,
            f"not applied: {d.reason}",
            applied=False,
        )
        for d in segment.decisions
        if not d.applied
    )


STEP = RuleStep("promotions", apply, explain, considers)
