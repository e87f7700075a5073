"""The publication checks of a catalog document: every problem, located and explained.

A catalog is refused when any of these holds, and each problem names the elements
involved and the field path where it lives:

* ``duplicate_id`` — a specification id, an offering *version* id, a price id, option,
  add-on, task, price-entry or promotion id used twice;
* ``dangling_reference`` — a specification, option, add-on, relation target, task or
  pricing rule (price entry, discount, contract price, promotion) naming nothing;
* ``requires_cycle`` — the hard relations (requires, contains, dependsOnAsset) loop, so
  no member could ever be sold first; the cycle is named from its smallest member;
* ``cardinality`` / ``quantity_range`` — min greater than max, negative bounds, an
  option group needing more options than it has, a bundle holding min > max;
* ``duplicate_sku`` — one SKU mapped to two different offerings (versions of one
  offering may share it: their windows never overlap). SKUs are compared as item
  masters compare them: Unicode NFKC-normalised, case-folded, surrounding spaces ignored
  (``sku-100`` and ``SKU-100 `` are the same SKU);
* ``requirement_never_quotable`` — an active, sellable offering version requires or
  contains an offering of which no version can be quoted on any day of its window
  (retired, suspended, draft, or in force only at other times): it could never be sold;
* ``self_exclusion`` — an offering that excludes (or conflicts with) itself: the
  relation could never apply, so it is a mistake in the file;
* ``duplicate_mapping`` — the same system + operation + task twice in one decomposition;
* ``decomposition_cycle`` — technical tasks waiting on each other;
* ``overlapping_versions`` / ``effective_window`` — two published versions of one
  offering in force on the same day, or a window that ends before it starts;
* ``missing_price`` — a sellable offering with no price of its own and no entry in any
  price book;
* ``characteristic`` — an enum without values, a range that cannot hold, a default or
  allowed value that does not fit the type.

Every check is linear in the size of the document (plus one strongly-connected-
components pass), so a 5,000-offering catalog publishes well inside its 2-second budget.
"""

from __future__ import annotations

import itertools
import re
import unicodedata
from collections.abc import Callable, Iterable
from datetime import date

import networkx as nx

from cpqsim.catalog import (
    HARD_RELATIONS,
    Catalog,
    CatalogProblem,
    Characteristic,
    DecompositionStep,
    Offering,
    OptionGroup,
    Price,
    Relation,
    Specification,
    stable_id,
)
from cpqsim.pricebook import (
    BundleDiscount,
    ContractPrice,
    PriceBook,
    PriceEntry,
    PricingRules,
    Promotion,
    PromotionEligibility,
    VolumeDiscount,
)

__all__ = ["check_catalog", "sort_problems"]


# ---------------------------------------------------------------------- ordering


