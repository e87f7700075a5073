"""A change to an installed asset, old beside new, as a reader sees it.

A priced change (:class:`cpqsim.pricing_result.ChangeBilling`) holds the amounts; the
configuration it changes from is the asset's terms in the price request
(:class:`cpqsim.pricing_change_terms.AssetTerms`) and the one it changes to is the quote
line. A customer reading a proposal, or an architect pricing a change request, wants the
two side by side: what the asset is (offering, plan, quantity, status, monthly charge)
before the change and after it. This module puts them there, once, for every reader
(the proposal, ``cpqsim price``), from the request and the price alone.

Only what a customer may see is copied, field by field: nothing internal can leak
through a view, whatever the price models come to carry.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal

from pydantic import BaseModel, ConfigDict, Field

from cpqsim.configuration import QuoteLine
from cpqsim.pricing_change import PRICED_AS_CONFIGURATION
from cpqsim.pricing_change_terms import AssetTerms
from cpqsim.pricing_result import Amount, ChangeBilling

__all__ = ["ACTION_NOUNS", "STATUS_AFTER", "ChangeSide", "ChangeView", "change_views"]

#: The status an asset lands in after each action (a renewal keeps the one it had).
STATUS_AFTER: dict[str, str] = {
    "modify": "active",
    "upgrade": "active",
    "downgrade": "active",
    "suspend": "suspended",
    "resume": "active",
    "disconnect": "disconnected",
}

#: Each action as a reader names it ("upgrade of asset a-1").
ACTION_NOUNS: dict[str, str] = {
    "modify": "modification",
    "upgrade": "upgrade",
    "downgrade": "downgrade",
    "suspend": "suspension",
    "resume": "resumption",
    "disconnect": "disconnection",
    "renew": "renewal",
}


class ChangeSide(BaseModel):
    """The asset on one side of a change: what it is, and what it is billed a month."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    offering: str
    options: list[str] = Field(default_factory=list)
    add_ons: list[str] = Field(default_factory=list)
    characteristics: dict[str, str] = Field(default_factory=dict)
    quantity: int
    status: str
    monthly: Amount

    def configuration(self) -> str:
        """``saas-suite@2 with saas-edition-standard@1 plus add-ons saas-sso@1, quantity 20``."""
        text = self.offering
        if self.options:
            text += " with " + ", ".join(self.options)
        if self.add_ons:
            text += " plus add-ons " + ", ".join(self.add_ons)
        return f"{text}, quantity {self.quantity}"


class ChangeView(BaseModel):
    """One change line: the action, the asset, and the asset before and after it.

    ``before`` is None when the request does not state the asset's terms (nothing is
    guessed). The amounts of the change are the priced change itself, not repeated here.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    line: int
    action: str
    asset_id: str
    asset_version: int
    before: ChangeSide | None
    after: ChangeSide

    def changed_characteristics(self) -> list[tuple[str, str | None, str]]:
        """Every characteristic the change moves: (name, old value, new value), by name."""
        old = self.before.characteristics if self.before is not None else {}
        new = self.after.characteristics
        return [(k, old.get(k), v) for k, v in sorted(new.items()) if old.get(k) != v]


def _after(
    line: QuoteLine, before: ChangeSide | None, change: ChangeBilling, monthly: Decimal
) -> ChangeSide:
    status = STATUS_AFTER.get(change.action) or (before.status if before else "active")
    if change.action in PRICED_AS_CONFIGURATION or before is None:
        kept = before.characteristics if before is not None else {}
        return ChangeSide(
            offering=line.offering,
            options=list(line.options),
            add_ons=list(line.add_ons),
            characteristics={**kept, **line.characteristics},
            quantity=change.quantity,
            status=status,
            monthly=monthly,
        )
    return before.model_copy(
        update={"quantity": change.quantity, "status": status, "monthly": monthly}
    )


def change_views(
    lines: Sequence[QuoteLine], assets: Sequence[AssetTerms], changes: Sequence[ChangeBilling]
) -> list[ChangeView]:
    """Each priced change (in the order given) with its asset before and after.

    ``lines`` are the request's lines (``changes[k].line`` indexes them), ``assets`` the
    asset terms the request states.
    """
    terms = {a.asset_id: a for a in assets}
    out = []
    for change in changes:
        line = lines[change.line]
        asset = terms.get(change.asset_id)
        before = (
            ChangeSide(
                offering=asset.offering,
                options=list(asset.options),
                characteristics=dict(asset.characteristics),
                quantity=asset.quantity,
                status=asset.status,
                monthly=change.old_monthly,
            )
            if asset is not None
            else None
        )
        out.append(
            ChangeView(
                line=change.line,
                action=change.action,
                asset_id=change.asset_id,
                asset_version=change.asset_version,
                before=before,
                after=_after(line, before, change, change.new_monthly),
            )
        )
    return out
