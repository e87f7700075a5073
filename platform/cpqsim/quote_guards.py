"""Eligibility asked in the quote flow, and the guards a conversion must pass.

Quote creation and conversion both ask :mod:`cpqsim.eligibility` whether this customer
may have what the quote selects: NOT_ELIGIBLE refuses with the reasons;
CONDITIONALLY_ELIGIBLE proceeds and carries the required actions on the quote; UNKNOWN
follows the quote policy (refuse, or proceed with "provide <fact>" actions).

Conversion then refuses, each with its own code and reason: an expired offer, a price
book changed since acceptance (when the policy says re-quote), an approval that does
not match the accepted snapshot, an offering no longer orderable on the order date, a
customer no longer eligible. The guards read the accepted snapshot; none re-prices.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING

from pydantic import BaseModel, ConfigDict

from cpqsim.canonical import fingerprint
from cpqsim.catalog import Catalog
from cpqsim.configuration import QuoteLine, check_configuration, selected_items
from cpqsim.context import Context, iso
from cpqsim.eligibility import CustomerContext, Eligibility, evaluate_eligibility
from cpqsim.lifecycle import GuardFailed
from cpqsim.pricing_change import check_change_configuration
from cpqsim.quote_policy import QuotePolicy

if TYPE_CHECKING:  # the quote module imports this one
    from cpqsim.quote import Quote


class NotEligible(GuardFailed):
    code = "not_eligible"


class OfferLapsed(GuardFailed):
    code = "quote_expired"


class StalePriceFingerprint(GuardFailed):
    code = "stale_price_fingerprint"


class ApprovalMismatch(GuardFailed):
    code = "approval_mismatch"


class NotOrderable(GuardFailed):
    code = "not_orderable"


class ProposalMismatch(GuardFailed):
    code = "proposal_mismatch"


class EligibilityAnswer(BaseModel):
    """The verdict over every selected element, with what must happen first."""

    model_config = ConfigDict(frozen=True)

    status: Eligibility
    required_actions: list[str]
    reasons: list[str]


def ask_eligibility(
    catalog: Catalog,
    lines: list[QuoteLine],
    customer: CustomerContext,
    policy: QuotePolicy,
    now: datetime,
) -> EligibilityAnswer:
    """Ask eligibility for every element the lines select, at ``now``'s business date.

    Raises :class:`NotEligible` (with every reason) on NOT_ELIGIBLE, and on UNKNOWN
    when the policy says refuse. Elements that do not resolve are the configuration
    check's business, not eligibility's.
    """
    day = now.date()
    statuses: list[Eligibility] = []
    actions: set[str] = set()
    reasons: list[str] = []
    missing: set[str] = set()
    seen: set[str] = set()
    for key, _ in selected_items(lines):
        found = catalog.resolve(key, day)
        if found is None or found.version_id in seen:
            continue
        seen.add(found.version_id)
        result = evaluate_eligibility(
            catalog,
            found.version_id,
            customer,
            policy.eligibility,
            business_date=day,
            evaluated_at=now,
        )
        statuses.append(result.status)
        actions.update(result.required_actions)
        reasons.extend(result.reasons)
        missing.update(result.missing_facts)
    status = next(
        (
            s
            for s in (
                Eligibility.NOT_ELIGIBLE,
                Eligibility.UNKNOWN,
                Eligibility.CONDITIONALLY_ELIGIBLE,
            )
            if s in statuses
        ),
        Eligibility.ELIGIBLE,
    )
    who = f"account {customer.account_id}"
    if status is Eligibility.NOT_ELIGIBLE:
        raise NotEligible(f"{who} is not eligible: " + "; ".join(reasons))
    if status is Eligibility.UNKNOWN:
        if policy.unknown_eligibility == "refuse":
            raise NotEligible(
                f"eligibility of {who} is unknown and policy {policy.version} refuses: "
                + "; ".join(reasons)
            )
        actions.update(f"provide {fact}" for fact in missing)
    return EligibilityAnswer(status=status, required_actions=sorted(actions), reasons=reasons)


# Pricing rules are a part of a catalog version; every acceptance and conversion asks
# for the same version's hash, so it is computed once per catalog content.
_PRICE_BOOK_FINGERPRINTS: dict[str, str] = {}


def price_book_fingerprint(catalog: Catalog) -> str:
    """sha256 of the catalog's pricing rules: equal means every price input is equal."""
    key = catalog.fingerprint
    found = _PRICE_BOOK_FINGERPRINTS.get(key)
    if found is None:
        if len(_PRICE_BOOK_FINGERPRINTS) > 64:
            _PRICE_BOOK_FINGERPRINTS.clear()
        found = _PRICE_BOOK_FINGERPRINTS[key] = fingerprint(catalog.pricing)
    return found


