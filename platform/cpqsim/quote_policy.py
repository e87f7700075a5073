"""How long an offer holds, what is known about customers, and what conversion insists on.

A quote's validity is a commercial term: the seller's policy says for how long a
presented offer binds (per channel or segment when they differ), counted from the
business date the quote was presented, never from a wall clock. The same policy says
what to do when eligibility cannot be decided (refuse, or proceed with the missing facts
as required actions) and whether a price book change since acceptance forces a re-quote
at conversion.

Customer facts (region, segment, channel, credit, installed assets) are data the
scenario or the live platform provides per account: the core looks them up, it never
fetches them.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from cpqsim.eligibility import CustomerContext, EligibilityPolicy

__all__ = ["QuotePolicy", "valid_until"]


class QuotePolicy(BaseModel):
    """The seller's rules for quote validity, eligibility answers and conversion."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    version: str = Field(default="quote-policy-1", min_length=1, max_length=100)
    validity_days: int = Field(
        default=30, ge=0, le=3650, description="an offer holds through presented date + days"
    )
    validity_days_by_channel: dict[str, int] = Field(default_factory=dict, max_length=100)
    validity_days_by_segment: dict[str, int] = Field(default_factory=dict, max_length=100)
    validity_hours: float | None = Field(
        default=None,
        gt=0,
        le=24 * 3650,
        description="short-lived offers (spot prices): hours from presentation, overrides days",
    )
    unknown_eligibility: Literal["refuse", "proceed_with_actions"] = Field(
        default="proceed_with_actions",
        description="UNKNOWN eligibility: refuse the quote, or proceed with the missing "
        "facts as required actions",
    )
    requote_on_price_change: bool = Field(
        default=True,
        description="conversion refuses a quote whose price book changed since acceptance",
    )
    eligibility: EligibilityPolicy = Field(default_factory=EligibilityPolicy)
    accounts: dict[str, CustomerContext] = Field(
        default_factory=dict, max_length=100_000, description="customer facts per account id"
    )
    default_customer: CustomerContext | None = Field(
        default=None, description="facts of every account not listed in accounts"
    )

    def validity_for(self, channel: str | None, segment: str | None) -> int:
        """Days an offer holds: the channel's rule, else the segment's, else the default."""
        if channel is not None and channel in self.validity_days_by_channel:
            return self.validity_days_by_channel[channel]
        if segment is not None and segment in self.validity_days_by_segment:
            return self.validity_days_by_segment[segment]
        return self.validity_days

    def customer(
        self,
        account_id: str,
        region: str | None,
        channel: str | None,
        segment: str | None,
    ) -> CustomerContext:
        """What is known about the account; the quote's own region/channel/segment fill
        what the account data leaves unknown (account data wins where both speak)."""
        known = self.accounts.get(account_id) or self.default_customer or CustomerContext()
        return known.model_copy(
            update={
                "account_id": account_id,
                "region": known.region if known.region is not None else region,
                "channel": known.channel if known.channel is not None else channel,
                "segment": known.segment if known.segment is not None else segment,
            }
        )


def valid_until(
    policy: QuotePolicy, presented_at: datetime, channel: str | None, segment: str | None
) -> datetime:
    """The instant a presented offer lapses (exclusive).

    With days: the offer holds through the business date of presentation plus the
    policy's days, so it lapses at the next midnight UTC (presented on 5 January with
    30 days: valid through 4 February, lapses at 5 February 00:00). With hours: exactly
    that many hours after presentation.
    """
    if policy.validity_hours is not None:
        return presented_at + timedelta(hours=policy.validity_hours)
    last_day: date = presented_at.date() + timedelta(days=policy.validity_for(channel, segment))
    return datetime.combine(last_day + timedelta(days=1), time(0), tzinfo=presented_at.tzinfo)
