"""``cpqsim capacity``: Erlang-C's prediction for a scenario, without running it."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from cpqsim.capacity import forecast_queue
from cpqsim_scenarios.cli import app

LIBRARY = Path(__file__).resolve().parents[2] / "scenarios" / "library"
runner = CliRunner()


def capacity(*args: str):
    return runner.invoke(app, ["capacity", str(LIBRARY / "happy_path.yaml"), *args])


def test_the_table_predicts_every_downstream_from_the_mix_and_the_arrival_rate():
    answer = capacity("--json")
    assert answer.exit_code == 0, answer.output
    body = json.loads(answer.output)
    assert body["orders_per_hour"] == 40
    assert set(body["downstream"]) == {"billing", "inventory", "provisioning", "shipping"}
    prov = body["downstream"]["provisioning"]
    # every order of the sample mix activates at least one thing
    assert prov["calls_per_order"] >= 1
    again = forecast_queue(prov["arrival_rate_per_s"], prov["mean_service_s"], prov["servers"])
    assert prov["utilisation"] == round(again.utilisation, 3)
    assert prov["saturating_orders_per_hour"] > 40  # the happy path is not saturated


def test_a_wait_target_gets_the_servers_that_keep_it():
    answer = capacity("--json", "--target-s", "25")
    body = json.loads(answer.output)
    for row in body["downstream"].values():
        needed = row["servers_needed"]
        rate, service = row["arrival_rate_per_s"], row["mean_service_s"]
        assert forecast_queue(rate, service, needed).mean_in_system_s <= 25
    assert "servers for target" in capacity("--target-s", "25").output
