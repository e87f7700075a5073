"""A sweep with ``--ray``: seeds start on local processes while Ray starts, the rest run as
Ray tasks, and every seed's run is the same wherever it ran.

Run as the user runs it (a fresh ``cpqsim sweep`` process, its own Ray), since the hand-over
only happens while Ray is starting.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
LIBRARY = REPO / "scenarios" / "library"


def short(tmp_path: Path, name: str, hours: int = 1) -> Path:
    text = (LIBRARY / f"{name}.yaml").read_text()
    text = text.replace("duration_s: 28800", f"duration_s: {hours * 3600}").replace(
        "catalog: catalog/enterprise.yaml", f"catalog: {LIBRARY / 'catalog' / 'enterprise.yaml'}"
    )
    path = tmp_path / f"{name}.yaml"
    path.write_text(text)
    return path


def sweep_json(scenario: Path, *args: str, **env_vars: str) -> dict:
    env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}  # its own Ray
    env.update(env_vars)
    proc = subprocess.run(
        [sys.executable, "-m", "cpqsim_scenarios", "sweep", str(scenario), "--json", *args],
        capture_output=True,
        text=True,
        cwd=REPO,
        env=env,
        timeout=600,
    )
    assert proc.returncode in (0, 1), proc.stderr[-2000:]  # 1: a run broke an invariant
    return json.loads(proc.stdout)


@pytest.mark.slow
def test_a_ray_sweep_hands_seeds_to_ray_and_gets_the_same_runs_as_a_local_one(tmp_path):
    # Given a short naive-retry day and 24 seeds
    scenario = short(tmp_path, "naive_retry")

    # When it is swept with Ray (one local process while Ray starts) and locally
    on_ray = sweep_json(
        scenario, "--seeds", "1-24", "--ray", "--workers", "1", CPQSIM_LOCAL_RAY_START_S="0"
    )
    local = sweep_json(scenario, "--seeds", "1-24", "--workers", "2")

    # Then some seeds ran locally while Ray started and the rest as Ray tasks
    assert set(on_ray["ran_on"]) == {"local", "ray"}, on_ray["ran_on"]
    assert sum(on_ray["ran_on"].values()) == on_ray["runs"] == 24
    # and every seed's event log is the one the local sweep produced
    shas = {r["seed"]: r["event_log_sha256"] for r in local["per_seed"]}
    assert {r["seed"]: r["event_log_sha256"] for r in on_ray["per_seed"]} == shas
    assert on_ray["invariant_broken_in_runs"] == local["invariant_broken_in_runs"]
    assert "ran_on" not in local


def test_ray_is_started_only_when_the_local_processes_would_still_be_busy(monkeypatch):
    from cpqsim_actors.sweep import worth_starting_ray

    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    monkeypatch.setenv("CPQSIM_LOCAL_RAY_START_S", "15")
    assert not worth_starting_ray(seeds_left=10, workers=2, seconds_per_seed=2.0)  # 10 s
    assert worth_starting_ray(seeds_left=40, workers=2, seconds_per_seed=2.0)  # 40 s
    monkeypatch.setenv("RAY_ADDRESS", "10.0.0.1:6379")  # a cluster: always worth it
    assert worth_starting_ray(seeds_left=1, workers=2, seconds_per_seed=0.1)
