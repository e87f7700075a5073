"""The product catalog: a typed, versioned graph of what may be sold and how it is built.

Everything downstream (configuration, pricing, quote, order decomposition) trusts the
catalog, so a catalog is only handed out after it passed *all* checks at once: schema,
dangling references, cycles, impossible cardinalities, duplicate ids, missing prices.
A publisher fixing a broken file wants the whole list of problems in one go, each with
the field path where it lives, not one error per attempt.

The only I/O in the pure core lives here: :func:`load_catalog` reads one YAML file.
"""

from __future__ import annotations

import re
from decimal import Decimal
from functools import cached_property
from pathlib import Path
from typing import Annotated, Any, Literal

import networkx as nx
import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    model_validator,
)

from cpqsim.money import Money
from cpqsim.pricebook import PricingRules

__all__ = [
    "Catalog",
    "CatalogInvalid",
    "CatalogProblem",
    "DecompositionStep",
    "Money",
    "Offering",
    "OptionGroup",
    "Price",
    "Relation",
    "Specification",
    "load_catalog",
    "parse_catalog",
    "to_tmf620_product_offering",
    "validate_catalog",
]


def _finite(value: Decimal) -> Decimal:
    if not value.is_finite():
        raise ValueError(f"amount must be a finite number, got {value}")
    return value


