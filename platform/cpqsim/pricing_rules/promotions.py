"""Rule 6 — promotions: the ones :mod:`cpqsim.pricing_promotions` accepted for the line
and that price this kind of charge, in application order. On a contracted charge each
is recorded as not applied (the contract price is in force)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from cpqsim.pricing_charge import (
    Apply,
    ChargeContext,
    ChargeFacts,
    ChargeState,
    NotApplied,
    RuleStep,
    SegmentOutcome,
    Sites,
)
from cpqsim.pricing_rules.discount import taker

__all__ = ["STEP"]

_PCT_OFF, _AMOUNT_OFF, _NOT_APPLIED = 1, 2, 3


def prepare(f: ChargeFacts, ctx: ChargeContext, sites: Sites) -> Apply | None:
    if not f.promotions or f.included_in is not None:
        return None
    # Per promotion, in application order: (how, site or take-off, rate or amount, tail).
    plans: list[tuple[int, Any, Any, str]] = []
    for decision in f.promotions:
        p = decision.promotion
        if f.contract is not None:
            site = sites.site("promotion", p.id, p.version, f.subject, applied=False)
            plans.append((_NOT_APPLIED, site, None, "not applied: contract price in force"))
            continue
        take_off = taker(f, ctx, sites, "promotion", p.id, p.version)
        tail = f" ({decision.reason})"
        if p.pct_off is not None:
            plans.append((_PCT_OFF, take_off, p.pct_off, tail))
        else:
            assert p.amount_off is not None  # a promotion gives exactly one benefit
            plans.append((_AMOUNT_OFF, take_off, p.amount_off, tail))
    steps = tuple(plans)

    def apply(c: ChargeState, quantity: int, units: Decimal | None) -> None:
        for how, action, rate, tail in steps:
            running = c.running
            if how == _PCT_OFF:
                action(c, running * rate, f"{rate!s} of {running!s}{tail}")
            elif how == _AMOUNT_OFF:
                action(c, rate * quantity, f"{rate!s} x {quantity}{tail}")
            else:
                c.steps.append((action, running, running, tail))

    return apply


def explain(segment: SegmentOutcome) -> tuple[NotApplied, ...]:
    """Each promotion considered for the segment and not applied, with the reason."""
    return tuple(
        NotApplied("promotion", d.promotion.id, d.promotion.version, f"not applied: {d.reason}")
        for d in segment.decisions
        if not d.applied
    )


STEP = RuleStep("promotions", prepare, explain)
