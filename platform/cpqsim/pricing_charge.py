"""A charge as the rule steps see it, and the shape of a rule step.

Pricing is a list of named rule steps (:data:`cpqsim.pricing_rules.RULE_STEPS`). A charge
is split in two: :class:`ChargeFacts`, what is known before any amount is computed (which
item, which price entry, which contract, volume discount, promotions and bundle discounts
apply to it — decided once per request by :mod:`cpqsim.pricing_run`), and
:class:`ChargeState`, the amounts, rule ids, warnings and trace steps so far.

A rule step is written in two stages, because a large quote prices the same *kind* of
charge (same item, entry and applicable rules) on many lines that differ only in quantity
and usage: ``prepare(facts, context, sites)`` runs once per kind of charge of a request,
decides whether the rule has anything to do with it, and works out everything that does
not depend on the amounts (the subject, ids, the constant part of its trace steps and
their JSON); the function it returns, ``apply(state, quantity, units)``, then only does
the arithmetic and the detail text of one charge. Both stages are the rule's one
implementation, in the rule's own module.

``apply`` updates the state it is given: the state belongs to the pricing of one charge
and is handed on from step to step in rule order, so nothing shared is ever changed, and
a step does not pay for copying an immutable value every time it takes something off.
"""

from __future__ import annotations

import decimal
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any, NamedTuple, Protocol

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
    "Apply",
    "ChargeContext",
    "ChargeFacts",
    "ChargeState",
    "NotApplied",
    "RuleStep",
    "SegmentOutcome",
    "Sites",
    "Step",
    "StepSite",
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
    """Everything about a kind of charge that is not an amount: what a rule step's
    ``prepare`` reads. Its quantity (a bundle component's is its own times its bundle's)
    and usage units are given to ``apply``, charge by charge."""

    subject: str  # path/item/price_id: names the charge in trace steps and warnings
    path: str  # the segment's path relative to the quote line ("" or ".contents[k]")
    item: str
    keys: tuple[str, ...]  # every id a rule may name the offering by
    source: PriceSource
    contract: ContractPrice | None
    volume: tuple[VolumeDiscount, int] | None  # best discount, quote quantity reached
    promotions: tuple[PromotionDecision, ...]  # applied decisions for this kind of charge
    bundles: tuple[BundleDiscount, ...]  # bundle discounts that apply to it
    included_in: str | None  # the item on the line that contains it (charged 0)

    @property
    def kind(self) -> str:
        return self.source.kind


class ChargeState:
    """The amounts of one charge as it goes through the rule steps (see the module
    docstring): each step reads and updates them, appends the rule ids it applied, the
    warnings it raised and the trace steps it wrote (``(site, before, after, detail)``,
    the constant part of a step in its :class:`StepSite`)."""

    __slots__ = (
        "applied",
        "discount_amount",
        "list_amount",
        "monthly",
        "prorated",
        "running",
        "steps",
        "term",
        "unit_amount",
        "usage_units",
        "warnings",
    )

    def __init__(self, unit_amount: Decimal, zero: Decimal) -> None:
        self.unit_amount = unit_amount
        self.usage_units: Decimal | None = None
        self.list_amount = ZERO
        self.discount_amount = zero  # 0 as amounts are written (0.00 under line rounding)
        self.running = ZERO  # what is left after the steps so far
        self.prorated: Decimal | None = None
        self.monthly: Decimal | None = None  # monthly equivalent (recurring)
        self.term: Decimal | None = None  # over the commitment (recurring with a term)
        self.applied: list[str] = []  # rule ids that changed it, in order
        self.warnings: list[str] = []
        self.steps: list[tuple[StepSite, Decimal, Decimal, str]] = []


class StepSite(NamedTuple):
    """The constant part of a trace step that a rule writes at one place (one kind of
    charge, one rule): everything but the amounts before and after and the detail, and
    the constant pieces of the step's canonical JSON
    (:func:`cpqsim.pricing_canonical.step_text`)."""

    rule: str
    rule_version: str
    subject: str
    rule_id: str
    applied: bool
    json_middle: str
    json_tail: str


class Sites(Protocol):
    """Where a rule's ``prepare`` gets the :class:`StepSite` of the steps it writes."""

    def site(
        self, rule: str, rule_id: str, version: str, subject: str, applied: bool = True
    ) -> StepSite: ...


#: What a rule step's ``prepare`` returns: ``apply(state, quantity, units)``.
Apply = Callable[[ChargeState, int, "Decimal | None"], None]


@dataclass(frozen=True, slots=True)
class ChargeContext:
    """What every charge of one request shares."""

    rounding: Rounding
    catalog_version: str
    policy_version: str
    discount_rate: Decimal  # the request's manual discount
    first_period: FirstPeriod | None


class SegmentOutcome(NamedTuple):
    """A line segment (a quote line or a bundle component line) under one set of
    promotion decisions, for the rules that explain why they did *not* apply to it."""

    subject: str  # the segment's path relative to the quote line
    decisions: tuple[PromotionDecision, ...]  # every promotion considered, with reasons
    keys: frozenset[str]  # ids of every item of the segment
    bundles: tuple[BundleDiscount, ...]  # the catalog's bundle discounts, by id
    quote_items: frozenset[str]  # ids of every item in the quote
    business_date: date | None


@dataclass(frozen=True, slots=True)
class RuleStep:
    """A named rule step: ``prepare(facts, context, sites) -> apply | None``.

    ``prepare`` reads only what is known before any amount is computed (the facts of a
    kind of charge, the request-wide context) and answers None when the rule has nothing
    to do with such a charge; the pricer asks it once per kind of charge of a request and
    calls the ``apply`` it returned for every charge of that kind (see the module
    docstring).

    ``explain``, when a rule has one, says why the rule did not apply to a segment (a
    promotion that lost, a bundle discount missing an offering): a seller asks "why
    didn't I get it?" about the line, not about each charge. Each :class:`NotApplied`
    becomes a step with ``applied`` false whose amount before and after is what the
    segment's charges came to; the reasons are the same for every line of a kind, so
    the pricer asks once per segment and set of promotion decisions.
    """

    name: str
    prepare: Callable[[ChargeFacts, ChargeContext, Sites], Apply | None]
    explain: Callable[[SegmentOutcome], tuple[NotApplied, ...]] | None = None


class NotApplied(NamedTuple):
    """A rule that did not apply to a segment, and why (see :class:`RuleStep`)."""

    rule: str
    rule_id: str
    version: str
    detail: str


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
