"""Pricing rules as data: price books, tiers, contract prices, promotions, discounts.

These are the *inputs* of pricing and part of a published catalog version (the
``pricing`` section of a catalog document), so a price change is a data change with a
version, checked at publication like any other catalog change. ``cpqsim.pricing`` holds
the arithmetic; nothing here computes.

Business dates are explicit ``date`` values: a rule is in force on ``d`` when
``effective_from <= d`` and (``effective_to`` is None or ``d < effective_to``) — the end
date is exclusive, so consecutive windows can share a boundary without overlapping.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

from cpqsim.money import CURRENCY_PLACES, Money
from cpqsim.pricing_tiers import check_tiers

#: Significant digits an amount or rate may have. Pricing computes exactly with 50 digits
#: (a product of amount, quantity and rates is never rounded silently); inputs this long
#: leave room for those products.
MAX_DIGITS = 28


def decimal_problem(value: Decimal) -> str | None:
    """Why pricing cannot carry ``value`` exactly (not finite, too many digits), or None."""
    if not value.is_finite():
        return f"must be a finite number, got {value}"
    digits = len(value.as_tuple().digits)
    if digits > MAX_DIGITS:
        return (
            f"has {digits} significant digits; pricing accepts at most {MAX_DIGITS} "
            f"(got {str(value)[:40]}...)"
        )
    return None


def _carried(value: Decimal) -> Decimal:
    problem = decimal_problem(value)
    if problem:
        raise ValueError(problem)
    return value


#: An exact amount or rate that pricing can carry (no float, finite, <= MAX_DIGITS).
Amount = Annotated[Money, AfterValidator(_carried)]

ChargeKind = Literal["one_time", "recurring", "usage"]
RoundingMode = Literal[
    "ROUND_HALF_EVEN",
    "ROUND_HALF_UP",
    "ROUND_HALF_DOWN",
    "ROUND_UP",
    "ROUND_DOWN",
    "ROUND_CEILING",
    "ROUND_FLOOR",
    "ROUND_05UP",
]
Period = Literal["month", "year"]


class _Rule(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Effective(_Rule):
    effective_from: date = date(2000, 1, 1)
    effective_to: date | None = Field(default=None, description="exclusive end; None = open")

    def in_force(self, business_date: date) -> bool:
        return self.effective_from <= business_date and (
            self.effective_to is None or business_date < self.effective_to
        )

    @model_validator(mode="after")
    def _window_ordered(self):
        if self.effective_to is not None and self.effective_to <= self.effective_from:
            raise ValueError("effective_to must be after effective_from")
        return self


class RoundingPolicy(_Rule):
    """Rounding is a stated policy, reported in every price result."""

    mode: RoundingMode = "ROUND_HALF_EVEN"
    applies: Literal["line", "total"] = "line"
    places: dict[str, int] = Field(default_factory=lambda: dict(CURRENCY_PLACES))


class Tier(_Rule):
    """A usage tier: units up to ``up_to`` (inclusive; None = no upper bound)."""

    up_to: int | None = Field(default=None, ge=1)
    unit_amount: Amount
    flat_amount: Amount = Decimal(0)


class PriceEntry(_Rule):
    """One charge of one offering in one price book."""

    id: str
    offering: str
    kind: ChargeKind
    amount: Amount = Decimal(0)
    period: Period | None = Field(default=None, description="recurring: billed per month/year")
    term_months: int | None = Field(default=None, ge=1, description="commitment length")
    usage_unit: str | None = None
    tier_mode: Literal["graduated", "volume"] | None = None
    tiers: list[Tier] = Field(default_factory=list)

    @model_validator(mode="after")
    def _shape_matches_kind(self):
        if self.kind == "recurring" and self.period is None:
            raise ValueError("a recurring charge needs a period (month or year)")
        if self.kind != "recurring" and self.period is not None:
            raise ValueError(f"a {self.kind} charge has no period")
        if self.kind == "usage" and (not self.tiers or self.tier_mode is None):
            raise ValueError("a usage charge needs tiers and a tier_mode (graduated or volume)")
        if self.kind != "usage" and self.tiers:
            raise ValueError(f"a {self.kind} charge has no tiers")
        check_tiers(self.tiers)
        return self


class PriceBook(Effective):
    """Prices for one currency, optionally scoped to a region and a channel."""

    id: str
    version: str
    currency: str = Field(min_length=3, max_length=3)
    region: str | None = None
    channel: str | None = None
    priority: int = Field(default=0, description="higher wins when several books match")
    entries: list[PriceEntry] = Field(default_factory=list)


class VolumeDiscount(Effective):
    id: str
    version: str = "1"
    offering: str
    min_quantity: int = Field(ge=1)
    pct: Amount = Field(ge=0, le=1, description="fraction, 0.1 = 10 %")


class ContractPrice(Effective):
    """An account's negotiated unit amount; overrides list price for that entry."""

    id: str
    version: str = "1"
    account_id: str
    offering: str
    price_entry: str = Field(description="id of the PriceEntry it overrides")
    currency: str = Field(min_length=3, max_length=3)
    amount: Amount


class PromotionEligibility(_Rule):
    regions: list[str] | None = None
    channels: list[str] | None = None
    segments: list[str] | None = None
    min_quantity: int = Field(default=0, ge=0)
    requires_offerings: list[str] = Field(default_factory=list)


class Promotion(Effective):
    """A promotion: percentage or per-unit amount off some charges of some offerings.

    Conflicts resolve by data, never by file order: higher ``priority`` first; at most one
    promotion per ``stacking_group``; an ``exclusive`` promotion stands alone on its line;
    ``excludes`` names promotions that may not apply together with this one.
    """

    id: str
    version: str = "1"
    name: str = ""
    applies_to: list[str] = Field(min_length=1, description="offering ids")
    charge_kinds: list[ChargeKind] = Field(default_factory=lambda: ["recurring"])
    pct_off: Amount | None = Field(default=None, ge=0, le=1)
    amount_off: Amount | None = Field(default=None, ge=0)
    stacking_group: str | None = None
    exclusive: bool = False
    excludes: list[str] = Field(default_factory=list)
    priority: int = 0
    eligibility: PromotionEligibility = Field(default_factory=PromotionEligibility)

    @model_validator(mode="after")
    def _one_benefit(self):
        if (self.pct_off is None) == (self.amount_off is None):
            raise ValueError("a promotion gives exactly one of pct_off or amount_off")
        return self


class BundleDiscount(Effective):
    """A discount on ``applies_to`` when every offering in ``when_all`` is in the quote."""

    id: str
    version: str = "1"
    when_all: list[str] = Field(min_length=2)
    applies_to: list[str] = Field(min_length=1)
    pct: Amount = Field(ge=0, le=1)


class PricingRules(_Rule):
    """Everything pricing consults besides the request: part of a catalog version."""

    version: str = "pricing-rules-v1"
    price_books: list[PriceBook] = Field(default_factory=list)
    volume_discounts: list[VolumeDiscount] = Field(default_factory=list)
    contract_prices: list[ContractPrice] = Field(default_factory=list)
    promotions: list[Promotion] = Field(default_factory=list)
    bundle_discounts: list[BundleDiscount] = Field(default_factory=list)
    rounding: RoundingPolicy = Field(default_factory=RoundingPolicy)
