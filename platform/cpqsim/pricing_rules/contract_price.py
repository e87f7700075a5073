"""Rule 2 — contract price: the account's negotiated unit amount replaces the list one.

A contracted charge takes no automatic discount afterwards (volume, promotion, bundle):
the negotiation already was the discount. The manual discount still applies.
"""

from __future__ import annotations

from decimal import Decimal

from cpqsim.pricing_charge import Apply, ChargeContext, ChargeFacts, ChargeState, RuleStep, Sites

__all__ = ["STEP"]


def prepare(f: ChargeFacts, ctx: ChargeContext, sites: Sites) -> Apply | None:
    contract = f.contract
    if contract is None:
        return None
    site = sites.site("contract_price", contract.id, contract.version, f.subject)
    contract_id = contract.id
    if f.source.kind == "usage":  # list_price already priced the units at it
        detail = f"account {contract.account_id} contract price replaces the usage tiers"

        def apply_usage(c: ChargeState, quantity: int, units: Decimal | None) -> None:
            exact = c.running
            c.list_amount = exact
            c.applied.append(contract_id)
            c.steps.append((site, exact, exact, detail))

        return apply_usage
    amount = contract.amount
    head = f"account {contract.account_id} contract price {amount} x "
    tail = f" replaces list {f.source.amount}"

    def apply(c: ChargeState, quantity: int, units: Decimal | None) -> None:
        contracted = amount * quantity
        before = c.running
        c.unit_amount = amount
        c.usage_units = None
        c.list_amount = c.running = contracted
        c.applied.append(contract_id)
        c.steps.append((site, before, contracted, f"{head}{quantity}{tail}"))

    return apply


STEP = RuleStep("contract_price", prepare)
