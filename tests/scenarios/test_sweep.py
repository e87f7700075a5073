"""Seed sweeps: how often each invariant breaks across independent, deterministic runs."""

from __future__ import annotations

from pathlib import Path

import pytest

from cpqsim_scenarios.cli import _parse_seeds
from cpqsim_scenarios.runner import run_scenario
from cpqsim_scenarios.sweep import local_executor, sweep, write_sweep

LIBRARY = Path(__file__).resolve().parents[2] / "scenarios" / "library"


def short(tmp_path, name: str) -> str:
    """A two-hour version of a library scenario (catalog path made absolute)."""
    text = (LIBRARY / f"{name}.yaml").read_text()
    text = text.replace("duration_s: 28800", "duration_s: 7200").replace(
        "catalog: catalog/enterprise.yaml", f"catalog: {LIBRARY / 'catalog' / 'enterprise.yaml'}"
    )
    path = tmp_path / f"{name}.yaml"
    path.write_text(text)
    return str(path)


def test_seed_lists_and_ranges_parse():
    assert _parse_seeds("1-3,10,2") == [1, 2, 3, 10]
    with pytest.raises(ValueError, match="not a seed"):
        _parse_seeds("1-x")


def test_a_naive_sweep_breaks_on_every_seed_and_names_the_invariants(tmp_path):
    summary = sweep(short(tmp_path, "naive_retry"), [1, 2, 3], local_executor(2))
    assert summary["runs"] == 3 and summary["failed_runs"] == 3
    assert summary["invariant_broken_in_runs"]["no_duplicate_side_effects"] == 3
    assert summary["invariant_broken_in_runs"]["quote_converted_at_most_once"] == 0
    out = write_sweep(tmp_path / "out", summary)
    assert (out / "sweep.json").exists() and (out / "violations_per_seed.png").exists()
    assert "runs broke an invariant" in (out / "sweep.html").read_text()


def test_each_seed_in_a_sweep_is_the_same_run_as_on_its_own(tmp_path):
    path = short(tmp_path, "provisioning_timeouts")
    summary = sweep(path, [4, 5], local_executor(1))
    assert summary["failed_runs"] == 0
    alone = run_scenario(path, seed=5).result["event_log_sha256"]
    assert summary["per_seed"][1]["event_log_sha256"] == alone
