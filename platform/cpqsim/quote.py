"""The quote aggregate: a revisioned commercial commitment.

``decide(state, command, ctx, services) -> events`` and ``evolve(state, event) -> state``.
Which commands are ever legal in which status is the transition table ``QUOTE_LIFECYCLE``;
content guards (approval needed, segregation of duties, idempotency of conversion) live
in ``decide``. An accepted revision is frozen: its snapshot and fingerprints are what the
order carries, so conversion never re-prices.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field

from cpqsim.approval import (
    ApprovalPolicy,
    ApprovalTrigger,
    BeyondAuthority,
    approval_chain,
    approval_refusal,
    authority_trigger,
    highest_required_role,
)
from cpqsim.asset import InstalledBase
from cpqsim.canonical import fingerprint
from cpqsim.catalog import Catalog, stable_id
from cpqsim.change import (
    ChangeRefusal,
    account_offerings,
    check_change_lines,
    installed_outside,
)
from cpqsim.configuration import QuoteLine, check_configuration, resolve_line_versions
from cpqsim.context import Context, iso
from cpqsim.eligibility import CustomerContext
from cpqsim.events import DomainEvent
from cpqsim.lifecycle import DomainError, GuardFailed, TransitionTable
from cpqsim.omit_defaults import OmitsDefaults
from cpqsim.pricing import PriceRequest, PriceResult, PricingError, PricingPolicy, price_quote
from cpqsim.pricing_change import CHANGE_ACTIONS, check_change_configuration
from cpqsim.pricing_change_basis import assets_priced, installed_offerings
from cpqsim.pricing_change_terms import ContractBook
from cpqsim.pricing_result import ChangeBilling
from cpqsim.proposal import PROPOSAL_FORMAT, proposal_sha256, render_proposal
from cpqsim.quote_guards import (
    OfferLapsed,
    ProposalMismatch,
    ask_eligibility,
    conversion_refusal,
    price_book_fingerprint,
)
from cpqsim.quote_policy import QuotePolicy, valid_until


class QuoteStatus(StrEnum):
    DRAFT = "draft"
    PRICED = "priced"
    PENDING_APPROVAL = "pending_approval"
    APPROVED = "approved"
    REJECTED = "rejected"
    ACCEPTED = "accepted"
    CONVERTED = "converted"
    CANCELLED = "cancelled"
    PRESENTED = "presented"  # the proposal went to the customer; its validity runs
    EXPIRED = "expired"  # the validity lapsed before conversion
    SUPERSEDED = "superseded"  # a newer quote for the same opportunity replaced it


S = QuoteStatus

# (status, fact) -> status: the only place a quote's target state is written. ``evolve``
# reads the new status from here; ``decide`` asks it whether a command's fact may happen
# at all (content guards such as "approval needed" come after, in the command's handler).
QUOTE_LIFECYCLE = TransitionTable(
    "quote",
    {
        (S.DRAFT, "priced"): S.PRICED,
        (S.PRICED, "priced"): S.PRICED,
        (S.PRICED, "submitted_for_approval"): S.PENDING_APPROVAL,
        (S.PENDING_APPROVAL, "approved"): S.APPROVED,
        # A multi-step chain: an earlier step approved, the next one still to decide.
        (S.PENDING_APPROVAL, "approval_step_approved"): S.PENDING_APPROVAL,
        # An approval by someone without the authority: recorded, nothing changes.
        (S.PENDING_APPROVAL, "approval_refused"): S.PENDING_APPROVAL,
        (S.PENDING_APPROVAL, "approval_escalated"): S.PENDING_APPROVAL,  # still waiting
        (S.PENDING_APPROVAL, "rejected"): S.REJECTED,
        (S.PRICED, "accepted"): S.ACCEPTED,  # only when no approval is required
        (S.APPROVED, "accepted"): S.ACCEPTED,
        (S.ACCEPTED, "converted_to_order"): S.CONVERTED,
        # Any change before acceptance opens a new revision, back in draft.
        (S.DRAFT, "revised"): S.DRAFT,
        (S.PRICED, "revised"): S.DRAFT,
        (S.PENDING_APPROVAL, "revised"): S.DRAFT,
        (S.APPROVED, "revised"): S.DRAFT,
        (S.REJECTED, "revised"): S.DRAFT,
        (S.DRAFT, "cancelled"): S.CANCELLED,
        (S.PRICED, "cancelled"): S.CANCELLED,
        (S.PENDING_APPROVAL, "cancelled"): S.CANCELLED,
        (S.APPROVED, "cancelled"): S.CANCELLED,
        (S.REJECTED, "cancelled"): S.CANCELLED,
        # Validity: presenting renders the proposal and starts the clock on the offer.
        (S.PRICED, "presented"): S.PRESENTED,  # only when no approval is required
        (S.APPROVED, "presented"): S.PRESENTED,
        (S.PRESENTED, "accepted"): S.ACCEPTED,
        (S.PRESENTED, "revised"): S.DRAFT,
        (S.PRESENTED, "cancelled"): S.CANCELLED,
        (S.PRESENTED, "expired"): S.EXPIRED,
        (S.ACCEPTED, "expired"): S.EXPIRED,  # accepted but not converted within validity
        # A newer quote for the same opportunity replaces any quote not yet committed.
        (S.DRAFT, "superseded"): S.SUPERSEDED,
        (S.PRICED, "superseded"): S.SUPERSEDED,
        (S.PENDING_APPROVAL, "superseded"): S.SUPERSEDED,
        (S.APPROVED, "superseded"): S.SUPERSEDED,
        (S.REJECTED, "superseded"): S.SUPERSEDED,
        (S.PRESENTED, "superseded"): S.SUPERSEDED,
        (S.EXPIRED, "superseded"): S.SUPERSEDED,
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
    requester_role: str | None = Field(
        default=None, description="the requester's role (default: the policy's requester_role)"
    )
    opportunity_id: str | None = Field(default=None, max_length=200)
    cloned_from: str | None = Field(default=None, max_length=200)


class PriceQuote(QuoteCommand):
    pass


class SubmitQuoteForApproval(QuoteCommand):
    pass


class ApproveQuote(QuoteCommand):
    approver: str
    role: str
    reason: str = ""
    on_behalf_of: str | None = Field(
        default=None, description="the delegator (principal or role) the approver acts for"
    )


class RejectQuote(QuoteCommand):
    approver: str
    role: str
    reason: str
    on_behalf_of: str | None = None


class ReviseQuote(QuoteCommand):
    lines: list[QuoteLine] | None = None
    discount_pct: Decimal | None = None
    reason: str = ""


class AcceptQuote(QuoteCommand):
    revision: int | None = Field(default=None, description="expected revision (optimistic check)")
    proposal_sha256: str | None = Field(
        default=None, description="the proposal the customer accepts (refused if not current)"
    )


class ConvertQuoteToOrder(QuoteCommand):
    idempotency_key: str = Field(min_length=1)
    order_id: str | None = Field(default=None, description="chosen by the platform if omitted")


class CancelQuote(QuoteCommand):
    reason: str = ""


class PresentQuote(QuoteCommand):
    """Render the proposal and put it before the customer: the offer's validity starts."""


