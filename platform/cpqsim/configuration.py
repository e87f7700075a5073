"""Is this set of quote lines a valid configuration, and if not, why not?

A rejected configuration is only useful if the seller can fix it in one pass, so
:func:`check_configuration` reports *every* violation, each with the rule, the field
path of the offending selection (``lines[0].contents[1].options[0]``) and a sentence
that names both sides of the rule.

What is checked, against one catalog version at an explicit business date:

* each element (offering, option, add-on, bundle content) exists, has a version in force
  on the date, and its lifecycle status allows the intent (a new quote by default; a
  change to an existing asset is allowed on a grandfathered version, a new quote is not);
* quantities, option-group cardinality, option and add-on parentage;
* characteristic values against the specification's types, allowed values and ranges;
* bundle contents against the ``contains`` relations (which components, how many);
* ``requires``, ``excludes`` and ``conflictsWith`` in their scope (the same line, or the
  whole quote) and on the dates they are in force (:mod:`cpqsim.configuration_relations`).

"Configurable" is not "orderable": who the customer is (region, segment, installed
assets, credit) is the job of :mod:`cpqsim.eligibility`, and both answers stay apart.
"""

from __future__ import annotations

import re
from collections.abc import Collection
from datetime import date
from typing import ClassVar, Literal

import networkx as nx
from pydantic import BaseModel, ConfigDict, Field

from cpqsim.catalog import Catalog, Offering, Text, _names, stable_id
from cpqsim.catalog_lifecycle import Intent, refusal
from cpqsim.configuration_relations import Element, RelationCheck
from cpqsim.omit_defaults import OmitsDefaults

__all__ = [
    "MAX_LINE_QUANTITY",
    "RULES",
    "ConfigurationViolation",
    "QuoteLine",
    "check_configuration",
    "explain_exclusion",
    "explain_requirement",
    "line_key",
    "recommendations",
    "resolve_line_versions",
    "selected_items",
]

#: The largest quantity a quote line (or bundle component line) may state.
MAX_LINE_QUANTITY = 1_000_000_000

#: Every rule a violation can name.
RULES = (
    "unknown_offering",
    "not_effective",
    "lifecycle",
    "not_sellable",
    "quantity",
    "cardinality",
    "option_not_in_offering",
    "add_on_not_allowed",
    "characteristic",
    "bundle_contents",
    "requires",
    "excludes",
    "conflicts",
)


#: What a quote line does: sell something new (``add``), or change an installed asset.
LineAction = Literal[
    "add", "modify", "upgrade", "downgrade", "suspend", "resume", "disconnect", "renew"
]


