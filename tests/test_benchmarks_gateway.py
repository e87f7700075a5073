"""The gateway benchmark runs end to end and reports a ratio (no timing assertions).

It starts its own Ray, a baseline server and ``cpqsim serve``, and drives them with
short headless Locust runs; only the shape of the report is checked: machines are noisy.
"""

from __future__ import annotations

import importlib.util

import pytest

pytestmark = [pytest.mark.ray, pytest.mark.slow]


def test_gateway_benchmark_quick_run_prints_the_ratio_and_the_half_load_p99(quick_benchmark):
    stdout = quick_benchmark("bench_gateway.py", timeout=240)
    lines = stdout.splitlines()
    for run in ("baseline r0", "price r0", "half", "baseline at that rate", "journey"):
        assert any(line.startswith(f"{run} (all)") for line in lines), stdout
    assert any("POST /quote/{id}/convert" in line for line in lines), stdout
    ratio_line = next(line for line in lines if line.startswith("ratio price-quote/baseline"))
    assert float(ratio_line.rsplit(":", 1)[1]) > 0
    p99_line = next(line for line in lines if line.startswith("p99 ms of price-quote at half"))
    assert float(p99_line.rsplit(":", 1)[1]) > 0
    if importlib.util.find_spec("psutil") is not None:  # the CPU figures need it
        assert any(line.startswith("cpu ms per request during price: ") for line in lines)
        cpu_line = next(line for line in lines if line.startswith("CPU-bound ratio"))
        assert float(cpu_line.rsplit(":", 1)[1]) > 0
