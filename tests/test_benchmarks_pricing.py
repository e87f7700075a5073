"""The pricing benchmark runs and reports ratios against its baseline (no timing asserts:
timings belong to the benchmark's printout, not to pass/fail on a shared machine)."""

from __future__ import annotations


def test_pricing_benchmark_quick_run_prints_ratios_and_growth(quick_benchmark) -> None:
    stdout = quick_benchmark("bench_pricing.py")
    out = stdout
    assert "baseline ms" in out and "ratio" in out
    table = [line.split() for line in out.splitlines() if line.strip()[:1].isdigit()]
    rows = [r for r in table if r[-1] != "(all-distinct)"]
    worst = [r for r in table if r[-1] == "(all-distinct)"]
    assert [int(r[0]) for r in rows] == [10, 100, 300]
    assert [int(r[0]) for r in worst] == [100]
    assert int(worst[0][3]) == 100  # every line priced: nothing to share
    assert all(int(r[3]) <= int(r[0]) for r in rows)
    assert all(r[6].endswith("x") for r in table)
    assert "growth: time per line" in out
    assert "floor: writing out the same result alone" in out
    # Time per distinct line beside the floor, for both shapes; each rule step's time.
    assert out.count("per distinct line (") == 2 and "x the floor)" in out
    assert "rule steps' own time" in out and "manual_discount" in out
    assert "paused by the caller" in out
