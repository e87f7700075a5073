"""``requires``, ``excludes`` and ``conflictsWith`` across a configuration, by scope and date.

Each relation looks for its target in its *scope*: ``line`` — the same quote line (its
offering, options, add-ons and bundle contents, nested or not) — or ``quote`` — any line
(the default). A relation with an effective window of its own only applies on business
dates inside it; without a business date, the relations in force from now on apply (those
without an end). Every violation says which scope it came from (the ``scope`` field and
the message), because "firewall requires internet" means something else per line than
per quote: a line-scoped requirement that another line happens to satisfy is still
broken, and a quote-scoped one is satisfied by any line.

A change to an installed asset is judged with what the account already has
(``installed``): a quote-scoped requirement is also met by an offering installed for the
account (a firewall modified on its own still has the internet line the customer runs).
A line-scoped one never is: it asks for the element on the same line.

Exclusions are symmetric: a pair is reported once per scope instance (once for the quote,
once per line for line-scoped ones), at whichever member appears first, whichever side
declared it.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date

from cpqsim.catalog import Offering, Relation, stable_id

__all__ = ["Element", "RelationCheck"]

_CLASH_RULE = {"excludes": "excludes", "conflictsWith": "conflicts"}
_LINE = re.compile(r"^(lines\[\d+\])")


@dataclass(frozen=True, slots=True)
class Element:
    """One selected element of the quote: its offering, path and top-level line."""

    offering: Offering
    path: str
    line: int


@dataclass
class RelationCheck:
    """The relation violations of one configuration (see the module docstring)."""

    business_date: date | None
    report: Callable[..., None]  # report(rule, path, message, *elements, scope=...)
    path_key: Callable[[str], tuple]
    #: Offering ids (stable and version) the account has installed; None: not asked.
    installed: frozenset[str] | None = None
    _quote: set[str] = field(default_factory=set)
    _lines: dict[int, set[str]] = field(default_factory=dict)

    def may_fail(self, groups: list[list[Offering]]) -> bool:
        """Could :meth:`check` report anything? ``groups`` holds the offerings of each
        distinct line content: presence within a line and across the quote is the same
        whichever line repeats it, so a valid large quote is judged on its distinct
        contents without building every element's path."""
        quote = set(self.installed or ())
        for offerings in groups:
            quote |= _ids(offerings)
        for offerings in groups:
            line = _ids(offerings)
            for o in offerings:
                for rel in self._relations(o):
                    present = line if rel.applies_within == "line" else quote
                    if rel.kind == "requires" and rel.target not in present:
                        return True
                    if (
                        rel.kind in _CLASH_RULE
                        and rel.target in present
                        and stable_id(rel.target) != o.id
                    ):
                        return True
        return False

    def check(self, elements: list[Element]) -> None:
        """Report every broken relation among ``elements`` (in quote order)."""
        for e in elements:
            ids = (e.offering.id, e.offering.version_id)
            self._quote.update(ids)
            self._lines.setdefault(e.line, set()).update(ids)
        self._requirements(elements)
        self._clashes(elements)

    # ------------------------------------------------------------------ internals

    def _relations(self, o: Offering) -> list[Relation]:
        day = self.business_date
        return [r for r in o.relations if r.in_force(day)]

    def _requirements(self, elements: list[Element]) -> None:
        where: dict[str, list[str]] = {}
        for e in elements:
            for key in (e.offering.id, e.offering.version_id):
                where.setdefault(key, []).append(e.path)
        for e in elements:
            o = e.offering
            for rel in self._relations(o):
                if rel.kind != "requires":
                    continue
                because = f" ({rel.reason})" if rel.reason else ""
                if rel.applies_within == "line":
                    if rel.target in self._lines[e.line]:
                        continue
                    line = _line_of(e.path)
                    elsewhere = where.get(rel.target, [])
                    other = f"; {rel.target} at {', '.join(elsewhere)} does not count" * bool(
                        elsewhere
                    )
                    message = (
                        f"{o.id} requires {rel.target}, which is not on {line}{because}; "
                        "line-scoped relation: only the same line (its offering, options, "
                        f"add-ons and bundle contents) satisfies it{other}"
                    )
                elif self.installed is None:
                    if rel.target in self._quote:
                        continue
                    message = (
                        f"{o.id} requires {rel.target}, which is not in the quote{because}; "
                        "quote-scoped relation: any line of the quote satisfies it"
                    )
                else:
                    if rel.target in self._quote or rel.target in self.installed:
                        continue
                    message = (
                        f"{o.id} requires {rel.target}, which is neither in the quote nor "
                        f"installed for the account{because}; quote-scoped relation: any line "
                        "of the quote or an installed asset satisfies it"
                    )
                self.report(
                    "requires",
                    e.path,
                    message + _dated(rel),
                    o.id,
                    rel.target,
                    scope=rel.applies_within,
                )

    def _clashes(self, elements: list[Element]) -> None:
        first_path: dict[tuple[int | None, str], str] = {}
        for e in elements:
            first_path.setdefault((None, e.offering.id), e.path)
            first_path.setdefault((e.line, e.offering.id), e.path)
        # (rule, a, b, line or None for the quote) -> (reason, relation); sorted by the
        # declaring offering so the reason kept does not depend on quote order.
        pairs: dict[tuple[str, str, str, int | None], Relation] = {}
        for e in sorted(elements, key=lambda e: (e.offering.id, e.line)):
            o = e.offering
            for rel in self._relations(o):
                rule = _CLASH_RULE.get(rel.kind)
                target = stable_id(rel.target)
                if rule is None or target == o.id:
                    continue
                a, b = sorted((o.id, target))
                if rel.applies_within == "line":
                    if rel.target in self._lines[e.line]:
                        pairs.setdefault((rule, a, b, e.line), rel)
                elif rel.target in self._quote:
                    pairs.setdefault((rule, a, b, None), rel)
        quote_wide = {(rule, a, b) for rule, a, b, line in pairs if line is None}
        for (rule, a, b, line), rel in sorted(pairs.items(), key=_pair_order):
            if line is not None and (rule, a, b) in quote_wide:
                continue  # the quote-wide violation already covers this line
            first, second = sorted((a, b), key=lambda x: self.path_key(first_path[(line, x)]))
            at_first, at_second = first_path[(line, first)], first_path[(line, second)]
            because = f" ({rel.reason})" if rel.reason else ""
            verb = "exclude each other" if rule == "excludes" else "conflict with each other"
            if line is None:
                where = "in the quote"
                scope = "quote-scoped relation: anywhere in the quote"
            else:
                where = f"on {_line_of(at_first)}"
                scope = "line-scoped relation: only the same line counts"
            self.report(
                rule,
                at_first,
                f"{first} and {second} {verb} but both are {where} "
                f"(at {at_first} and {at_second}){because}; {scope}{_dated(rel)}",
                first,
                second,
                scope=rel.applies_within,
            )


def _ids(offerings: list[Offering]) -> set[str]:
    return {o.id for o in offerings} | {o.version_id for o in offerings}


def _line_of(path: str) -> str:
    m = _LINE.match(path)
    return m.group(1) if m else "this line"


def _dated(rel: Relation) -> str:
    if rel.effective_from is None and rel.effective_to is None:
        return ""
    return f"; relation in force {rel.describe_window()}"


def _pair_order(item: tuple[tuple[str, str, str, int | None], Relation]) -> tuple:
    (rule, a, b, line), _ = item
    return (rule, a, b, -1 if line is None else line)
