"""The product catalog: a typed, versioned graph of what may be sold and how it is built.

Identity. A *specification* says what a product is (its characteristics); an *offering*
says how it is sold (prices, options, scope, lifecycle). Every offering has a stable
``id`` that lives across versions and an immutable ``version``; together they form the
``version_id`` (``saas-suite@2``). Several versions of one offering coexist in one
catalog document, each with its lifecycle status and effective window, so a quote made
last year can still name exactly what it sold.

Lookup. ``catalog.offering(key, business_date)`` takes a version id (exact) or a stable
id: with a business date it returns the version in force on that date; without one it
returns the newest version open to new quotes (falling back to the newest published
version, so existing assets on a closed offering can still be looked up).

Publication. Everything downstream (configuration, pricing, quote, order decomposition)
trusts the catalog, so a catalog is only handed out after it passed *all* checks at
once (see :mod:`cpqsim.catalog_checks`); the result is immutable and carries a content
fingerprint. A publisher fixing a broken file wants the whole list of problems in one
go, each with the field path where it lives, not one error per attempt.

The core takes documents (plain data); reading a file is the shell's job
(``cpqsim_scenarios.files``), which keeps numbers exact and places every problem in the
file by line and column.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from decimal import Decimal, InvalidOperation
from functools import cached_property
from typing import Annotated, Any, Literal, get_args

import networkx as nx
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    TypeAdapter,
    ValidationError,
    WithJsonSchema,
    model_validator,
)

from cpqsim.catalog_lifecycle import STATUS_RULES, LifecycleStatus, allows
from cpqsim.money import Money
from cpqsim.pricebook import Amount, PricingRules
from cpqsim.pricing_view import PricingView

__all__ = [
    "HARD_RELATIONS",
    "RELATION_KINDS",
    "SCOPED_RELATIONS",
    "Catalog",
    "CatalogInvalid",
    "CatalogProblem",
    "Characteristic",
    "DecompositionStep",
    "Money",
    "Offering",
    "OptionGroup",
    "Price",
    "PublishedCatalog",
    "Relation",
    "Specification",
    "parse_catalog",
    "publish",
    "stable_id",
    "to_tmf620_product_offering",
    "validate_catalog",
]

#: Relation kinds between offerings (TMF620 ``relationshipType`` spelling).
RelationKind = Literal[
    "contains",
    "requires",
    "excludes",
    "recommends",
    "replaces",
    "upgradesTo",
    "downgradesTo",
    "dependsOnAsset",
    "conflictsWith",
]
RELATION_KINDS: tuple[str, ...] = get_args(RelationKind)

#: Relations that *must* be satisfied before the source can exist: a cycle among them
#: can never be satisfied, so publication refuses it.
HARD_RELATIONS = ("requires", "contains", "dependsOnAsset")

#: Ids and versions may not contain "@" (it separates them in a version id) or spaces.
_ID = r"^[^@\s]+$"
Ident = Annotated[str, Field(pattern=_ID, min_length=1)]


def stable_id(key: str) -> str:
    """The stable offering id of a version id or stable id (``a@2`` -> ``a``)."""
    return key.partition("@")[0]


def _finite(value: Decimal) -> Decimal:
    if not value.is_finite():
        raise ValueError(f"amount must be a finite number, got {value}")
    return value


def as_text(value: Any) -> Any:
    """Characteristic values are text; YAML writes ``true`` and ``36`` as scalars."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | Decimal):
        return str(value)
    return value


#: A characteristic value: text, with YAML/JSON scalars (true, 36, 1.5) turned into text.
# Written as text, a number or a boolean in YAML (``12``, ``true``); kept as text.
Text = Annotated[
    str,
    BeforeValidator(as_text),
    WithJsonSchema({"type": ["string", "number", "boolean"]}),
]


