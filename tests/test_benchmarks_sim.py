"""The sim benchmark runs and reports rates beside an M/M/c baseline (no timing
assertions: machines are noisy)."""

from __future__ import annotations


def test_sim_benchmark_quick_run_prints_orders_per_cpu_second_and_a_ratio_to_mmc(quick_benchmark):
    # Given the benchmark's smoke run (a short happy-path day in a process of its own)
    stdout = quick_benchmark("bench_sim.py")
    # Then it succeeds and prints a header and one measured row
    lines = stdout.splitlines()
    header = next(line for line in lines if "orders/s" in line)
    row = lines[lines.index(header) + 1].split()
    columns = header.split()
    assert "ratio" in columns and "M/M/c/s" in columns
    # And the run was judged, completed orders and the platform's event rate is a
    # fraction of bare M/M/c (the platform does more per SimPy event than a queue does)
    assert row[-1] == "pass"
    completed, ratio = int(row[2]), float(row[-3])
    assert completed > 0
    assert 0 < ratio < 1
