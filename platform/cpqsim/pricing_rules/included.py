"""Rule 4 — included component: an item contained (transitively) in another item selected
on the same line is charged 0, because the bundle's price already pays for it."""

from __future__ import annotations

from decimal import Decimal

from cpqsim.pricing_charge import Apply, ChargeContext, ChargeFacts, ChargeState, RuleStep, Sites

__all__ = ["STEP"]


def prepare(f: ChargeFacts, ctx: ChargeContext, sites: Sites) -> Apply | None:
    container = f.included_in
    if container is None:
        return None
    zero = ctx.rounding.zero
    detail = (
        f"{f.item} is contained in {container}, whose price covers it; "
        "charged 0 so it is never charged twice"
    )
    site = sites.site("included", "included-component", ctx.catalog_version, f.subject)

    def apply(c: ChargeState, quantity: int, units: Decimal | None) -> None:
        before = c.list_amount
        c.list_amount = c.running = zero
        c.steps.append((site, before, zero, detail))

    return apply


STEP = RuleStep("included", prepare)
