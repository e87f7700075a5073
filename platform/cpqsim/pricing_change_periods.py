"""Billing months of a running subscription, and the days a change leaves in one.

A subscription bills monthly in advance on its cycle day, the day of the month its term
started (clamped to the month's last day: a term started on the 31st bills on 30 April
and 28 February). A change that takes effect mid-month touches the part of the billing
month still to come: ``days`` of the ``period_days`` the month really has (the same
basis as the first-month proration of :mod:`cpqsim.pricing_periods`). End dates are
exclusive, as everywhere in pricing.
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import date

__all__ = ["BASIS", "BillingMonth", "TermSpan", "add_months", "billing_month", "term_span"]

#: How the part of a billing month is measured, stated on every prorated amount.
BASIS = "actual days of the billing month"


def add_months(anchor: date, months: int) -> date:
    """``anchor`` moved by whole months, the day clamped to the target month's length."""
    index = anchor.year * 12 + anchor.month - 1 + months
    year, month = divmod(index, 12)
    last = calendar.monthrange(year, month + 1)[1]
    return date(year, month + 1, min(anchor.day, last))


def _months_between(anchor: date, day: date) -> int:
    """The number of whole cycles from ``anchor`` that start on or before ``day``."""
    k = (day.year - anchor.year) * 12 + day.month - anchor.month
    while add_months(anchor, k) > day:
        k -= 1
    while add_months(anchor, k + 1) <= day:
        k += 1
    return k


@dataclass(frozen=True, slots=True)
class BillingMonth:
    start: date
    end: date  # exclusive: the next cycle date
    effective: date  # the day the change takes effect
    days: int  # effective .. end: the part of the month the change touches
    period_days: int  # start .. end


def billing_month(cycle_anchor: date, effective: date) -> BillingMonth:
    """The billing month (cycles anchored at ``cycle_anchor``) that ``effective`` falls in."""
    if effective < cycle_anchor:
        raise ValueError(
            f"the change takes effect on {effective}, before the term starts on {cycle_anchor}"
        )
    k = _months_between(cycle_anchor, effective)
    start, end = add_months(cycle_anchor, k), add_months(cycle_anchor, k + 1)
    return BillingMonth(start, end, effective, (end - effective).days, (end - start).days)


@dataclass(frozen=True, slots=True)
class TermSpan:
    """``start .. end`` as whole billing months and a last partial month."""

    start: date
    end: date
    months: int  # whole cycles from start
    stub_start: date  # start of the last, partial month (== end when there is none)
    stub_days: int  # stub_start .. end
    stub_period_days: int  # the days that billing month really has

    @property
    def whole(self) -> bool:
        return self.stub_days == 0


def term_span(start: date, end: date) -> TermSpan:
    """Whole months from ``start`` while they fit before ``end``; the rest by actual days."""
    if end < start:
        raise ValueError(f"the term ends on {end}, before it starts on {start}")
    k = _months_between(start, end)
    stub_start = add_months(start, k)
    stub_end = add_months(start, k + 1)
    return TermSpan(
        start, end, k, stub_start, (end - stub_start).days, (stub_end - stub_start).days
    )