class QuoteLine(OmitsDefaults):
    """One configured commercial item; add-ons share the line's quantity.

    Elements are named by stable id (resolved at the business date) or by version id
    (pinned; see :func:`resolve_line_versions`). ``characteristics`` holds the values of
    the main offering's specification characteristics as text. ``contents`` are the
    components of a bundle (its ``contains`` relations), each a line of its own whose
    quantity counts per bundle unit; bundles nest.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    offering: str
    # Bounded so that amount x quantity always fits pricing's exact arithmetic; the
    # offering's own range (quantity_min..quantity_max) is the configurator's check.
    quantity: int = Field(default=1, le=MAX_LINE_QUANTITY)
    options: list[str] = Field(default_factory=list)
    add_ons: list[str] = Field(default_factory=list)
    characteristics: dict[str, Text] = Field(default_factory=dict)
    contents: list[QuoteLine] = Field(default_factory=list)
    #: Against the installed base: the action, the asset it acts on (for ``add``, an
    #: optional parent asset the new add-on goes under) and the asset version it was
    #: quoted against. Left out of the JSON while unset, so new-sale lines read as before.
    action: LineAction = "add"
    asset_id: str | None = Field(default=None, min_length=1, max_length=200)
    asset_version: int | None = Field(default=None, ge=1)

    omit_when_default: ClassVar[frozenset[str]] = frozenset({"action", "asset_id", "asset_version"})

    @property
    def changes_asset(self) -> bool:
        return self.action != "add" or self.asset_id is not None


def line_key(line: QuoteLine) -> tuple:
    """A hashable key of the line's content: equal for lines that select the same things.

    Why: a large quote repeats a few configurations (1,000 sites, 3 site types), and the
    configuration check, the pricer and the input fingerprint all do their per-line work
    once per distinct content, keyed by this.
    """
    contents = line.contents
    return (
        line.offering,
        line.quantity,
        tuple(line.options),
        tuple(line.add_ons),
        tuple(line.characteristics.items()),
        tuple([line_key(child) for child in contents]) if contents else (),
        *((line.action, line.asset_id, line.asset_version) if line.changes_asset else ()),
    )


class ConfigurationViolation(BaseModel):
    """One broken rule, located at ``path`` (e.g. ``lines[0].options[1]``)."""

    model_config = ConfigDict(frozen=True)

    rule: str
    path: str
    message: str
    elements: list[str] = Field(default_factory=list)
    #: For requires/excludes/conflicts: the scope of the relation that was broken
    #: ("line": the same quote line; "quote": anywhere in the quote).
    scope: Literal["line", "quote"] | None = None


def _walk(lines: list[QuoteLine], prefix: str = "lines") -> list[tuple[QuoteLine, str]]:
    """Every line with its path, bundle contents after their parent (depth first)."""
    found: list[tuple[QuoteLine, str]] = []
    for i, line in enumerate(lines):
        at = f"{prefix}[{i}]"
        found.append((line, at))
        found += _walk(line.contents, f"{at}.contents")
    return found


def selected_items(lines: list[QuoteLine]) -> list[tuple[str, str]]:
    """Every selected element as ``(offering key, path)``, in quote order."""
    items: list[tuple[str, str]] = []
    for line, at in _walk(lines):
        items.append((line.offering, f"{at}.offering"))
        items += [(o, f"{at}.options[{j}]") for j, o in enumerate(line.options)]
        items += [(a, f"{at}.add_ons[{k}]") for k, a in enumerate(line.add_ons)]
    return items


_FIELD_ORDER = {
    "lines": 0,
    "offering": 0,
    "quantity": 1,
    "options": 2,
    "add_ons": 3,
    "characteristics": 4,
    "contents": 5,
}
_TOKEN = re.compile(r"(\w[\w-]*)(?:\[(\d+)\])?")


def _path_key(path: str) -> tuple[tuple[int, int, str], ...]:
    """Sort paths the way a line reads: offering, quantity, options, add-ons,
    characteristics, then bundle contents; list items by index (10 after 9)."""
    key = []
    for part in path.split("."):
        m = _TOKEN.fullmatch(part)
        if m is None:
            key.append((9, -1, part))
            continue
        index = int(m.group(2)) if m.group(2) is not None else -1
        key.append((_FIELD_ORDER.get(m.group(1), 9), index, m.group(1)))
    return tuple(key)


class _Checker:
    """One configuration check: collects violations and what each element resolved to."""

    def __init__(self, catalog: Catalog, business_date: date | None, intent: Intent) -> None:
        self.catalog = catalog
        self.day = business_date
        self.intent = intent
        self.found: list[ConfigurationViolation] = []
        self.resolved: list[tuple[Offering, str]] = []
        self.top: Offering | None = None

    def add(
        self, rule: str, path: str, message: str, *elements: str, scope: str | None = None
    ) -> None:
        self.found.append(
            ConfigurationViolation(
                rule=rule, path=path, message=message, elements=list(elements), scope=scope
            )
        )

    def element(self, key: str, path: str, what: str) -> Offering | None:
        """Resolve one element; report unknown, not effective or closed by lifecycle."""
        c = self.catalog
        if not c.has_offering(key):
            self.add(
                "unknown_offering",
                path,
                f"{what}{key} is not in catalog {c.id} {c.version}",
                key,
            )
            return None
        offering = c.resolve(key, self.day)
        if offering is None or (self.day is not None and not offering.in_force(self.day)):
            versions = ", ".join(f"{o.version_id} {o.window()}" for o in c.versions_of(key))
            self.add(
                "not_effective",
                path,
                f"{what}{key} is not in force on {self.day} (versions: {versions})",
                key,
            )
            if offering is None:
                return None
        if not offering.allows(self.intent):
            self.add(
                "lifecycle",
                path,
                f"{what}{offering.version_id}: {refusal(offering.status, self.intent)}",
                offering.version_id,
            )
        self.resolved.append((offering, path))
        return offering

    # ------------------------------------------------------------------ one line

    def line(self, line: QuoteLine, at: str, in_bundle: bool, quantity: bool = True) -> None:
        """Check one line; ``quantity=False`` leaves its own quantity to the caller (the
        line's offering is then kept as ``self.top``)."""
        offering = self.element(line.offering, f"{at}.offering", "")
        self.top = offering
        if offering is None:
            return
        if not offering.sellable and not in_bundle:
            self.add(
                "not_sellable",
                f"{at}.offering",
                f"{offering.id} cannot be ordered on its own; select it as an option or add-on "
                "of the offering it belongs to",
                offering.id,
            )
        if quantity:
            self.quantity(offering, line.quantity, f"{at}.quantity")
        self.options(offering, line, at)
        self.add_ons(offering, line, at)
        self.characteristics(offering, line, at)
        self.contents(offering, line, at)

    def quantity(self, offering: Offering, quantity: int, path: str) -> None:
        if not offering.quantity_min <= quantity <= offering.quantity_max:
            self.add(
                "quantity",
                path,
                f"{offering.id} quantity must be between {offering.quantity_min} and "
                f"{offering.quantity_max}, got {quantity}",
                offering.id,
            )

    def options(self, offering: Offering, line: QuoteLine, at: str) -> None:
        seen: list[str] = []
        for j, option in enumerate(line.options):
            path = f"{at}.options[{j}]"
            if offering.group_of(option) is None:
                if self.catalog.has_offering(option):
                    self.add(
                        "option_not_in_offering",
                        path,
                        f"{option} is not an option of {offering.id}",
                        offering.id,
                        option,
                    )
                else:
                    self.element(option, path, "option ")
                continue
            if stable_id(option) in {stable_id(s) for s in seen}:
                self.add("cardinality", path, f"option {option} is selected more than once", option)
                continue
            seen.append(option)
            self.element(option, path, "option ")
        for group in offering.option_groups:
            chosen = [o for o in seen if any(_names(g, o) for g in group.options)]
            if not group.min <= len(chosen) <= group.max:
                bounds = (
                    f"exactly {group.min}"
                    if group.min == group.max
                    else f"between {group.min} and {group.max}"
                )
                self.add(
                    "cardinality",
                    f"{at}.options",
                    f"option group {group.id!r} of {offering.id} needs {bounds} of "
                    f"{', '.join(group.options)}; {len(chosen)} selected"
                    + (f" ({', '.join(chosen)})" if chosen else ""),
                    offering.id,
                    group.id,
                    *chosen,
                )

    def add_ons(self, offering: Offering, line: QuoteLine, at: str) -> None:
        seen: set[str] = set()
        for k, add_on in enumerate(line.add_ons):
            path = f"{at}.add_ons[{k}]"
            if not self.catalog.has_offering(add_on):
                self.element(add_on, path, "add-on ")
            elif not any(_names(a, add_on) for a in offering.add_ons):
                allowed = ", ".join(offering.add_ons) or "none"
                self.add(
                    "add_on_not_allowed",
                    path,
                    f"{add_on} is not an add-on of {offering.id} (allowed: {allowed})",
                    offering.id,
                    add_on,
                )
            elif stable_id(add_on) in seen:
                self.add(
                    "cardinality",
                    path,
                    f"add-on {add_on} is selected more than once; it already follows the "
                    "line quantity",
                    add_on,
                )
            else:
                self.element(add_on, path, "add-on ")
            seen.add(stable_id(add_on))

    def characteristics(self, offering: Offering, line: QuoteLine, at: str) -> None:
        if not self.catalog.has_specification(offering.specification):
            return
        spec = self.catalog.specification(offering.specification)
        for name, value in line.characteristics.items():
            path = f"{at}.characteristics.{name}"
            char = spec.characteristic(name)
            if char is None:
                known = ", ".join(c.name for c in spec.characteristics) or "none"
                self.add(
                    "characteristic",
                    path,
                    f"{offering.id} has no characteristic {name!r} (known: {known})",
                    offering.id,
                    name,
                )
                continue
            reason = char.problem_with(value)
            if reason:
                self.add(
                    "characteristic",
                    path,
                    f"{name} of {offering.id} is {value!r} but {reason}",
                    offering.id,
                    name,
                )
        for char in spec.characteristics:
            if char.required and char.default is None and char.name not in line.characteristics:
                self.add(
                    "characteristic",
                    f"{at}.characteristics",
                    f"{offering.id} needs a value for {char.name!r} ({char.type})",
                    offering.id,
                    char.name,
                )

    def contents(self, offering: Offering, line: QuoteLine, at: str) -> None:
        contains = offering.contained()
        counted = [0] * len(contains)
        for j, child in enumerate(line.contents):
            match = next(
                (n for n, rel in enumerate(contains) if _names(rel.target, child.offering)), None
            )
            if match is None:
                allowed = ", ".join(r.target for r in contains) or "nothing"
                self.add(
                    "bundle_contents",
                    f"{at}.contents[{j}].offering",
                    f"{child.offering} is not a component of {offering.id} (it contains {allowed})",
                    offering.id,
                    child.offering,
                )
            else:
                counted[match] += child.quantity
            self.line(child, f"{at}.contents[{j}]", in_bundle=True)
        for rel, count in zip(contains, counted, strict=True):
            if not rel.quantity_min <= count <= rel.quantity_max:
                self.add(
                    "bundle_contents",
                    f"{at}.contents",
                    f"each {offering.id} holds {rel.quantity_min}..{rel.quantity_max} of "
                    f"{rel.target}; the configuration has {count}",
                    offering.id,
                    rel.target,
                )


def check_configuration(
    catalog: Catalog,
    lines: list[QuoteLine],
    business_date: date | None = None,
    *,
    intent: Intent = "new_quote",
    line_keys: list[tuple] | None = None,
    installed: Collection[str] | None = None,
) -> list[ConfigurationViolation]:
    """Every violation of ``lines`` against ``catalog``, sorted by path; empty means valid.

    ``business_date`` selects the versions in force (None: the newest quotable versions,
    no date checks); ``intent`` is what the configuration is for (``new_quote``,
    ``new_order`` or ``change_asset``) and decides which lifecycle statuses pass.
    ``line_keys`` are the lines' :func:`line_key` when the caller has them already.
    ``installed`` (a change to installed assets): the offering ids the account already
    has, which meet quote-scoped requirements (see :mod:`cpqsim.configuration_relations`).
    """
    keys = line_keys if line_keys is not None else [line_key(line) for line in lines]
    checker = _Checker(catalog, business_date, intent)
    # Each distinct line content (its quantity aside: many quotes differ only in it) is
    # checked once, with paths relative to the line; the relations are then judged on
    # the distinct contents, and only when they may fail over every element with its
    # full path (configuration_relations).
    # Paths are written only where something is reported: a valid 1,000-line quote
    # costs a lookup and a range check per line.
    memo: dict[tuple, _Checker] = {}
    placed: list[_Checker] = []
    for i, (key, line) in enumerate(zip(keys, lines, strict=True)):
        content = (key[0], *key[2:])  # line_key without the line's own quantity
        one = memo.get(content)
        if one is None:
            one = memo[content] = _Checker(catalog, business_date, intent)
            one.line(line, "", in_bundle=False, quantity=False)  # bundles check contents
        top = one.top
        if top is not None and not top.quantity_min <= line.quantity <= top.quantity_max:
            checker.quantity(top, line.quantity, f"lines[{i}].quantity")
        placed.append(one)
    relations = RelationCheck(
        business_date,
        checker.add,
        _path_key,
        installed=None if installed is None else frozenset(installed),
    )
    if relations.may_fail([[o for o, _ in one.resolved] for one in memo.values()]):
        relations.check(
            [
                Element(o, f"lines[{i}]" + path, i)
                for i, one in enumerate(placed)
                for o, path in one.resolved
            ]
        )
    if any(one.found for one in memo.values()):
        for i, one in enumerate(placed):
            at = f"lines[{i}]"
            checker.found += [v.model_copy(update={"path": at + v.path}) for v in one.found]
    return sorted(checker.found, key=lambda v: (_path_key(v.path), v.rule, v.message))


def resolve_line_versions(
    catalog: Catalog, lines: list[QuoteLine], business_date: date | None = None
) -> list[QuoteLine]:
    """The same lines with every element pinned to the version id in force on the date.

    A quote that stores these lines keeps naming exactly what was configured, whatever
    later catalog versions say. Keys that resolve to nothing are left as given, so
    :func:`check_configuration` still reports them.
    """

    def pin(key: str) -> str:
        found = catalog.resolve(key, business_date)
        return found.version_id if found is not None else key

    return [
        line.model_copy(
            update={
                "offering": pin(line.offering),
                "options": [pin(o) for o in line.options],
                "add_ons": [pin(a) for a in line.add_ons],
                "contents": resolve_line_versions(catalog, line.contents, business_date),
            }
        )
        for line in lines
    ]


def recommendations(
    catalog: Catalog, lines: list[QuoteLine], business_date: date | None = None
) -> list[tuple[str, str, str]]:
    """``recommends`` targets not yet in the quote, as (item, recommended, reason)."""
    resolved = [catalog.resolve(k, business_date) for k, _ in selected_items(lines)]
    present = {o.id for o in resolved if o is not None}
    found: dict[tuple[str, str], str] = {}
    for o in resolved:
        if o is None:
            continue
        for rel in o.relations:
            if rel.kind == "recommends" and stable_id(rel.target) not in present:
                found.setdefault((o.id, rel.target), rel.reason)
    return [(a, b, reason) for (a, b), reason in sorted(found.items())]


# --------------------------------------------------------------------------- explain

_QUOTE_HARD = ("requires", "contains")


def explain_requirement(
    catalog: Catalog, source: str, target: str, business_date: date | None = None
) -> list[str] | None:
    """Why ``source`` needs ``target``: the chain of ``requires``/``contains`` edges.

    Returns e.g. ``["saas-sso", "saas-edition-premium"]`` (stable ids), or None when
    ``source`` does not (even indirectly) need ``target``. Unknown ids raise KeyError.
    """
    a = catalog.offering(source, business_date).id
    b = catalog.offering(target, business_date).id
    if a == b:
        return None
    try:
        return list(nx.shortest_path(catalog.relation_graph(_QUOTE_HARD, business_date), a, b))
    except nx.NetworkXNoPath:
        return None


def explain_exclusion(
    catalog: Catalog, first: str, second: str, business_date: date | None = None
) -> list[str] | None:
    """Why ``first`` and ``second`` cannot be in one quote: the path in the graph.

    The path runs from ``first`` along what it needs (requires/contains) to an item that
    excludes or conflicts with an item that ``second`` needs, then back along that
    chain to ``second``: e.g. ``["a", "x", "y", "b"]`` reads "a needs x, x excludes y,
    b needs y". The shortest such path is returned (ties broken by ids), or None.
    """
    a = catalog.offering(first, business_date).id
    b = catalog.offering(second, business_date).id
    if a == b:
        return None
    hard = catalog.relation_graph(_QUOTE_HARD, business_date)
    clash = catalog.relation_graph(("excludes", "conflictsWith"), business_date).to_undirected(
        as_view=True
    )
    reach_a = nx.single_source_shortest_path(hard, a)
    reach_b = nx.single_source_shortest_path(hard, b)
    best: list[str] | None = None
    for x in sorted(reach_a):
        for y in sorted(clash.neighbors(x)) if x in clash else []:
            if y in reach_b:
                path = reach_a[x] + list(reversed(reach_b[y]))
                if best is None or (len(path), path) < (len(best), best):
                    best = path
    return best
