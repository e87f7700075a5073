"""The quote aggregate: a revisioned commercial commitment.

``decide(state, command, ctx, services) -> events`` and ``evolve(state, event) -> state``.
Which commands are ever legal in which status is the transition table ``QUOTE_LIFECYCLE``;
content guards (approval needed, segregation of duties, idempotency of conversion) live
in ``decide``. An accepted revision is frozen: its snapshot and fingerprints are what the
order carries, so conversion never re-prices.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from enum import StrEnum
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field

from cpqsim.approval import ApprovalPolicy, approval_refusal, highest_required_role
from cpqsim.canonical import fingerprint, to_plain
from cpqsim.catalog import Catalog
from cpqsim.configuration import QuoteLine, resolve_line_versions
from cpqsim.context import Context
from cpqsim.events import DomainEvent
from cpqsim.lifecycle import GuardFailed, TransitionTable
from cpqsim.pricing import PriceRequest, PriceResult, PricingPolicy, price_quote


class QuoteStatus(StrEnum):
    DRAFT = "draft"
    PRICED = "priced"
    PENDING_APPROVAL = "pending_approval"
    APPROVED = "approved"
    REJECTED = "rejected"
    ACCEPTED = "accepted"
    CONVERTED = "converted"
    CANCELLED = "cancelled"


S = QuoteStatus

# (status, command) -> status. Content guards are applied in ``decide``.
QUOTE_LIFECYCLE = TransitionTable(
    "quote",
    {
        (S.DRAFT, "PriceQuote"): S.PRICED,
        (S.PRICED, "PriceQuote"): S.PRICED,
        (S.PRICED, "SubmitQuoteForApproval"): S.PENDING_APPROVAL,
        (S.PENDING_APPROVAL, "ApproveQuote"): S.APPROVED,
        (S.PENDING_APPROVAL, "RejectQuote"): S.REJECTED,
        (S.PRICED, "AcceptQuote"): S.ACCEPTED,  # only when no approval is required
        (S.APPROVED, "AcceptQuote"): S.ACCEPTED,
        (S.ACCEPTED, "ConvertQuoteToOrder"): S.CONVERTED,
        (S.CONVERTED, "ConvertQuoteToOrder"): S.CONVERTED,  # same key: idempotent replay
        # Any change before acceptance opens a new revision, back in draft.
        (S.DRAFT, "ReviseQuote"): S.DRAFT,
        (S.PRICED, "ReviseQuote"): S.DRAFT,
        (S.PENDING_APPROVAL, "ReviseQuote"): S.DRAFT,
        (S.APPROVED, "ReviseQuote"): S.DRAFT,
        (S.REJECTED, "ReviseQuote"): S.DRAFT,
        (S.DRAFT, "CancelQuote"): S.CANCELLED,
        (S.PRICED, "CancelQuote"): S.CANCELLED,
        (S.PENDING_APPROVAL, "CancelQuote"): S.CANCELLED,
        (S.APPROVED, "CancelQuote"): S.CANCELLED,
        (S.REJECTED, "CancelQuote"): S.CANCELLED,
    },
)


# --------------------------------------------------------------------------- commands


class QuoteCommand(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    quote_id: str


class CreateQuote(QuoteCommand):
    account_id: str
    requester: str
    lines: list[QuoteLine] = Field(min_length=1)
    discount_pct: Decimal = Decimal("0")
    region: str | None = None
    currency: str | None = Field(default=None, description="default: the catalog currency")
    channel: str | None = None
    segment: str | None = None


class PriceQuote(QuoteCommand):
    pass


class SubmitQuoteForApproval(QuoteCommand):
    pass


class ApproveQuote(QuoteCommand):
    approver: str
    role: str
    reason: str = ""


class RejectQuote(QuoteCommand):
    approver: str
    role: str
    reason: str


class ReviseQuote(QuoteCommand):
    lines: list[QuoteLine] | None = None
    discount_pct: Decimal | None = None
    reason: str = ""


class AcceptQuote(QuoteCommand):
    revision: int | None = Field(default=None, description="expected revision (optimistic check)")


class ConvertQuoteToOrder(QuoteCommand):
    idempotency_key: str = Field(min_length=1)
    order_id: str | None = Field(default=None, description="chosen by the platform if omitted")


class CancelQuote(QuoteCommand):
    reason: str = ""


# ----------------------------------------------------------------------------- events


class QuoteEvent(DomainEvent):
    aggregate: ClassVar[str] = "quote"
    quote_id: str
    revision: int

    def subject(self) -> str:
        return f"quote/{self.quote_id}"


class QuoteCreated(QuoteEvent):
    type_name: ClassVar[str] = "created"
    account_id: str
    requester: str
    lines: list[QuoteLine]
    discount_pct: Decimal
    region: str | None = None
    currency: str | None = None
    channel: str | None = None
    segment: str | None = None
    catalog_version: str


class QuotePriced(QuoteEvent):
    type_name: ClassVar[str] = "priced"
    price_request: dict[str, Any]  # exactly what was priced, so it can be priced again
    price: dict[str, Any]
    price_fingerprint: str
    approval_required: bool
    required_role: str | None = None


class QuoteSubmittedForApproval(QuoteEvent):
    type_name: ClassVar[str] = "submitted_for_approval"
    requester: str
    required_role: str
    snapshot_fingerprint: str
    policy_version: str


class QuoteApproved(QuoteEvent):
    type_name: ClassVar[str] = "approved"
    approver: str
    role: str
    requester: str
    reason: str = ""
    snapshot_fingerprint: str
    policy_version: str


class QuoteRejected(QuoteEvent):
    type_name: ClassVar[str] = "rejected"
    approver: str
    role: str
    reason: str


class QuoteRevised(QuoteEvent):
    type_name: ClassVar[str] = "revised"
    previous_revision: int
    lines: list[QuoteLine]
    discount_pct: Decimal
    reason: str = ""
    invalidated_approval: bool = False


class QuoteAccepted(QuoteEvent):
    type_name: ClassVar[str] = "accepted"
    snapshot: dict[str, Any]
    snapshot_fingerprint: str
    price_fingerprint: str
    approval_required: bool
    approval_snapshot_fingerprint: str | None = None


class QuoteConvertedToOrder(QuoteEvent):
    type_name: ClassVar[str] = "converted_to_order"
    order_id: str
    idempotency_key: str
    snapshot_fingerprint: str


class QuoteCancelled(QuoteEvent):
    type_name: ClassVar[str] = "cancelled"
    reason: str = ""


# ------------------------------------------------------------------------------ state


class Quote(BaseModel):
    """Current state of one quote, rebuilt from its events by ``evolve``."""

    model_config = ConfigDict(frozen=True)

    quote_id: str
    account_id: str
    requester: str
    revision: int
    status: QuoteStatus
    lines: list[QuoteLine]
    discount_pct: Decimal
    region: str | None
    catalog_version: str
    currency: str | None = None
    channel: str | None = None
    segment: str | None = None
    price_request: dict[str, Any] | None = None
    price: dict[str, Any] | None = None
    price_fingerprint: str | None = None
    approval_required: bool = False
    required_role: str | None = None
    approval: dict[str, Any] | None = None
    accepted_snapshot: dict[str, Any] | None = None
    accepted_snapshot_fingerprint: str | None = None
    order_id: str | None = None
    conversion_key: str | None = None


@dataclass(frozen=True)
class QuoteServices:
    """What quote decisions consult: the published catalog and the policies in force."""

    catalog: Catalog
    pricing_policy: PricingPolicy = field(default_factory=PricingPolicy)
    approval_policy: ApprovalPolicy = field(default_factory=ApprovalPolicy)
    # The last few prices, by the request's JSON: see ``price``.
    _prices: dict[str, PriceResult] = field(
        default_factory=dict, init=False, repr=False, compare=False
    )

    PRICES_KEPT: ClassVar[int] = 32
    LINES_KEPT: ClassVar[int] = 200

    def price(self, request: PriceRequest) -> PriceResult:
        """``price_quote`` of ``request`` against this catalog and these policies.

        Why it keeps answers: ``CreateQuote`` prices its request to refuse a bad
        configuration, currency or discount at the door, and the ``PriceQuote`` that
        follows asks the same question moments later. The catalog and policies are fixed
        for these services and pricing is a pure function of the request, so an equal
        request (same JSON: lines, discount, scope and business date) gets the same
        answer. Refusals are not kept; the oldest answer goes first. Quotes of more than
        ``LINES_KEPT`` lines are priced every time: their results are large, and the key
        alone would cost a fair share of pricing them.
        """
        if len(request.lines) > self.LINES_KEPT:
            return price_quote(self.catalog, request, self.pricing_policy, self.approval_policy)
        key = request.model_dump_json()
        hit = self._prices.get(key)
        if hit is None:
            hit = price_quote(self.catalog, request, self.pricing_policy, self.approval_policy)
            if len(self._prices) >= self.PRICES_KEPT:
                del self._prices[next(iter(self._prices))]
            self._prices[key] = hit
        return hit


class AlreadyConverted(GuardFailed):
    code = "already_converted"


class UnknownQuote(GuardFailed):
    code = "unknown_quote"


def commercial_snapshot(state: Quote) -> dict[str, Any]:
    """What an approval and an acceptance bind to: every commercially material field.

    It carries the exact price request (business date included), so the accepted price
    can be reproduced later and compared by fingerprint, never silently recomputed.
    """
    return to_plain(
        {
            "quote_id": state.quote_id,
            "revision": state.revision,
            "account_id": state.account_id,
            "lines": [line.model_dump() for line in state.lines],
            "discount_pct": state.discount_pct,
            "region": state.region,
            "catalog_version": state.catalog_version,
            "price_request": state.price_request,
            "price_fingerprint": state.price_fingerprint,
        }
    )


def price_request_for(state: Quote | CreateQuote, ctx: Context) -> PriceRequest:
    """The request pricing sees: the quote's content and context at today's business date.

    The business date comes from the context (virtual time in the sim), never the clock.
    """
    return PriceRequest(
        lines=state.lines,
        discount_pct=state.discount_pct,
        region=state.region,
        currency=state.currency,
        channel=state.channel,
        segment=state.segment,
        account_id=state.account_id,
        business_date=ctx.now.date(),
    )


def decide(
    state: Quote | None, command: QuoteCommand, ctx: Context, services: QuoteServices
) -> list[QuoteEvent]:
    """The facts that executing ``command`` against ``state`` establishes (maybe none)."""
    name = type(command).__name__
    if isinstance(command, CreateQuote):
        if state is not None:
            raise GuardFailed(f"quote {command.quote_id} already exists")
        # Quotes name exact catalog versions: pin every element at today's business date.
        command = command.model_copy(
            update={"lines": resolve_line_versions(services.catalog, command.lines, ctx.now.date())}
        )
        # Price once up-front so an invalid configuration is refused at the door.
        services.price(price_request_for(command, ctx))
        return [
            QuoteCreated(
                quote_id=command.quote_id,
                revision=1,
                account_id=command.account_id,
                requester=command.requester,
                lines=command.lines,
                discount_pct=command.discount_pct,
                region=command.region,
                currency=command.currency,
                channel=command.channel,
                segment=command.segment,
                catalog_version=services.catalog.version,
            )
        ]
    if state is None:
        raise UnknownQuote(f"quote {command.quote_id} does not exist")
    if isinstance(command, ConvertQuoteToOrder) and state.status is S.CONVERTED:
        if command.idempotency_key == state.conversion_key:
            return []  # replay of the same conversion: same order, no new fact
        raise AlreadyConverted(
            f"quote {state.quote_id} revision {state.revision} was already converted to "
            f"order {state.order_id} under another idempotency key"
        )
    QUOTE_LIFECYCLE.next_state(state.status, name)  # raises IllegalTransition
    rev = state.revision

    if isinstance(command, PriceQuote):
        request = price_request_for(state, ctx)
        result = services.price(request)
        role = highest_required_role(services.approval_policy, result.approval_triggers)
        return [
            QuotePriced(
                quote_id=state.quote_id,
                revision=rev,
                price_request=to_plain(request.model_dump()),
                price=to_plain(result.model_dump()),
                price_fingerprint=result.fingerprint,
                approval_required=bool(result.approval_triggers),
                required_role=role,
            )
        ]
    if isinstance(command, SubmitQuoteForApproval):
        if not state.approval_required:
            raise GuardFailed(f"quote {state.quote_id} needs no approval at its current price")
        return [
            QuoteSubmittedForApproval(
                quote_id=state.quote_id,
                revision=rev,
                requester=state.requester,
                required_role=state.required_role or "",
                snapshot_fingerprint=fingerprint(commercial_snapshot(state)),
                policy_version=services.approval_policy.version,
            )
        ]
    if isinstance(command, ApproveQuote | RejectQuote):
        triggers = PriceResult.model_validate(state.price).approval_triggers
        refusal = approval_refusal(
            services.approval_policy, triggers, command.approver, command.role, state.requester
        )
        if refusal:
            raise GuardFailed(refusal)
        if isinstance(command, RejectQuote):
            return [
                QuoteRejected(
                    quote_id=state.quote_id,
                    revision=rev,
                    approver=command.approver,
                    role=command.role,
                    reason=command.reason,
                )
            ]
        return [
            QuoteApproved(
                quote_id=state.quote_id,
                revision=rev,
                approver=command.approver,
                role=command.role,
                requester=state.requester,
                reason=command.reason,
                snapshot_fingerprint=fingerprint(commercial_snapshot(state)),
                policy_version=services.approval_policy.version,
            )
        ]
    if isinstance(command, ReviseQuote):
        return [
            QuoteRevised(
                quote_id=state.quote_id,
                revision=rev + 1,
                previous_revision=rev,
                lines=(
                    resolve_line_versions(services.catalog, command.lines, ctx.now.date())
                    if command.lines is not None
                    else state.lines
                ),
                discount_pct=(
                    command.discount_pct if command.discount_pct is not None else state.discount_pct
                ),
                reason=command.reason,
                invalidated_approval=state.approval is not None,
            )
        ]
    if isinstance(command, AcceptQuote):
        if command.revision is not None and command.revision != rev:
            raise GuardFailed(
                f"quote {state.quote_id} is at revision {rev}, not {command.revision}"
            )
        if state.status is S.PRICED and state.approval_required:
            raise GuardFailed(
                f"quote {state.quote_id} needs approval by {state.required_role} before acceptance"
            )
        snapshot = commercial_snapshot(state)
        snapshot_fp = fingerprint(snapshot)
        approval_fp = state.approval["snapshot_fingerprint"] if state.approval else None
        if state.approval_required and approval_fp != snapshot_fp:
            raise GuardFailed(f"approval of quote {state.quote_id} does not match its content")
        return [
            QuoteAccepted(
                quote_id=state.quote_id,
                revision=rev,
                snapshot=snapshot,
                snapshot_fingerprint=snapshot_fp,
                price_fingerprint=state.price_fingerprint or "",
                approval_required=state.approval_required,
                approval_snapshot_fingerprint=approval_fp,
            )
        ]
    if isinstance(command, ConvertQuoteToOrder):
        return [
            QuoteConvertedToOrder(
                quote_id=state.quote_id,
                revision=rev,
                order_id=command.order_id or ctx.ids.next("ord"),
                idempotency_key=command.idempotency_key,
                snapshot_fingerprint=state.accepted_snapshot_fingerprint or "",
            )
        ]
    if isinstance(command, CancelQuote):
        return [QuoteCancelled(quote_id=state.quote_id, revision=rev, reason=command.reason)]
    raise TypeError(f"unhandled quote command {name}")  # pragma: no cover


def evolve(state: Quote | None, event: QuoteEvent) -> Quote:
    """Apply one fact. Never fails on a fact ``decide`` produced."""
    if isinstance(event, QuoteCreated):
        return Quote(
            quote_id=event.quote_id,
            account_id=event.account_id,
            requester=event.requester,
            revision=1,
            status=S.DRAFT,
            lines=event.lines,
            discount_pct=event.discount_pct,
            region=event.region,
            currency=event.currency,
            channel=event.channel,
            segment=event.segment,
            catalog_version=event.catalog_version,
        )
    assert state is not None, f"{type(event).__name__} before QuoteCreated"
    if isinstance(event, QuotePriced):
        return state.model_copy(
            update={
                "status": S.PRICED,
                "price_request": event.price_request,
                "price": event.price,
                "price_fingerprint": event.price_fingerprint,
                "approval_required": event.approval_required,
                "required_role": event.required_role,
                "approval": None,
            }
        )
    if isinstance(event, QuoteSubmittedForApproval):
        return state.model_copy(update={"status": S.PENDING_APPROVAL})
    if isinstance(event, QuoteApproved):
        return state.model_copy(
            update={"status": S.APPROVED, "approval": to_plain(event.model_dump())}
        )
    if isinstance(event, QuoteRejected):
        return state.model_copy(update={"status": S.REJECTED})
    if isinstance(event, QuoteRevised):
        return state.model_copy(
            update={
                "status": S.DRAFT,
                "revision": event.revision,
                "lines": event.lines,
                "discount_pct": event.discount_pct,
                "price_request": None,
                "price": None,
                "price_fingerprint": None,
                "approval_required": False,
                "required_role": None,
                "approval": None,
            }
        )
    if isinstance(event, QuoteAccepted):
        return state.model_copy(
            update={
                "status": S.ACCEPTED,
                "accepted_snapshot": event.snapshot,
                "accepted_snapshot_fingerprint": event.snapshot_fingerprint,
            }
        )
    if isinstance(event, QuoteConvertedToOrder):
        return state.model_copy(
            update={
                "status": S.CONVERTED,
                "order_id": event.order_id,
                "conversion_key": event.idempotency_key,
            }
        )
    if isinstance(event, QuoteCancelled):
        return state.model_copy(update={"status": S.CANCELLED})
    raise TypeError(f"unhandled quote event {type(event).__name__}")  # pragma: no cover


def execute(
    state: Quote | None, command: QuoteCommand, ctx: Context, services: QuoteServices
) -> tuple[Quote | None, list[QuoteEvent]]:
    """Decide, then fold the new facts into the state."""
    events = decide(state, command, ctx, services)
    for event in events:
        state = evolve(state, event)
    return state, events


QUOTE_COMMANDS: dict[str, type[QuoteCommand]] = {
    cls.__name__: cls
    for cls in (
        CreateQuote,
        PriceQuote,
        SubmitQuoteForApproval,
        ApproveQuote,
        RejectQuote,
        ReviseQuote,
        AcceptQuote,
        ConvertQuoteToOrder,
        CancelQuote,
    )
}

QUOTE_EVENTS: dict[str, type[QuoteEvent]] = {
    cls.cloudevent_type(): cls
    for cls in (
        QuoteCreated,
        QuotePriced,
        QuoteSubmittedForApproval,
        QuoteApproved,
        QuoteRejected,
        QuoteRevised,
        QuoteAccepted,
        QuoteConvertedToOrder,
        QuoteCancelled,
    )
}
