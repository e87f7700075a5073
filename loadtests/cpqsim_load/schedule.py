"""Load shapes as data: how many users (closed loop) or arrivals per second (open loop)
at each moment of a bounded run.

Closed loop: a fixed population of users, each sending its next journey when the last
one answered. When the server slows down, users wait, fewer requests arrive, and the
slowdown hides itself. Open loop: journeys *arrive* at a target rate whatever the
latency (like customers do), so queueing shows up as latency instead.

Every shape ends: ``users_at``/``rate_at`` return None once ``run_time_s`` has passed.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

SHAPES = ("closed", "step", "spike", "soak", "open")
DEFAULT_RUN_TIME_S = 60.0


@dataclass(frozen=True)
class Plan:
    shape: str
    users: int  # peak population (closed-loop shapes)
    spawn_rate: float
    run_time_s: float
    arrival_rates: tuple[float, ...] = (10.0,)  # open loop: held one after another
    steps: int = 4
    max_users: int = 500  # open loop: cap of the user pool

    def __post_init__(self) -> None:
        if self.shape not in SHAPES:
            raise ValueError(f"--shape {self.shape!r}: choose one of {', '.join(SHAPES)}")
        if self.run_time_s <= 0:
            raise ValueError("a load run needs a positive --run-time")
        if self.users < 1 or self.spawn_rate <= 0:
            raise ValueError("--users and --spawn-rate must be positive")
        if not self.arrival_rates or min(self.arrival_rates) <= 0:
            raise ValueError("--arrival-rate: give one or more positive rates, e.g. 5,10,20")


def users_at(plan: Plan, t: float) -> int | None:
    """Closed-loop population at ``t`` seconds (None: the run is over)."""
    if t >= plan.run_time_s:
        return None
    peak, frac = plan.users, t / plan.run_time_s
    if plan.shape == "closed":
        return peak
    if plan.shape == "step":  # equal steps up to the peak
        step = min(plan.steps - 1, int(frac * plan.steps))
        return max(1, math.ceil(peak * (step + 1) / plan.steps))
    if plan.shape == "spike":  # a quarter of the peak, the whole peak in the middle fifth
        return peak if 0.4 <= frac < 0.6 else max(1, peak // 4)
    if plan.shape == "soak":  # ramp over the first tenth, then hold
        return max(1, math.ceil(peak * min(1.0, frac / 0.1)))
    raise ValueError(f"{plan.shape} is not a closed-loop shape")


def rate_at(plan: Plan, t: float) -> float | None:
    """Open-loop arrivals per second at ``t`` (None: the run is over)."""
    if t >= plan.run_time_s:
        return None
    stage = min(len(plan.arrival_rates) - 1, int(t / plan.run_time_s * len(plan.arrival_rates)))
    return plan.arrival_rates[stage]


def stage_bounds(plan: Plan) -> list[tuple[float, float, float]]:
    """(start s, end s, rate) of each open-loop stage, for reports and plots."""
    n = len(plan.arrival_rates)
    width = plan.run_time_s / n
    return [(i * width, (i + 1) * width, rate) for i, rate in enumerate(plan.arrival_rates)]


def arrivals_between(plan: Plan, start: float, end: float) -> list[float]:
    """Scheduled arrival times in [start, end): evenly spaced at the rate of their stage.

    Arrival k of a stage is due at ``stage_start + k / rate``, so the schedule depends on
    the clock only, never on how fast earlier journeys came back.
    """
    due: list[float] = []
    for s0, s1, rate in stage_bounds(plan):
        lo, hi = max(start, s0), min(end, s1)
        if lo >= hi:
            continue
        first = math.ceil((lo - s0) * rate - 1e-9)
        k = first
        while (t := s0 + k / rate) < hi:
            due.append(t)
            k += 1
    return due


def pool_size(rate: float, busy_s: float, backlog: int, max_users: int) -> int:
    """Users needed to start every arrival on time: rate x time a journey keeps a user.

    ``busy_s`` is the recent journey duration (at least one second is assumed); the
    backlog of arrivals already waiting is added so a slowdown is absorbed, up to
    ``max_users``. Beyond that, arrivals wait, and the wait counts in their latency.
    """
    need = math.ceil(rate * max(1.0, 2.0 * busy_s)) + backlog
    return max(1, min(max_users, need))
