"""The proposal: what the customer is shown, rendered deterministically, and its hash.

Presenting a quote renders this plain-text document from the quote's commercial
snapshot and its price, and records the document's sha256 in the ``presented`` fact.
The customer accepts *that* document: an acceptance names its hash, and anyone can
render the stored snapshot again later and compare hashes (the evidence package does).

Only customer-facing fields are rendered, chosen one by one (never a whole model
dumped), so internal figures such as cost or margin can never leak into a proposal even
when pricing starts to carry them. Rendering is a pure function of its inputs: same
snapshot, same price, same validity, same bytes.
"""

from __future__ import annotations

import hashlib
from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING

from cpqsim.context import iso

if TYPE_CHECKING:  # the quote module imports this one
    from cpqsim.pricing_result import PriceResult
    from cpqsim.quote import CommercialSnapshot

PROPOSAL_FORMAT = "text/plain; cpqsim-proposal=1"

#: Standing terms printed on every proposal (versioned with the format).
STANDARD_TERMS = (
    "Prices are in the currency stated and exclude taxes.",
    "Recurring charges are billed in advance for each period.",
    "This offer lapses at the instant stated under Validity unless accepted before it.",
)


def _amount(value: Decimal | None) -> str:
    return "-" if value is None else format(value, "f")


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
    for n, line in enumerate(price.lines, start=1):
        out.append(f"  {n}. net {_amount(line.net_amount)} (list {_amount(line.list_amount)})")
        for charge in line.charges:
            period = f"/{charge.period}" if charge.period else ""
            term = f" for {charge.term_months} months" if charge.term_months else ""
            out.append(
                f"     - {charge.item} {charge.kind}{period}: {charge.quantity} x "
                f"{_amount(charge.unit_amount)} = {_amount(charge.net_amount)}{term}"
            )
    out += [
        "",
        "Totals:",
        f"  one-time: {_amount(price.one_time_total)}",
        *(
            f"  recurring per {period}: {_amount(amount)}"
            for period, amount in sorted(price.recurring_by_period.items())
        ),
        f"  usage (committed): {_amount(price.usage_total)}",
        f"  discount: {_amount(price.discount_total)}",
        f"  net total: {_amount(price.net_total)}",
        "",
        f"Validity: this offer lapses at {iso(valid_until)}",
        "",
        "Terms:",
        *(f"  - {term}" for term in STANDARD_TERMS),
        "",
        f"Price reference: {price.fingerprint}",
    ]
    return "\n".join(out) + "\n"


def proposal_sha256(document: str) -> str:
    """The hash an acceptance refers to: sha256 of the document's UTF-8 bytes, in hex."""
    return hashlib.sha256(document.encode("utf-8")).hexdigest()