class ExpireQuote(QuoteCommand):
    """Issued by a timer at valid-until: the offer lapses (refused if it has not yet)."""


class SupersedeQuote(QuoteCommand):
    """A newer quote for the same opportunity replaces this one."""

    superseded_by: str = Field(min_length=1, max_length=200)
    opportunity_id: str | None = Field(default=None, max_length=200)
    reason: str = ""


class EscalateApproval(QuoteCommand):
    """An approval overdue: hand it to an owner who must see it decided."""

    owner: str = Field(min_length=1, max_length=100)
    reason: str = ""


# ----------------------------------------------------------------------------- events


class CommercialSnapshot(OmitsDefaults):
    """What an approval and an acceptance bind to: every commercially material field.

    It carries the exact price request (business date included), so the accepted price
    can be reproduced later and compared by fingerprint, never silently recomputed.
    A quote that changes installed assets also carries, per change line, what billing
    needs to carry the change out (``changes``: subscription, amounts, start date, term
    end, proration basis), taken from the price; omitted while there are none.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")
    omit_when_default: ClassVar[frozenset[str]] = frozenset({"changes"})

    quote_id: str
    revision: int
    account_id: str
    lines: list[QuoteLine]
    discount_pct: Decimal
    region: str | None
    catalog_version: str
    price_request: PriceRequest | None
    price_fingerprint: str | None
    changes: list[ChangeBilling] = Field(default_factory=list)

    def fingerprint(self) -> str:
        return fingerprint(self)


class QuoteEvent(DomainEvent):
    aggregate: ClassVar[str] = "quote"
    quote_id: str
    revision: int

    def subject(self) -> str:
        return f"quote/{self.quote_id}"


class QuoteCreated(QuoteEvent, OmitsDefaults):
    type_name: ClassVar[str] = "created"
    omit_when_default: ClassVar[frozenset[str]] = frozenset({"requester_role"})
    account_id: str
    requester: str
    lines: list[QuoteLine]
    discount_pct: Decimal
    region: str | None = None
    currency: str | None = None
    channel: str | None = None
    segment: str | None = None
    catalog_version: str
    requester_role: str | None = None
    opportunity_id: str | None = None
    cloned_from: str | None = None
    eligibility: str = "ELIGIBLE"
    required_actions: list[str] = Field(default_factory=list)


class QuotePriced(QuoteEvent, OmitsDefaults):
    type_name: ClassVar[str] = "priced"
    omit_when_default: ClassVar[frozenset[str]] = frozenset({"approval_chain", "authority_trigger"})
    price_request: PriceRequest  # exactly what was priced, so it can be priced again
    price: PriceResult
    price_fingerprint: str
    approval_required: bool
    required_role: str | None = None
    # Written only when the chain is more than the one step ``required_role``.
    approval_chain: list[str] = Field(default_factory=list)
    # A discount beyond the requester's own authority (the policy's discount_authority).
    authority_trigger: ApprovalTrigger | None = None

    @property
    def chain(self) -> list[str]:
        if self.approval_chain:
            return list(self.approval_chain)
        return [self.required_role] if self.approval_required and self.required_role else []


class QuoteSubmittedForApproval(QuoteEvent):
    type_name: ClassVar[str] = "submitted_for_approval"
    requester: str
    required_role: str
    snapshot_fingerprint: str
    policy_version: str


class _ApprovalDecision(QuoteEvent, OmitsDefaults):
    """A step of the approval chain approved: who, in which role, under which policy."""

    omit_when_default: ClassVar[frozenset[str]] = frozenset({"step", "steps", "on_behalf_of"})
    approver: str
    role: str
    requester: str
    reason: str = ""
    snapshot_fingerprint: str
    policy_version: str
    step: int = 1
    steps: int = 1
    on_behalf_of: str | None = None


class QuoteApproved(_ApprovalDecision):
    """The last step of the approval chain approved: the quote is approved."""

    type_name: ClassVar[str] = "approved"


class QuoteApprovalStepApproved(_ApprovalDecision):
    """An earlier step of a multi-step chain approved; the next step is still to decide."""

    type_name: ClassVar[str] = "approval_step_approved"
    omit_when_default: ClassVar[frozenset[str]] = frozenset({"on_behalf_of"})  # a new fact


class QuoteApprovalRefused(QuoteEvent, OmitsDefaults):
    """An approval or rejection by someone without the authority for it: recorded as
    evidence (who tried, claiming which role, why not), it changes nothing else."""

    type_name: ClassVar[str] = "approval_refused"
    omit_when_default: ClassVar[frozenset[str]] = frozenset({"on_behalf_of"})
    approver: str
    role: str
    step: int
    decision: str  # "approve" or "reject"
    reason: str
    policy_version: str
    on_behalf_of: str | None = None


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
    snapshot: CommercialSnapshot
    snapshot_fingerprint: str
    price_fingerprint: str
    approval_required: bool
    approval_snapshot_fingerprint: str | None = None
    proposal_sha256: str | None = None  # the presented proposal accepted (None: not presented)
    valid_until: datetime | None = None
    price_book_fingerprint: str = ""  # the pricing rules in force at acceptance


class QuoteConvertedToOrder(QuoteEvent):
    type_name: ClassVar[str] = "converted_to_order"
    order_id: str
    idempotency_key: str
    snapshot_fingerprint: str


class QuoteCancelled(QuoteEvent):
    type_name: ClassVar[str] = "cancelled"
    reason: str = ""


class QuotePresented(QuoteEvent):
    """The proposal was rendered and presented; its hash is what an acceptance names."""

    type_name: ClassVar[str] = "presented"
    proposal_sha256: str
    proposal_format: str
    snapshot_fingerprint: str
    presented_at: datetime
    valid_until: datetime
    policy_version: str


class QuoteExpired(QuoteEvent):
    type_name: ClassVar[str] = "expired"
    valid_until: datetime


class QuoteSuperseded(QuoteEvent):
    type_name: ClassVar[str] = "superseded"
    superseded_by: str
    opportunity_id: str | None = None
    reason: str = ""


class QuoteApprovalEscalated(QuoteEvent, OmitsDefaults):
    """An approval case opened for an overdue decision: it has an owner now, and under a
    policy with an escalation role, that role may decide the overdue step too."""

    type_name: ClassVar[str] = "approval_escalated"
    omit_when_default: ClassVar[frozenset[str]] = frozenset({"escalated_to", "policy_version"})
    owner: str
    required_role: str
    reason: str = ""
    escalated_to: str | None = None
    policy_version: str | None = None


# ------------------------------------------------------------------------------ state


class Quote(BaseModel):
    """Current state of one quote, rebuilt from its events by ``evolve``.

    Snapshots are kept as the typed models the events carry: deciding on a quote never
    re-parses its price or approval.
    """

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
    price_request: PriceRequest | None = None
    price: PriceResult | None = None
    price_fingerprint: str | None = None
    approval_required: bool = False
    required_role: str | None = None
    requester_role: str | None = None
    approval_chain: list[str] = Field(default_factory=list)
    approval_triggers: list[ApprovalTrigger] = Field(default_factory=list)
    step_approvals: list[QuoteApproved | QuoteApprovalStepApproved] = Field(default_factory=list)
    escalated_to: str | None = None
    approval: QuoteApproved | None = None
    accepted_snapshot: CommercialSnapshot | None = None
    accepted_snapshot_fingerprint: str | None = None
    order_id: str | None = None
    conversion_key: str | None = None
    opportunity_id: str | None = None
    cloned_from: str | None = None
    eligibility: str = "ELIGIBLE"
    required_actions: list[str] = Field(default_factory=list)
    proposal_sha256: str | None = None
    presented_at: datetime | None = None
    valid_until: datetime | None = None
    accepted_proposal_sha256: str | None = None
    accepted_price_book_fingerprint: str | None = None
    superseded_by: str | None = None


@dataclass(frozen=True)
class QuoteServices:
    """What quote decisions consult: the published catalog and the policies in force."""

    catalog: Catalog
    pricing_policy: PricingPolicy = field(default_factory=PricingPolicy)
    approval_policy: ApprovalPolicy = field(default_factory=ApprovalPolicy)
    # A price computed under a catalog version no longer in force is refused at
    # acceptance (turning it off is the misconfiguration that sells at yesterday's price).
    refuse_stale_prices: bool = True
    # Pricing is down: quotes cannot be priced (and nobody guesses a price meanwhile).
    pricing_available: bool = True
    # Validity, customer facts, eligibility answers and conversion guards.
    quote_policy: QuotePolicy = field(default_factory=QuotePolicy)
    # What customers really have (read only here): change lines are judged and priced
    # against it, and eligibility reads an account's installed offerings from it. The
    # runtime that owns it keeps it current; empty by default (new sales only).
    installed_base: InstalledBase = field(default_factory=InstalledBase)
    # What each customer's agreement says about changes (early termination, suspension,
    # renewal); copied into the price request of every change.
    contract_terms: ContractBook = field(default_factory=ContractBook)

    def price(self, request: PriceRequest) -> PriceResult:
        """``price_quote`` of ``request`` against this catalog and these policies."""
        if not self.pricing_available:
            raise PricingUnavailable("pricing is unavailable: no price is guessed, try later")
        return price_quote(self.catalog, request, self.pricing_policy, self.approval_policy)

    def admit(self, request: PriceRequest) -> None:
        """Refuse, at the door, what pricing would refuse for the request's content.

        The discount within policy, the currency's rounding known, and the configuration
        valid on the business date: the questions that do not need a price. A quote is
        priced once, by ``PriceQuote``.
        """
        d = request.discount_pct
        limit = self.pricing_policy.max_discount_pct
        if not d.is_finite() or d < 0 or d > limit:
            raise PricingError(
                f"discount_pct {d} is outside 0..{limit} allowed by {self.pricing_policy.version}"
            )
        if request.changes_assets:
            violations = check_change_configuration(
                self.catalog,
                request.lines,
                request.business_date,
                assets=request.assets,
                installed=request.installed_offerings,
            )
        else:
            violations = check_configuration(self.catalog, request.lines, request.business_date)
        if violations:
            raise PricingError(
                f"the configuration is not valid against catalog {self.catalog.id} "
                f"{self.catalog.version}",
                violations,
            )

    def lines_for(
        self, account_id: str, lines: list[QuoteLine], business_date: date
    ) -> list[QuoteLine]:
        """The lines a quote stores: every element pinned to a version, change lines
        judged against the installed base (see :meth:`judge_changes`).

        A change line that names its asset's offering by stable id means the version the
        asset runs (moving to another version is an upgrade that names it), so it is
        pinned to that version, not to the one on sale today.
        """
        base = self.installed_base
        kept = []
        for line in lines:
            asset = base.get(line.asset_id) if line.asset_id and line.action != "add" else None
            if asset is not None and line.offering == stable_id(asset.offering):
                line = line.model_copy(update={"offering": asset.offering})
            kept.append(line)
        pinned = resolve_line_versions(self.catalog, kept, business_date)
        return self.judge_changes(account_id, pinned, business_date)

    def judge_changes(
        self, account_id: str, lines: list[QuoteLine], business_date: date
    ) -> list[QuoteLine]:
        """Refuse change lines the installed base says cannot go ahead (every reason at
        once); return the lines with each change pinned to the asset version it is
        quoted against, so the order later acts on exactly that version."""
        if not any(line.changes_asset for line in lines):
            return lines
        base = self.installed_base
        refusals = check_change_lines(self.catalog, base, account_id, lines, business_date)
        if refusals:
            raise ChangeRefused(refusals)
        pinned = []
        for line in lines:
            asset = base.get(line.asset_id) if line.asset_id and line.action != "add" else None
            if asset is not None and line.asset_version is None:
                line = line.model_copy(update={"asset_version": asset.version})
            pinned.append(line)
        return pinned

    def customer(self, command: CreateQuote) -> CustomerContext:
        """The facts of the customer a new quote is for (see :meth:`customer_of`)."""
        return self.customer_of(
            command.account_id, command.region, command.channel, command.segment
        )

    def customer_of(
        self, account_id: str, region: str | None, channel: str | None, segment: str | None
    ) -> CustomerContext:
        """The customer's facts; the installed base, when it knows the account, says
        which offerings it really has (it wins over the policy's list)."""
        known = self.quote_policy.customer(account_id, region, channel, segment)
        owned = installed_offerings(self.installed_base, account_id)
        if owned is None:
            return known
        return known.model_copy(update={"installed_assets": owned})


class ChangeRefused(DomainError):
    """Change lines the installed base refuses: each reason with its line's path."""

    code = "change_refused"

    def __init__(self, refusals: list[ChangeRefusal]) -> None:
        self.refusals = list(refusals)
        super().__init__(
            "the change cannot go ahead: "
            + "; ".join(f"{r.path} ({r.code}): {r.message}" for r in self.refusals)
        )


class AlreadyConverted(GuardFailed):
    code = "already_converted"


class UnknownQuote(GuardFailed):
    code = "unknown_quote"


class PricingUnavailable(DomainError):
    code = "pricing_unavailable"


class DiscountBeyondAuthority(GuardFailed):
    """The requester may not give this discount (and the policy refuses rather than asks)."""

    code = "discount_beyond_authority"


class StaleApprovalPolicy(GuardFailed):
    """The price's approvals were worked out under a policy version no longer in force."""

    code = "stale_approval_policy"


def _authority(
    policy: ApprovalPolicy, requester_role: str | None, discount: Decimal
) -> ApprovalTrigger | None:
    try:
        return authority_trigger(policy, requester_role, discount)
    except BeyondAuthority as exc:
        raise DiscountBeyondAuthority(str(exc)) from None


class StalePrice(GuardFailed):
    """The price was computed under a catalog version no longer in force: re-quote."""

    code = "stale_price"


def commercial_snapshot(state: Quote) -> CommercialSnapshot:
    """The commercially material content of the quote as it stands."""
    changes = state.price.changes if state.price is not None else []
    return CommercialSnapshot(
        changes=[c.billing() for c in changes],
        quote_id=state.quote_id,
        revision=state.revision,
        account_id=state.account_id,
        lines=state.lines,
        discount_pct=state.discount_pct,
        region=state.region,
        catalog_version=state.catalog_version,
        price_request=state.price_request,
        price_fingerprint=state.price_fingerprint,
    )


def price_request_for(
    state: Quote | CreateQuote, ctx: Context, services: QuoteServices | None = None
) -> PriceRequest:
    """The request pricing sees: the quote's content and context at today's business date.

    The business date comes from the context (virtual time in the sim), never the clock.
    When the lines change installed assets (and ``services`` are given), the request
    also states each asset's terms and the account's contract terms: the change is
    priced from the request alone.
    """
    changes: dict[str, Any] = {}
    if services is not None and any(line.action in CHANGE_ACTIONS for line in state.lines):
        assets = assets_priced(services.installed_base, state.account_id, state.lines)
        if assets:
            changes["assets"] = assets
        changes["contract_terms"] = services.contract_terms.for_account(state.account_id)
        base = services.installed_base
        changed = [line.asset_id for line in state.lines if line.changes_asset and line.asset_id]
        installed = installed_outside(account_offerings(base, state.account_id), base, changed)
        if installed:
            changes["installed_offerings"] = installed
    return PriceRequest(
        **changes,
        lines=state.lines,
        discount_pct=state.discount_pct,
        region=state.region,
        currency=state.currency,
        channel=state.channel,
        segment=state.segment,
        account_id=state.account_id,
        business_date=ctx.now.date(),
    )


# ----------------------------------------------------------------------------- deciding

# The fact each command would establish: its legality is looked up in QUOTE_LIFECYCLE.
COMMAND_FACTS: dict[str, str] = {
    "PriceQuote": QuotePriced.type_name,
    "SubmitQuoteForApproval": QuoteSubmittedForApproval.type_name,
    "ApproveQuote": QuoteApproved.type_name,  # or a step of it, or its refusal
    "RejectQuote": QuoteRejected.type_name,
    "ReviseQuote": QuoteRevised.type_name,
    "AcceptQuote": QuoteAccepted.type_name,
    "ConvertQuoteToOrder": QuoteConvertedToOrder.type_name,
    "CancelQuote": QuoteCancelled.type_name,
    "EscalateApproval": QuoteApprovalEscalated.type_name,
    "PresentQuote": QuotePresented.type_name,
    "ExpireQuote": QuoteExpired.type_name,
    "SupersedeQuote": QuoteSuperseded.type_name,
}


def _create(command: CreateQuote, ctx: Context, services: QuoteServices) -> list[QuoteEvent]:
    # Quotes name exact catalog versions: pin every element at today's business date.
    day = ctx.now.date()
    lines = services.lines_for(command.account_id, command.lines, day)
    command = command.model_copy(update={"lines": lines})
    services.admit(price_request_for(command, ctx, services))
    _authority(services.approval_policy, command.requester_role, command.discount_pct)
    answer = ask_eligibility(
        services.catalog,
        command.lines,
        services.customer(command),
        services.quote_policy,
        ctx.now,
    )
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
            requester_role=command.requester_role,
            opportunity_id=command.opportunity_id,
            cloned_from=command.cloned_from,
            eligibility=answer.status.value,
            required_actions=answer.required_actions,
        )
    ]


