"""A charge as the rule steps see it, and the shape of a rule step.

Pricing is a list of named rule steps (:data:`cpqsim.pricing_rules.RULE_STEPS`), each a
pure function ``(charge, context) -> (charge, steps)``: it reads the charge and the
request-wide context, and returns the charge as it leaves the step plus the trace steps
it produced (none when the rule does not apply, several when it applies more than once,
such as two stacked promotions, or rounds what it produced). Nothing is mutated, so a
step can be read, tested and reordered on its own, and adding a rule is adding a step.

A charge is split in two: :class:`ChargeFacts`, what is known before any rule runs (which
item, which price entry, which contract, volume discount, promotions and bundle discounts
apply to it — decided once per request by :mod:`cpqsim.pricing_run`), and
:class:`Charge`, the amounts and the rule ids the steps have applied so far.
"""

from __future__ import annotations

import decimal
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any, NamedTuple

from cpqsim.pricebook import BundleDiscount, ContractPrice, VolumeDiscount
from cpqsim.pricing_periods import FirstPeriod
from cpqsim.pricing_plan import Rounding
from cpqsim.pricing_promotions import PromotionDecision
from cpqsim.pricing_view import PriceSource

__all__ = [
    "DIVISION",
    "EXACT",
    "QUANTIZE",
    "ZERO",
    "Charge",
    "ChargeContext",
    "ChargeFacts",
    "RuleStep",
    "SegmentOutcome",
    "Step",
    "step",
]

# Wide enough that no intermediate product of amount x quantity x discount is ever
# rounded before an explicit quantize step; Inexact traps so silent rounding is a bug.
EXACT = decimal.Context(prec=50, rounding=decimal.ROUND_HALF_EVEN, traps=[decimal.Inexact])
# Divisions (annual -> monthly equivalent, proration) cannot be exact; they are carried
# to 34 significant digits half-even, then quantized by the stated rounding policy.
DIVISION = decimal.Context(prec=34, rounding=decimal.ROUND_HALF_EVEN)
# quantize must not trap Inexact: rounding is exactly what it is asked to do.
QUANTIZE = decimal.Context(prec=50)
ZERO = Decimal(0)

#: A trace step as a rule produces it: the field dict of a ``PriceStep``.
Step = dict[str, Any]


class ChargeFacts(NamedTuple):
    """Everything about one charge that is not an amount (the rule steps' inputs)."""

    subject: str  # path/item/price_id: names the charge in trace steps and warnings
    path: str  # the segment's path relative to the quote line ("" or ".contents[k]")
    item: str
    keys: tuple[str, ...]  # every id a rule may name the offering by
    source: PriceSource
    quantity: int  # effective: a bundle component's quantity times its bundle's
    units: Decimal | None  # the line's usage estimate for this entry (usage charges)
    contract: ContractPrice | None
    volume: tuple[VolumeDiscount, int] | None  # best discount, quote quantity reached
    promotions: tuple[PromotionDecision, ...]  # applied decisions for this kind of charge
    bundles: tuple[BundleDiscount, ...]  # bundle discounts that apply to it
    included_in: str | None  # the item on the line that contains it (charged 0)

    @property
    def kind(self) -> str:
        return self.source.entry.kind


class Charge(NamedTuple):
    """The amounts of a charge as it goes through the steps (an immutable value).

    Steps make the next value with the named constructors below (each builds the tuple
    positionally: ``_replace`` with keywords costs twice as much, on every charge).
    """

    facts: ChargeFacts
    unit_amount: Decimal
    usage_units: Decimal | None
    list_amount: Decimal
    discount_amount: Decimal
    running: Decimal  # what is left after the steps so far
    prorated: Decimal | None
    monthly: Decimal | None  # monthly equivalent (recurring)
    term: Decimal | None  # over the commitment (recurring with a term)
    applied: tuple[str, ...]  # rule ids that changed it, in order
    warnings: tuple[str, ...]

    def listed(
        self,
        unit_amount: Decimal,
        usage_units: Decimal | None,
        amount: Decimal,
        applied: tuple[str, ...],
        warnings: tuple[str, ...],
    ) -> Charge:
        """Its list amount (and what is left) is ``amount``."""
        return _new(
            Charge,
            (self[0], unit_amount, usage_units, amount, self[4], amount, self[6], self[7],
             self[8], applied, warnings),
        )  # fmt: skip

    def settled(self, amount: Decimal) -> Charge:
        """Its list amount, rounded: list and running amount are both ``amount``."""
        return _new(Charge, (*self[:3], amount, self[4], amount, *self[6:]))

    def discounted(self, off: Decimal, rule_id: str, warnings: tuple[str, ...]) -> Charge:
        """``off`` taken off what is left, by ``rule_id``."""
        return _new(
            Charge,
            (*self[:4], self[4] + off, self[5] - off, *self[6:9], (*self[9], rule_id), warnings),
        )

    def prorated_to(self, prorated: Decimal) -> Charge:
        return _new(Charge, (*self[:6], prorated, *self[7:]))

    def with_equivalents(
        self, monthly: Decimal | None, term: Decimal | None, warnings: tuple[str, ...]
    ) -> Charge:
        return _new(Charge, (*self[:7], monthly, term, self[9], warnings))


_new = tuple.__new__


@dataclass(frozen=True, slots=True)
class ChargeContext:
    """What every charge of one request shares."""

    rounding: Rounding
    catalog_version: str
    policy_version: str
    discount_rate: Decimal  # the request's manual discount
    first_period: FirstPeriod | None


class SegmentOutcome(NamedTuple):
    """A priced line segment (a quote line or a bundle component line), for the rules
    that explain, once per segment, why they did *not* apply to it."""

    subject: str  # the segment's path relative to the quote line
    net: Decimal  # what its charges came to
    decisions: tuple[PromotionDecision, ...]  # every promotion considered, with reasons
    keys: frozenset[str]  # ids of every item of the segment
    bundles: tuple[BundleDiscount, ...]  # the catalog's bundle discounts, by id
    quote_items: frozenset[str]  # ids of every item in the quote
    business_date: date | None


@dataclass(frozen=True, slots=True)
class RuleStep:
    """A named rule step: ``apply(charge, context) -> (charge, trace steps)``.

    ``considers(facts, context)`` says whether the rule has anything to do with a charge
    (None: every charge). It reads only what is known before any amount is computed,
    so the pricer asks it once per kind of charge of a request (the same item, price
    entry and applicable rules on many lines) and calls ``apply`` only for the charges
    it considers; ``apply`` may take that for granted.

    ``explain``, when a rule has one, gives the steps that say why the rule did not
    apply to a segment (a promotion that lost, a bundle discount missing an offering):
    a seller asks "why didn't I get it?" about the line, not about each charge.
    """

    name: str
    apply: Callable[[Charge, ChargeContext], tuple[Charge, tuple[Step, ...]]]
    explain: Callable[[SegmentOutcome], tuple[Step, ...]] | None = None
    considers: Callable[[ChargeFacts, ChargeContext], bool] | None = None


def step(
    rule: str,
    rule_id: str,
    version: str,
    subject: str,
    before: Decimal,
    after: Decimal,
    detail: str,
    applied: bool = True,
) -> Step:
    """One trace step (field order of ``PriceStep``: this dict becomes its ``__dict__``)."""
    return {
        "rule": rule,
        "rule_version": version,
        "subject": subject,
        "before": before,
        "after": after,
        "detail": detail,
        "rule_id": rule_id,
        "applied": applied,
    }
