"""The sweep benchmark runs serial, local and Ray sweeps and prints their ratios (no timing
assertions: machines are noisy)."""

from __future__ import annotations

import pytest


@pytest.mark.slow
def test_sweep_benchmark_quick_run_prints_each_way_and_the_same_event_logs(quick_benchmark):
    stdout = quick_benchmark("bench_sweep.py", timeout=600)
    rows = {line.split()[0]: line.split() for line in stdout.splitlines() if line.strip()}
    assert {"serial", "local", "ray"} <= set(rows)
    assert float(rows["ray"][3]) > 0  # local/ray ratio printed
    assert "same event logs on every way: yes" in stdout