def _price(
    state: Quote, command: PriceQuote, ctx: Context, services: QuoteServices
) -> list[QuoteEvent]:
    # The asset may have moved since the quote was made (another order changed it, or
    # holds it now): a change is priced only against the version it was quoted on.
    services.judge_changes(state.account_id, state.lines, ctx.now.date())
    request = price_request_for(state, ctx, services)
    result = services.price(request)
    policy = services.approval_policy
    beyond = _authority(policy, state.requester_role, state.discount_pct)
    triggers = [*result.approval_triggers, *([beyond] if beyond else [])]
    chain = approval_chain(policy, triggers)
    role = highest_required_role(policy, triggers)
    return [
        QuotePriced(
            quote_id=state.quote_id,
            revision=state.revision,
            price_request=request,
            price=result,
            price_fingerprint=result.fingerprint,
            approval_required=bool(triggers),
            required_role=role,
            approval_chain=chain if chain != ([role] if role else []) else [],
            authority_trigger=beyond,
        )
    ]


def _submit(
    state: Quote, command: SubmitQuoteForApproval, ctx: Context, services: QuoteServices
) -> list[QuoteEvent]:
    if not state.approval_required:
        raise GuardFailed(f"quote {state.quote_id} needs no approval at its current price")
    return [
        QuoteSubmittedForApproval(
            quote_id=state.quote_id,
            revision=state.revision,
            requester=state.requester,
            required_role=state.required_role or "",
            snapshot_fingerprint=commercial_snapshot(state).fingerprint(),
            policy_version=services.approval_policy.version,
        )
    ]


