"""The commercial terms an order hands to billing, read from the accepted price.

Billing must charge what the customer accepted, not what a price book says today: the
recurring charge per unit of each asset an item makes (the item's own offering and
options, each add-on, each bundle component), its one-time charges, the currency, when
service starts, the contract term and the proration basis. They are read, once, from the
priced lines of the quote whose snapshot the order carries (never re-priced).

Why per asset: an item becomes a tree of assets (``asset``, its add-ons ``asset.1``...,
then its bundle components), each billed on its own subscription; :data:`MAIN` keys the
item's own asset and ``"1"``, ``"2"``, ``"2.1"``... its children in asset-id order.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from decimal import ROUND_HALF_EVEN, Decimal
from typing import ClassVar

from pydantic import ConfigDict, Field

from cpqsim.configuration import QuoteLine
from cpqsim.omit_defaults import OmitsDefaults
from cpqsim.pricing import PriceRequest
from cpqsim.pricing_result import LineCharge, PriceResult

__all__ = [
    "MAIN",
    "ElementTerms",
    "ItemTerms",
    "add_months",
    "child_keys",
    "item_terms",
    "monthly_moves",
]

MAIN = ""
#: Per-unit amounts keep this many places (a monthly 100.00 for 3 units is 33.3333).
UNIT_PLACES = Decimal("0.0001")


class ElementTerms(OmitsDefaults):
    """What one asset of an item costs: monthly per unit (after discount), one-time total.

    Recorded on ``order.created``: an unknown amount is left out, not written as null."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    omit_when_default: ClassVar[frozenset[str]] = frozenset({"recurring_monthly", "one_time"})

    recurring_monthly: Decimal | None = None
    one_time: Decimal | None = None


class ItemTerms(OmitsDefaults):
    """The commercial terms of one order item, as billing is handed them.

    Recorded on ``order.created``, so an order rebuilt from its facts after a restart
    bills exactly what the one before the restart would have; what is unknown is left
    out of the fact rather than written as null."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    omit_when_default: ClassVar[frozenset[str]] = frozenset(
        {"currency", "start_date", "term_months", "term_end", "proration_basis", "elements"}
    )

    currency: str | None = None
    start_date: date | None = None
    term_months: int | None = None
    term_end: date | None = None  # exclusive
    proration_basis: str | None = None
    elements: dict[str, ElementTerms] = Field(default_factory=dict)

    @property
    def main(self) -> ElementTerms:
        return self.elements.get(MAIN, ElementTerms())


def add_months(day: date, months: int) -> date:
    """``day`` moved by whole months, clamped to the month's last day (01-31 + 1 = 02-28)."""
    index = day.year * 12 + day.month - 1 + months
    year, month = divmod(index, 12)
    for d in (day.day, 30, 29, 28):
        try:
            return date(year, month + 1, d)
        except ValueError:
            continue
    raise AssertionError("unreachable")  # pragma: no cover


def _per_unit(charges: list[LineCharge]) -> Decimal | None:
    recurring = [c for c in charges if c.kind == "recurring" and c.quantity > 0]
    if not recurring:
        return None
    total = sum(
        ((c.monthly_equivalent or c.net_amount) / c.quantity for c in recurring), Decimal(0)
    )
    if total.as_tuple().exponent < UNIT_PLACES.as_tuple().exponent:  # type: ignore[operator]
        total = total.quantize(UNIT_PLACES, rounding=ROUND_HALF_EVEN)
    return total


def _one_time(charges: list[LineCharge]) -> Decimal | None:
    once = [c.net_amount for c in charges if c.kind == "one_time"]
    return sum(once, Decimal(0)) if once else None


def _walk(
    line: QuoteLine,
    path: str,
    key: str,
    charges: list[LineCharge],
    out: dict[str, ElementTerms],
) -> list[LineCharge]:
    """Terms of ``line`` (at ``path`` in the quote line) and its children; returns the
    charges of the line's own asset (where the contract term is read)."""
    here = [c for c in charges if c.path == path]
    own_items = {line.offering, *line.options}
    own = [c for c in here if c.item in own_items]
    out[key] = ElementTerms(recurring_monthly=_per_unit(own), one_time=_one_time(own))
    n = 0
    for add_on in line.add_ons:
        n += 1
        mine = [c for c in here if c.item == add_on]
        out[_child(key, n)] = ElementTerms(
            recurring_monthly=_per_unit(mine), one_time=_one_time(mine)
        )
    for k, content in enumerate(line.contents):
        n += 1
        _walk(content, f"{path}.contents[{k}]", _child(key, n), charges, out)
    return own


def _child(key: str, n: int) -> str:
    return f"{key}.{n}" if key else str(n)


def child_keys(line: QuoteLine | object, key: str = MAIN) -> list[str]:
    """The keys of a line's child assets (add-ons, then bundle components, nested), in
    the order and numbering their assets get (``<asset>.<key>``). Worked out from the
    item's structure alone, so an order rebuilt from its facts names the same children
    as the order that was first created."""
    out: list[str] = []
    n = 0
    for _ in getattr(line, "add_ons", ()):
        n += 1
        out.append(_child(key, n))
    for content in getattr(line, "contents", ()):
        n += 1
        out.append(_child(key, n))
        out += child_keys(content, _child(key, n))
    return out


def item_terms(
    lines: Sequence[QuoteLine], price: PriceResult | None, request: PriceRequest | None
) -> list[ItemTerms]:
    """The terms of each line's item, in line order (empty terms when nothing is priced).

    A change line's terms are those of its priced line, like a new sale's; whether its
    recurring charge moved is the accepted change price's to say (:func:`monthly_moves`).
    Extension point: a change line's delta terms (proration, credit, co-terminated end)
    come from the accepted snapshot once billing is handed them.
    """
    start = None
    if request is not None:
        start = request.service_start or request.business_date
    basis = None
    if price is not None and price.proration:
        value = price.proration.get("basis")
        basis = str(value) if value is not None else None
    out: list[ItemTerms] = []
    for i, line in enumerate(lines):
        if price is None or i >= len(price.lines):
            out.append(ItemTerms(start_date=start))
            continue
        elements: dict[str, ElementTerms] = {}
        own = _walk(line, "", MAIN, price.lines[i].charges, elements)
        months = max((c.term_months for c in own if c.term_months), default=None)
        out.append(
            ItemTerms(
                currency=price.currency,
                start_date=start,
                term_months=months,
                term_end=add_months(start, months) if start and months else None,
                proration_basis=basis,
                elements=elements,
            )
        )
    return out


def monthly_moves(price: PriceResult | None) -> dict[int, tuple[Decimal, Decimal]]:
    """Line index -> (old, new) monthly charge of each priced change whose recurring
    charge moved, as the accepted change price states it.

    Why from the price and not from the line: what a change costs per month is pricing's
    verdict (a priced characteristic, a contract term, the price book in force), and the
    order must bill exactly what was accepted. A modify whose charge moved is billed
    (``modify_subscription`` with the new charge) even when its quantity stays.
    """
    if price is None:
        return {}
    return {c.line: (c.old_monthly, c.new_monthly) for c in price.changes if c.monthly_delta != 0}
