"""Rule 4 — included component: an item contained (transitively) in another item selected
on the same line is charged 0, because the bundle's price already pays for it."""

from __future__ import annotations

from cpqsim.pricing_charge import Charge, ChargeContext, ChargeFacts, RuleStep, Step, step

__all__ = ["STEP"]


def considers(f: ChargeFacts, ctx: ChargeContext) -> bool:
    return f.included_in is not None


def apply(charge: Charge, ctx: ChargeContext) -> tuple[Charge, tuple[Step, ...]]:
    f = charge.facts
    container = f.included_in
    zero = ctx.rounding.zero
    detail = (
        f"{f.item} is contained in {container}, whose price covers it; "
        "charged 0 so it is never charged twice"
    )
    return charge.settled(zero), (
        step(
            "included",
            "included-component",
            ctx.catalog_version,
            f.subject,
            charge.list_amount,
            zero,
            detail,
        ),
    )


STEP = RuleStep("included", apply, considers=considers)