def _decide_approval(
    state: Quote, command: ApproveQuote | RejectQuote, ctx: Context, services: QuoteServices
) -> list[QuoteEvent]:
    """One step of the chain decided, or the attempt recorded as refused.

    The chain was fixed when the quote was priced, under the policy version its triggers
    name; a decision under another version is refused (price it again). Segregation of
    duties (the requester, under any spelling or through a delegate, never approves; no
    one approves two steps) and role authority are checked per step; a failed check is a
    recorded ``approval_refused`` fact, not a silent no.
    """
    policy = services.approval_policy
    triggers = state.approval_triggers
    versions = {t.rule_version for t in triggers}
    if versions and versions != {policy.version}:
        raise StaleApprovalPolicy(
            f"quote {state.quote_id} was priced under approval policy "
            f"{', '.join(sorted(versions))}; {policy.version} is in force now: revise and "
            "price it again"
        )
    chain = state.approval_chain
    step = len(state.step_approvals) + 1
    earlier = tuple(
        who for a in state.step_approvals for who in (a.approver, a.on_behalf_of) if who
    )
    refusal = approval_refusal(
        policy,
        triggers,
        command.approver,
        command.role,
        state.requester,
        step_role=chain[step - 1] if step <= len(chain) else None,
        escalated_to=state.escalated_to,
        earlier_approvers=earlier,
        on_behalf_of=command.on_behalf_of,
        business_date=ctx.now.date(),
    )
    if refusal:
        return [
            QuoteApprovalRefused(
                quote_id=state.quote_id,
                revision=state.revision,
                approver=command.approver,
                role=command.role,
                step=step,
                decision="reject" if isinstance(command, RejectQuote) else "approve",
                reason=refusal,
                policy_version=policy.version,
                on_behalf_of=command.on_behalf_of,
            )
        ]
    if isinstance(command, RejectQuote):
        return [
            QuoteRejected(
                quote_id=state.quote_id,
                revision=state.revision,
                approver=command.approver,
                role=command.role,
                reason=command.reason,
            )
        ]
    steps = max(len(chain), 1)
    fact = QuoteApproved if step >= steps else QuoteApprovalStepApproved
    return [
        fact(
            quote_id=state.quote_id,
            revision=state.revision,
            approver=command.approver,
            role=command.role,
            requester=state.requester,
            reason=command.reason,
            snapshot_fingerprint=commercial_snapshot(state).fingerprint(),
            policy_version=policy.version,
            step=step,
            steps=steps,
            on_behalf_of=command.on_behalf_of,
        )
    ]