class _Strict(BaseModel):
    """External shapes: unknown keys are typos, and catalog versions are immutable."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class Price(_Strict):
    """One charge of an offering, per unit of quantity."""

    id: str
    kind: Literal["recurring", "one_time"]
    amount: Annotated[Money, Field(ge=0)]
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
    """Choose between ``min`` and ``max`` of ``options`` (offering ids) on one line."""

    id: str
    name: str
    min: int
    max: int
    options: list[str]


class Relation(_Strict):
    """A typed dependency on another offering (which may be an option or an add-on)."""

    kind: Literal["requires", "excludes"]
    target: str
    reason: str = ""


class DecompositionStep(_Strict):
    """One technical task an order line turns into: which system does what, after what."""

    task: str
    system: str
    operation: str
    depends_on: list[str] = Field(default_factory=list)


class Specification(_Strict):
    """What a product *is*, reusable across offerings (the offering is what is *sold*)."""

    id: str
    name: str
    description: str = ""


class Offering(_Strict):
    """A marketable unit. Options and add-ons are offerings with ``sellable: false``."""

    id: str
    name: str
    specification: str
    family: str
    description: str = ""
    sellable: bool = True
    prices: list[Price] = Field(default_factory=list)
    quantity_min: int = 1
    quantity_max: int = 1_000_000
    option_groups: list[OptionGroup] = Field(default_factory=list)
    add_ons: list[str] = Field(default_factory=list)
    relations: list[Relation] = Field(default_factory=list)
    decomposition: list[DecompositionStep] = Field(default_factory=list)

    def option_ids(self) -> list[str]:
        """Every option this offering allows, in group order."""
        return [o for g in self.option_groups for o in g.options]

    def group_of(self, option_id: str) -> OptionGroup | None:
        """The option group offering ``option_id``, or None."""
        for group in self.option_groups:
            if option_id in group.options:
                return group
        return None


# Derived views cached on a Catalog instance (functools.cached_property entries).
_CATALOG_CACHES = ("_by_id", "_specs_by_id", "_graph", "_requires_graph")


class Catalog(_Strict):
    """One immutable catalog version."""

    id: str
    version: str
    currency: str
    specifications: list[Specification] = Field(default_factory=list)
    offerings: list[Offering] = Field(default_factory=list)
    #: Price books, discounts, contract prices and promotions of this catalog version.
    pricing: PricingRules = Field(default_factory=PricingRules)

    @cached_property
    def _by_id(self) -> dict[str, Offering]:
        # First occurrence wins; duplicates are reported by validate_catalog.
        index: dict[str, Offering] = {}
        for offering in self.offerings:
            index.setdefault(offering.id, offering)
        return index

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

    def offering(self, offering_id: str) -> Offering:
        try:
            return self._by_id[offering_id]
        except KeyError:
            raise KeyError(
                f"offering {offering_id!r} is not in catalog {self.id} {self.version}"
            ) from None

    def has_offering(self, offering_id: str) -> bool:
        return offering_id in self._by_id

    def specification(self, spec_id: str) -> Specification:
        try:
            return self._specs_by_id[spec_id]
        except KeyError:
            raise KeyError(
                f"specification {spec_id!r} is not in catalog {self.id} {self.version}"
            ) from None

    def offering_ids(self) -> list[str]:
        return sorted(self._by_id)

    def sellable_offerings(self) -> list[Offering]:
        """Offerings that can be ordered on their own, sorted by id."""
        return [self._by_id[i] for i in self.offering_ids() if self._by_id[i].sellable]

    def graph(self) -> nx.MultiDiGraph:
        """The catalog as a read-only graph (cached; a catalog version never changes).

        Nodes carry ``kind`` ("offering" or "specification"); edges carry ``relation``
        ("specified_by", "option" with ``group``, "add_on", "requires", "excludes").
        References to unknown ids are left out (validate_catalog reports them).
        """
        return self._graph

    @cached_property
    def _graph(self) -> nx.MultiDiGraph:
        g = nx.MultiDiGraph(catalog=self.id, version=self.version)
        # Insert in sorted order so every traversal order is independent of file order.
        for spec_id in sorted(self._specs_by_id):
            spec = self._specs_by_id[spec_id]
            g.add_node(spec_id, kind="specification", name=spec.name)
        for oid in self.offering_ids():
            o = self._by_id[oid]
            g.add_node(oid, kind="offering", name=o.name, family=o.family, sellable=o.sellable)
        for oid in self.offering_ids():
            o = self._by_id[oid]
            if o.specification in self._specs_by_id:
                g.add_edge(oid, o.specification, relation="specified_by")
            for group in o.option_groups:
                for option in group.options:
                    if option in self._by_id:
                        g.add_edge(oid, option, relation="option", group=group.id)
            for add_on in o.add_ons:
                if add_on in self._by_id:
                    g.add_edge(oid, add_on, relation="add_on")
            for rel in sorted(o.relations, key=lambda r: (r.kind, r.target)):
                if rel.target in self._by_id:
                    g.add_edge(oid, rel.target, relation=rel.kind, reason=rel.reason)
        return nx.freeze(g)

    def requires_graph(self) -> nx.DiGraph:
        """Only the ``requires`` edges, as a simple directed graph over offering ids."""
        return self._requires_graph

    @cached_property
    def _requires_graph(self) -> nx.DiGraph:
        g = nx.DiGraph()
        g.add_nodes_from(self.offering_ids())
        for u, v, data in sorted(self.graph().edges(data=True), key=lambda e: (e[0], e[1])):
            if data["relation"] == "requires":
                g.add_edge(u, v, reason=data.get("reason", ""))
        return nx.freeze(g)


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
        super().__init__(str(self))

    def __str__(self) -> str:
        n = len(self.problems)
        lines = [f"catalog {self.path} is invalid ({n} problem{'s' if n != 1 else ''}):"]
        lines += [f"  - {p}" for p in self.problems]
        return "\n".join(lines)


def _field_rank() -> dict[str, int]:
    rank: dict[str, int] = {}
    for model in (
        Catalog,
        Specification,
        Offering,
        Price,
        OptionGroup,
        Relation,
        DecompositionStep,
    ):
        for name in model.model_fields:
            rank.setdefault(name, len(rank))
    return rank


_FIELD_RANK = _field_rank()


def _location_key(location: str) -> tuple[tuple[int, str], ...]:
    """Document order: fields in declaration order, list items by index (10 after 9)."""
    tokens = [t for t in re.split(r"[.\[\]]", location) if t]
    return tuple(
        (int(t), "") if t.isdigit() else (_FIELD_RANK.get(t, len(_FIELD_RANK)), t) for t in tokens
    )


def _sorted(problems: list[CatalogProblem]) -> list[CatalogProblem]:
    return sorted(problems, key=lambda p: (_location_key(p.location), p.code, p.message))


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


# ------------------------------------------------------------------------- validation


def _cycle_from(graph: nx.DiGraph, component: set[str]) -> list[str]:
    """One cycle through the smallest node of a strongly connected component."""
    start = min(component)
    sub = graph.subgraph(sorted(component))
    edges = nx.find_cycle(sub, source=start)
    path = [edges[0][0]] + [v for _, v in edges]
    # Rotate so the cycle is named from its smallest member: stable across file orders.
    body = path[:-1]
    i = body.index(min(body))
    body = body[i:] + body[:i]
    return [*body, body[0]]


def _cycles(graph: nx.DiGraph) -> list[list[str]]:
    found = []
    for component in nx.strongly_connected_components(graph):
        node = next(iter(component))
        if len(component) > 1 or graph.has_edge(node, node):
            found.append(_cycle_from(graph, set(component)))
    return sorted(found)


def _duplicates(ids: list[tuple[str, str]], what: str) -> list[CatalogProblem]:
    """``ids`` is (id, location) in file order; every repeat after the first is a problem."""
    first: dict[str, str] = {}
    problems = []
    for item_id, location in ids:
        if item_id in first:
            problems.append(
                CatalogProblem(
                    code="duplicate_id",
                    message=f"{what} id {item_id!r} is already used at {first[item_id]}",
                    elements=[item_id],
                    location=location,
                )
            )
        else:
            first[item_id] = location
    return problems


def _check_offering(i: int, o: Offering, known: set[str], specs: set[str]) -> list[CatalogProblem]:
    at = f"offerings[{i}]"
    problems: list[CatalogProblem] = []

    def dangling(what: str, ref: str, location: str) -> None:
        problems.append(
            CatalogProblem(
                code="dangling_reference",
                message=f"{o.id} refers to unknown {what} {ref!r}",
                elements=[o.id, ref],
                location=location,
            )
        )

    if o.specification not in specs:
        dangling("specification", o.specification, f"{at}.specification")
    if o.sellable and not o.prices:
        problems.append(
            CatalogProblem(
                code="missing_price",
                message=f"{o.id} is sellable but has no price",
                elements=[o.id],
                location=f"{at}.prices",
            )
        )
    if o.quantity_min < 0 or o.quantity_min > o.quantity_max:
        problems.append(
            CatalogProblem(
                code="quantity_range",
                message=f"{o.id} quantity range {o.quantity_min}..{o.quantity_max} is impossible",
                elements=[o.id],
                location=f"{at}.quantity_min",
            )
        )
    problems += _duplicates([(p.id, f"{at}.prices[{j}]") for j, p in enumerate(o.prices)], "price")
    seen_options: list[tuple[str, str]] = []
    problems += _duplicates(
        [(g.id, f"{at}.option_groups[{j}]") for j, g in enumerate(o.option_groups)],
        "option group",
    )
    for j, group in enumerate(o.option_groups):
        gat = f"{at}.option_groups[{j}]"
        reason = None
        if group.min < 0 or group.max < 0:
            reason = "is negative"
        elif group.min > group.max:
            reason = "has min greater than max"
        elif group.min > len(group.options):
            reason = f"needs at least {group.min} of only {len(group.options)} options"
        if reason:
            problems.append(
                CatalogProblem(
                    code="cardinality",
                    message=f"option group {group.id!r} of {o.id} "
                    f"(min {group.min}, max {group.max}) {reason}",
                    elements=[o.id, group.id],
                    location=f"{gat}.min",
                )
            )
        for k, option in enumerate(group.options):
            seen_options.append((option, f"{gat}.options[{k}]"))
            if option not in known:
                dangling("option", option, f"{gat}.options[{k}]")
    problems += _duplicates(seen_options, f"option (in {o.id})")
    for k, add_on in enumerate(o.add_ons):
        if add_on not in known:
            dangling("add-on", add_on, f"{at}.add_ons[{k}]")
    problems += _duplicates(
        [(a, f"{at}.add_ons[{k}]") for k, a in enumerate(o.add_ons)], f"add-on (in {o.id})"
    )
    for k, rel in enumerate(o.relations):
        if rel.target not in known:
            dangling(f"{rel.kind} target", rel.target, f"{at}.relations[{k}].target")
    problems += _check_decomposition(at, o)
    return problems


def _check_decomposition(at: str, o: Offering) -> list[CatalogProblem]:
    problems = _duplicates(
        [(s.task, f"{at}.decomposition[{j}].task") for j, s in enumerate(o.decomposition)],
        f"task (in {o.id})",
    )
    tasks = {s.task for s in o.decomposition}
    g = nx.DiGraph()
    g.add_nodes_from(sorted(tasks))
    first_at: dict[str, int] = {}
    edges: set[tuple[str, str]] = set()
    for j, step in enumerate(o.decomposition):
        first_at.setdefault(step.task, j)
        for k, dep in enumerate(step.depends_on):
            if dep in tasks:
                edges.add((step.task, dep))
            else:
                problems.append(
                    CatalogProblem(
                        code="dangling_reference",
                        message=f"task {step.task!r} of {o.id} depends on unknown task {dep!r}",
                        elements=[o.id, step.task, dep],
                        location=f"{at}.decomposition[{j}].depends_on[{k}]",
                    )
                )
    # Sorted edges: which cycle gets named must not depend on the order of the file.
    g.add_edges_from(sorted(edges))
    for cycle in _cycles(g):
        # Edges point from a task to what it waits for; name the cycle in wait order.
        problems.append(
            CatalogProblem(
                code="decomposition_cycle",
                message=f"decomposition of {o.id} waits on itself: {' -> '.join(cycle)}",
                elements=[o.id, *cycle[:-1]],
                location=f"{at}.decomposition[{first_at[cycle[0]]}].depends_on",
            )
        )
    return problems


def validate_catalog(catalog: Catalog) -> list[CatalogProblem]:
    """Every semantic problem of ``catalog``, sorted by location (empty when publishable)."""
    problems: list[CatalogProblem] = []
    problems += _duplicates(
        [(s.id, f"specifications[{i}].id") for i, s in enumerate(catalog.specifications)]
        + [(o.id, f"offerings[{i}].id") for i, o in enumerate(catalog.offerings)],
        "specification/offering",
    )
    known = {o.id for o in catalog.offerings}
    specs = {s.id for s in catalog.specifications}
    for i, offering in enumerate(catalog.offerings):
        problems += _check_offering(i, offering, known, specs)

    requires = nx.DiGraph()
    requires.add_nodes_from(sorted(known))
    first_rel: dict[tuple[str, str], str] = {}
    for i, offering in enumerate(catalog.offerings):
        for k, rel in enumerate(offering.relations):
            if rel.kind == "requires" and rel.target in known:
                first_rel.setdefault((offering.id, rel.target), f"offerings[{i}].relations[{k}]")
    requires.add_edges_from(sorted(first_rel))
    for cycle in _cycles(requires):
        problems.append(
            CatalogProblem(
                code="requires_cycle",
                message=f"requires relations form a cycle: {' -> '.join(cycle)}",
                elements=cycle[:-1],
                location=first_rel[(cycle[0], cycle[1])],
            )
        )
    return _sorted(problems)


# --------------------------------------------------------------------------- loading


class _DecimalLoader(yaml.SafeLoader):
    """YAML loader that turns floats into exact Decimals (``19.99`` stays 19.99)."""


def _construct_decimal(loader: yaml.SafeLoader, node: yaml.Node) -> Decimal:
    value = loader.construct_yaml_float(node)
    return Decimal(str(value))


_DecimalLoader.add_constructor("tag:yaml.org,2002:float", _construct_decimal)


def parse_catalog(data: Any, source: str = "<memory>") -> Catalog:
    """Build and check a catalog from plain data; raise :class:`CatalogInvalid` listing
    every problem (schema errors first, since semantics cannot be judged without shape)."""
    if not isinstance(data, dict):
        raise CatalogInvalid(
            source,
            [
                CatalogProblem(
                    code="schema",
                    message=f"a catalog is a mapping, got {type(data).__name__}",
                    location="",
                )
            ],
        )
    try:
        catalog = Catalog.model_validate(data)
    except ValidationError as exc:
        raise CatalogInvalid(source, _sorted(_schema_problems(exc))) from None
    problems = validate_catalog(catalog)
    if problems:
        raise CatalogInvalid(source, problems)
    return catalog


def load_catalog(path: str | Path) -> Catalog:
    """Read, parse and check one catalog YAML file; every failure names the file."""
    source = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = getattr(exc, "strerror", None) or str(exc)
        raise CatalogInvalid(
            source, [CatalogProblem(code="unreadable", message=f"cannot read file: {reason}")]
        ) from None
    try:
        data = yaml.load(text, Loader=_DecimalLoader)  # a SafeLoader subclass
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise CatalogInvalid(
            source,
            [
                CatalogProblem(
                    code="yaml_syntax", message=f"invalid YAML: {problem}", location=where
                )
            ],
        ) from None
    return parse_catalog(data, source=source)


# ----------------------------------------------------------------------------- TMF620

_TMF620_PATH = "/tmf-api/productCatalogManagement/v4"


def to_tmf620_product_offering(
    catalog: Catalog, offering_id: str, base_url: str = "http://127.0.0.1:8000"
) -> dict[str, Any]:
    """The offering as a TMF620 ``ProductOffering`` resource (JSON-native values only).

    Prices are exported as references with their type and period; amounts live in the
    ProductOfferingPrice resources, which keeps this document free of JSON floats.
    Options and add-ons become ``bundledProductOffering`` entries with their limits.
    """
    o = catalog.offering(offering_id)
    root = base_url.rstrip("/") + _TMF620_PATH

    def offering_ref(oid: str, lower: int, upper: int) -> dict[str, Any]:
        return {
            "id": oid,
            "href": f"{root}/productOffering/{oid}",
            "name": catalog.offering(oid).name if catalog.has_offering(oid) else oid,
            "lifecycleStatus": "Active",
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
    if o.specification in {s.id for s in catalog.specifications}:
        spec_name = catalog.specification(o.specification).name
    doc: dict[str, Any] = {
        "id": o.id,
        "href": f"{root}/productOffering/{o.id}",
        "name": o.name,
        "description": o.description,
        "lifecycleStatus": "Active",
        "version": catalog.version,
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
                "id": rel.target,
                "href": f"{root}/productOffering/{rel.target}",
                "relationshipType": rel.kind,
                "@referredType": "ProductOffering",
            }
            for rel in o.relations
        ],
        "@type": "ProductOffering",
    }
    return doc
