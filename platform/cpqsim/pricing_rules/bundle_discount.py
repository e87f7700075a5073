"""Rule 7 — bundle discounts: every one in force whose ``when_all`` offerings are all in
the quote, in id order (not on contracted charges)."""

from __future__ import annotations

from decimal import Decimal

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


def prepare(f: ChargeFacts, ctx: ChargeContext, sites: Sites) -> Apply | None:
    if not f.bundles or f.included_in is not None or f.contract is not None:
        return None
    steps = tuple(
        (
            taker(f, ctx, sites, "bundle_discount", b.id, b.version),
            b.pct,
            f": quote has all of {', '.join(b.when_all)}",
        )
        for b in f.bundles
    )

    def apply(c: ChargeState, quantity: int, units: Decimal | None) -> None:
        for take_off, pct, tail in steps:
            running = c.running
            take_off(c, running * pct, f"{pct!s} of {running!s}{tail}")

    return apply


def explain(segment: SegmentOutcome) -> tuple[NotApplied, ...]:
    """Each bundle discount naming an item of the segment that did not apply: an
    offering it needs is not in the quote, or it is not in force on the date."""
    day = segment.business_date
    if not segment.bundles or day is None:
        return ()
    out: list[NotApplied] = []
    for b in segment.bundles:
        if segment.keys.isdisjoint(b.applies_to):
            continue
        missing = [o for o in b.when_all if o not in segment.quote_items]
        if missing:
            why = f"needs {', '.join(missing)} in the quote"
        elif not b.in_force(day):
            why = f"not in force on {day}"
        else:
            continue
        out.append(NotApplied("bundle_discount", b.id, b.version, f"not applied: {why}"))
    return tuple(out)


STEP = RuleStep("bundle_discount", prepare, explain)