def _revise(
    state: Quote, command: ReviseQuote, ctx: Context, services: QuoteServices
) -> list[QuoteEvent]:
    lines = (
        services.lines_for(state.account_id, command.lines, ctx.now.date())
        if command.lines is not None
        else state.lines
    )
    if command.discount_pct is not None:
        _authority(services.approval_policy, state.requester_role, command.discount_pct)
    return [
        QuoteRevised(
            quote_id=state.quote_id,
            revision=state.revision + 1,
            previous_revision=state.revision,
            lines=lines,
            discount_pct=(
                command.discount_pct if command.discount_pct is not None else state.discount_pct
            ),
            reason=command.reason,
            invalidated_approval=state.approval is not None,
        )
    ]


def _accept(
    state: Quote, command: AcceptQuote, ctx: Context, services: QuoteServices
) -> list[QuoteEvent]:
    rev = state.revision
    if command.revision is not None and command.revision != rev:
        raise GuardFailed(f"quote {state.quote_id} is at revision {rev}, not {command.revision}")
    if state.status is S.PRICED and state.approval_required:
        raise GuardFailed(
            f"quote {state.quote_id} needs approval by {state.required_role} before acceptance"
        )
    stale = state.price is not None and state.price.catalog_version != services.catalog.version
    if stale and services.refuse_stale_prices:
        raise StalePrice(
            f"quote {state.quote_id} was priced under catalog version "
            f"{state.price.catalog_version}; version {services.catalog.version} is in force "
            "now: revise and price it again"
        )
    snapshot = commercial_snapshot(state)
    snapshot_fp = snapshot.fingerprint()
    approval_fp = state.approval.snapshot_fingerprint if state.approval else None
    if state.approval_required and approval_fp != snapshot_fp:
        raise GuardFailed(f"approval of quote {state.quote_id} does not match its content")
    _check_presented_proposal(state, command, ctx)
    return [
        QuoteAccepted(
            quote_id=state.quote_id,
            revision=rev,
            snapshot=snapshot,
            snapshot_fingerprint=snapshot_fp,
            price_fingerprint=state.price_fingerprint or "",
            approval_required=state.approval_required,
            approval_snapshot_fingerprint=approval_fp,
            proposal_sha256=state.proposal_sha256,
            valid_until=state.valid_until,
            price_book_fingerprint=price_book_fingerprint(services.catalog),
        )
    ]


