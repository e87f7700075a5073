"""Rule 2 — contract price: the account's negotiated unit amount replaces the list one.

A contracted charge takes no automatic discount afterwards (volume, promotion, bundle):
the negotiation already was the discount. The manual discount still applies.
"""

from __future__ import annotations

from cpqsim.pricing_charge import Charge, ChargeContext, ChargeFacts, RuleStep, Step, step

__all__ = ["STEP"]


def considers(f: ChargeFacts, ctx: ChargeContext) -> bool:
    return f.contract is not None


def apply(charge: Charge, ctx: ChargeContext) -> tuple[Charge, tuple[Step, ...]]:
    f = charge.facts
    contract = f.contract
    assert contract is not None  # considered
    applied = (*charge.applied, contract.id)
    if f.source.entry.kind == "usage":  # list_price already priced the units at it
        exact = charge.running
        detail = f"account {contract.account_id} contract price replaces the usage tiers"
        return charge.listed(
            charge.unit_amount, charge.usage_units, exact, applied, charge.warnings
        ), (step("contract_price", contract.id, contract.version, f.subject, exact, exact, detail),)
    contracted = contract.amount * f.quantity
    detail = (
        f"account {contract.account_id} contract price {contract.amount} x "
        f"{f.quantity} replaces list {f.source.entry.amount}"
    )
    return charge.listed(contract.amount, None, contracted, applied, charge.warnings), (
        step(
            "contract_price",
            contract.id,
            contract.version,
            f.subject,
            charge.running,
            contracted,
            detail,
        ),
    )


STEP = RuleStep("contract_price", apply, considers=considers)
