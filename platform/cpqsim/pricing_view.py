"""What pricing reads from a catalog version, indexed once when the catalog is published.

Pricing a line must be lookups, not searches: the pricer never scans the price books,
promotions or discounts of the catalog. This view is built once per catalog version
(``Catalog.pricing_view``, made by :func:`cpqsim.catalog.publish`) and is immutable:

* price entries per offering key (stable id or version id) per price book, each with
  its tier table prepared (:class:`cpqsim.pricing_tiers.TierTable`);
* an offering version's own catalog prices;
* promotion candidates, volume discounts and contract prices per offering key;
* bundle discounts in id order;
* for the missing-price rule, where each offering key is priced at all (any book, any
  currency, any dates), so a request scope that finds no price can say where prices do
  exist instead of pricing the item at zero.

What depends on the request's scope (currency, region, channel, business date, account,
policy) lives in :mod:`cpqsim.pricing_plan`, and so does the containment closure of an
offering: a bundle names its components by stable id, and which version (with which
components of its own) is in force depends on the business date. The view keeps a small,
bounded memo of those plans by their content key (:meth:`PricingView.plan`).
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from cpqsim.pricebook import (
    BundleDiscount,
    ContractPrice,
    PriceBook,
    PriceEntry,
    Promotion,
    VolumeDiscount,
)
from cpqsim.pricing_tiers import TierTable

if TYPE_CHECKING:  # the catalog module builds the view; only types are needed here
    from cpqsim.catalog import Catalog, Offering
    from cpqsim.pricing_plan import PricingPlan, Scope

__all__ = ["PriceSource", "PricingView"]


@dataclass(frozen=True, slots=True)
class PriceSource:
    """One charge definition as pricing uses it: the entry (a book's ``PriceEntry`` or
    the offering's own catalog ``Price``), where it comes from and its tier table.

    The entry's fields the rules read on every charge are copied here as plain values
    (``id`` .. ``usage_unit``): reading them from the entry model goes through pydantic's
    attribute hooks, several times per charge of every line.
    """

    entry: Any  # PriceEntry | Price: both have id, kind, amount (and period)
    source: str  # price book id, or "catalog"
    version: str  # price book version, or the catalog version
    tiers: TierTable | None
    key: tuple[str, str]  # content key: (source, entry id)
    id: str
    kind: str  # recurring, one_time, usage
    amount: Decimal
    period: str | None  # month or year (recurring)
    term_months: int | None
    usage_unit: str | None

    @classmethod
    def of(cls, entry: Any, source: str, version: str, tiers: TierTable | None) -> PriceSource:
        return cls(
            entry,
            source,
            version,
            tiers,
            (source, entry.id),
            entry.id,
            entry.kind,
            entry.amount,
            entry.period,
            getattr(entry, "term_months", None),
            getattr(entry, "usage_unit", None),
        )


class PricingView:
    """The pricing indexes of one catalog version (see the module docstring)."""

    #: How many scopes (currency, region, channel, date, account, policy...) keep a
    #: plan; the oldest goes first. A simulated day or a gateway serves a handful.
    PLANS_KEPT = 32

    def __init__(self, catalog: Catalog) -> None:
        # The catalog holds its view; a weak reference back keeps the pair free of a
        # reference cycle (offering lookups by date stay the catalog's own).
        self._catalog = weakref.ref(catalog)
        rules = catalog.pricing
        self.catalog_id = catalog.id
        self.catalog_version = catalog.version
        self.catalog_currency = catalog.currency
        self.rules = rules
        self.rules_version = rules.version
        self.rounding = rules.rounding
        #: Effective-dated rules need an explicit business date to be judged.
        self.dated = bool(
            rules.price_books
            or rules.volume_discounts
            or rules.contract_prices
            or rules.promotions
            or rules.bundle_discounts
        )
        self.books: tuple[PriceBook, ...] = tuple(rules.price_books)
        # Books are told apart by position: ids are checked unique at publication, but
        # the index must not merge two books if a caller skipped the checks.
        self._entries: dict[str, dict[int, tuple[PriceSource, ...]]] = {}
        for n, book in enumerate(self.books):
            grouped: dict[str, list[PriceSource]] = {}
            for entry in book.entries:
                grouped.setdefault(entry.offering, []).append(_source(entry, book))
            for key, sources in grouped.items():
                self._entries.setdefault(key, {})[n] = tuple(sources)
        self._promotions: dict[str, list[Promotion]] = {}
        for promo in rules.promotions:
            for key in promo.applies_to:
                self._promotions.setdefault(key, []).append(promo)
        self._volume: dict[str, list[VolumeDiscount]] = {}
        for vd in rules.volume_discounts:
            self._volume.setdefault(vd.offering, []).append(vd)
        self._contracts: dict[tuple[str, str], list[ContractPrice]] = {}
        for cp in rules.contract_prices:
            self._contracts.setdefault((cp.offering, cp.price_entry), []).append(cp)
        self.bundles: tuple[BundleDiscount, ...] = tuple(
            sorted(rules.bundle_discounts, key=lambda b: b.id)
        )
        self._catalog_prices: dict[str, tuple[PriceSource, ...]] = {}
        self._plans: dict[Scope, PricingPlan] = {}

    # ------------------------------------------------------------------ lookups

    def offering(self, key: str, business_date: date | None) -> Offering:
        """The offering version ``key`` names on ``business_date`` (KeyError if none)."""
        return self._owner().offering(key, business_date)

    def has_offering(self, key: str) -> bool:
        return self._owner().has_offering(key)

    def _owner(self) -> Catalog:
        catalog = self._catalog()
        if catalog is None:  # pragma: no cover - a view is reached through its catalog
            raise RuntimeError(f"catalog {self.catalog_id} {self.catalog_version} is gone")
        return catalog

    def book_entries(self, key: str) -> dict[int, tuple[PriceSource, ...]]:
        """Book position -> the entries of that book pricing offering ``key``."""
        return self._entries.get(key, _NONE)

    def catalog_prices(self, offering: Offering) -> tuple[PriceSource, ...]:
        """The offering version's own prices (in the catalog currency)."""
        found = self._catalog_prices.get(offering.version_id)
        if found is None:
            version = self.catalog_version
            found = tuple(PriceSource.of(p, "catalog", version, None) for p in offering.prices)
            self._catalog_prices[offering.version_id] = found
        return found

    def promotions_for(self, key: str) -> list[Promotion]:
        return self._promotions.get(key, _EMPTY)

    def volume_for(self, key: str) -> list[VolumeDiscount]:
        return self._volume.get(key, _EMPTY)

    def contracts_for(self, key: str, entry_id: str) -> list[ContractPrice]:
        return self._contracts.get((key, entry_id), _EMPTY)

    def priced_anywhere(self, keys: tuple[str, ...], offering: Offering) -> bool:
        """Does any price definition exist for this offering (any book, currency, date)?"""
        return bool(offering.prices) or any(key in self._entries for key in keys)

    def where_priced(self, keys: tuple[str, ...]) -> list[tuple[PriceBook, tuple[str, ...]]]:
        """Every book pricing one of ``keys``, with the entry ids, in catalog order."""
        found = []
        for n, book in enumerate(self.books):
            ids = tuple(
                s.entry.id for key in keys for s in self._entries.get(key, _NONE).get(n, ())
            )
            if ids:
                found.append((book, ids))
        return found

    # ------------------------------------------------------------------ plans

    def plan(self, scope: Scope) -> PricingPlan:
        """The evaluation plan of ``scope``, made once and kept (bounded, by content).

        The oldest plan goes first when :attr:`PLANS_KEPT` are kept. Plans are pure
        answers, so two callers making the same plan at once is harmless: each step here
        is a single dict operation, and the last one stored wins.
        """
        hit = self._plans.get(scope)
        if hit is not None:
            return hit
        from cpqsim.pricing_plan import PricingPlan

        made = PricingPlan(self, scope)
        if len(self._plans) >= self.PLANS_KEPT:
            oldest = next(iter(list(self._plans)), None)
            self._plans.pop(oldest, None)  # type: ignore[arg-type]
        self._plans[scope] = made
        return made


_NONE: dict[int, tuple[PriceSource, ...]] = {}
_EMPTY: list[Any] = []


def _source(entry: PriceEntry, book: PriceBook) -> PriceSource:
    tiers = TierTable(entry.tier_mode, entry.tiers) if entry.kind == "usage" else None
    return PriceSource.of(entry, book.id, book.version, tiers)
