"""The sim benchmark runs and reports a ratio (no timing assertions: machines are noisy)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def test_sim_benchmark_quick_run_prints_orders_per_second_and_a_ratio():
    proc = subprocess.run(
        [sys.executable, "benchmarks/bench_sim.py", "--quick"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    header, row = proc.stdout.splitlines()[:2]
    assert "orders/s" in header and "ratio" in header
    assert float(row.split()[-1]) > 1  # the platform costs more than bare SimPy
