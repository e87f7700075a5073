"""How orders are run when things go wrong, as data: partial fulfilment, repair authority,
the accounts order validation refuses.

A scenario (or the live platform's configuration) states it; the order process manager
reads it. Nothing here decides on its own: it is the table the decisions consult.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

PartialFulfilment = Literal["keep_what_succeeded", "all_or_nothing"]
RepairAction = Literal[
    "retry", "reconcile", "mark_done", "cancel_order", "abandon_item", "compensate"
]

# Who may do what to a fallout case. A repair changes money or service for a customer, so
# the heavier actions need the heavier role (segregation of duties starts here).
DEFAULT_REPAIR_AUTHORITY: dict[str, list[str]] = {
    "retry": ["operations", "operations_lead"],
    "reconcile": ["operations", "operations_lead"],
    "compensate": ["operations", "operations_lead"],
    "mark_done": ["operations_lead"],
    "cancel_order": ["operations_lead"],
    "abandon_item": ["operations_lead"],
}


class OrderPolicy(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(default="default", min_length=1, max_length=100)
    partial_fulfilment: PartialFulfilment = Field(
        default="keep_what_succeeded",
        description="when an item is abandoned: keep the items that succeeded (the order "
        "ends partial) or undo everything (the order fails, fully compensated)",
    )
    partial_fulfilment_by_offering: dict[str, PartialFulfilment] = Field(
        default_factory=dict,
        description="per offering (stable id): overrides partial_fulfilment when any of "
        "the order's items is that offering (all_or_nothing wins)",
    )
    repair_authority: dict[str, list[str]] = Field(
        default_factory=lambda: dict(DEFAULT_REPAIR_AUTHORITY), max_length=20
    )
    credit_hold_accounts: list[str] = Field(
        default_factory=list, max_length=100_000, description="credit validation refuses these"
    )
    accounts_without_billing: list[str] = Field(
        default_factory=list,
        max_length=100_000,
        description="billing validation refuses these (no billing account to charge)",
    )

    def may(self, role: str, action: str) -> bool:
        return role in self.repair_authority.get(action, [])

    def partial_policy(self, offerings: list[str]) -> PartialFulfilment:
        chosen = [self.partial_fulfilment_by_offering.get(o) for o in offerings]
        if "all_or_nothing" in chosen:
            return "all_or_nothing"
        if "keep_what_succeeded" in chosen:
            return "keep_what_succeeded"
        return self.partial_fulfilment


DEFAULT_ORDER_POLICY = OrderPolicy()