def _check_presented_proposal(state: Quote, command: AcceptQuote, ctx: Context) -> None:
    """An acceptance binds to the proposal presented: still valid, still the content's.

    The document is rendered again from the quote as it stands; a hash that differs from
    the one presented (or from the one the customer names) means the customer would be
    accepting something they were not shown.
    """
    if state.status is not S.PRESENTED:
        if command.proposal_sha256 is not None:
            raise ProposalMismatch(
                f"quote {state.quote_id} has no presented proposal to accept: present it first"
            )
        return
    assert state.valid_until is not None and state.price is not None
    if ctx.now >= state.valid_until:
        raise OfferLapsed(
            f"quote {state.quote_id}: the offer lapsed at {iso(state.valid_until)}; "
            "clone or revise it for a new proposal"
        )
    current = proposal_sha256(
        render_proposal(commercial_snapshot(state), state.price, state.valid_until)
    )
    if current != state.proposal_sha256:
        raise ProposalMismatch(
            f"quote {state.quote_id}: its content no longer renders the presented proposal "
            f"{state.proposal_sha256} (now {current}): present it again"
        )
    if command.proposal_sha256 is not None and command.proposal_sha256 != state.proposal_sha256:
        raise ProposalMismatch(
            f"quote {state.quote_id}: the proposal accepted ({command.proposal_sha256}) is not "
            f"the one presented ({state.proposal_sha256})"
        )


