"""Rule 1 — list price: unit amount x quantity, or the usage tiers over the estimate.

The price source (the highest-ranked price book in force for the request's currency,
region and channel that prices the offering, else the offering's own catalog prices in
the catalog currency) was chosen by :mod:`cpqsim.pricing_plan`; this step states it in
the trace. A usage charge under an account contract is priced at the contract's unit
amount here (the contract step then records that it replaced the tiers).
"""

from __future__ import annotations

from decimal import Decimal

from cpqsim.pricing_charge import (
    ZERO,
    Apply,
    ChargeContext,
    ChargeFacts,
    ChargeState,
    RuleStep,
    Sites,
)
from cpqsim.pricing_errors import PricingError
from cpqsim.pricing_tiers import TierError

__all__ = ["STEP"]


def prepare(f: ChargeFacts, ctx: ChargeContext, sites: Sites) -> Apply:
    source = f.source
    subject = f.subject
    site = sites.site("list_price", source.source, source.version, subject)
    book = source.source if source.source != "catalog" else None
    where = f" (price book {source.source} v{source.version}, entry {source.id})" if book else ""
    if source.kind != "usage":
        amount = source.amount
        head = f"{source.kind} {amount!s} x "
        tail = " per year" if source.period == "year" else ""
        if source.term_months:
            tail += f", {source.term_months}-month term"
        tail += where

        def apply(c: ChargeState, quantity: int, units: Decimal | None) -> None:
            exact = amount * quantity
            c.list_amount = c.running = exact
            if book:
                c.applied.append(book)
            c.steps.append((site, ZERO, exact, f"{head}{quantity}{tail}"))

        return apply

    unit = source.usage_unit or "units"
    missing = f"{subject}: no usage estimate for {source.id} on this line; priced at 0 units"
    contract = f.contract
    if contract is not None:
        contracted = contract.amount
        head = f"contract {contract.id}: "

        def apply_contract(c: ChargeState, quantity: int, units: Decimal | None) -> None:
            if units is None:
                units = ZERO
                c.warnings.append(missing)
            exact = units * contracted
            c.unit_amount = contracted
            c.usage_units = units
            c.list_amount = c.running = exact
            if book:
                c.applied.append(book)
            c.steps.append((site, ZERO, exact, f"{head}{units} {unit} x {contracted}{where}"))

        return apply_contract

    tiers = source.tiers
    mode = f"{unit}, {source.entry.tier_mode}: "

    def apply_tiers(c: ChargeState, quantity: int, units: Decimal | None) -> None:
        if units is None:
            units = ZERO
            c.warnings.append(missing)
        assert tiers is not None  # a usage entry always has its tier table
        try:
            exact, parts = tiers.price(units)
        except TierError as exc:
            raise PricingError(f"{subject}: {exc}") from None
        c.usage_units = units
        c.list_amount = c.running = exact
        if book:
            c.applied.append(book)
        c.steps.append((site, ZERO, exact, f"usage {units} {mode}" + "; ".join(parts) + where))

    return apply_tiers


STEP = RuleStep("list_price", prepare)
