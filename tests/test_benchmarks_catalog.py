"""The catalog publication benchmark runs (a smoke run; timing is the benchmark's job)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def test_catalog_publish_benchmark_runs_quick() -> None:
    done = subprocess.run(
        [sys.executable, str(REPO / "benchmarks" / "bench_catalog_publish.py"), "--quick"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "200 offerings, 800 relations" in done.stdout
    assert "baseline" in done.stdout and "ratio publish / baseline" in done.stdout
