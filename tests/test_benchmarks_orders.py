"""The live-runtime orders benchmark runs end to end and reports its ratios (no timing
assertions: machines are noisy).

It runs the same journeys on the in-process runtime (the baseline) and on Ray, with
downstreams at zero latency; only the shape of the report is checked, and that every
journey's order was fulfilled.
"""

from __future__ import annotations

import re

import pytest

pytestmark = [pytest.mark.ray, pytest.mark.slow]


def test_orders_benchmark_quick_run_fulfils_every_order_and_prints_the_ratios(quick_benchmark):
    stdout = quick_benchmark("bench_orders.py")
    out = stdout
    run = re.search(r"ray runtime: (\d+) journeys, (\d+) orders \(\{'completed': (\d+)\}\)", out)
    assert run is not None, out
    journeys, orders, completed = map(int, run.groups())
    assert journeys == orders == completed > 0
    for label in (
        "ratio orders/s / target: ",
        "ratio ray / in-process CPU per order: ",
        "sustained fully fulfilled orders/s: ",
    ):
        line = next(line for line in out.splitlines() if line.startswith(label))
        assert float(line[len(label) :].split()[0]) > 0, line