def _convert(
    state: Quote, command: ConvertQuoteToOrder, ctx: Context, services: QuoteServices
) -> list[QuoteEvent]:
    refusal = conversion_refusal(
        state,
        ctx,
        services.catalog,
        services.quote_policy,
        services.customer_of(state.account_id, state.region, state.channel, state.segment),
    )
    if refusal is not None:
        raise refusal
    return [
        QuoteConvertedToOrder(
            quote_id=state.quote_id,
            revision=state.revision,
            order_id=command.order_id or ctx.ids.next("ord"),
            idempotency_key=command.idempotency_key,
            snapshot_fingerprint=state.accepted_snapshot_fingerprint or "",
        )
    ]


def _cancel(
    state: Quote, command: CancelQuote, ctx: Context, services: QuoteServices
) -> list[QuoteEvent]:
    return [QuoteCancelled(quote_id=state.quote_id, revision=state.revision, reason=command.reason)]


def _present(
    state: Quote, command: PresentQuote, ctx: Context, services: QuoteServices
) -> list[QuoteEvent]:
    if state.status is S.PRICED and state.approval_required:
        raise GuardFailed(
            f"quote {state.quote_id} needs approval by {state.required_role} before it is presented"
        )
    assert state.price is not None
    policy = services.quote_policy
    lapses = valid_until(policy, ctx.now, state.channel, state.segment)
    snapshot = commercial_snapshot(state)
    document = render_proposal(snapshot, state.price, lapses)
    return [
        QuotePresented(
            quote_id=state.quote_id,
            revision=state.revision,
            proposal_sha256=proposal_sha256(document),
            proposal_format=PROPOSAL_FORMAT,
            snapshot_fingerprint=snapshot.fingerprint(),
            presented_at=ctx.now,
            valid_until=lapses,
            policy_version=policy.version,
        )
    ]


def _expire(
    state: Quote, command: ExpireQuote, ctx: Context, services: QuoteServices
) -> list[QuoteEvent]:
    if state.valid_until is None or ctx.now < state.valid_until:
        lapses = iso(state.valid_until) if state.valid_until else "never (not presented)"
        raise GuardFailed(f"quote {state.quote_id} is still valid: it lapses at {lapses}")
    return [
        QuoteExpired(
            quote_id=state.quote_id, revision=state.revision, valid_until=state.valid_until
        )
    ]


def _supersede(
    state: Quote, command: SupersedeQuote, ctx: Context, services: QuoteServices
) -> list[QuoteEvent]:
    if command.superseded_by == state.quote_id:
        raise GuardFailed(f"quote {state.quote_id} cannot supersede itself")
    if state.opportunity_id is not None and command.opportunity_id != state.opportunity_id:
        raise GuardFailed(
            f"quote {command.superseded_by} is for opportunity {command.opportunity_id}, "
            f"not {state.opportunity_id}: it does not supersede quote {state.quote_id}"
        )
    return [
        QuoteSuperseded(
            quote_id=state.quote_id,
            revision=state.revision,
            superseded_by=command.superseded_by,
            opportunity_id=state.opportunity_id,
            reason=command.reason,
        )
    ]


def clone_command(
    source: Quote, quote_id: str, requester: str, opportunity_id: str | None = None
) -> CreateQuote:
    """A new quote copied from ``source``: new id, revision 1, to be priced afresh.

    The copy carries the commercial content only (lines, discount, region, currency,
    channel, segment); its price, approval and proposal are its own, so it is priced at
    the business date it is priced on, never at the source's.
    """
    if quote_id == source.quote_id:
        raise GuardFailed(f"a clone of quote {source.quote_id} needs a new id")
    return CreateQuote(
        quote_id=quote_id,
        account_id=source.account_id,
        requester=requester,
        lines=source.lines,
        discount_pct=source.discount_pct,
        region=source.region,
        currency=source.currency,
        channel=source.channel,
        segment=source.segment,
        opportunity_id=opportunity_id if opportunity_id is not None else source.opportunity_id,
        cloned_from=source.quote_id,
    )


def _escalate(
    state: Quote, command: EscalateApproval, ctx: Context, services: QuoteServices
) -> list[QuoteEvent]:
    """The overdue approval gets an owner: the policy's escalation owner when the policy
    names an escalation (and its role may then decide the step), else the command's."""
    escalation = services.approval_policy.escalation
    return [
        QuoteApprovalEscalated(
            quote_id=state.quote_id,
            revision=state.revision,
            owner=escalation.owner if escalation is not None else command.owner,
            required_role=state.required_role or "",
            reason=command.reason,
            escalated_to=escalation.to_role if escalation is not None else None,
            policy_version=services.approval_policy.version if escalation is not None else None,
        )
    ]