class _Strict(BaseModel):
    """External shapes: unknown keys are typos, and catalog versions are immutable."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class Price(_Strict):
    """One charge of an offering, per unit of quantity."""

    id: str
    kind: Literal["recurring", "one_time"]
    amount: Annotated[Amount, Field(ge=0)]
    period: Literal["month"] | None = None

    @model_validator(mode="before")
    @classmethod
    def _default_period(cls, data: Any) -> Any:
        # A recurring price without a period is monthly; a one-time price has none.
        if isinstance(data, dict) and data.get("kind") == "recurring" and "period" not in data:
            return {**data, "period": "month"}
        return data

    @model_validator(mode="after")
    def _period_matches_kind(self) -> Price:
        _finite(self.amount)
        if self.kind == "one_time" and self.period is not None:
            raise ValueError("a one_time price has no period")
        if self.kind == "recurring" and self.period is None:
            raise ValueError("a recurring price needs a period")
        return self


class OptionGroup(_Strict):
    """Choose between ``min`` and ``max`` of ``options`` (offering ids) on one line.

    An option names a stable id (any version in force) or a version id (that version).
    """

    id: str
    name: str
    min: int
    max: int
    options: list[str]


#: Where a requires/excludes/conflictsWith relation looks for its target: on the same
#: quote line (the line's offering, options, add-ons and bundle contents) or anywhere in
#: the quote.
RelationScope = Literal["line", "quote"]
#: The relation kinds that take a scope and an effective window of their own.
SCOPED_RELATIONS = ("requires", "excludes", "conflictsWith")


class Relation(_Strict):
    """A typed link to another offering (stable id, or version id to pin one version).

    ``contains`` makes the source a bundle: each bundle unit holds between ``min`` and
    ``max`` units of the target (default exactly one). Other kinds take no quantities.

    ``requires``, ``excludes`` and ``conflictsWith`` may state their ``scope``: ``line``
    (the target counts only on the same quote line: the bundle, its options, add-ons and
    contents) or ``quote`` (any line; the default, which is what "a firewall needs an
    internet access somewhere" means). They may also carry their own effective window
    (``effective_from`` inclusive, ``effective_to`` exclusive), so a requirement that
    changes in a new catalog version can be dated.
    """

    kind: RelationKind
    target: str
    reason: str = ""
    min: int | None = None
    max: int | None = None
    scope: RelationScope | None = None
    effective_from: date | None = None
    effective_to: date | None = Field(default=None, description="exclusive end; None = open")

    @model_validator(mode="after")
    def _fields_fit_the_kind(self) -> Relation:
        if self.kind != "contains" and (self.min is not None or self.max is not None):
            raise ValueError(f"only a contains relation takes min/max, not {self.kind}")
        dated = self.effective_from is not None or self.effective_to is not None
        if self.kind not in SCOPED_RELATIONS and (self.scope is not None or dated):
            raise ValueError(
                f"only {', '.join(SCOPED_RELATIONS)} relations take a scope or an effective "
                f"window, not {self.kind}"
            )
        if (
            self.effective_from is not None
            and self.effective_to is not None
            and self.effective_to <= self.effective_from
        ):
            raise ValueError("effective_to must be after effective_from (it is exclusive)")
        return self

    @property
    def quantity_min(self) -> int:
        return 1 if self.min is None else self.min

    @property
    def quantity_max(self) -> int:
        return self.max if self.max is not None else max(self.quantity_min, 1)

    @property
    def applies_within(self) -> str:
        """``line`` or ``quote`` (the default scope)."""
        return self.scope or "quote"

    def window(self) -> tuple[date | None, date | None]:
        return (self.effective_from, self.effective_to)

    def in_force(self, business_date: date | None) -> bool:
        """Is the relation in force on ``business_date``? Without a date, the relations
        in force from now on are the ones without an end (the newest rules)."""
        if business_date is None:
            return self.effective_to is None
        return (self.effective_from is None or self.effective_from <= business_date) and (
            self.effective_to is None or business_date < self.effective_to
        )

    def describe_window(self) -> str:
        start = self.effective_from.isoformat() if self.effective_from else "open"
        end = self.effective_to.isoformat() if self.effective_to else "open"
        return f"[{start}, {end})"


class DecompositionStep(_Strict):
    """One technical task an order line turns into: which system does what, after what.

    ``compensation`` names the operation (on the same system) that undoes the task when an
    order is cancelled or rolled back; a task without one cannot be undone. ``cutoff`` is
    its point of no return: once the task is dispatched (``on_dispatch``, e.g. a shipment
    handed to the carrier) or done (``on_completion``, e.g. a number ported), the order can
    no longer be cancelled.
    """

    task: str
    system: str
    operation: str
    depends_on: list[str] = Field(default_factory=list)
    compensation: str | None = Field(default=None, min_length=1)
    cutoff: Literal["on_dispatch", "on_completion"] | None = None


CharacteristicType = Literal["string", "integer", "decimal", "boolean", "enum"]
_INTEGER = re.compile(r"[+-]?\d+")


class Characteristic(_Strict):
    """A typed property of a specification whose value is chosen per quote line.

    ``values`` lists the allowed values (required for ``enum``, optional for ``string``);
    ``min``/``max`` bound ``integer`` and ``decimal`` values (inclusive). Values travel as
    text (``"36"``, ``"true"``) so a configuration is one flat, canonical mapping.
    """

    name: str
    type: CharacteristicType
    required: bool = False
    default: Text | None = None
    values: list[Text] = Field(default_factory=list)
    min: Decimal | None = None
    max: Decimal | None = None
    description: str = ""

    def problem_with(self, value: str) -> str | None:
        """Why ``value`` is not acceptable, or None when it is."""
        if self.type == "boolean":
            return None if value in ("true", "false") else "must be true or false"
        if self.type in ("integer", "decimal"):
            number: Decimal | None = None
            if self.type == "integer":
                if _INTEGER.fullmatch(value):
                    number = Decimal(value)
            else:
                try:
                    number = Decimal(value)
                except InvalidOperation:
                    number = None
                if number is not None and not number.is_finite():
                    number = None
            if number is None:
                return f"must be {'an integer' if self.type == 'integer' else 'a decimal'}"
            if self.min is not None and number < self.min:
                return f"must be at least {self.min}"
            if self.max is not None and number > self.max:
                return f"must be at most {self.max}"
            if self.values and value not in self.values:
                return f"must be one of {', '.join(self.values)}"
            return None
        if (self.type == "enum" or self.values) and value not in self.values:
            return f"must be one of {', '.join(self.values)}"
        return None


class Specification(_Strict):
    """What a product *is*, reusable across offerings (the offering is what is *sold*)."""

    id: str
    name: str
    description: str = ""
    characteristics: list[Characteristic] = Field(default_factory=list)

    def characteristic(self, name: str) -> Characteristic | None:
        for c in self.characteristics:
            if c.name == name:
                return c
        return None


class Offering(_Strict):
    """One version of a marketable unit. Options and add-ons are offerings with
    ``sellable: false``.

    ``effective_from``/``effective_to`` bound when this version applies, against an
    explicit business date: from inclusive, to exclusive, None = open (the same
    convention as price books). ``markets``, ``channels`` and ``segments`` scope where it
    is offered; an empty list means everywhere.
    """

    id: Ident
    version: Ident = "1"
    name: str
    specification: str
    family: str
    description: str = ""
    status: LifecycleStatus = "active"
    effective_from: date | None = None
    effective_to: date | None = None
    sku: str | None = None
    markets: list[str] = Field(default_factory=list)
    channels: list[str] = Field(default_factory=list)
    segments: list[str] = Field(default_factory=list)
    sellable: bool = True
    prices: list[Price] = Field(default_factory=list)
    quantity_min: int = 1
    quantity_max: int = 1_000_000
    option_groups: list[OptionGroup] = Field(default_factory=list)
    add_ons: list[str] = Field(default_factory=list)
    relations: list[Relation] = Field(default_factory=list)
    decomposition: list[DecompositionStep] = Field(default_factory=list)

    @property
    def version_id(self) -> str:
        """The immutable identity of this version, e.g. ``saas-suite@2``."""
        return f"{self.id}@{self.version}"

    def in_force(self, business_date: date) -> bool:
        """Is ``business_date`` inside this version's effective window?"""
        return (self.effective_from is None or self.effective_from <= business_date) and (
            self.effective_to is None or business_date < self.effective_to
        )

    def window(self) -> str:
        """The effective window as text, e.g. ``[2026-01-01, open)``."""
        start = self.effective_from.isoformat() if self.effective_from else "open"
        end = self.effective_to.isoformat() if self.effective_to else "open"
        return f"[{start}, {end})"

    def allows(self, intent: str) -> bool:
        """Does this version's lifecycle status permit ``intent`` (see catalog_lifecycle)?"""
        return allows(self.status, intent)

    def offered_to(
        self, market: str | None = None, channel: str | None = None, segment: str | None = None
    ) -> bool:
        """Is this version offered in this scope? None for a dimension means "any"."""
        return all(
            value is None or not scope or value in scope
            for value, scope in (
                (market, self.markets),
                (channel, self.channels),
                (segment, self.segments),
            )
        )

    def option_ids(self) -> list[str]:
        """Every option this offering allows, in group order."""
        return [o for g in self.option_groups for o in g.options]

    def group_of(self, option_id: str) -> OptionGroup | None:
        """The option group offering ``option_id`` (stable or version id), or None."""
        for group in self.option_groups:
            if any(_names(listed, option_id) for listed in group.options):
                return group
        return None

    def contained(self) -> list[Relation]:
        """The ``contains`` relations: what one unit of this bundle holds."""
        return [r for r in self.relations if r.kind == "contains"]


def _names(reference: str, key: str) -> bool:
    """Does catalog ``reference`` (stable or pinned) name the element ``key``?

    An unpinned reference accepts any version of the offering; a pinned one only itself.
    """
    if "@" in reference:
        return reference == key
    return stable_id(key) == reference


# Derived views cached on a Catalog instance (functools.cached_property entries).
_CATALOG_CACHES = (
    "_versions",
    "_by_version",
    "_default",
    "_specs_by_id",
    "_graphs",
    "_requires_graph",
    "fingerprint",
    "pricing_view",
)


class Catalog(_Strict):
    """One immutable catalog version (build it with :func:`publish`)."""

    id: str
    version: str
    currency: str
    specifications: list[Specification] = Field(default_factory=list)
    offerings: list[Offering] = Field(default_factory=list)
    #: Price books, discounts, contract prices and promotions of this catalog version.
    pricing: PricingRules = Field(default_factory=PricingRules)

    # ------------------------------------------------------------------ indexes

    @cached_property
    def _versions(self) -> dict[str, list[Offering]]:
        """Stable id -> its versions, oldest first (by effective_from, then file order)."""
        grouped: dict[str, list[tuple[date, int, Offering]]] = {}
        for i, o in enumerate(self.offerings):
            grouped.setdefault(o.id, []).append((o.effective_from or date.min, i, o))
        return {k: [o for _, _, o in sorted(v, key=lambda t: t[:2])] for k, v in grouped.items()}

    @cached_property
    def _by_version(self) -> dict[str, Offering]:
        # First occurrence wins; duplicates are reported by validate_catalog.
        index: dict[str, Offering] = {}
        for offering in self.offerings:
            index.setdefault(offering.version_id, offering)
        return index

    @cached_property
    def _default(self) -> dict[str, Offering]:
        """Stable id -> the version a date-less lookup returns.

        The newest version open to new quotes; else the newest published (non-draft)
        version; else the newest. Falling back keeps lookups for the installed base of a
        closed offering working; whether it may be *sold* is the configurator's question.
        """
        chosen: dict[str, Offering] = {}
        for key, versions in self._versions.items():
            quotable = [o for o in versions if o.allows("new_quote")]
            published = [o for o in versions if o.status != "draft"]
            chosen[key] = (quotable or published or versions)[-1]
        return chosen

    @cached_property
    def _specs_by_id(self) -> dict[str, Specification]:
        index: dict[str, Specification] = {}
        for spec in self.specifications:
            index.setdefault(spec.id, spec)
        return index

    def model_copy(self, *, update: dict[str, Any] | None = None, deep: bool = False) -> Catalog:
        """A copy whose indexes and graph are rebuilt on demand (never stale after update)."""
        copied = super().model_copy(update=update, deep=deep)
        for name in _CATALOG_CACHES:
            copied.__dict__.pop(name, None)
        return copied

    # The pricing view belongs to one catalog object (it reaches back to it weakly), so a
    # copy or an unpickled catalog (a Ray actor receives one) builds its own on demand.

    def __copy__(self) -> Catalog:
        copied = super().__copy__()
        copied.__dict__.pop("pricing_view", None)
        return copied

    def __deepcopy__(self, memo: dict[int, Any] | None = None) -> Catalog:
        copied = super().__deepcopy__(memo)
        copied.__dict__.pop("pricing_view", None)
        return copied

    def __getstate__(self) -> dict[Any, Any]:
        state = super().__getstate__()
        state["__dict__"] = {k: v for k, v in state["__dict__"].items() if k != "pricing_view"}
        return state

    # ------------------------------------------------------------------ identity

    @property
    def version_id(self) -> str:
        """This catalog version's identity, e.g. ``enterprise-sample@2026.11.1``."""
        return f"{self.id}@{self.version}"

    @cached_property
    def fingerprint(self) -> str:
        """sha256 of the canonical JSON of the whole validated content (defaults included),
        so two files that say the same thing in a different layout share a fingerprint.

        Equal to ``cpqsim.canonical.fingerprint(self.model_dump(mode="json"))``: the same
        canonical form (sorted keys, compact, UTF-8), produced through pydantic's native
        JSON serializer and hashed piece by piece (:func:`_canonical_pieces`): a
        50,000-offering catalog never exists as one tree of Python objects or one string.
        """
        digest = hashlib.sha256()
        for piece in _canonical_pieces(self):
            digest.update(piece.encode("utf-8"))
        return "sha256:" + digest.hexdigest()

    @cached_property
    def pricing_view(self) -> PricingView:
        """What pricing reads from this catalog version, indexed once: price entries per
        offering and book, tier tables, promotions, discounts and contract prices by
        offering (:mod:`cpqsim.pricing_view`). :func:`publish` builds it; a catalog made
        another way builds it on first use."""
        return PricingView(self)

    # ------------------------------------------------------------------ lookups

    def offering(self, key: str, business_date: date | None = None) -> Offering:
        """The offering version named by ``key``.

        A version id (``a@2``) is exact and ignores the date. A stable id resolves to the
        published (non-draft) version in force on ``business_date``; without a date, to
        the newest version open to new quotes (see ``_default``). Raises KeyError naming
        the key, the date and the catalog when nothing matches.
        """
        unknown = f"offering {key!r} is not in catalog {self.id} {self.version}"
        if "@" in key:
            if key not in self._by_version:
                raise KeyError(unknown)
            return self._by_version[key]
        if key not in self._versions:
            raise KeyError(unknown)
        if business_date is None:
            return self._default[key]
        found = self.version_in_force(key, business_date)
        if found is None:
            windows = ", ".join(
                f"{o.version_id} {o.window()} {o.status}" for o in self._versions[key]
            )
            raise KeyError(
                f"no version of offering {key!r} is in force on {business_date.isoformat()} "
                f"in catalog {self.id} {self.version} (versions: {windows})"
            )
        return found

    def version_in_force(self, key: str, business_date: date) -> Offering | None:
        """The published version of stable id ``key`` in force on ``business_date``."""
        candidates = [
            o
            for o in self._versions.get(stable_id(key), [])
            if o.status != "draft" and o.in_force(business_date)
        ]
        return candidates[-1] if candidates else None

    def resolve(self, key: str, business_date: date | None = None) -> Offering | None:
        """Like :meth:`offering`, but None instead of KeyError."""
        try:
            return self.offering(key, business_date)
        except KeyError:
            return None

    def versions_of(self, key: str) -> list[Offering]:
        """Every version of the offering ``key`` (stable or version id), oldest first."""
        return list(self._versions.get(stable_id(key), []))

    def has_offering(self, key: str) -> bool:
        """Is ``key`` a known stable id or version id?"""
        return key in self._by_version or key in self._versions

    def specification(self, spec_id: str) -> Specification:
        try:
            return self._specs_by_id[spec_id]
        except KeyError:
            raise KeyError(
                f"specification {spec_id!r} is not in catalog {self.id} {self.version}"
            ) from None

    def has_specification(self, spec_id: str) -> bool:
        return spec_id in self._specs_by_id

    def offering_ids(self) -> list[str]:
        """Stable ids, sorted (one per offering, however many versions it has)."""
        return sorted(self._versions)

    def version_ids(self) -> list[str]:
        """Every offering version id, sorted."""
        return sorted(self._by_version)

    def sellable_offerings(self, business_date: date | None = None) -> list[Offering]:
        """Offerings that can be quoted on their own, one version each, sorted by id."""
        found = []
        for key in self.offering_ids():
            o = self.resolve(key, business_date)
            if o is not None and o.sellable and o.allows("new_quote"):
                found.append(o)
        return found

    def offerings_for(
        self,
        business_date: date,
        *,
        market: str | None = None,
        channel: str | None = None,
        segment: str | None = None,
    ) -> list[Offering]:
        """What may be quoted on ``business_date`` in this scope (None = any)."""
        return [
            o
            for o in self.sellable_offerings(business_date)
            if o.offered_to(market=market, channel=channel, segment=segment)
        ]

    # ------------------------------------------------------------------ graph

    def graph(self, business_date: date | None = None) -> nx.MultiDiGraph:
        """The catalog as a read-only graph over stable ids (cached per date).

        Each offering node is the version :meth:`offering` resolves for the date (node
        attribute ``version_id``); offerings with no version then are left out, and the
        date-less view leaves out retired and never-launched offerings (history). Nodes carry
        ``kind`` ("offering" or "specification"); edges carry ``relation``
        ("specified_by", "option" with ``group``, "add_on", or a relation kind, with
        ``min``/``max`` on "contains"). References to unknown ids are left out
        (validate_catalog reports them).
        """
        cache = self._graphs
        if business_date not in cache:
            cache[business_date] = self._build_graph(business_date)
        return cache[business_date]

    @cached_property
    def _graphs(self) -> dict[date | None, nx.MultiDiGraph]:
        return {}

    def _build_graph(self, business_date: date | None) -> nx.MultiDiGraph:
        g = nx.MultiDiGraph(catalog=self.id, version=self.version, business_date=business_date)
        # Insert in sorted order so every traversal order is independent of file order.
        for spec_id in sorted(self._specs_by_id):
            spec = self._specs_by_id[spec_id]
            g.add_node(spec_id, kind="specification", name=spec.name)
        resolved = {k: self.resolve(k, business_date) for k in self.offering_ids()}
        present = {k: o for k, o in resolved.items() if o is not None}
        if business_date is None:
            # The date-less view is the live catalog: what may be quoted or is still kept
            # by installed assets. Retired and never-launched offerings are history; pass
            # a business date to see the catalog as it was then.
            present = {
                k: o for k, o in present.items() if o.allows("new_quote") or o.allows("keep_asset")
            }
        for oid, o in present.items():
            g.add_node(
                oid,
                kind="offering",
                name=o.name,
                family=o.family,
                sellable=o.sellable,
                version_id=o.version_id,
                status=o.status,
            )
        for oid, o in present.items():
            if o.specification in self._specs_by_id:
                g.add_edge(oid, o.specification, relation="specified_by")
            for group in o.option_groups:
                for option in group.options:
                    if stable_id(option) in present:
                        g.add_edge(oid, stable_id(option), relation="option", group=group.id)
            for add_on in o.add_ons:
                if stable_id(add_on) in present:
                    g.add_edge(oid, stable_id(add_on), relation="add_on")
            for rel in sorted(o.relations, key=lambda r: (r.kind, r.target)):
                target = stable_id(rel.target)
                if target not in present or not rel.in_force(business_date):
                    continue  # unknown target, or a relation dated outside the view
                extra: dict[str, Any] = {}
                if rel.kind == "contains":
                    extra = {"min": rel.quantity_min, "max": rel.quantity_max}
                if "@" in rel.target:
                    extra["target_version"] = rel.target
                g.add_edge(oid, target, relation=rel.kind, reason=rel.reason, **extra)
        return nx.freeze(g)

    def relation_graph(
        self, kinds: tuple[str, ...], business_date: date | None = None
    ) -> nx.DiGraph:
        """Only edges of ``kinds``, as a simple directed graph over stable ids."""
        g = nx.DiGraph()
        full = self.graph(business_date)
        g.add_nodes_from(n for n, d in full.nodes(data=True) if d["kind"] == "offering")
        for u, v, data in sorted(full.edges(data=True), key=lambda e: (e[0], e[1])):
            if data["relation"] in kinds and not g.has_edge(u, v):
                g.add_edge(u, v, relation=data["relation"], reason=data.get("reason", ""))
        return nx.freeze(g)

    def requires_graph(self) -> nx.DiGraph:
        """Only the ``requires`` edges, as a simple directed graph over offering ids."""
        return self._requires_graph

    @cached_property
    def _requires_graph(self) -> nx.DiGraph:
        return self.relation_graph(("requires",))


#: Lists of models longer than this are written in chunks when fingerprinting (see
#: :func:`_canonical_pieces`); a chunk is small enough that its JSON tree dies before the
#: garbage collector's first pass promotes it.
_STREAMED = 64
_CHUNK = 8


def _canonical_pieces(model: BaseModel) -> Iterator[str]:
    """The canonical JSON of ``model`` (what ``canonical_json(model.model_dump(mode=
    "json"))`` gives), in pieces whose concatenation is that text.

    Why pieces: the whole catalog as one JSON tree (then one string) would allocate as
    many Python objects again as the catalog holds, all alive together, and the garbage
    collector's full passes over them made fingerprinting grow faster than the catalog.
    Long lists of models (offerings, price book entries...) are written a chunk of items
    at a time, so each chunk's small tree dies young; everything else goes through
    pydantic's own JSON serializer, re-read and written with sorted keys.
    """
    names = sorted(type(model).model_fields)
    nested = {}
    for name in names:
        value = getattr(model, name)
        if isinstance(value, BaseModel) or (
            isinstance(value, list) and len(value) > _STREAMED and isinstance(value[0], BaseModel)
        ):
            nested[name] = value
    serializer = type(model).__pydantic_serializer__
    if not nested:
        yield _canonical(json.loads(serializer.to_json(model)))
        return
    rest = json.loads(serializer.to_json(model, exclude=set(nested)))
    for n, name in enumerate(names):
        yield ("{" if n == 0 else ",") + json.dumps(name) + ":"
        value = nested.get(name, _MISSING)
        if value is _MISSING:
            yield _canonical(rest[name])
        elif isinstance(value, BaseModel):
            yield from _canonical_pieces(value)
        else:
            yield from _canonical_list(value)
    yield "}"


def _canonical_list(items: list[BaseModel]) -> Iterator[str]:
    """A long list of models: chunks through one serializer call each, except items that
    hold long lists themselves (a price book's entries), which are streamed in turn."""
    adapter = _list_adapter(type(items[0]))
    yield "["
    chunk: list[BaseModel] = []
    written = False
    for item in [*items, None]:
        if item is not None and not _holds_long_lists(item) and len(chunk) < _CHUNK:
            chunk.append(item)
            continue
        if chunk:
            text = _canonical(json.loads(adapter.dump_json(chunk)))
            yield ("," if written else "") + text[1:-1]
            written, chunk = True, []
        if item is None:
            break
        if _holds_long_lists(item):
            yield "," if written else ""
            yield from _canonical_pieces(item)
            written = True
        else:
            chunk.append(item)
    yield "]"


def _holds_long_lists(model: BaseModel) -> bool:
    return any(
        isinstance(v, list) and len(v) > _STREAMED and isinstance(v[0], BaseModel)
        for v in model.__dict__.values()
    )


_ADAPTERS: dict[type, TypeAdapter] = {}


def _list_adapter(kind: type) -> TypeAdapter:
    adapter = _ADAPTERS.get(kind)
    if adapter is None:
        adapter = _ADAPTERS[kind] = TypeAdapter(list[kind])  # type: ignore[valid-type]
    return adapter


_MISSING = object()


def _canonical(plain: Any) -> str:
    return json.dumps(plain, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


# --------------------------------------------------------------------------- problems


class CatalogProblem(BaseModel):
    """One reason a catalog cannot be published, located by its field path in the file."""

    model_config = ConfigDict(frozen=True)

    code: str
    message: str
    elements: list[str] = Field(default_factory=list)
    location: str = ""

    def __str__(self) -> str:
        where = self.location or "<file>"
        return f"{where}: [{self.code}] {self.message}"


class CatalogInvalid(Exception):
    """A catalog file (or dict) that failed checks; carries every problem found."""

    def __init__(self, path: str, problems: list[CatalogProblem]) -> None:
        self.path = str(path)
        self.problems = list(problems)
        # The full text is written only when asked for (``str``): with 50,000 problems it
        # runs to megabytes, and a caller that shows the first few never needs it.
        n = len(self.problems)
        super().__init__(f"catalog {self.path} is invalid ({n} problem{'s' if n != 1 else ''})")

    def __str__(self) -> str:
        n = len(self.problems)
        lines = [f"catalog {self.path} is invalid ({n} problem{'s' if n != 1 else ''}):"]
        lines += [f"  - {p}" for p in self.problems]
        return "\n".join(lines)


def _loc_to_path(loc: tuple[int | str, ...]) -> str:
    path = ""
    for part in loc:
        if isinstance(part, int):
            path += f"[{part}]"
        else:
            path += f".{part}" if path else str(part)
    return path


def _schema_problems(error: ValidationError) -> list[CatalogProblem]:
    problems = []
    for err in error.errors(include_url=False):
        loc = tuple(err["loc"])
        problems.append(
            CatalogProblem(
                code="schema",
                message=str(err["msg"]),
                elements=[str(p) for p in loc if isinstance(p, str)][-1:],
                location=_loc_to_path(loc),
            )
        )
    return problems


def validate_catalog(catalog: Catalog) -> list[CatalogProblem]:
    """Every semantic problem of ``catalog``, sorted by location (empty when publishable).

    The checks live in :mod:`cpqsim.catalog_checks`; this is their public entry point.
    """
    from cpqsim.catalog_checks import check_catalog

    return check_catalog(catalog)


# --------------------------------------------------------------------------- publishing


@dataclass(frozen=True)
class PublishedCatalog:
    """The outcome of a successful publication: an immutable catalog version.

    ``version_id`` is ``<catalog id>@<catalog version>``; ``fingerprint`` is the sha256 of
    the canonical JSON of the validated content (:func:`cpqsim.canonical.fingerprint`).
    """

    catalog: Catalog
    version_id: str
    fingerprint: str
    source: str


def publish(document: Any, source: str = "<memory>") -> PublishedCatalog:
    """Publish a catalog document atomically: every check passes, or nothing is produced.

    Raises :class:`CatalogInvalid` listing every problem (schema errors first, since
    semantics cannot be judged without shape). The returned catalog is frozen; its
    fingerprint is computed here, once, from the validated content.
    """
    if not isinstance(document, dict):
        raise CatalogInvalid(
            source,
            [
                CatalogProblem(
                    code="schema",
                    message=f"a catalog is a mapping, got {type(document).__name__}",
                    location="",
                )
            ],
        )
    try:
        catalog = Catalog.model_validate(document)
    except ValidationError as exc:
        from cpqsim.catalog_checks import sort_problems

        raise CatalogInvalid(source, sort_problems(_schema_problems(exc))) from None
    problems = validate_catalog(catalog)
    if problems:
        raise CatalogInvalid(source, problems)
    catalog.pricing_view  # noqa: B018 - built now, so pricing only looks things up
    return PublishedCatalog(
        catalog=catalog,
        version_id=catalog.version_id,
        fingerprint=catalog.fingerprint,
        source=source,
    )


def parse_catalog(data: Any, source: str = "<memory>") -> Catalog:
    """Build and check a catalog from plain data (the catalog of :func:`publish`)."""
    return publish(data, source=source).catalog


# ----------------------------------------------------------------------------- TMF620

_TMF620_PATH = "/tmf-api/productCatalogManagement/v4"


def _tmf_time(day: date) -> str:
    return f"{day.isoformat()}T00:00:00Z"


def _valid_for(o: Offering) -> dict[str, str] | None:
    period = {}
    if o.effective_from is not None:
        period["startDateTime"] = _tmf_time(o.effective_from)
    if o.effective_to is not None:
        period["endDateTime"] = _tmf_time(o.effective_to)
    return period or None


def to_tmf620_product_offering(
    catalog: Catalog, offering_id: str, base_url: str = "http://127.0.0.1:8000"
) -> dict[str, Any]:
    """The offering version as a TMF620 ``ProductOffering`` resource (JSON-native values).

    ``offering_id`` is a stable id (the default version) or a version id. ``id`` is the
    stable id and ``version`` the offering version; ``lifecycleStatus`` and ``validFor``
    come from the version. Options, add-ons and ``contains`` components become
    ``bundledProductOffering`` entries with their limits; the other relation kinds become
    ``productOfferingRelationship`` entries. Prices are exported as references with their
    type and period; amounts live in the ProductOfferingPrice resources, which keeps this
    document free of JSON floats.
    """
    o = catalog.offering(offering_id)
    root = base_url.rstrip("/") + _TMF620_PATH

    def name_of(ref: str) -> str:
        found = catalog.resolve(ref)
        return found.name if found is not None else ref

    def status_of(ref: str) -> str:
        found = catalog.resolve(ref)
        return STATUS_RULES[found.status].tmf if found is not None else "Unknown"

    def offering_ref(oid: str, lower: int, upper: int) -> dict[str, Any]:
        return {
            "id": stable_id(oid),
            "href": f"{root}/productOffering/{stable_id(oid)}",
            "name": name_of(oid),
            "lifecycleStatus": status_of(oid),
            "bundledProductOfferingOption": {
                "numberRelOfferLowerLimit": lower,
                "numberRelOfferUpperLimit": upper,
            },
            "@type": "BundledProductOffering",
        }

    bundled = []
    for group in o.option_groups:
        mandatory = group.min >= len(group.options)
        for option in group.options:
            bundled.append(offering_ref(option, 1 if mandatory else 0, 1))
    bundled += [offering_ref(a, 0, 1) for a in o.add_ons]
    bundled += [offering_ref(r.target, r.quantity_min, r.quantity_max) for r in o.contained()]

    prices = []
    for price in o.prices:
        ref: dict[str, Any] = {
            "id": price.id,
            "href": f"{root}/productOfferingPrice/{price.id}",
            "name": price.id,
            "priceType": "recurring" if price.kind == "recurring" else "oneTime",
            "@referredType": "ProductOfferingPrice",
        }
        if price.period is not None:
            ref["recurringChargePeriod"] = price.period
            ref["recurringChargePeriodLength"] = 1
        prices.append(ref)

    spec_name = o.specification
    characteristics: list[dict[str, Any]] = []
    if catalog.has_specification(o.specification):
        spec = catalog.specification(o.specification)
        spec_name = spec.name
        for c in spec.characteristics:
            use: dict[str, Any] = {
                "name": c.name,
                "valueType": c.type,
                "minCardinality": 1 if c.required else 0,
                "maxCardinality": 1,
                "@type": "ProductSpecificationCharacteristicValueUse",
            }
            values = [
                {"value": v, "valueType": c.type, "isDefault": v == c.default} for v in c.values
            ]
            # TMF620 v4 ranges are integers; a fractional bound is left to the validator.
            bounds = {
                key: int(bound)
                for key, bound in (("valueFrom", c.min), ("valueTo", c.max))
                if bound is not None and bound == bound.to_integral_value()
            }
            if bounds:
                values.append({"valueType": c.type, "rangeInterval": "closed", **bounds})
            if values:
                use["productSpecCharacteristicValue"] = values
            characteristics.append(use)

    doc: dict[str, Any] = {
        "id": o.id,
        "href": f"{root}/productOffering/{o.version_id}",  # exact version, resolvable
        "name": o.name,
        "description": o.description,
        "lifecycleStatus": STATUS_RULES[o.status].tmf,
        "version": o.version,
        "isSellable": o.sellable,
        "isBundle": bool(bundled),
        "productSpecification": {
            "id": o.specification,
            "href": f"{root}/productSpecification/{o.specification}",
            "name": spec_name,
            "version": catalog.version,
            "@referredType": "ProductSpecification",
        },
        "productOfferingPrice": prices,
        "bundledProductOffering": bundled,
        "productOfferingRelationship": [
            {
                "id": stable_id(rel.target),
                "href": f"{root}/productOffering/{stable_id(rel.target)}",
                "name": name_of(rel.target),
                "relationshipType": rel.kind,
                "@referredType": "ProductOffering",
            }
            for rel in o.relations
            if rel.kind != "contains"
        ],
        "prodSpecCharValueUse": characteristics,
        "channel": [{"id": c, "name": c, "@referredType": "Channel"} for c in o.channels],
        "marketSegment": [
            {"id": s, "name": s, "@referredType": "MarketSegment"} for s in o.segments
        ],
        "place": [{"id": m, "name": m, "@referredType": "GeographicArea"} for m in o.markets],
        "@type": "ProductOffering",
    }
    valid_for = _valid_for(o)
    if valid_for is not None:
        doc["validFor"] = valid_for
    return doc
