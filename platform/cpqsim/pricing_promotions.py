"""Which promotions apply to a quote line, and why the others do not.

Promotions conflict in practice (a campaign discount, a partner promotion and a seasonal
offer on the same product), and a seller must be able to answer *"why didn't I get the
spring promotion?"*. Resolution is therefore a pure function of data, independent of the
order of the rules in the file, and it returns a reason for every promotion it looked at:

1. **Candidates** are promotions naming an offering selected on the line.
2. **In force** on the business date (end dates exclusive) — else "expired" / "not yet".
3. **Eligible**: region, channel, segment, minimum line quantity, required offerings
   anywhere in the quote — else the first failing condition is the reason.
4. **Ranked** by priority (higher first), then id, and accepted greedily:
   an ``exclusive`` promotion only applies alone on its line; at most one promotion per
   ``stacking_group``; two promotions where either ``excludes`` the other never combine.
   The higher-ranked one always wins, and the loser's reason names the winner.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import NamedTuple

from cpqsim.pricebook import Promotion

__all__ = ["PromotionContext", "PromotionDecision", "resolve_promotions"]


@dataclass(frozen=True, slots=True)
class PromotionContext:
    """What eligibility is judged against (the request, the line, the whole quote)."""

    business_date: date
    region: str | None
    channel: str | None
    segment: str | None
    line_quantity: int
    quote_items: frozenset[str]


class PromotionDecision(NamedTuple):
    """One promotion considered for a line: applied or not, and why."""

    promotion: Promotion
    applied: bool
    reason: str


def _ineligible(p: Promotion, ctx: PromotionContext) -> str | None:
    if p.effective_to is not None and ctx.business_date >= p.effective_to:
        return (
            f"expired: in force until {p.effective_to} (exclusive), "
            f"business date {ctx.business_date}"
        )
    if ctx.business_date < p.effective_from:
        return f"not yet in force: starts {p.effective_from}, business date {ctx.business_date}"
    e = p.eligibility
    if e.regions is not None and ctx.region not in e.regions:
        return f"region {ctx.region!r} not in {e.regions}"
    if e.channels is not None and ctx.channel not in e.channels:
        return f"channel {ctx.channel!r} not in {e.channels}"
    if e.segments is not None and ctx.segment not in e.segments:
        return f"segment {ctx.segment!r} not in {e.segments}"
    if ctx.line_quantity < e.min_quantity:
        return f"line quantity {ctx.line_quantity} below minimum {e.min_quantity}"
    missing = [o for o in e.requires_offerings if o not in ctx.quote_items]
    if missing:
        return f"requires {', '.join(missing)} in the quote"
    return None


def resolve_promotions(
    candidates: list[Promotion], ctx: PromotionContext
) -> list[PromotionDecision]:
    """Every candidate with its decision: accepted ones first in application order,
    then the rejected ones in rank order (ranking: priority desc, id asc)."""
    ranked = sorted(candidates, key=lambda p: (-p.priority, p.id))
    accepted: list[Promotion] = []
    rejected: list[PromotionDecision] = []
    for p in ranked:
        reason = _ineligible(p, ctx)
        if reason is None:
            reason = _conflict(p, accepted)
        if reason is None:
            accepted.append(p)
        else:
            rejected.append(PromotionDecision(p, False, reason))
    applied = [
        PromotionDecision(p, True, f"priority {p.priority}, rank {i + 1}")
        for i, p in enumerate(accepted)
    ]
    return applied + rejected


def _conflict(p: Promotion, accepted: list[Promotion]) -> str | None:
    for winner in accepted:
        beats = f"{winner.id} (priority {winner.priority}) ranks higher"
        if winner.exclusive:
            return f"{winner.id} is exclusive on this line; {beats}"
        if p.exclusive:
            return f"exclusive, but {winner.id} already applies; {beats}"
        if p.stacking_group is not None and p.stacking_group == winner.stacking_group:
            return f"stacking group {p.stacking_group!r} already used by {winner.id}; {beats}"
        if p.id in winner.excludes:
            return f"excluded by {winner.id}; {beats}"
        if winner.id in p.excludes:
            return f"excludes {winner.id}, which already applies; {beats}"
    return None
