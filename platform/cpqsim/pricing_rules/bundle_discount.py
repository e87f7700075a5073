"""Rule 7 — bundle discounts: every one in force whose ``when_all`` offerings are all in
the quote, in id order (not on contracted charges)."""

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
    return bool(f.bundles) and f.included_in is None and f.contract is None


def apply(charge: Charge, ctx: ChargeContext) -> tuple[Charge, tuple[Step, ...]]:
    f = charge.facts
    steps: tuple[Step, ...] = ()
    for b in f.bundles:
        running = charge.running
        detail = f"{b.pct!s} of {running!s}: quote has all of {', '.join(b.when_all)}"
        charge, produced = take_off(
            charge, ctx, "bundle_discount", b.id, b.version, running * b.pct, detail
        )
        steps += produced
    return charge, steps


def explain(segment: SegmentOutcome) -> tuple[Step, ...]:
    """A step per bundle discount naming an item of the segment that did not apply:
    an offering it needs is not in the quote, or it is not in force on the date."""
    day = segment.business_date
    if not segment.bundles or day is None:
        return ()
    steps: tuple[Step, ...] = ()
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
        net = segment.net
        steps += (
            step(
                "bundle_discount",
                b.id,
                b.version,
                segment.subject,
                net,
                net,
                f"not applied: {why}",
                applied=False,
            ),
        )
    return steps


STEP = RuleStep("bundle_discount", apply, explain, considers)
