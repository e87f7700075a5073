"""Rule 1 — list price: unit amount x quantity, or the usage tiers over the estimate.

The price source (the highest-ranked price book in force for the request's currency,
region and channel that prices the offering, else the offering's own catalog prices in
the catalog currency) was chosen by :mod:`cpqsim.pricing_plan`; this step states it in
the trace. A usage charge under an account contract is priced at the contract's unit
amount here (the contract step then records that it replaced the tiers).
"""

from __future__ import annotations

from cpqsim.pricing_charge import ZERO, Charge, ChargeContext, RuleStep, Step, step
from cpqsim.pricing_errors import PricingError
from cpqsim.pricing_tiers import TierError

__all__ = ["STEP"]


def apply(charge: Charge, ctx: ChargeContext) -> tuple[Charge, tuple[Step, ...]]:
    f = charge.facts
    entry = f.source.entry
    if f.source.entry.kind != "usage":
        exact = entry.amount * f.quantity
        detail = f"{entry.kind} {entry.amount!s} x {f.quantity}"
        term = getattr(entry, "term_months", None)
        if getattr(entry, "period", None) == "year":
            detail += " per year"
        if term:
            detail += f", {term}-month term"
        return _listed(charge, charge.unit_amount, None, exact, detail, charge.warnings)
    units = f.units
    warnings = charge.warnings
    if units is None:
        units = ZERO
        warnings += (
            f"{f.subject}: no usage estimate for {entry.id} on this line; priced at 0 units",
        )
    unit = entry.usage_unit or "units"
    contract = f.contract
    if contract is not None:
        exact = units * contract.amount
        detail = f"contract {contract.id}: {units} {unit} x {contract.amount}"
        return _listed(charge, contract.amount, units, exact, detail, warnings)
    assert f.source.tiers is not None  # a usage entry always has its tier table
    try:
        exact, parts = f.source.tiers.price(units)
    except TierError as exc:
        raise PricingError(f"{f.subject}: {exc}") from None
    detail = f"usage {units} {unit}, {entry.tier_mode}: " + "; ".join(parts)
    return _listed(charge, charge.unit_amount, units, exact, detail, warnings)


def _listed(charge, unit_amount, units, exact, detail, warnings):
    source = charge.facts.source
    applied = charge.applied
    if source.source != "catalog":
        detail += f" (price book {source.source} v{source.version}, entry {source.entry.id})"
        applied += (source.source,)
    return charge.listed(unit_amount, units, exact, applied, warnings), (
        step(
            "list_price", source.source, source.version, charge.facts.subject, ZERO, exact, detail
        ),
    )


STEP = RuleStep("list_price", apply)
