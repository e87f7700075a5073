"""The gateway benchmark runs end to end and reports a ratio (no timing assertions).

It starts its own Ray, a baseline server and ``cpqsim serve``, and drives both with a
short headless Locust run; only the shape of the report is checked: machines are noisy.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]

pytestmark = [pytest.mark.ray, pytest.mark.slow]


def test_gateway_benchmark_quick_run_prints_both_targets_and_a_ratio():
    proc = subprocess.run(
        [sys.executable, "benchmarks/bench_gateway.py", "--quick"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    lines = proc.stdout.splitlines()
    assert any(line.startswith("baseline (all)") for line in lines), proc.stdout
    assert any(line.startswith("gateway (all)") for line in lines), proc.stdout
    assert any("POST /quote/{id}/convert" in line for line in lines), proc.stdout
    ratio_line = next(line for line in lines if line.startswith("ratio gateway/baseline"))
    assert float(ratio_line.rsplit(":", 1)[1]) > 0
