"""The shape of a priced quote: lines, each with its charges and trace, and the totals.

A price result is stored **per quote line** (``PriceResult.lines[i]`` prices
``PriceRequest.lines[i]``), and a line's charges and trace steps name what they touch
*relative to the line* (``/seat/seat-monthly``, ``.contents[0]/port/port-once``). Why:
the price of a line is a function of the line's content and of quote-wide facts that are
the same for every line of one request, so lines with equal content get equal prices, and
a 1,000-site quote that repeats a handful of configurations holds a handful of distinct
(immutable, shared) line prices instead of thousands of copies. It is also how a reader
looks at a quote: line by line, each line's price alteration (TMF648 ``QuoteItem`` ->
``quoteItemPrice`` -> ``priceAlteration`` has the same nesting).

For code that wants the whole quote as one list, :attr:`PriceResult.charges` and
:attr:`PriceResult.trace` are flat views in quote order, with absolute paths
(``lines[3]/seat/seat-monthly``) and steps numbered from 1; they are derived on first use
and are not part of the serialized result.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from functools import cached_property
from typing import Annotated, Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, PlainSerializer

from cpqsim.approval import ApprovalTrigger
from cpqsim.omit_defaults import OmitsDefaults

__all__ = [
    "Amount",
    "ChangeBilling",
    "ChangePrice",
    "LineCharge",
    "PriceResult",
    "PriceStep",
    "PricedCharge",
    "PricedLine",
    "TraceStep",
    "build",
    "build_all",
]

_ZERO = Decimal(0)


def _plain(value: Decimal) -> str:
    return format(value, "f")


# Decimals render as canonical.to_plain renders them (fixed-point text), so a JSON-mode
# dump of these models *is* their canonical form.
Amount = Annotated[Decimal, PlainSerializer(_plain, return_type=str, when_used="json")]


class PriceStep(BaseModel):
    """One rule considered, in order: what it touched and the amount before and after.

    ``rule`` is the kind of step (list_price, contract_price, included, volume_discount,
    promotion, bundle_discount, discount, proration, rounding); ``rule_id`` and
    ``rule_version`` name the data rule; ``applied`` is False for a rule that was
    considered and not applied (``detail`` says why; before == after). ``subject`` is
    relative to the line in :attr:`PricedLine.trace` (``""`` is the line itself,
    ``/item/price_id`` one of its charges) and ``total`` for a step on a quote total.
    """

    model_config = ConfigDict(frozen=True)

    rule: str
    rule_version: str
    subject: str
    before: Amount
    after: Amount
    detail: str
    rule_id: str = ""
    applied: bool = True


class TraceStep(PriceStep):
    """A step in the flat quote-wide trace: numbered, ``subject`` absolute (``lines[i]...``)."""

    step: int


class LineCharge(BaseModel):
    """One charge of one item (line offering, option, add-on or bundle component).

    ``list_amount``, ``discount_amount`` and ``net_amount`` are per occurrence of the
    charge: once (one-time), per month or per year (recurring), per month (usage).
    ``path`` locates the item's line relative to the quote line (``""`` the line itself,
    ``.contents[k]`` a bundle component line).
    """

    model_config = ConfigDict(frozen=True)

    item: str
    price_id: str
    kind: Literal["recurring", "one_time", "usage"]
    unit_amount: Amount
    quantity: int
    list_amount: Amount
    discount_amount: Amount
    net_amount: Amount
    period: Literal["month", "year"] | None = None
    term_months: int | None = None
    monthly_equivalent: Amount | None = None
    term_amount: Amount | None = None
    usage_unit: str | None = None
    usage_units: Amount | None = None
    prorated_amount: Amount | None = None
    price_source: str = "catalog"
    price_source_version: str = ""
    included_in: str | None = None
    applied_rules: list[str] = Field(default_factory=list)
    path: str = ""


class PricedCharge(LineCharge):
    """A charge in the flat quote-wide list: which line, and its absolute path."""

    line_index: int
    line_path: str = Field(default="", description="lines[i] or lines[i].contents[k]...")


class PricedLine(BaseModel):
    """The price of one quote line: its charges, its trace, their sums and a fingerprint.

    ``list_amount``/``discount_amount``/``net_amount`` sum one occurrence of every charge of
    the line (as the rounding policy left them: rounded when it applies per line).
    ``fingerprint`` is the sha256 of the line's canonical JSON without that field: two
    pricings of a quote can be compared line by line, and equal lines hash equal.
    """

    model_config = ConfigDict(frozen=True)

    charges: list[LineCharge]
    trace: list[PriceStep]
    list_amount: Amount
    discount_amount: Amount
    net_amount: Amount
    fingerprint: str


class ChangeBilling(BaseModel):
    """What billing needs to carry out one priced change (all amounts in ``currency``).

    ``due`` is what the change bills for the current billing month (``charge`` +
    ``one_time`` - ``credit``; negative: a credit to the customer). ``new_monthly`` is the
    line's monthly charge from the next cycle on; ``unit_monthly`` the same per unit,
    rounded to the currency's places. A renewal's ``term_amount`` is the recurring value of
    the new term ``term_start .. term_end``.
    """

    model_config = ConfigDict(frozen=True)

    line: int
    asset_id: str
    asset_version: int
    action: str
    subscription_id: str
    currency: str
    effective_date: date
    quantity: int
    old_monthly: Amount
    new_monthly: Amount
    monthly_delta: Amount
    unit_monthly: Amount
    credit: Amount
    charge: Amount
    one_time: Amount
    due: Amount
    proration_basis: str | None = None
    period_start: date | None = None
    period_end: date | None = None
    days: int | None = None
    period_days: int | None = None
    term_start: date | None = None
    term_end: date | None = None
    term_months: int | None = None
    term_amount: Amount | None = None
    coterminated: bool = False
    applied_rules: list[str] = Field(default_factory=list)


class ChangePrice(ChangeBilling):
    """A priced change with its trace: every step names old and new amounts."""

    trace: list[PriceStep] = Field(default_factory=list)

    def billing(self) -> ChangeBilling:
        return ChangeBilling(**{k: v for k, v in self.__dict__.items() if k != "trace"})


class PriceResult(OmitsDefaults):
    """A priced quote: lines, totals, rounding policy, warnings, triggers, fingerprints.

    Totals: ``subtotal`` (= ``list_total``) - ``discount_total`` = ``net_total``, the sum
    of one occurrence of every charge, = ``one_time_total`` + monthly + annual recurring
    (``recurring_by_period``) + ``usage_total``. ``recurring_total`` is the
    monthly-equivalent recurring amount (annual / 12). ``totals_trace`` holds the steps on
    the totals themselves (rounding when it applies to totals).

    ``fingerprint`` is a hash tree over the output: the sha256 of the canonical JSON of
    every field but itself, in which each line stands as its own fingerprint (see
    :class:`PricedLine`). Changing any amount, step or line changes it; equal lines are
    hashed once, which keeps fingerprinting a 10,000-line quote cheap.
    """

    model_config = ConfigDict(frozen=True)
    omit_when_default: ClassVar[frozenset[str]] = frozenset(
        {"changes", "change_due_total", "change_monthly_delta"}
    )

    currency: str
    catalog_version: str
    pricing_version: str
    lines: list[PricedLine]
    recurring_total: Amount
    one_time_total: Amount
    discount_total: Amount
    list_total: Amount
    rounding: dict[str, str | int]
    discount_pct: Amount
    totals_trace: list[PriceStep]
    warnings: list[str]
    approval_triggers: list[ApprovalTrigger]
    input_fingerprint: str
    fingerprint: str
    subtotal: Amount = _ZERO
    net_total: Amount = _ZERO
    usage_total: Amount = _ZERO
    recurring_by_period: dict[str, Amount] = Field(default_factory=dict)
    recurring_term_total: Amount = _ZERO
    prorated_first_period_total: Amount | None = None
    proration: dict[str, str | int] | None = None
    applied_rules: list[str] = Field(default_factory=list)
    rules_version: str = ""
    price_version: str = ""
    business_date: date | None = None
    region: str | None = None
    channel: str | None = None
    account_id: str | None = None
    #: A quote that changes installed assets: each change line's delta price (old
    #: against new, with its trace), what they bill for the current month in all
    #: (negative: a credit) and how the monthly charges move. Omitted while empty.
    changes: list[ChangePrice] = Field(default_factory=list)
    change_due_total: Amount | None = None
    change_monthly_delta: Amount | None = None

    @cached_property
    def charges(self) -> list[PricedCharge]:
        """Every charge of the quote in line order, with its line index and absolute path."""
        out: list[PricedCharge] = []
        for i, line in enumerate(self.lines):
            prefix = f"lines[{i}]"
            for charge in line.charges:
                values = dict(charge.__dict__)
                values["line_index"] = i
                values["line_path"] = prefix + charge.path
                out.append(build(PricedCharge, values))
        return out

    @cached_property
    def trace(self) -> list[TraceStep]:
        """Every step in quote order (line by line, then the totals), numbered from 1.

        A change line's own steps are followed by its change's (old against new).
        """
        out: list[TraceStep] = []
        changes = {c.line: c.trace for c in self.changes}
        for i, line in enumerate(self.lines):
            prefix = f"lines[{i}]"
            for s in (*line.trace, *changes.get(i, ())):
                values = dict(s.__dict__)
                values["subject"] = prefix + s.subject
                values["step"] = len(out) + 1
                out.append(build(TraceStep, values))
        for s in self.totals_trace:
            values = dict(s.__dict__)
            values["step"] = len(out) + 1
            out.append(build(TraceStep, values))
        return out


_new = object.__new__
# The slots every pydantic model instance carries, set through their descriptors: one
# attribute lookup fewer per slot than object.__setattr__, for thousands of rows.
_SLOTS = BaseModel.__dict__
_set_dict = _SLOTS["__dict__"].__set__
_set_fields = _SLOTS["__pydantic_fields_set__"].__set__
_set_extra = _SLOTS["__pydantic_extra__"].__set__
_set_private = _SLOTS["__pydantic_private__"].__set__
_FIELDS_SET: dict[type, set[str]] = {}


def _fields_set(cls: type[BaseModel]) -> set[str]:
    out = _FIELDS_SET[cls] = set(cls.model_fields)
    return out


def build(cls: type[BaseModel], values: dict[str, Any]) -> Any:
    """An instance of ``cls`` holding ``values`` as they are, without validation.

    Only for the pricer's own output, whose values already have the field types (Decimals,
    ints, strs, lists, dates, models) and every field present: validating thousands of
    trace steps and charges again cost more than pricing them. The instance is what
    ``model_validate`` would build (tests compare the two after a round trip).
    """
    obj = _new(cls)
    _set_dict(obj, values)
    _set_fields(obj, _FIELDS_SET.get(cls) or _fields_set(cls))
    _set_extra(obj, None)
    _set_private(obj, None)
    return obj


def build_all(cls: type[BaseModel], rows: list[dict[str, Any]]) -> list[Any]:
    """:func:`build` for many rows (the same, without a call per row)."""
    fields_set = _FIELDS_SET.get(cls) or _fields_set(cls)
    out = []
    add = out.append
    for values in rows:
        obj = _new(cls)
        _set_dict(obj, values)
        _set_fields(obj, fields_set)
        _set_extra(obj, None)
        _set_private(obj, None)
        add(obj)
    return out
