"""What a kind of quote line resolves to before any amount is computed.

Many lines of a request differ only in their quantity and usage estimates (1,000 sites of
three kinds, each with its own quantity and expected usage). Everything else about such
a line is the same on all of them: its items and their paths, which price entries charge
them, which contract, volume discount, promotions and bundle discounts apply, which items
a bundle on the line already pays for, which rule steps have anything to do with each
charge, and the constant part of every row written. A request resolves that once per
*kind* of line (its content without its own quantity) into a plan, and each distinct line
then only fills in numbers: its charges go through the rule steps that consider them,
nothing else is decided again.

The plans live as long as the pricing run that made them (one request) and are keyed by
content; :mod:`cpqsim.pricing_run` makes and uses them.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any, NamedTuple

from cpqsim.pricebook import Promotion
from cpqsim.pricing_charge import ChargeContext, ChargeFacts, RuleStep, Sites, StepSite
from cpqsim.pricing_plan import ItemFacts
from cpqsim.pricing_promotions import PromotionDecision

__all__ = [
    "ChargePlan",
    "ConstantRows",
    "LineTemplate",
    "MissingPrice",
    "Segment",
    "SegmentActions",
    "Selection",
]


class Selection(NamedTuple):
    """What one selection (offering, options, add-ons) resolves to in the run's scope;
    shared by every segment that selects the same, whatever its quantity or place."""

    items: tuple[tuple[ItemFacts, str], ...]  # (item, its path relative to the segment)
    item_keys: tuple[tuple[str, ...], ...]
    included: dict[str, str]  # item -> the item of the same selection containing it
    keys: frozenset[str]  # every id of every item
    families: frozenset[str]
    contains: bool  # does any item contain something?


class Segment(NamedTuple):
    """A quote line or one of its bundle component lines, resolved for every quantity of
    the line: its quantity is the line's times ``multiplier`` (a component's quantity
    counts per unit of its bundle, bundles nest)."""

    path: str  # relative to the quote line: "" or ".contents[k]..."
    offering: str  # as written on the segment
    multiplier: int
    parent: int | None  # index of the containing bundle's segment
    selection: Selection
    included: dict[str, str]  # item -> what on the line pays for it (its bundle included)
    candidates: tuple[Promotion, ...]  # promotions naming an item of the segment
    #: The decisions on ``candidates`` differ only for quantities below this (the
    #: largest minimum quantity among them); at or above it they are all the same.
    threshold: int
    #: decisions content key -> what pricing the segment does under those decisions
    actions: dict[tuple, SegmentActions]


class LineTemplate(NamedTuple):
    """What one kind of line (its content without its own quantity) resolves to."""

    segments: tuple[Segment, ...]
    quantities: tuple[tuple[str, int], ...]  # offering key -> quantity it adds per unit
    families: frozenset[str]
    contains: bool  # does any item of the line contain something?
    ties: tuple[str, ...]  # warnings: price books that tie for one of its items


class ConstantRows(NamedTuple):
    """Trace steps and warnings that are the same on every line of a kind (an item a
    bundle on the line pays for: charged 0; an item with no price at all: free, warned),
    written once."""

    step_models: list[Any]
    step_texts: list[str]
    warnings: tuple[str, ...]


class MissingPrice(NamedTuple):
    """An item with no price in force in the request's scope though it is priced
    elsewhere: pricing the line stops here with this message (after the line's path)."""

    message: str


class SegmentActions(NamedTuple):
    """A segment's work under one set of promotion decisions, in trace order."""

    decisions: tuple[PromotionDecision, ...]
    actions: tuple[ChargePlan | ConstantRows | MissingPrice, ...]
    #: What the rules say did not apply to the segment (a promotion lost, a bundle
    #: discount missing an offering): each a step whose amount is the segment's net.
    not_applied: tuple[tuple[StepSite, str], ...]


class ChargePlan:
    """One charge of a kind of line: everything the rule steps are told about it except
    its quantity and usage units, the rule steps that consider it (in rule order, each
    prepared for it), and the constant fields of its row; ``priced`` keeps what it came
    to per quantity and usage units within the run (lines that repeat it share the
    priced charge)."""

    __slots__ = (
        "included_in",
        "item",
        "kind",
        "path",
        "period",
        "pieces",
        "price_id",
        "price_source",
        "price_source_version",
        "priced",
        "rules",
        "subject",
        "term_months",
        "unit_amount",
        "usage_entry",
        "usage_unit",
    )

    def __init__(
        self,
        facts: ChargeFacts,
        ctx: ChargeContext,
        rule_steps: tuple[RuleStep, ...],
        sites: Sites,
        row_pieces: Any,
    ) -> None:
        """``facts`` of the charge (the rules prepare from them); ``sites`` gives the
        constant part of the trace steps; ``row_pieces(fields)`` writes the constant
        pieces of its rows' JSON."""
        source = facts.source
        kind = source.kind
        self.subject = facts.subject
        self.usage_entry: str | None = source.id if kind == "usage" else None
        self.unit_amount = source.amount
        prepared = [(rule.name, rule.prepare(facts, ctx, sites)) for rule in rule_steps]
        self.rules = tuple((name, apply) for name, apply in prepared if apply is not None)
        self.item = facts.item
        self.price_id = source.id
        self.kind = kind
        self.period = source.period if kind == "recurring" else None
        self.term_months = source.term_months
        self.usage_unit = source.usage_unit
        self.price_source = source.source
        self.price_source_version = source.version
        self.included_in = facts.included_in
        self.path = facts.path
        self.pieces: tuple[str, ...] = row_pieces(
            {
                "included_in": self.included_in,
                "item": self.item,
                "kind": kind,
                "path": self.path,
                "period": self.period,
                "price_id": self.price_id,
                "price_source": self.price_source,
                "price_source_version": self.price_source_version,
                "term_months": self.term_months,
                "usage_unit": self.usage_unit,
            }
        )
        self.priced: dict[tuple[int, Decimal | None], Any] = {}
