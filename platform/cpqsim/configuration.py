"""Is this set of quote lines a sellable configuration, and if not, why not?

A rejected configuration is only useful if the seller can fix it in one pass, so
:func:`check_configuration` reports *every* violation, each with the field path of the
offending selection and a sentence that names both sides of the rule.
"""

from __future__ import annotations

import re

import networkx as nx
from pydantic import BaseModel, ConfigDict, Field

from cpqsim.catalog import Catalog

__all__ = [
    "RULES",
    "ConfigurationViolation",
    "QuoteLine",
    "check_configuration",
    "explain_requirement",
    "selected_items",
]

#: Every rule a violation can name.
RULES = (
    "unknown_offering",
    "not_sellable",
    "quantity",
    "cardinality",
    "option_not_in_offering",
    "add_on_not_allowed",
    "requires",
    "excludes",
)


class QuoteLine(BaseModel):
    """One configured commercial item; add-ons share the line's quantity."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    offering: str
    quantity: int = 1
    options: list[str] = Field(default_factory=list)
    add_ons: list[str] = Field(default_factory=list)


class ConfigurationViolation(BaseModel):
    """One broken rule, located at ``path`` (e.g. ``lines[0].options[1]``)."""

    model_config = ConfigDict(frozen=True)

    rule: str
    path: str
    message: str
    elements: list[str] = Field(default_factory=list)


def selected_items(lines: list[QuoteLine]) -> list[tuple[str, str]]:
    """Every selected element as ``(offering id, path)``, in quote order."""
    items: list[tuple[str, str]] = []
    for i, line in enumerate(lines):
        items.append((line.offering, f"lines[{i}].offering"))
        items += [(o, f"lines[{i}].options[{j}]") for j, o in enumerate(line.options)]
        items += [(a, f"lines[{i}].add_ons[{k}]") for k, a in enumerate(line.add_ons)]
    return items


_FIELD_ORDER = {"offering": 0, "quantity": 1, "options": 2, "add_ons": 3}
_PATH = re.compile(r"lines\[(\d+)\]\.(\w+)(?:\[(\d+)\])?")


def _path_key(path: str) -> tuple[int, int, int]:
    """Sort paths the way a line reads: offering, quantity, options, add-ons."""
    m = _PATH.fullmatch(path)
    if m is None:
        return (-1, -1, -1)
    index = int(m.group(3)) if m.group(3) is not None else -1
    return (int(m.group(1)), _FIELD_ORDER.get(m.group(2), 9), index)


def _check_line(catalog: Catalog, i: int, line: QuoteLine) -> list[ConfigurationViolation]:
    """Rules local to one line: existence, sellability, quantity, options, add-ons."""
    found: list[ConfigurationViolation] = []

    def add(rule: str, path: str, message: str, *elements: str) -> None:
        found.append(
            ConfigurationViolation(rule=rule, path=path, message=message, elements=list(elements))
        )

    at = f"lines[{i}]"
    if not catalog.has_offering(line.offering):
        add(
            "unknown_offering",
            f"{at}.offering",
            f"{line.offering} is not in catalog {catalog.id} {catalog.version}",
            line.offering,
        )
        return found
    offering = catalog.offering(line.offering)
    if not offering.sellable:
        add(
            "not_sellable",
            f"{at}.offering",
            f"{offering.id} cannot be ordered on its own; select it as an option or add-on "
            "of the offering it belongs to",
            offering.id,
        )
    if not offering.quantity_min <= line.quantity <= offering.quantity_max:
        add(
            "quantity",
            f"{at}.quantity",
            f"{offering.id} quantity must be between {offering.quantity_min} and "
            f"{offering.quantity_max}, got {line.quantity}",
            offering.id,
        )

    seen: set[str] = set()
    for j, option in enumerate(line.options):
        path = f"{at}.options[{j}]"
        if not catalog.has_offering(option):
            add(
                "unknown_offering",
                path,
                f"option {option} is not in catalog {catalog.id} {catalog.version}",
                option,
            )
        elif offering.group_of(option) is None:
            add(
                "option_not_in_offering",
                path,
                f"{option} is not an option of {offering.id}",
                offering.id,
                option,
            )
        elif option in seen:
            add("cardinality", path, f"option {option} is selected more than once", option)
        seen.add(option)
    for group in offering.option_groups:
        chosen = [o for o in group.options if o in seen]
        if not group.min <= len(chosen) <= group.max:
            bounds = (
                f"exactly {group.min}"
                if group.min == group.max
                else f"between {group.min} and {group.max}"
            )
            add(
                "cardinality",
                f"{at}.options",
                f"option group {group.id!r} of {offering.id} needs {bounds} of "
                f"{', '.join(group.options)}; {len(chosen)} selected"
                + (f" ({', '.join(chosen)})" if chosen else ""),
                offering.id,
                group.id,
                *chosen,
            )

    seen_add_ons: set[str] = set()
    for k, add_on in enumerate(line.add_ons):
        path = f"{at}.add_ons[{k}]"
        if not catalog.has_offering(add_on):
            add(
                "unknown_offering",
                path,
                f"add-on {add_on} is not in catalog {catalog.id} {catalog.version}",
                add_on,
            )
        elif add_on not in offering.add_ons:
            allowed = ", ".join(offering.add_ons) or "none"
            add(
                "add_on_not_allowed",
                path,
                f"{add_on} is not an add-on of {offering.id} (allowed: {allowed})",
                offering.id,
                add_on,
            )
        elif add_on in seen_add_ons:
            add(
                "cardinality",
                path,
                f"add-on {add_on} is selected more than once; it already follows the line quantity",
                add_on,
            )
        seen_add_ons.add(add_on)
    return found


def _check_relations(
    catalog: Catalog, items: list[tuple[str, str]]
) -> list[ConfigurationViolation]:
    """Quote-wide rules: every requirement present, no two excluded items together."""
    found: list[ConfigurationViolation] = []
    present = {item for item, _ in items if catalog.has_offering(item)}
    first_path: dict[str, str] = {}
    for item, path in items:
        first_path.setdefault(item, path)

    for item, path in items:
        if not catalog.has_offering(item):
            continue
        for rel in catalog.offering(item).relations:
            if rel.kind == "requires" and rel.target not in present:
                because = f" ({rel.reason})" if rel.reason else ""
                found.append(
                    ConfigurationViolation(
                        rule="requires",
                        path=path,
                        elements=[item, rel.target],
                        message=f"{item} requires {rel.target}, which is not in the quote{because}",
                    )
                )

    # Excludes is symmetric: report each conflicting pair once, at whichever member
    # appears first in the quote, whichever side declared it.
    pairs: dict[tuple[str, str], str] = {}
    for item in sorted(present):
        for rel in catalog.offering(item).relations:
            if rel.kind == "excludes" and rel.target in present and rel.target != item:
                pair = (item, rel.target) if item < rel.target else (rel.target, item)
                pairs.setdefault(pair, rel.reason)
    for (a, b), reason in sorted(pairs.items()):
        first, second = sorted((a, b), key=lambda x: _path_key(first_path[x]))
        because = f" ({reason})" if reason else ""
        found.append(
            ConfigurationViolation(
                rule="excludes",
                path=first_path[first],
                elements=[first, second],
                message=f"{first} and {second} exclude each other but both are in the quote "
                f"(at {first_path[first]} and {first_path[second]}){because}",
            )
        )
    return found


def check_configuration(catalog: Catalog, lines: list[QuoteLine]) -> list[ConfigurationViolation]:
    """Every violation of ``lines`` against ``catalog``, sorted by path; empty means valid."""
    found: list[ConfigurationViolation] = []
    for i, line in enumerate(lines):
        found += _check_line(catalog, i, line)
    found += _check_relations(catalog, selected_items(lines))
    return sorted(found, key=lambda v: (_path_key(v.path), v.rule, v.message))


def explain_requirement(catalog: Catalog, source: str, target: str) -> list[str] | None:
    """Why ``source`` needs ``target``: the chain of ``requires`` from one to the other.

    Returns e.g. ``["saas-sso", "saas-edition-premium"]``, or None when ``source`` does
    not (even indirectly) require ``target``. Unknown ids raise KeyError.
    """
    catalog.offering(source)
    catalog.offering(target)
    if source == target:
        return None
    try:
        return list(nx.shortest_path(catalog.requires_graph(), source, target))
    except nx.NetworkXNoPath:
        return None
