"""Load shapes as data: each shape's population or arrival rate over a bounded run.

``loadtests/cpqsim_load/schedule.py`` imports no Locust (Locust patches the process for
gevent), so these specifications run in the test process itself.
"""

from __future__ import annotations

import importlib.util
import itertools
import sys
from pathlib import Path

import pytest

SCHEDULE = Path(__file__).resolve().parents[2] / "loadtests" / "cpqsim_load" / "schedule.py"


def _load_schedule():
    spec = importlib.util.spec_from_file_location("cpqsim_load_schedule", SCHEDULE)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses resolve their annotations through it
    spec.loader.exec_module(module)
    return module


schedule = _load_schedule()
Plan, arrivals_between, pool_size = schedule.Plan, schedule.arrivals_between, schedule.pool_size
rate_at, stage_bounds, users_at = schedule.rate_at, schedule.stage_bounds, schedule.users_at


def plan(shape: str, **kw) -> Plan:
    return Plan(shape=shape, users=kw.pop("users", 40), spawn_rate=10, run_time_s=100, **kw)


@pytest.mark.parametrize("shape", ["closed", "step", "spike", "soak", "open"])
def test_every_shape_ends_when_the_run_time_is_up(shape):
    p = plan(shape)
    at_end = rate_at(p, 100.0) if shape == "open" else users_at(p, 100.0)
    assert at_end is None


def test_step_climbs_in_equal_steps_to_the_peak():
    p = plan("step")
    assert [users_at(p, t) for t in (0, 24.9, 25, 50, 75, 99.9)] == [10, 10, 20, 30, 40, 40]


def test_spike_holds_a_quarter_and_peaks_in_the_middle_fifth():
    p = plan("spike")
    assert [users_at(p, t) for t in (0, 39.9, 40, 59.9, 60, 99)] == [10, 10, 40, 40, 10, 10]


def test_soak_ramps_over_the_first_tenth_then_holds():
    p = plan("soak")
    assert users_at(p, 5) == 20 and users_at(p, 10) == 40 and users_at(p, 95) == 40


def test_open_loop_holds_each_rate_for_an_equal_share_of_the_run():
    p = plan("open", arrival_rates=(5.0, 10.0, 20.0, 40.0))
    assert stage_bounds(p) == [(0, 25, 5), (25, 50, 10), (50, 75, 20), (75, 100, 40)]
    assert [rate_at(p, t) for t in (0, 30, 60, 99)] == [5, 10, 20, 40]


def test_arrivals_follow_the_clock_not_the_answers():
    p = plan("open", arrival_rates=(5.0, 10.0, 20.0, 40.0))
    whole = arrivals_between(p, 0, 100)
    assert len(whole) == 5 * 25 + 10 * 25 + 20 * 25 + 40 * 25
    # cutting the run into arbitrary slices (as the clock ticks) changes nothing
    cuts = [0, 0.05, 3.3, 25.0, 25.01, 61.7, 99.99, 100]
    sliced = [t for a, b in itertools.pairwise(cuts) for t in arrivals_between(p, a, b)]
    assert sliced == whole
    assert whole == sorted(whole) and len(set(whole)) == len(whole)


def test_the_open_loop_pool_grows_with_rate_latency_and_backlog_up_to_its_cap():
    assert pool_size(10, 0.1, 0, 500) == 10  # a journey holds a user at least a second
    assert pool_size(10, 3.0, 0, 500) == 60
    assert pool_size(10, 3.0, 25, 500) == 85
    assert pool_size(400, 3.0, 0, 500) == 500


@pytest.mark.parametrize(
    "bad",
    [
        {"shape": "ramp"},
        {"run_time_s": 0},
        {"arrival_rates": ()},
        {"arrival_rates": (5.0, -1.0)},
        {"users": 0},
    ],
)
def test_a_plan_that_cannot_run_is_refused(bad):
    fields = {"shape": "closed", "users": 10, "spawn_rate": 5, "run_time_s": 30, **bad}
    with pytest.raises(ValueError):
        Plan(**fields)