_HANDLERS: dict[type[QuoteCommand], Callable[..., list[QuoteEvent]]] = {
    PriceQuote: _price,
    SubmitQuoteForApproval: _submit,
    ApproveQuote: _decide_approval,
    RejectQuote: _decide_approval,
    ReviseQuote: _revise,
    AcceptQuote: _accept,
    ConvertQuoteToOrder: _convert,
    CancelQuote: _cancel,
    EscalateApproval: _escalate,
    PresentQuote: _present,
    ExpireQuote: _expire,
    SupersedeQuote: _supersede,
}


def decide(
    state: Quote | None, command: QuoteCommand, ctx: Context, services: QuoteServices
) -> list[QuoteEvent]:
    """The facts that executing ``command`` against ``state`` establishes (maybe none)."""
    if isinstance(command, CreateQuote):
        if state is not None:
            raise GuardFailed(f"quote {command.quote_id} already exists")
        return _create(command, ctx, services)
    if state is None:
        raise UnknownQuote(f"quote {command.quote_id} does not exist")
    if isinstance(command, ConvertQuoteToOrder) and state.status is S.CONVERTED:
        if command.idempotency_key == state.conversion_key:
            return []  # replay of the same conversion: same order, no new fact
        raise AlreadyConverted(
            f"quote {state.quote_id} revision {state.revision} was already converted to "
            f"order {state.order_id} under another idempotency key"
        )
    if isinstance(command, ConvertQuoteToOrder) and state.status is S.EXPIRED:
        lapsed = iso(state.valid_until) if state.valid_until else "its valid-until"
        raise OfferLapsed(f"quote {state.quote_id} expired at {lapsed}: it cannot convert")
    name = type(command).__name__
    QUOTE_LIFECYCLE.next_state(state.status, COMMAND_FACTS[name], action=name)
    return _HANDLERS[type(command)](state, command, ctx, services)


# ----------------------------------------------------------------------------- evolving


def _changes(state: Quote, event: QuoteEvent) -> dict[str, Any]:
    """What a fact changes besides the status (which the lifecycle table gives)."""
    if isinstance(event, QuotePriced):
        return {
            "price_request": event.price_request,
            "price": event.price,
            "price_fingerprint": event.price_fingerprint,
            "approval_required": event.approval_required,
            "required_role": event.required_role,
            "approval_chain": event.chain,
            "approval_triggers": [
                *event.price.approval_triggers,
                *([event.authority_trigger] if event.authority_trigger else []),
            ],
            "step_approvals": [],
            "escalated_to": None,
            "approval": None,
        }
    if isinstance(event, QuoteApprovalStepApproved):
        return {"step_approvals": [*state.step_approvals, event]}
    if isinstance(event, QuoteApproved):
        return {"approval": event, "step_approvals": [*state.step_approvals, event]}
    if isinstance(event, QuoteApprovalEscalated):
        return {"escalated_to": event.escalated_to}
    if isinstance(event, QuoteRevised):
        return {
            "revision": event.revision,
            "lines": event.lines,
            "discount_pct": event.discount_pct,
            "price_request": None,
            "price": None,
            "price_fingerprint": None,
            "approval_required": False,
            "required_role": None,
            "approval_chain": [],
            "approval_triggers": [],
            "step_approvals": [],
            "escalated_to": None,
            "approval": None,
            "proposal_sha256": None,
            "presented_at": None,
            "valid_until": None,
        }
    if isinstance(event, QuoteAccepted):
        return {
            "accepted_snapshot": event.snapshot,
            "accepted_snapshot_fingerprint": event.snapshot_fingerprint,
            "accepted_proposal_sha256": event.proposal_sha256,
            "accepted_price_book_fingerprint": event.price_book_fingerprint,
        }
    if isinstance(event, QuoteConvertedToOrder):
        return {"order_id": event.order_id, "conversion_key": event.idempotency_key}
    return _lifecycle_changes(event)


def _lifecycle_changes(event: QuoteEvent) -> dict[str, Any]:
    """Presentation, expiry and supersession: what they change besides the status."""
    if isinstance(event, QuotePresented):
        return {
            "proposal_sha256": event.proposal_sha256,
            "presented_at": event.presented_at,
            "valid_until": event.valid_until,
        }
    if isinstance(event, QuoteSuperseded):
        return {"superseded_by": event.superseded_by}
    return {}


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
            requester_role=event.requester_role,
            opportunity_id=event.opportunity_id,
            cloned_from=event.cloned_from,
            eligibility=event.eligibility,
            required_actions=event.required_actions,
        )
    assert state is not None, f"{type(event).__name__} before QuoteCreated"
    status = QUOTE_LIFECYCLE.next_state(state.status, event.type_name)
    return state.model_copy(update={"status": status, **_changes(state, event)})


def execute(
    state: Quote | None, command: QuoteCommand, ctx: Context, services: QuoteServices
) -> tuple[Quote | None, list[QuoteEvent]]:
    """Decide, then fold the new facts into the state."""
    events = decide(state, command, ctx, services)
    for event in events:
        state = evolve(state, event)
    return state, events


QUOTE_COMMANDS: dict[str, type[QuoteCommand]] = {
    cls.__name__: cls for cls in (CreateQuote, *_HANDLERS)
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
        QuoteApprovalEscalated,
        QuoteApprovalStepApproved,
        QuoteApprovalRefused,
        QuotePresented,
        QuoteExpired,
        QuoteSuperseded,
    )
}
