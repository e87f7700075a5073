"""Canonical JSON of a price result and of its input, written straight from plain data.

Canonical here means what ``canonical.canonical_json`` produces: sorted keys, no spaces,
``ensure_ascii=False``, Decimals as fixed-point text, dates as ISO text. Going model ->
``model_dump`` -> ``to_plain`` -> ``json.dumps(sort_keys=True)`` for a large quote costs
more than pricing it, so this module writes the *same bytes* directly: the keys of a trace
step, a charge, a priced line, a requested line and a usage estimate are fixed, so their
sorted order is written once, as the constant pieces between the values, and per row
only the values are rendered (``format(d, "f")`` for Decimals, the json module's own C
string escaper for text, remembered per distinct text in :class:`Escapes`) and joined
with the pieces. ``tests/core/test_pricing.py`` proves
the bytes equal the generic canonical form on every golden case and on a large quote that
repeats lines. What is hashed from these texts (a line's fingerprint, the quote's hash
tree) is defined in :mod:`cpqsim.pricing_result`.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from decimal import Decimal
from json.encoder import encode_basestring  # C escaper, what json.dumps(ensure_ascii=False) uses
from typing import Any

from cpqsim.canonical import to_plain

__all__ = [
    "ChargeTexts",
    "Escapes",
    "StepTexts",
    "charge_json",
    "charge_text",
    "fixed",
    "line_json",
    "object_json",
    "quote_line_json",
    "step_json",
    "step_text",
    "usage_json",
]

_STEP = (
    '{"after":"%s","applied":%s,"before":"%s","detail":%s,"rule":%s,"rule_id":%s,'
    '"rule_version":%s,"subject":%s}'
)

_CHARGE = (
    '{"applied_rules":[%s],"discount_amount":"%s","included_in":%s,"item":%s,"kind":%s,'
    '"list_amount":"%s","monthly_equivalent":%s,"net_amount":"%s","path":%s,"period":%s,'
    '"price_id":%s,"price_source":%s,"price_source_version":%s,"prorated_amount":%s,'
    '"quantity":%d,"term_amount":%s,"term_months":%s,"unit_amount":"%s","usage_unit":%s,'
    '"usage_units":%s}'
)


def fixed(value: Decimal) -> str:
    """``format(value, "f")`` (how ``canonical.to_plain`` renders a Decimal), taking the
    3x cheaper ``str`` whenever it already is fixed-point text (no exponent)."""
    text = str(value)
    return text if "E" not in text else format(value, "f")


class Escapes(dict):
    """JSON string literals by text, escaped on first use: rule kinds, ids, versions,
    items and paths repeat on every line of a large quote."""

    def __missing__(self, text: str) -> str:
        out = self[text] = encode_basestring(text)
        return out


def _opt_amount(value: Decimal | None) -> str:
    return "null" if value is None else '"' + fixed(value) + '"'


def _opt_text(value: str | None, esc: Escapes) -> str:
    return "null" if value is None else esc[value]


def step_json(t: dict[str, Any], esc: Escapes) -> str:
    """One trace step (the field dict of a ``PriceStep``) as canonical JSON."""
    after, before = str(t["after"]), str(t["before"])
    if "E" in after:
        after = format(t["after"], "f")
    if "E" in before:
        before = format(t["before"], "f")
    return _STEP % (
        after,
        "true" if t["applied"] else "false",
        before,
        encode_basestring(t["detail"]),
        esc[t["rule"]],
        esc[t["rule_id"]],
        esc[t["rule_version"]],
        esc[t["subject"]],
    )


class StepTexts:
    """:func:`step_json` with each step's constant part written once.

    Why: a large quote repeats the same rule, rule id, version, subject and applied flag
    on many steps; only the amounts and the detail text differ. The constant part is
    escaped once, keyed by those five values, into the pieces the amounts and the detail
    are joined between (joining pieces costs a third of filling in a ``%``-template,
    which is parsed again on every use).
    """

    __slots__ = ("_escapes", "_pieces")

    def __init__(self, escapes: Escapes) -> None:
        self._escapes = escapes
        self._pieces: dict[tuple, tuple[str, str]] = {}

    def __call__(self, t: dict[str, Any]) -> str:
        key = (t["rule"], t["rule_id"], t["rule_version"], t["subject"], t["applied"])
        pieces = self._pieces.get(key)
        if pieces is None:
            pieces = self._pieces[key] = self.pieces(*key)
        after, before = str(t["after"]), str(t["before"])
        if "E" in after:
            after = format(t["after"], "f")
        if "E" in before:
            before = format(t["before"], "f")
        return step_text(pieces[0], pieces[1], after, before, encode_basestring(t["detail"]))

    def pieces(
        self, rule: str, rule_id: str, version: str, subject: str, applied: bool
    ) -> tuple[str, str]:
        """The constant pieces (``middle``, ``tail``) of every step with these fields, for
        :func:`step_text`."""
        esc = self._escapes
        middle = '","applied":' + ("true" if applied else "false") + ',"before":"'
        tail = (
            f',"rule":{esc[rule]},"rule_id":{esc[rule_id]},"rule_version":{esc[version]},'
            f'"subject":{esc[subject]}}}'
        )
        return middle, tail


def step_text(middle: str, tail: str, after: str, before: str, detail: str) -> str:
    """A step's canonical JSON from its constant pieces (:meth:`StepTexts.pieces`), its
    amounts as fixed-point text and its escaped detail."""
    return "".join(('{"after":"', after, middle, before, '","detail":', detail, tail))


def charge_json(c: dict[str, Any], esc: Escapes) -> str:
    """One charge (the field dict of a ``LineCharge``) as canonical JSON."""
    return _CHARGE % (
        ",".join([esc[r] for r in c["applied_rules"]]),
        fixed(c["discount_amount"]),
        _opt_text(c["included_in"], esc),
        esc[c["item"]],
        esc[c["kind"]],
        fixed(c["list_amount"]),
        _opt_amount(c["monthly_equivalent"]),
        fixed(c["net_amount"]),
        esc[c["path"]],
        _opt_text(c["period"], esc),
        esc[c["price_id"]],
        esc[c["price_source"]],
        esc[c["price_source_version"]],
        _opt_amount(c["prorated_amount"]),
        c["quantity"],
        _opt_amount(c["term_amount"]),
        "null" if c["term_months"] is None else str(int(c["term_months"])),
        fixed(c["unit_amount"]),
        _opt_text(c["usage_unit"], esc),
        _opt_amount(c["usage_units"]),
    )


class ChargeTexts:
    """:func:`charge_json` with each charge's constant part written once.

    The fields that name the charge (item, price entry, kind, path, period, source,
    containing item, term, usage unit) repeat on every line that has the charge; only
    the amounts, the quantity and the applied rule ids differ. They are escaped once
    into the eleven pieces the variable fields are joined between (:func:`charge_text`).
    """

    __slots__ = ("_escapes", "_pieces")

    def __init__(self, escapes: Escapes) -> None:
        self._escapes = escapes
        self._pieces: dict[tuple, tuple[str, ...]] = {}

    def __call__(self, c: dict[str, Any]) -> str:
        key = (
            c["included_in"],
            c["item"],
            c["kind"],
            c["path"],
            c["period"],
            c["price_id"],
            c["price_source"],
            c["price_source_version"],
            c["term_months"],
            c["usage_unit"],
        )
        pieces = self._pieces.get(key)
        if pieces is None:
            pieces = self._pieces[key] = self.pieces(c)
        esc = self._escapes
        return charge_text(
            pieces,
            ",".join([esc[r] for r in c["applied_rules"]]),
            fixed(c["discount_amount"]),
            fixed(c["list_amount"]),
            _opt_amount(c["monthly_equivalent"]),
            fixed(c["net_amount"]),
            _opt_amount(c["prorated_amount"]),
            c["quantity"],
            _opt_amount(c["term_amount"]),
            fixed(c["unit_amount"]),
            _opt_amount(c["usage_units"]),
        )

    def pieces(self, c: dict[str, Any]) -> tuple[str, ...]:
        """The constant pieces of every charge with these naming fields (the keys of
        ``c`` read: included_in, item, kind, path, period, price_id, price_source,
        price_source_version, term_months, usage_unit), for :func:`charge_text`."""
        esc = self._escapes
        term = "null" if c["term_months"] is None else str(int(c["term_months"]))
        return (
            '{"applied_rules":[',
            '],"discount_amount":"',
            '","included_in":'
            + _opt_text(c["included_in"], esc)
            + ',"item":'
            + esc[c["item"]]
            + ',"kind":'
            + esc[c["kind"]]
            + ',"list_amount":"',
            '","monthly_equivalent":',
            ',"net_amount":"',
            '","path":'
            + esc[c["path"]]
            + ',"period":'
            + _opt_text(c["period"], esc)
            + ',"price_id":'
            + esc[c["price_id"]]
            + ',"price_source":'
            + esc[c["price_source"]]
            + ',"price_source_version":'
            + esc[c["price_source_version"]]
            + ',"prorated_amount":',
            ',"quantity":',
            ',"term_amount":',
            ',"term_months":' + term + ',"unit_amount":"',
            '","usage_unit":' + _opt_text(c["usage_unit"], esc) + ',"usage_units":',
            "}",
        )


def charge_text(
    pieces: tuple[str, ...],
    applied: str,
    discount: str,
    list_amount: str,
    monthly: str,
    net: str,
    prorated: str,
    quantity: int,
    term: str,
    unit: str,
    usage_units: str,
) -> str:
    """A charge's canonical JSON from its constant pieces (:meth:`ChargeTexts.pieces`)
    and its variable fields as JSON text (``applied``: the escaped rule ids joined by
    commas; optional amounts as ``null`` or a quoted fixed-point text)."""
    p = pieces
    return "".join(
        (
            p[0], applied, p[1], discount, p[2], list_amount, p[3], monthly, p[4], net, p[5],
            prorated, p[6], str(quantity), p[7], term, p[8], unit, p[9], usage_units, p[10],
        )
    )  # fmt: skip


def quote_line_json(line: Any, esc: Escapes) -> str:
    """One requested line (a ``QuoteLine``, bundle contents included) as canonical JSON:
    what the input fingerprint hashes for every line of the request. A line that changes
    an installed asset also writes its action and asset (sorted among the other keys)."""
    change = line.changes_asset
    return "".join(
        (
            '{"action":' + esc[line.action] + "," if line.action != "add" else "{",
            '"add_ons":[',
            ",".join([esc[a] for a in line.add_ons]),
            "]," + _asset_ref_json(line, esc) if change else "],",
            '"characteristics":{',
            ",".join([esc[k] + ":" + esc[v] for k, v in sorted(line.characteristics.items())]),
            '},"contents":[',
            ",".join([quote_line_json(child, esc) for child in line.contents]),
            '],"offering":',
            esc[line.offering],
            ',"options":[',
            ",".join([esc[o] for o in line.options]),
            '],"quantity":',
            str(line.quantity),
            "}",
        )
    )


def usage_json(line: int, price_entry: str, units: Decimal, esc: Escapes) -> str:
    """One usage estimate of the request as canonical JSON."""
    return "".join(
        (
            '{"line":',
            str(line),
            ',"price_entry":',
            esc[price_entry],
            ',"units":"',
            fixed(units),
            '"}',
        )
    )


def line_json(
    charges: Iterable[str],
    steps: Iterable[str],
    list_amount: Decimal,
    discount: Decimal,
    net: Decimal,
) -> str:
    """One priced line from the canonical JSON of its charges and steps."""
    return "".join(
        (
            '{"charges":[',
            ",".join(charges),
            '],"discount_amount":"',
            fixed(discount),
            '","list_amount":"',
            fixed(list_amount),
            '","net_amount":"',
            fixed(net),
            '","trace":[',
            ",".join(steps),
            "]}",
        )
    )


def object_json(fields: dict[str, Any], rendered: dict[str, str]) -> str:
    """A JSON object of ``fields`` (reduced by ``to_plain``) and ``rendered`` (values that
    are already canonical JSON text), keys sorted. Joined once: the rendered arrays of a
    large quote run to megabytes, and every ``+`` would copy them again."""
    texts = {
        k: json.dumps(to_plain(v), sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        for k, v in fields.items()
    }
    texts.update(rendered)
    pieces: list[str] = []
    for key in sorted(texts):
        pieces += ("," if pieces else "{", encode_basestring(key), ":", texts[key])
    pieces.append("}" if pieces else "{}")
    return "".join(pieces)


def _asset_ref_json(line: Any, esc: Escapes) -> str:
    parts = []
    if line.asset_id is not None:
        parts.append('"asset_id":' + esc[line.asset_id] + ",")
    if line.asset_version is not None:
        parts.append('"asset_version":' + str(line.asset_version) + ",")
    return "".join(parts)
