"""The partial first billing period: how many days of a month a service is charged for.

Service rarely starts on the billing-cycle day. The first invoice then covers only the
days from the service start up to the first cycle date, charged at
``monthly amount x days / days in that billing month``. The billing month is the full
cycle ending on the first cycle date (e.g. start 2026-03-15, cycle day 1: the partial
period is 03-15..04-01 = 17 days of a 31-day period 03-01..04-01). Dates are explicit
arguments; end dates are exclusive, as everywhere in pricing rules.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

__all__ = ["FirstPeriod", "ProrationError", "first_period"]


class ProrationError(ValueError):
    """The proration inputs contradict each other."""


@dataclass(frozen=True, slots=True)
class FirstPeriod:
    service_start: date
    period_start: date  # start of the full billing month containing the service start
    period_end: date  # exclusive: the first cycle date
    days: int  # charged days: service_start .. period_end
    period_days: int  # days of the full billing month

    @property
    def partial(self) -> bool:
        return self.days != self.period_days


def _minus_month(d: date) -> date:
    year, month = (d.year, d.month - 1) if d.month > 1 else (d.year - 1, 12)
    # Clamp 31 -> 30/28: a cycle ending on 03-31 started on 02-28 (or 02-29).
    for day in (d.day, 30, 29, 28):
        try:
            return date(year, month, day)
        except ValueError:
            continue
    raise AssertionError("unreachable")  # pragma: no cover


def first_period(
    service_start: date, billing_cycle_day: int | None, period_end: date | None
) -> FirstPeriod:
    """The first billing period for a service starting on ``service_start``.

    Exactly one of ``billing_cycle_day`` (1-28) and ``period_end`` (exclusive, the first
    cycle date) is given; the first cycle date must fall within one month after the start.
    """
    if (billing_cycle_day is None) == (period_end is None):
        raise ProrationError("give exactly one of billing_cycle_day and period_end")
    if billing_cycle_day is not None:
        if service_start.day == billing_cycle_day:
            end = service_start
        elif service_start.day < billing_cycle_day:
            end = service_start.replace(day=billing_cycle_day)
        else:
            y, m = (
                (service_start.year, service_start.month + 1)
                if service_start.month < 12
                else (service_start.year + 1, 1)
            )
            end = date(y, m, billing_cycle_day)
        if end == service_start:  # starts on the cycle day: a whole first month
            end = _plus_month(service_start)
            days = (end - service_start).days
            return FirstPeriod(service_start, service_start, end, days, days)
    else:
        assert period_end is not None
        end = period_end
    start = _minus_month(end)
    if not start <= service_start < end:
        raise ProrationError(
            f"period_end {end} must fall within one month after service_start {service_start}"
        )
    return FirstPeriod(
        service_start=service_start,
        period_start=start,
        period_end=end,
        days=(end - service_start).days,
        period_days=(end - start).days,
    )


def _plus_month(d: date) -> date:
    year, month = (d.year, d.month + 1) if d.month < 12 else (d.year + 1, 1)
    for day in (d.day, 30, 29, 28):
        try:
            return date(year, month, day)
        except ValueError:
            continue
    raise AssertionError("unreachable")  # pragma: no cover
