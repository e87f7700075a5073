"""The catalog publication benchmark runs (a smoke run; timing is the benchmark's job)."""

from __future__ import annotations


def test_catalog_publish_benchmark_runs_quick_and_reports_growth_memory_and_problems(
    quick_benchmark,
) -> None:
    stdout = quick_benchmark("bench_catalog_publish.py")
    out = stdout
    assert "200 offerings, 800 relations" in out
    assert "baseline" in out and "ratio publish / baseline" in out
    rows = [line.split() for line in out.splitlines() if line.strip()[:1].isdigit()]
    assert [int(r[0]) for r in rows] == [200, 2000]
    assert all(r[4].endswith("x") and float(r[5]) > 0 for r in rows)  # ratio, peak RSS
    assert "growth: publish 2,000 / 200 offerings" in out
    # The shell publishes with the collector paused, and its growth is reported too.
    assert "growth in the shell (collector paused)" in out
    # Every dangling reference is listed, each as a small object.
    assert "2,000 problems (2,000 dangling)" in out
