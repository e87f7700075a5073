"""The invariants benchmark runs and prints each invariant's cost beside the order
invariant's, measured in the same run (no timing assertions: machines are noisy)."""

from __future__ import annotations

import re

import cpqsim.invariants  # noqa: F401  (registers every invariant)
from cpqsim.invariant_checker import REGISTERED
from cpqsim.invariants_assets import ASSET_CHECKS


def test_invariants_benchmark_quick_run_prints_each_invariant_beside_the_baseline(
    quick_benchmark,
):
    # Given the benchmark's smoke run (a renewal season hour, in a process of its own)
    stdout = quick_benchmark("bench_invariants.py")
    lines = stdout.splitlines()

    # Then it says what it judged: a log with an installed base and change orders
    judged = re.search(
        r"judged log: renewal season x1, ([\d,]+) events, ([\d,]+) assets, ([\d,]+) orders, "
        r"([\d,]+) changes fulfilled",
        stdout,
    )
    assert judged is not None, stdout
    events, assets, orders, changes = (int(g.replace(",", "")) for g in judged.groups())
    assert events > assets > 1000 and orders > 0 and changes > 0

    # And one row per registered invariant: feed, end, total (ms), us per event, ratio
    # to the baseline, and whether it held
    def figures(row: str) -> list[float]:
        return [float(x.rstrip("x")) for x in row.split()[1:6]]

    for registration in REGISTERED:
        row = next(x for x in lines if x.startswith(registration.name + " "))
        fed, end, total, per_event, ratio = figures(row)
        assert total > 0 and per_event > 0 and ratio > 0, row
        assert abs(fed + end - total) < 0.2, row
        assert row.endswith("holds"), row
    baseline = next(x for x in lines if x.startswith("baseline: orders_terminal_or_in_fallout"))
    assert baseline.split()[-1] == "1.00x"

    # And the installed base's rows together, every other row, the whole judge
    assert next(x for x in lines if x.startswith("installed base's rows (5)"))
    assert next(x for x in lines if x.startswith("every other row"))
    assert next(x for x in lines if x.startswith("the whole judge"))
    assert len(ASSET_CHECKS) == 5
    for label in ("asset rows / every other row", "asset rows in one judge / each alone"):
        ratio = re.search(rf"ratio {re.escape(label)}[^:]*: ([\d.]+)x", stdout)
        assert ratio is not None and float(ratio.group(1)) > 0, stdout
