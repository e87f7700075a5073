"""Plain data that crosses actor boundaries: command results and aggregate views.

Actors return results instead of raising domain errors: a refused command is an
ordinary answer (the gateway maps it to 404/409/422), and Ray's exception wrapping
never has to be unpicked on the hot path.

Every answer is pickled in the actor and unpickled by the caller, so its size is paid
twice per call. A whole quote (price trace, snapshots: about 4 KB) is what the journey
driver needs; the HTTP gateway renders far less, so it asks for a :class:`QuoteCard`
(what a TMF648 body shows, a few hundred bytes) instead.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Literal, NamedTuple

from cpqsim.context import iso
from cpqsim.order import Order
from cpqsim.quote import Quote, QuoteStatus

Outcome = Literal["ok", "not_found", "refused", "invalid", "failed"]
Shape = Literal["view", "card"]  # what a command's answer carries: the quote, or its card


@dataclass(frozen=True)
class QuoteView:
    quote: Quote
    created: str  # CloudEvent time of QuoteCreated
    updated: str  # time of the latest fact


class PriceSums(NamedTuple):
    """Net recurring and one-time sums of some charges (None: no charge of that kind)."""

    recurring: Decimal | None
    one_time: Decimal | None

    @classmethod
    def of(cls, charges: list[tuple[str, Decimal]]) -> PriceSums | None:
        """Sums of ``(kind, net amount)`` pairs, added in the order given; None if none."""
        if not charges:
            return None
        recurring = one_time = None
        for kind, amount in charges:
            if kind == "recurring":
                recurring = amount if recurring is None else recurring + amount
            elif kind == "one_time":
                one_time = amount if one_time is None else one_time + amount
        return cls(recurring, one_time)


class LineCard(NamedTuple):
    offering: str
    quantity: int
    elements: tuple[str, ...]  # options, then add-ons
    prices: PriceSums | None  # None: the line has no charges (not priced yet)
    action: str = "add"  # what the line does (add, or a change of an installed asset)
    asset_id: str | None = None  # the asset changed (for add: the parent of a new add-on)
    asset_version: int | None = None  # the version the change was quoted against


@dataclass(frozen=True, slots=True)
class QuoteCard:
    """What the TMF648 rendering of a quote shows, and nothing else.

    Built inside the quote shard, so that an answer crossing to the gateway carries the
    sums the body shows instead of the whole priced quote it was computed from.
    """

    quote_id: str
    account_id: str
    requester: str
    revision: int
    status: QuoteStatus
    lines: tuple[LineCard, ...]
    currency: str | None  # of the price; None: not priced (the catalog's currency)
    total: PriceSums | None
    discount_pct: str
    approval_required: bool
    required_role: str | None
    approver: str | None
    price_fingerprint: str | None
    catalog_version: str
    region: str | None
    order_id: str | None
    created: str
    updated: str
    # Validity, proposal and eligibility: what the customer is told about the offer.
    eligibility: str = "ELIGIBLE"
    required_actions: tuple[str, ...] = ()
    presented_at: str | None = None
    valid_until: str | None = None
    proposal_sha256: str | None = None
    superseded_by: str | None = None

    @classmethod
    def of(cls, quote: Quote, created: str = "", updated: str = "") -> QuoteCard:
        priced = quote.price.lines if quote.price is not None else []
        charges = [[(c.kind, c.net_amount) for c in line.charges] for line in priced]
        lines = tuple(
            LineCard(
                line.offering,
                line.quantity,
                (*line.options, *line.add_ons),
                PriceSums.of(charges[i] if i < len(charges) else []),
                line.action,
                line.asset_id,
                line.asset_version,
            )
            for i, line in enumerate(quote.lines)
        )
        return cls(
            quote_id=quote.quote_id,
            account_id=quote.account_id,
            requester=quote.requester,
            revision=quote.revision,
            status=quote.status,
            lines=lines,
            currency=quote.price.currency if quote.price is not None else None,
            total=PriceSums.of([pair for line in charges for pair in line]),
            discount_pct=str(quote.discount_pct),
            approval_required=quote.approval_required,
            required_role=quote.required_role,
            approver=quote.approval.approver if quote.approval is not None else None,
            price_fingerprint=quote.price_fingerprint,
            catalog_version=quote.catalog_version,
            region=quote.region,
            order_id=quote.order_id,
            created=created,
            updated=updated,
            eligibility=quote.eligibility,
            required_actions=tuple(quote.required_actions),
            presented_at=iso(quote.presented_at) if quote.presented_at else None,
            valid_until=iso(quote.valid_until) if quote.valid_until else None,
            proposal_sha256=quote.proposal_sha256,
            superseded_by=quote.superseded_by,
        )


@dataclass(frozen=True)
class OrderView:
    order: Order
    created: str
    updated: str
    completed: str | None = None


@dataclass(frozen=True)
class CommandResult:
    outcome: Outcome
    view: QuoteView | None = None
    card: QuoteCard | None = None  # instead of ``view`` when the caller asked for a card
    new_events: int = 0
    last_event_id: str | None = None  # the latest fact the command established
    code: str | None = None
    message: str | None = None
    violations: list[dict[str, Any]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.outcome == "ok"

    @property
    def quote(self):
        """The quote after the command (the journey script's ``Answer`` protocol)."""
        return self.view.quote if self.view is not None else None


@dataclass(frozen=True)
class ConvertOutcome:
    """Both halves of a conversion: the quote's answer and, if it converted, the order."""

    result: CommandResult
    order: OrderView | None = None
    created: bool = False  # this call created the order (first conversion)

    @property
    def replay(self) -> bool:
        return self.result.ok and self.result.new_events == 0
