"""The evaluation plan of one pricing scope: what every quote priced in it looks up.

A *scope* is everything besides the quote lines that decides which rules are in force
and how amounts round: currency, region, channel, segment, account, business date and
the pricing policy. Quotes in the same scope (every quote of a simulated day, every
request a gateway serves for one account) ask the same questions — which book prices
this offering, which contract, which volume discounts are in force, what does this
bundle contain on this date — so a plan answers each question once and remembers it.

Memos are keyed by content (offering keys as written, entry ids, scope fields), never
by ``id()``, and bounded: a plan answers at most one entry per catalog key (and at most
:attr:`PricingPlan.SELECTIONS_KEPT` per line selection), and the view keeps at most
:attr:`cpqsim.pricing_view.PricingView.PLANS_KEPT` plans.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import TYPE_CHECKING

from cpqsim.money import CURRENCY_PLACES
from cpqsim.pricebook import BundleDiscount, ContractPrice, PriceBook, Promotion, VolumeDiscount
from cpqsim.pricing_errors import PricingError
from cpqsim.pricing_view import PriceSource, PricingView

if TYPE_CHECKING:
    from cpqsim.catalog import Offering
    from cpqsim.pricing import PricingPolicy

__all__ = ["ItemFacts", "PricingPlan", "Rounding", "Scope"]


@dataclass(frozen=True, slots=True)
class Scope:
    """The content key of a plan: every request field that is not a line."""

    currency: str
    region: str | None
    channel: str | None
    segment: str | None
    account_id: str | None
    business_date: date | None
    policy: PricingPolicy

    def describe(self) -> str:
        """What a price was looked for with, as error messages state it."""
        return (
            f"currency {self.currency}, region {self.region or '-'}, channel "
            f"{self.channel or '-'}, business date {self.business_date or '-'}"
        )


@dataclass(frozen=True, slots=True)
class Rounding:
    """The stated rounding: mode and places for the currency, per line or on totals."""

    mode: str
    places: int
    applies: str  # "line": every amount a step produces; "total": only the totals
    source: str  # "rules <version>" or "policy <version>"
    quantum: Decimal
    per_line: bool
    zero: Decimal  # 0 as amounts are written (0.00 under line rounding in USD)
    policy_version: str

    def detail(self, what: str) -> str:
        return f"{what} rounded to {self.places} places, {self.mode}"


@dataclass(frozen=True, slots=True)
class ItemFacts:
    """One selected item (as written on a line) resolved in a scope."""

    item: str
    offering: Offering
    keys: tuple[str, ...]  # every id a rule may name it by: as written, id, version id
    sources: tuple[PriceSource, ...]  # the charges it implies here (may be empty: free)
    missing: str | None  # why it has no price here though it is priced elsewhere
    ties: tuple[str, ...]  # warnings: books that tie for it


class PricingPlan:
    """Answers of one scope (see the module docstring)."""

    #: Memos keyed by catalog keys hold at most one answer per key; the one keyed by a
    #: line's whole selection (promotion candidates) is cleared past this many.
    SELECTIONS_KEPT = 4096

    def __init__(self, view: PricingView, scope: Scope) -> None:
        self.view = view
        self.scope = scope
        self.day = day = scope.business_date
        self.rounding = _rounding(view, scope)
        if view.dated and day is None:
            raise PricingError(
                f"business_date is required: catalog {view.catalog_id} {view.catalog_version} "
                f"has effective-dated pricing rules ({view.rules_version}) and pricing never "
                "assumes today"
            )
        books = view.books
        matching = [
            n
            for n, b in enumerate(books)
            if day is not None
            and b.currency == scope.currency
            and b.in_force(day)
            and b.region in (None, scope.region)
            and b.channel in (None, scope.channel)
        ]
        #: Book positions in rank order: priority desc, then scope specificity
        #: (region+channel > region > channel > none), then id.
        self.ranked: tuple[int, ...] = tuple(sorted(matching, key=lambda n: _rank(books[n])))
        self.bundles: tuple[BundleDiscount, ...] = view.bundles if day is not None else ()
        self.bundles_in_force = frozenset(
            b.id for b in self.bundles if day is not None and b.in_force(day)
        )
        self._items: dict[str, ItemFacts] = {}
        self._closures: dict[str, frozenset[str]] = {}
        self._contracts: dict[tuple[tuple[str, ...], str], ContractPrice | None] = {}
        self._volume: dict[str, tuple[VolumeDiscount, ...]] = {}
        self._promotions: dict[tuple[tuple[str, ...], ...], tuple[Promotion, ...]] = {}

    # ------------------------------------------------------------------ items

    def item(self, item: str) -> ItemFacts:
        """The offering ``item`` names on the business date, and its price sources."""
        hit = self._items.get(item)
        if hit is None:
            hit = self._items[item] = self._resolve(item)
        return hit

    def _resolve(self, item: str) -> ItemFacts:
        try:
            offering = self.view.offering(item, self.day)
        except KeyError as exc:
            raise PricingError(f"cannot price {item}: {exc.args[0]}") from None
        keys = (item, *[k for k in (offering.id, offering.version_id) if k != item])
        view = self.view
        for key in keys:
            by_book = view.book_entries(key)
            if not by_book:
                continue
            winners = [n for n in self.ranked if n in by_book]
            if winners:
                return ItemFacts(
                    item, offering, keys, by_book[winners[0]], None, self._ties(key, winners)
                )
        prices = view.catalog_prices(offering)
        scope = self.scope
        if prices and scope.currency != view.catalog_currency:
            why = (
                f"no price for offering {item} in {scope.describe()}: no price book in force "
                f"prices it and its catalog prices are in {view.catalog_currency}"
            )
            return ItemFacts(item, offering, keys, (), why, ())
        if not prices and view.priced_anywhere(keys, offering):
            return ItemFacts(item, offering, keys, (), self._priced_elsewhere(item, keys), ())
        return ItemFacts(item, offering, keys, prices, None, ())

    def _ties(self, key: str, winners: list[int]) -> tuple[str, ...]:
        books = self.view.books
        first = books[winners[0]]
        return tuple(
            f"price books {first.id} and {books[n].id} tie for {key} (same priority and "
            f"scope); {first.id} wins by id"
            for n in winners[1:]
            if _rank(books[n])[:2] == _rank(first)[:2]
        )

    def _priced_elsewhere(self, item: str, keys: tuple[str, ...]) -> str:
        """The missing-price message: what was looked for, and where prices do exist."""
        found = "; ".join(
            f"price book {book.id} v{book.version} (currency {book.currency}, region "
            f"{book.region or 'any'}, channel {book.channel or 'any'}, in force "
            f"{_window(book)}) has {', '.join(ids)}"
            for book, ids in self.view.where_priced(keys)
        )
        return (
            f"no price for offering {item} in {self.scope.describe()}: no price book in "
            f"force for this currency, region and channel prices it, and it has no catalog "
            f"price of its own; its charges are priced only by {found}"
        )

    def closure(self, item: str) -> frozenset[str]:
        """Stable ids of everything ``item`` contains, directly or through nested bundles
        (each contained offering as resolved on the business date)."""
        hit = self._closures.get(item)
        if hit is not None:
            return hit
        seen: set[str] = set()
        stack = [item]
        while stack:
            current = stack.pop()
            if not self.view.has_offering(current):
                continue
            for child in _contained(self.item(current).offering):
                if child not in seen and child != item:
                    seen.add(child)
                    stack.append(child)
        out = frozenset(c.split("@", 1)[0] for c in seen)
        self._closures[item] = out
        return out

    # ------------------------------------------------------------------ rules

    def contract(self, keys: tuple[str, ...], entry_id: str) -> ContractPrice | None:
        """The account's contract price for this entry of these offering keys, if any
        (latest start wins, then id)."""
        memo_key = (keys, entry_id)
        if memo_key in self._contracts:
            return self._contracts[memo_key]
        found = None
        scope, day = self.scope, self.day
        if day is not None and scope.account_id is not None:
            for key in keys:
                here = [
                    c
                    for c in self.view.contracts_for(key, entry_id)
                    if c.account_id == scope.account_id
                    and c.currency == scope.currency
                    and c.in_force(day)
                ]
                if here:
                    found = max(here, key=lambda c: (c.effective_from, c.id))
                    break
        self._contracts[memo_key] = found
        return found

    def volume(self, key: str) -> tuple[VolumeDiscount, ...]:
        """Volume discounts of offering ``key`` in force on the business date."""
        hit = self._volume.get(key)
        if hit is None:
            day = self.day
            hit = self._volume[key] = tuple(
                vd for vd in self.view.volume_for(key) if day is not None and vd.in_force(day)
            )
        return hit

    def promotion_candidates(self, item_keys: tuple[tuple[str, ...], ...]) -> tuple[Promotion, ...]:
        """Promotions naming any item of a line segment, by id (in force or not: the
        resolution says why one does not apply)."""
        hit = self._promotions.get(item_keys)
        if hit is None:
            if len(self._promotions) >= self.SELECTIONS_KEPT:
                self._promotions.clear()  # selections are open-ended; answers are cheap
            seen: dict[str, Promotion] = {}
            if self.day is not None:
                for keys in item_keys:
                    for key in keys:
                        for promo in self.view.promotions_for(key):
                            seen.setdefault(promo.id, promo)
            hit = self._promotions[item_keys] = tuple(seen[k] for k in sorted(seen))
        return hit


def _rank(book: PriceBook) -> tuple[int, int, str]:
    specificity = 2 * (book.region is not None) + (book.channel is not None)
    return (-book.priority, -specificity, book.id)


def _window(book: PriceBook) -> str:
    end = book.effective_to.isoformat() if book.effective_to else "open"
    return f"[{book.effective_from.isoformat()}, {end})"


def _contained(offering: Offering) -> list[str]:
    return [r.target for r in offering.relations if r.kind == "contains"]


def _rounding(view: PricingView, scope: Scope) -> Rounding:
    policy, rules = scope.policy, view.rounding
    places = policy.currency_places
    if places is None:
        places = rules.places.get(scope.currency, CURRENCY_PLACES.get(scope.currency))
    if places is None:
        raise PricingError(
            f"no minor-unit places known for currency {scope.currency}; add it to "
            f"the rounding policy of pricing rules {view.rules_version}"
        )
    overridden = (policy.currency_places, policy.rounding_mode, policy.rounding_applies) != (
        None,
    ) * 3
    applies = policy.rounding_applies or rules.applies
    quantum = Decimal(1).scaleb(-places)
    per_line = applies == "line"
    return Rounding(
        mode=policy.rounding_mode or rules.mode,
        places=places,
        applies=applies,
        source=f"policy {policy.version}" if overridden else f"rules {view.rules_version}",
        quantum=quantum,
        per_line=per_line,
        zero=Decimal(0).quantize(quantum) if per_line else Decimal(0),
        policy_version=policy.version,
    )
