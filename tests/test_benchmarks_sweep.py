"""The sweep benchmark runs serial, local and Ray sweeps and prints their ratios (no timing
assertions: machines are noisy)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_sweep_benchmark_quick_run_prints_each_way_and_the_same_event_logs():
    proc = subprocess.run(
        [sys.executable, "benchmarks/bench_sweep.py", "--quick"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    rows = {line.split()[0]: line.split() for line in proc.stdout.splitlines() if line.strip()}
    assert {"serial", "local", "ray"} <= set(rows)
    assert float(rows["ray"][3]) > 0  # local/ray ratio printed
    assert "same event logs on every way: yes" in proc.stdout
