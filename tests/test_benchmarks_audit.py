"""The audit chain benchmark runs (a smoke run; timing is the benchmark's job)."""

from __future__ import annotations


def test_audit_benchmark_runs_quick_and_prints_the_ratio_to_plain_sha256(quick_benchmark) -> None:
    stdout = quick_benchmark("bench_audit.py")
    out = stdout
    assert "audit chain: 2,000 entries" in out
    ratio = next(x for x in out.splitlines() if x.startswith("ratio (append + verify)"))
    assert float(ratio.split(":")[1].split("x")[0]) > 1.0  # a chain costs more than a hash
    assert "target <= 3x" in ratio
    assert "ratio per hash pass" in out