# ------------------------------------------------------------------ conversion guards

#: ``guard(quote, ctx, catalog, policy, customer)``: ``customer`` is what is known about
#: the account now (None: ask the policy).
ConversionGuard = Callable[
    ["Quote", Context, Catalog, QuotePolicy, CustomerContext | None], GuardFailed | None
]


def _not_expired(
    quote: Quote,
    ctx: Context,
    catalog: Catalog,
    policy: QuotePolicy,
    customer: CustomerContext | None = None,
) -> GuardFailed | None:
    if quote.valid_until is not None and ctx.now >= quote.valid_until:
        return OfferLapsed(
            f"quote {quote.quote_id}: the offer lapsed at {iso(quote.valid_until)}, before the "
            f"order date {iso(ctx.now)}"
        )
    return None


def _price_book_unchanged(
    quote: Quote,
    ctx: Context,
    catalog: Catalog,
    policy: QuotePolicy,
    customer: CustomerContext | None = None,
) -> GuardFailed | None:
    accepted = quote.accepted_price_book_fingerprint
    if not policy.requote_on_price_change or not accepted:
        return None
    now = price_book_fingerprint(catalog)
    if accepted != now:
        return StalePriceFingerprint(
            f"quote {quote.quote_id}: the price book changed since acceptance (accepted under "
            f"{accepted[:12]}, now {now[:12]} in catalog {catalog.version}) and policy "
            f"{policy.version} says re-quote"
        )
    return None


def _approval_matches(
    quote: Quote,
    ctx: Context,
    catalog: Catalog,
    policy: QuotePolicy,
    customer: CustomerContext | None = None,
) -> GuardFailed | None:
    if not quote.approval_required:
        return None
    approved = quote.approval.snapshot_fingerprint if quote.approval is not None else None
    if approved != quote.accepted_snapshot_fingerprint:
        return ApprovalMismatch(
            f"quote {quote.quote_id}: the approval ({approved}) does not match the accepted "
            f"snapshot ({quote.accepted_snapshot_fingerprint})"
        )
    return None


def _orderable(
    quote: Quote,
    ctx: Context,
    catalog: Catalog,
    policy: QuotePolicy,
    customer: CustomerContext | None = None,
) -> GuardFailed | None:
    snapshot = quote.accepted_snapshot
    if snapshot is None:
        return None
    day = ctx.now.date()
    if any(line.changes_asset for line in snapshot.lines):
        # New-sale lines as a new order; a change to an asset as a change (a grandfathered
        # version may be amended; a disconnect configures nothing).
        request = snapshot.price_request
        violations = check_change_configuration(
            catalog,
            snapshot.lines,
            day,
            new_sale="new_order",
            assets=request.assets if request else [],
            installed=request.installed_offerings if request else None,
        )
    else:
        violations = check_configuration(catalog, snapshot.lines, day, intent="new_order")
    if violations:
        return NotOrderable(
            f"quote {quote.quote_id} is not orderable on {ctx.now.date().isoformat()}: "
            + "; ".join(v.message for v in violations)
        )
    return None


def _still_eligible(
    quote: Quote,
    ctx: Context,
    catalog: Catalog,
    policy: QuotePolicy,
    customer: CustomerContext | None = None,
) -> GuardFailed | None:
    snapshot = quote.accepted_snapshot
    if snapshot is None:
        return None
    if customer is None:
        customer = policy.customer(quote.account_id, quote.region, quote.channel, quote.segment)
    try:
        ask_eligibility(catalog, snapshot.lines, customer, policy, ctx.now)
    except NotEligible as refusal:
        return refusal
    return None


#: Checked in this order; the first refusal is the answer.
CONVERSION_GUARDS: tuple[tuple[str, ConversionGuard], ...] = (
    ("not expired", _not_expired),
    ("price book unchanged since acceptance", _price_book_unchanged),
    ("approval matches the accepted snapshot", _approval_matches),
    ("orderable on the order date", _orderable),
    ("customer still eligible", _still_eligible),
)


def conversion_refusal(
    quote: Quote,
    ctx: Context,
    catalog: Catalog,
    policy: QuotePolicy,
    customer: CustomerContext | None = None,
) -> GuardFailed | None:
    """The first conversion guard the accepted quote fails, or None (``customer``: the
    account's facts as known now, installed assets included; None: the policy's)."""
    for _name, guard in CONVERSION_GUARDS:
        refusal = guard(quote, ctx, catalog, policy, customer)
        if refusal is not None:
            return refusal
    return None
