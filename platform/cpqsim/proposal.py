"""The proposal: what the customer is shown, rendered deterministically, and its hash.

Presenting a quote renders this plain-text document from the quote's commercial
snapshot and its price, and records the document's sha256 in the ``presented`` fact.
The customer accepts *that* document: an acceptance names its hash, and anyone can
render the stored snapshot again later and compare hashes (the evidence package does).

Only customer-facing fields are rendered, chosen one by one (never a whole model
dumped), so internal figures such as cost or margin can never leak into a proposal even
when pricing starts to carry them. Rendering is a pure function of its inputs: same
snapshot, same price, same validity, same bytes.

A quote that changes installed products also shows, per change line, the asset before
and after the change (offering and plan, quantity, status, monthly charge) and what the
change costs: the billing month it falls in, the credit for its unused part, the new
charge for the same days, an early-termination charge, what is due now, and the term
after the change (a renewal's new term and its value). Why: the lines of such a quote
price the *new* configuration, which is not what the customer pays for an upgrade
mid-term. A quote without changes renders exactly as before (its bytes are bound by
earlier acceptances and evidence).
"""

from __future__ import annotations

import hashlib
from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING

from cpqsim.change_view import ACTION_NOUNS, ChangeSide, ChangeView, change_views
from cpqsim.context import iso
from cpqsim.pricing_change import PRICED_AS_CONFIGURATION

if TYPE_CHECKING:  # the quote module imports this one
    from cpqsim.pricing_result import ChangeBilling, PriceResult
    from cpqsim.quote import CommercialSnapshot

PROPOSAL_FORMAT = "text/plain; cpqsim-proposal=1"

#: Standing terms printed on every proposal (versioned with the format).
STANDARD_TERMS = (
    "Prices are in the currency stated and exclude taxes.",
    "Recurring charges are billed in advance for each period.",
    "This offer lapses at the instant stated under Validity unless accepted before it.",
)

#: Standing terms added to a proposal that changes installed products.
CHANGE_TERMS = (
    "A change takes effect on the date stated: the unused part of the billing month it "
    "falls in is credited and the new charge is billed for the same days.",
    "From the next billing date the monthly charge after the change is billed.",
)


def _amount(value: Decimal | None) -> str:
    return "-" if value is None else format(value, "f")


def _signed(value: Decimal) -> str:
    return format(value, "+f") if value else format(value, "f")


def _change_section(snapshot: CommercialSnapshot, price: PriceResult) -> list[str]:
    """Per change line: the asset before and after, then what the change costs."""
    assets = snapshot.price_request.assets if snapshot.price_request is not None else []
    views = change_views(snapshot.lines, assets, price.changes)
    out = ["", "Changes to installed products:"]
    for view, change in zip(views, price.changes, strict=True):
        out += _change_lines(view, change)
    out += [
        "",
        "Changes in all:",
        f"  due now: {_amount(price.change_due_total)} (a negative amount is a credit)",
        f"  monthly charges change by: {_signed(price.change_monthly_delta or Decimal(0))}",
    ]
    return out


def _side(label: str, side: ChangeSide | None) -> str:
    if side is None:
        return f"     {label} -"
    return f"     {label} {side.configuration()}, {side.status}: {_amount(side.monthly)} per month"


def _change_lines(view: ChangeView, change: ChangeBilling) -> list[str]:
    out = [
        f"  {view.line + 1}. {ACTION_NOUNS.get(view.action, view.action)} of asset "
        f"{view.asset_id} (version {view.asset_version}), effective {change.effective_date}",
        _side("before:", view.before),
        _side("after: ", view.after),
    ]
    for name, old, new in view.changed_characteristics():
        out.append(f"     {name}: {old if old is not None else '-'} -> {new}")
    if change.term_months is not None and change.term_amount is not None:
        why = (
            ", co-terminated with the account's other subscriptions" if change.coterminated else ""
        )
        out.append(
            f"     renewal term {change.term_start}..{change.term_end}{why}: "
            f"{_amount(change.term_amount)} at {_amount(change.new_monthly)} per month"
        )
    if change.period_start is not None and change.period_end is not None:
        out.append(
            f"     billing month {change.period_start}..{change.period_end}: {change.days} of "
            f"{change.period_days} days from the change ({change.proration_basis})"
        )
    one_time = "early termination" if change.action == "disconnect" else "one-time"
    out.append(
        f"     credit {_amount(change.credit)}, charge {_amount(change.charge)}, "
        f"{one_time} {_amount(change.one_time)}; due now {_amount(change.due)}"
    )
    if change.action == "disconnect":
        out.append(f"     service ends {change.term_end}")
    elif change.term_months is None:
        end = change.term_end if change.term_end is not None else "month to month"
        out.append(f"     term after the change: {change.term_start}..{end}")
    return out


def render_proposal(snapshot: CommercialSnapshot, price: PriceResult, valid_until: datetime) -> str:
    """The proposal document of a priced snapshot, as text (UTF-8, ``\\n`` line ends)."""
    out = [
        f"PROPOSAL for quote {snapshot.quote_id} revision {snapshot.revision}",
        f"Account: {snapshot.account_id}",
        f"Region: {snapshot.region or '-'}",
        f"Currency: {price.currency}",
        f"Catalog version: {snapshot.catalog_version}",
        f"Discount: {_amount(snapshot.discount_pct)}",
        "",
        "Lines:",
    ]
    changed = {c.line: c for c in price.changes}
    for n, line in enumerate(price.lines, start=1):
        head = f"  {n}. net {_amount(line.net_amount)} (list {_amount(line.list_amount)})"
        change = changed.get(n - 1)
        if change is not None:
            noun = ACTION_NOUNS.get(change.action, change.action)
            priced = (
                ", priced as its configuration after the change"
                if change.action in PRICED_AS_CONFIGURATION
                else ""
            )
            head += f": {noun} of asset {change.asset_id}{priced}; what it bills is under Changes"
        out.append(head)
        for charge in line.charges:
            period = f"/{charge.period}" if charge.period else ""
            term = f" for {charge.term_months} months" if charge.term_months else ""
            again = " (not charged for a change)" if change and charge.kind == "one_time" else ""
            out.append(
                f"     - {charge.item} {charge.kind}{period}: {charge.quantity} x "
                f"{_amount(charge.unit_amount)} = {_amount(charge.net_amount)}{term}{again}"
            )
    out += [
        "",
        "Totals (changes at the price of their configuration after the change):"
        if any(c.action in PRICED_AS_CONFIGURATION for c in price.changes)
        else "Totals:",
        f"  one-time: {_amount(price.one_time_total)}",
        *(
            f"  recurring per {period}: {_amount(amount)}"
            for period, amount in sorted(price.recurring_by_period.items())
        ),
        f"  usage (committed): {_amount(price.usage_total)}",
        f"  discount: {_amount(price.discount_total)}",
        f"  net total: {_amount(price.net_total)}",
        *(_change_section(snapshot, price) if price.changes else ()),
        "",
        f"Validity: this offer lapses at {iso(valid_until)}",
        "",
        "Terms:",
        *(f"  - {term}" for term in STANDARD_TERMS),
        *(f"  - {term}" for term in (CHANGE_TERMS if price.changes else ())),
        "",
        f"Price reference: {price.fingerprint}",
    ]
    return "\n".join(out) + "\n"


def proposal_sha256(document: str) -> str:
    """The hash an acceptance refers to: sha256 of the document's UTF-8 bytes, in hex."""
    return hashlib.sha256(document.encode("utf-8")).hexdigest()