def _field_rank() -> dict[str, int]:
    rank: dict[str, int] = {}
    for model in (
        Catalog,
        Specification,
        Characteristic,
        Offering,
        Price,
        OptionGroup,
        Relation,
        DecompositionStep,
        PricingRules,
        PriceBook,
        PriceEntry,
        VolumeDiscount,
        ContractPrice,
        Promotion,
        PromotionEligibility,
        BundleDiscount,
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


def sort_problems(problems: list[CatalogProblem]) -> list[CatalogProblem]:
    """Problems in the order a reader meets them in the file."""
    return sorted(problems, key=lambda p: (_location_key(p.location), p.code, p.message))


# ---------------------------------------------------------------------- helpers


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


def _may_cycle(edges: set[tuple[str, str]]) -> bool:
    """Cheap pre-check (Kahn's algorithm) so acyclic task lists skip building a graph."""
    if not edges:
        return False
    indegree: dict[str, int] = {}
    after: dict[str, list[str]] = {}
    for u, v in edges:
        indegree[v] = indegree.get(v, 0) + 1
        indegree.setdefault(u, 0)
        after.setdefault(u, []).append(v)
    ready = [n for n, d in indegree.items() if d == 0]
    seen = 0
    while ready:
        n = ready.pop()
        seen += 1
        for m in after.get(n, []):
            indegree[m] -= 1
            if indegree[m] == 0:
                ready.append(m)
    return seen < len(indegree)


def _duplicates(ids: Iterable[tuple[str, str]], what: str) -> list[CatalogProblem]:
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


def _repeats(ids: list[str], where: Callable[[int], str], what: str) -> list[CatalogProblem]:
    """:func:`_duplicates` of ``ids`` located by ``where(index)``, building locations only
    when there is a repeat: a large catalog has few, and publishing must stay linear."""
    if len(ids) < 2 or len(set(ids)) == len(ids):
        return []
    return _duplicates([(x, where(n)) for n, x in enumerate(ids)], what)


class _Found:
    """Collects problems for one element with short helpers."""

    def __init__(self) -> None:
        self.problems: list[CatalogProblem] = []

    def add(self, code: str, message: str, elements: list[str], location: str) -> None:
        self.problems.append(
            CatalogProblem(code=code, message=message, elements=elements, location=location)
        )


# ---------------------------------------------------------------------- offering


def _check_offering(
    i: int, o: Offering, known: set[str], specs: set[str], priced: set[str]
) -> list[CatalogProblem]:
    at = f"offerings[{i}]"
    found = _Found()
    vid = o.version_id

    def dangling(what: str, ref: str, location: str) -> None:
        found.add(
            "dangling_reference",
            f"{vid} refers to unknown {what} {ref!r}",
            [o.id, ref],
            location,
        )

    if o.specification not in specs:
        dangling("specification", o.specification, f"{at}.specification")
    if (
        o.effective_from is not None
        and o.effective_to is not None
        and o.effective_to <= o.effective_from
    ):
        found.add(
            "effective_window",
            f"{vid} ends ({o.effective_to}) on or before it starts ({o.effective_from}); "
            "effective_to is exclusive",
            [vid],
            f"{at}.effective_to",
        )
    if o.sellable and not o.prices and o.id not in priced and vid not in priced:
        found.add(
            "missing_price",
            f"{vid} is sellable but has no price (none on the offering, no entry in any "
            "price book)",
            [o.id],
            f"{at}.prices",
        )
    if o.quantity_min < 0 or o.quantity_min > o.quantity_max:
        found.add(
            "quantity_range",
            f"{vid} quantity range {o.quantity_min}..{o.quantity_max} is impossible",
            [o.id],
            f"{at}.quantity_min",
        )
    found.problems += _repeats([p.id for p in o.prices], lambda j: f"{at}.prices[{j}]", "price")
    found.problems += _repeats(
        [g.id for g in o.option_groups], lambda j: f"{at}.option_groups[{j}]", "option group"
    )
    seen_options: list[tuple[str, str, int]] = []
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
            found.add(
                "cardinality",
                f"option group {group.id!r} of {o.id} (min {group.min}, max {group.max}) {reason}",
                [o.id, group.id],
                f"{gat}.min",
            )
        for k, option in enumerate(group.options):
            seen_options.append((stable_id(option), gat, k))
            if option not in known:
                dangling("option", option, f"{gat}.options[{k}]")
    found.problems += _repeats(
        [key for key, _, _ in seen_options],
        lambda n: f"{seen_options[n][1]}.options[{seen_options[n][2]}]",
        f"option (in {o.id})",
    )
    for k, add_on in enumerate(o.add_ons):
        if add_on not in known:
            dangling("add-on", add_on, f"{at}.add_ons[{k}]")
    found.problems += _repeats(
        [stable_id(a) for a in o.add_ons], lambda k: f"{at}.add_ons[{k}]", f"add-on (in {o.id})"
    )
    for k, rel in enumerate(o.relations):
        rat = f"{at}.relations[{k}]"
        if rel.target not in known:
            dangling(f"{rel.kind} target", rel.target, f"{rat}.target")
        if rel.kind == "contains" and (rel.quantity_min < 0 or rel.quantity_min > rel.quantity_max):
            found.add(
                "cardinality",
                f"{o.id} contains {rel.target} between {rel.quantity_min} and "
                f"{rel.quantity_max} units, which is impossible",
                [o.id, rel.target],
                f"{rat}.min",
            )
    found.problems += _check_decomposition(at, o)
    return found.problems


def _check_decomposition(at: str, o: Offering) -> list[CatalogProblem]:
    found = _Found()
    first_task: dict[str, int] = {}
    first_mapping: dict[tuple[str, str, str], int] = {}
    for j, s in enumerate(o.decomposition):
        mapping = (s.system, s.operation, s.task)
        if mapping in first_mapping:
            found.add(
                "duplicate_mapping",
                f"{o.version_id} maps task {s.task!r} to {s.system}.{s.operation} twice "
                f"(also at {at}.decomposition[{first_mapping[mapping]}])",
                [o.id, s.system, s.operation, s.task],
                f"{at}.decomposition[{j}]",
            )
        elif s.task in first_task:
            found.add(
                "duplicate_id",
                f"task (in {o.id}) id {s.task!r} is already used at "
                f"{at}.decomposition[{first_task[s.task]}].task",
                [s.task],
                f"{at}.decomposition[{j}].task",
            )
        first_mapping.setdefault(mapping, j)
        first_task.setdefault(s.task, j)

    tasks = set(first_task)
    edges: set[tuple[str, str]] = set()
    for j, step in enumerate(o.decomposition):
        for k, dep in enumerate(step.depends_on):
            if dep in tasks:
                edges.add((step.task, dep))
            else:
                found.add(
                    "dangling_reference",
                    f"task {step.task!r} of {o.id} depends on unknown task {dep!r}",
                    [o.id, step.task, dep],
                    f"{at}.decomposition[{j}].depends_on[{k}]",
                )
    if not _may_cycle(edges):
        return found.problems
    g = nx.DiGraph()
    g.add_nodes_from(sorted(tasks))
    # Sorted edges: which cycle gets named must not depend on the order of the file.
    g.add_edges_from(sorted(edges))
    for cycle in _cycles(g):
        # Edges point from a task to what it waits for; name the cycle in wait order.
        found.add(
            "decomposition_cycle",
            f"decomposition of {o.id} waits on itself: {' -> '.join(cycle)}",
            [o.id, *cycle[:-1]],
            f"{at}.decomposition[{first_task[cycle[0]]}].depends_on",
        )
    return found.problems


# ---------------------------------------------------------------------- specification


def _check_characteristics(i: int, spec: Specification) -> list[CatalogProblem]:
    found = _Found()
    found.problems += _duplicates(
        [
            (c.name, f"specifications[{i}].characteristics[{j}].name")
            for j, c in enumerate(spec.characteristics)
        ],
        f"characteristic (in {spec.id})",
    )
    for j, c in enumerate(spec.characteristics):
        cat = f"specifications[{i}].characteristics[{j}]"

        def bad(reason: str, field: str, c: Characteristic = c, cat: str = cat) -> None:
            found.add(
                "characteristic",
                f"characteristic {c.name!r} of {spec.id} ({c.type}) {reason}",
                [spec.id, c.name],
                f"{cat}.{field}",
            )

        if c.type == "enum" and not c.values:
            bad("lists no allowed values", "values")
        if c.type == "boolean" and c.values:
            bad("is boolean and cannot restrict values", "values")
        numeric = c.type in ("integer", "decimal")
        if not numeric and (c.min is not None or c.max is not None):
            bad("is not numeric and cannot have a min/max range", "min")
        if c.min is not None and c.max is not None and c.min > c.max:
            bad(f"has min {c.min} greater than max {c.max}", "min")
        # Allowed values must themselves be valid for the type (ignore the list itself).
        plain = c.model_copy(update={"values": []})
        for k, value in enumerate(c.values):
            reason = plain.problem_with(value) if numeric else None
            if reason:
                bad(f"allows {value!r}, which {reason}", f"values[{k}]")
        if c.default is not None:
            reason = c.problem_with(c.default)
            if reason:
                bad(f"has default {c.default!r}, which {reason}", "default")
    return found.problems


# ---------------------------------------------------------------------- across versions


def _check_versions(catalog: Catalog) -> list[CatalogProblem]:
    """Published versions of one offering may not be in force on the same day; one SKU
    maps to one offering."""
    found = _Found()

    def position(offering: Offering) -> int:  # only asked when reporting a problem
        return next(i for i, o in enumerate(catalog.offerings) if o is offering)

    for key, all_versions in catalog._versions.items():
        if len(all_versions) < 2:
            continue  # one version cannot overlap itself
        unique = {o.version_id: o for o in reversed(all_versions)}  # first wins
        versions = [o for o in all_versions if o.status != "draft"]
        versions = [o for o in versions if unique[o.version_id] is o]
        # Sorted by start: each window only needs comparing with the furthest end so far.
        reach = None  # (end, offering) of the window reaching furthest
        for o in versions:
            if reach is not None:
                end, earlier = reach
                if end is None or o.effective_from is None or o.effective_from < end:
                    found.add(
                        "overlapping_versions",
                        f"versions {earlier.version_id} {earlier.window()} and "
                        f"{o.version_id} {o.window()} of {key} are both in force from "
                        f"{(o.effective_from or earlier.effective_from or 'the beginning')}",
                        [earlier.version_id, o.version_id],
                        f"offerings[{position(o)}].effective_from",
                    )
            if reach is None or (
                reach[0] is not None and (o.effective_to is None or o.effective_to > reach[0])
            ):
                reach = (o.effective_to, o)

    sku_owner: dict[str, tuple[str, int, str]] = {}
    for i, o in enumerate(catalog.offerings):
        if o.sku is None:
            continue
        owner = sku_owner.setdefault(sku_key(o.sku), (o.id, i, o.sku))
        if owner[0] != o.id:
            same = "" if owner[2] == o.sku else f" as {owner[2]!r} (SKUs ignore case)"
            found.add(
                "duplicate_sku",
                f"SKU {o.sku!r} of {o.version_id} is already mapped to {owner[0]} "
                f"(offerings[{owner[1]}]){same}; one SKU must name one offering",
                [o.sku, owner[0], o.id],
                f"offerings[{i}].sku",
            )
    return found.problems


def sku_key(sku: str) -> str:
    """How SKUs compare: NFKC-normalised, surrounding spaces ignored, case-folded."""
    return unicodedata.normalize("NFKC", sku).strip().casefold()


# ---------------------------------------------------------------------- relations

#: Relations the configurator needs present in the quote (requires) or in the bundle
#: (contains): if their target can never be quoted, neither can their source.
_NEEDED = ("requires", "contains")
_CLASHES = ("excludes", "conflictsWith")
_Window = tuple[date | None, date | None]  # [from, to), None = open


def _overlaps(a: _Window, b: _Window) -> bool:
    start = a[0] if b[0] is None else b[0] if a[0] is None else max(a[0], b[0])
    end = a[1] if b[1] is None else b[1] if a[1] is None else min(a[1], b[1])
    return start is None or end is None or start < end


def _covers(outer: _Window, inner: _Window) -> bool:
    starts_before = outer[0] is None or (inner[0] is not None and outer[0] <= inner[0])
    ends_after = outer[1] is None or (inner[1] is not None and inner[1] <= outer[1])
    return starts_before and ends_after


def _check_relations(catalog: Catalog) -> list[CatalogProblem]:
    """Relations that make their source unsellable, and relations to oneself."""
    found = _Found()
    versions, by_version = catalog._versions, catalog._by_version
    for i, o in enumerate(catalog.offerings):
        sellable = o.sellable and o.allows("new_quote")
        source = (o.effective_from, o.effective_to)
        for k, rel in enumerate(o.relations):
            target = rel.target
            if rel.kind in _CLASHES and stable_id(target) == o.id:
                found.add(
                    "self_exclusion",
                    f"{o.version_id} {rel.kind} {target}, which is itself: the relation "
                    "could never apply (name the other offering, or remove it)",
                    [o.id],
                    f"offerings[{i}].relations[{k}].target",
                )
            if not sellable or rel.kind not in _NEEDED:
                continue
            if "@" in target:
                candidates = [by_version[target]] if target in by_version else []
            else:
                candidates = versions.get(target, [])
            if not candidates or not _covers(rel.window(), source):
                continue  # dangling (reported), or sellable outside the relation's window
            if any(
                v.allows("new_quote") and _overlaps(source, (v.effective_from, v.effective_to))
                for v in candidates
            ):
                continue
            described = ", ".join(f"{v.version_id} {v.status} {v.window()}" for v in candidates)
            found.add(
                "requirement_never_quotable",
                f"{o.version_id} {rel.kind} {target}, but no version of {target} can be "
                f"quoted during {o.version_id}'s window {o.window()} ({described}): "
                f"{o.version_id} could never be sold",
                [o.version_id, target],
                f"offerings[{i}].relations[{k}].target",
            )
    return found.problems


def _check_hard_cycles(catalog: Catalog, known_stable: set[str]) -> list[CatalogProblem]:
    """Cycles among hard relations. Kahn's algorithm over plain lists first: an acyclic
    catalog (the usual case) never builds a graph; otherwise only the nodes Kahn could
    not remove (cycles and what hangs off them) go to networkx to name each cycle."""
    first: dict[str, dict[str, tuple[int, int]]] = {}  # source -> target -> (i, k)
    indegree: dict[str, int] = {}
    for i, o in enumerate(catalog.offerings):
        for k, rel in enumerate(o.relations):
            if rel.kind not in HARD_RELATIONS:
                continue
            target = stable_id(rel.target)
            if target not in known_stable:
                continue
            out = first.setdefault(o.id, {})
            if target not in out:
                out[target] = (i, k)
                indegree[target] = indegree.get(target, 0) + 1
    ready = [node for node in first if node not in indegree]
    while ready:
        node = ready.pop()
        for target in first.get(node, ()):
            indegree[target] -= 1
            if indegree[target] == 0:
                ready.append(target)
    stuck = {node for node, count in indegree.items() if count > 0}
    if not stuck:
        return []
    graph = nx.DiGraph()
    graph.add_nodes_from(sorted(stuck))
    graph.add_edges_from(sorted((u, v) for u in stuck for v in first.get(u, ()) if v in stuck))

    def relation(a: str, b: str) -> tuple[str, str]:
        i, k = first[a][b]
        return catalog.offerings[i].relations[k].kind, f"offerings[{i}].relations[{k}]"

    problems = []
    for cycle in _cycles(graph):
        steps = ", ".join(f"{a} {relation(a, b)[0]} {b}" for a, b in itertools.pairwise(cycle))
        problems.append(
            CatalogProblem(
                code="requires_cycle",
                message=f"hard requirements form a cycle: {' -> '.join(cycle)} ({steps}); "
                "none of them could ever be sold first",
                elements=cycle[:-1],
                location=relation(cycle[0], cycle[1])[1],
            )
        )
    return problems


# ---------------------------------------------------------------------- pricing


def _check_pricing(rules: PricingRules, known: set[str]) -> list[CatalogProblem]:
    found = _Found()

    def ref(owner: str, what: str, key: str, location: str) -> None:
        # ``owner`` reads "<kind> <id>"; the elements name the rule id and the reference.
        if key not in known:
            found.add(
                "dangling_reference",
                f"{owner} refers to unknown {what} {key!r}",
                [owner.rsplit(" ", 1)[-1], key],
                location,
            )

    found.problems += _duplicates(
        [(book.id, f"pricing.price_books[{b}].id") for b, book in enumerate(rules.price_books)],
        "price book",
    )
    entry_ids: set[str] = set()
    for b, book in enumerate(rules.price_books):
        at = f"pricing.price_books[{b}]"
        found.problems += _duplicates(
            [(e.id, f"{at}.entries[{j}].id") for j, e in enumerate(book.entries)],
            f"price entry (in book {book.id})",
        )
        for j, entry in enumerate(book.entries):
            entry_ids.add(entry.id)
            where = f"{at}.entries[{j}].offering"
            ref(f"price entry {entry.id}", "offering", entry.offering, where)
    for j, vd in enumerate(rules.volume_discounts):
        ref(
            f"volume discount {vd.id}",
            "offering",
            vd.offering,
            f"pricing.volume_discounts[{j}].offering",
        )
    for j, cp in enumerate(rules.contract_prices):
        at = f"pricing.contract_prices[{j}]"
        ref(f"contract price {cp.id}", "offering", cp.offering, f"{at}.offering")
        if cp.price_entry not in entry_ids:
            found.add(
                "dangling_reference",
                f"contract price {cp.id} overrides unknown price entry {cp.price_entry!r}",
                [cp.id, cp.price_entry],
                f"{at}.price_entry",
            )
    promotion_ids = {p.id for p in rules.promotions}
    found.problems += _duplicates(
        [(p.id, f"pricing.promotions[{j}].id") for j, p in enumerate(rules.promotions)],
        "promotion",
    )
    for j, promo in enumerate(rules.promotions):
        at = f"pricing.promotions[{j}]"
        owner = f"promotion {promo.id}"
        for k, target in enumerate(promo.applies_to):
            ref(owner, "offering", target, f"{at}.applies_to[{k}]")
        for k, target in enumerate(promo.eligibility.requires_offerings):
            ref(owner, "offering", target, f"{at}.eligibility.requires_offerings[{k}]")
        for k, other in enumerate(promo.excludes):
            if other not in promotion_ids:
                found.add(
                    "dangling_reference",
                    f"{owner} excludes unknown promotion {other!r}",
                    [promo.id, other],
                    f"{at}.excludes[{k}]",
                )
    for j, bd in enumerate(rules.bundle_discounts):
        at = f"pricing.bundle_discounts[{j}]"
        for field in ("when_all", "applies_to"):
            for k, target in enumerate(getattr(bd, field)):
                ref(f"bundle discount {bd.id}", "offering", target, f"{at}.{field}[{k}]")
    return found.problems


# ---------------------------------------------------------------------- entry point


def check_catalog(catalog: Catalog) -> list[CatalogProblem]:
    """Every semantic problem of ``catalog``, sorted by location (empty when publishable)."""
    problems: list[CatalogProblem] = []
    known_stable = set(catalog.offering_ids())
    # Specifications and offerings share the graph's node namespace.
    versions = catalog._versions  # stable id -> versions, oldest first
    spec_ids = [s.id for s in catalog.specifications]
    # An offering's first version stands for it (its other versions are not repeats).
    firsts = [i for i, o in enumerate(catalog.offerings) if versions[o.id][0] is o]
    n_specs = len(spec_ids)
    problems += _repeats(
        spec_ids + [catalog.offerings[i].id for i in firsts],
        lambda n: (
            f"specifications[{n}].id" if n < n_specs else f"offerings[{firsts[n - n_specs]}].id"
        ),
        "specification/offering",
    )
    problems += _repeats(
        [o.version_id for o in catalog.offerings],
        lambda i: f"offerings[{i}].id",
        "offering version",
    )
    for i, spec in enumerate(catalog.specifications):
        problems += _check_characteristics(i, spec)

    known = known_stable | set(catalog.version_ids())
    specs = {s.id for s in catalog.specifications}
    priced = {e.offering for book in catalog.pricing.price_books for e in book.entries}
    for i, offering in enumerate(catalog.offerings):
        problems += _check_offering(i, offering, known, specs, priced)
    problems += _check_versions(catalog)
    problems += _check_relations(catalog)
    problems += _check_hard_cycles(catalog, known_stable)
    problems += _check_pricing(catalog.pricing, known)
    return sort_problems(problems)
