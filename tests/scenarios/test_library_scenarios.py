"""The three library scenarios on the sim runtime: verdicts, determinism, files, exit codes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from cpqsim_scenarios.runner import run_scenario

REPO = Path(__file__).resolve().parents[2]
LIBRARY = REPO / "scenarios" / "library"
CPQSIM = [sys.executable, "-m", "cpqsim_scenarios"]


def invariants(run):
    return {i["name"]: i for i in run.result["invariants"]}


@pytest.fixture(scope="module")
def happy():
    return run_scenario(LIBRARY / "happy_path.yaml")


@pytest.fixture(scope="module")
def timeouts():
    return run_scenario(LIBRARY / "provisioning_timeouts.yaml")


@pytest.fixture(scope="module")
def naive():
    return run_scenario(LIBRARY / "naive_retry.yaml")


def test_happy_path_holds_every_invariant(happy):
    assert happy.exit_code == 0
    assert all(i["holds"] for i in happy.result["invariants"]), happy.result["invariants"]
    assert happy.result["orders"]["by_state"] == {"completed": happy.result["orders"]["total"]}
    assert happy.result["orders"]["total"] > 100


def test_happy_path_exercises_approval_and_idempotent_conversion(happy):
    journeys = happy.result["journeys"]
    assert journeys["approvals_requested"] > 0 and journeys["rejected"] > 0
    assert journeys["conversion_replays"] > 0  # same key again: same order
    assert journeys["conversions_refused"] > 0  # another key: refused


def test_provisioning_faults_are_reconciled_and_every_invariant_holds(timeouts):
    assert timeouts.exit_code == 0, [i for i in timeouts.result["invariants"] if not i["holds"]]
    names = [e.name for e in timeouts.output.events]
    assert names.count("order.task_timed_out") > 20  # the faults really happened...
    reconciled = [e for e in timeouts.output.events if e.name == "order.task_reconciled"]
    assert {e.data["found"] for e in reconciled} >= {"completed", "in_progress"}
    assert timeouts.result["downstream"]["provisioning"]["duplicates"] == 0  # ...and were safe


def test_naive_retry_makes_the_checker_report_duplicate_side_effects(naive):
    assert naive.exit_code == 1
    broken = invariants(naive)
    assert not broken["no_duplicate_side_effects"].get("holds")
    assert broken["no_duplicate_side_effects"]["violations"] > 0
    assert not broken["no_retry_before_reconciliation"]["holds"]
    assert naive.result["downstream"]["provisioning"]["duplicates"] > 0


def test_result_json_has_the_documented_fields(timeouts):
    r = timeouts.result
    for key in ("scenario", "seed", "runtime", "invariants", "event_log_sha256"):
        assert key in r
    assert {"total", "by_state"} <= set(r["orders"])
    for name in ("provisioning", "billing", "inventory"):
        assert {"calls", "side_effects", "duplicates"} <= set(r["downstream"][name])
    assert {"name", "holds", "violations", "examples"} <= set(r["invariants"][0])


def test_same_seed_gives_the_same_event_log_bytes(timeouts):
    again = run_scenario(LIBRARY / "provisioning_timeouts.yaml")
    assert again.events_jsonl == timeouts.events_jsonl
    assert again.result["event_log_sha256"] == timeouts.result["event_log_sha256"]


def test_another_seed_gives_another_day(timeouts):
    other = run_scenario(LIBRARY / "provisioning_timeouts.yaml", seed=7)
    assert other.result["event_log_sha256"] != timeouts.result["event_log_sha256"]


def test_the_event_log_does_not_depend_on_pythonhashseed(tmp_path, timeouts):
    shas = set()
    for hashseed in ("1", "12345"):
        out = tmp_path / f"h{hashseed}"
        env = {**os.environ, "PYTHONHASHSEED": hashseed}
        subprocess.run(
            [
                *CPQSIM,
                "run",
                str(LIBRARY / "provisioning_timeouts.yaml"),
                "--out",
                str(out),
                "--quiet",
            ],
            check=True,
            env=env,
            capture_output=True,
            cwd=REPO,
        )
        shas.add(json.loads((out / "result.json").read_text())["event_log_sha256"])
    assert shas == {timeouts.result["event_log_sha256"]}


def test_cli_writes_result_events_and_a_report_with_plots(tmp_path):
    out = tmp_path / "run"
    proc = subprocess.run(
        [*CPQSIM, "run", str(LIBRARY / "naive_retry.yaml"), "--out", str(out), "--quiet"],
        capture_output=True,
        text=True,
        cwd=REPO,
    )
    assert proc.returncode == 1, proc.stderr
    assert "VERDICT: FAIL" in proc.stdout
    assert {
        "result.json",
        "events.jsonl",
        "report.md",
        "orders_by_state.png",
        "downstream_queues.png",
        "fallout_queue.png",
        "downstream_utilisation.png",
        "order_lead_times.png",
        "report.html",
    } <= {p.name for p in out.iterdir()}
    report = (out / "report.md").read_text()
    assert "no_duplicate_side_effects | **NO**" in report and "## Timeline of" in report
    assert "## Order exceptions" in report and "fallout cases:" in report
    # the broken order's story shows what provisioning recorded, not only the platform's view
    timeline = report.split("## Timeline of", 1)[1]
    assert "| provisioning | " in timeline and "| platform | order.task_dispatched" in timeline
    result = json.loads((out / "result.json").read_text())
    assert set(result["exceptions"]) == {"fallout", "cancellations", "compensations"}
    # every duplicate is placed on its system: shipping's are not hidden behind provisioning's
    duplicates = {i["name"]: i for i in result["invariants"]}["no_duplicate_side_effects"]
    per_system = {s: d["duplicated_references"] for s, d in result["downstream"].items()}
    assert duplicates["by_downstream"] == {s: n for s, n in per_system.items() if n}
    assert set(duplicates["by_downstream"]) == {"provisioning", "shipping"}
    breakdown = ", ".join(f"{s} {n:,}" for s, n in duplicates["by_downstream"].items())
    assert f"| no_duplicate_side_effects | {breakdown} |" in report
    assert "Where the violations fall" in (out / "report.html").read_text()
    # Erlang-C's prediction beside what the run measured, per downstream
    assert "## Capacity: predicted (Erlang-C) and measured" in report
    capacity = result["capacity"]
    assert set(capacity["predicted"]) == set(capacity["measured"]) == set(result["downstream"])
    assert capacity["measured"]["provisioning"]["utilisation"] > 0
    lines = (out / "events.jsonl").read_text().splitlines()
    first = json.loads(lines[0])
    assert {"specversion", "id", "type", "source", "subject", "time", "correlationid"} <= set(first)


def test_an_invalid_scenario_exits_2_naming_file_and_field(tmp_path):
    bad = tmp_path / "bad.yaml"
    text = (LIBRARY / "happy_path.yaml").read_text()
    bad.write_text(
        text.replace("arrivals_per_hour: 40", "arrivals_per_hour: -3").replace(
            "catalog: catalog/enterprise.yaml",
            f"catalog: {LIBRARY / 'catalog' / 'enterprise.yaml'}",
        )
    )
    out = tmp_path / "never"
    proc = subprocess.run(
        [*CPQSIM, "run", str(bad), "--out", str(out)], capture_output=True, text=True, cwd=REPO
    )
    assert proc.returncode == 2
    assert str(bad) in proc.stderr.replace("\n", "") or "bad.yaml" in proc.stderr
    assert "traffic.arrivals_per_hour" in proc.stderr
    assert not out.exists()  # nothing half-written


def test_a_scenario_whose_mix_breaks_the_catalog_rules_is_refused(tmp_path):
    bad = tmp_path / "mix.yaml"
    text = (LIBRARY / "happy_path.yaml").read_text()
    bad.write_text(
        text.replace(
            "options: [bi-access-fiber, bi-sla-premium]",
            "options: [bi-access-wireless, bi-sla-premium]",
        ).replace(
            "catalog: catalog/enterprise.yaml",
            f"catalog: {LIBRARY / 'catalog' / 'enterprise.yaml'}",
        )
    )
    proc = subprocess.run([*CPQSIM, "run", str(bad)], capture_output=True, text=True, cwd=REPO)
    assert proc.returncode == 2
    assert "traffic.mix[2].lines[0]" in proc.stderr


def test_catalog_validate_explains_a_requires_cycle_and_exits_2():
    proc = subprocess.run(
        [*CPQSIM, "catalog", "validate", str(LIBRARY / "catalog" / "broken_requires_cycle.yaml")],
        capture_output=True,
        text=True,
        cwd=REPO,
    )
    assert proc.returncode == 2
    assert "cycle" in proc.stderr and "broken_requires_cycle.yaml" in proc.stderr


def test_catalog_validate_accepts_the_sample():
    proc = subprocess.run(
        [*CPQSIM, "catalog", "validate", str(LIBRARY / "catalog" / "enterprise.yaml")],
        capture_output=True,
        text=True,
        cwd=REPO,
    )
    assert proc.returncode == 0 and "valid" in proc.stdout


def test_a_provisioning_outage_is_ridden_through_by_a_long_backoff_policy():
    run = run_scenario(LIBRARY / "provisioning_outage.yaml")
    assert run.exit_code == 0, [i for i in run.result["invariants"] if not i["holds"]]
    assert run.result["policy"] == "robust-long-backoff"
    assert run.result["downstream"]["provisioning"]["rejected"] > 0  # the outage bit
    peak_open = max(c.get("inProgress", 0) for c in run.output.samples.orders_by_state)
    assert peak_open >= 10  # orders queued up behind the outage...
    assert run.result["orders"]["by_state"]["completed"] > 0.95 * run.result["orders"]["total"]


def test_accepted_prices_are_reproduced_and_a_changed_price_list_is_caught(timeouts, tmp_path):
    from cpqsim.invariants import check_invariants
    from cpqsim_scenarios.files import load_catalog_file as load_catalog

    assert invariants(timeouts)["repricing_reproduces_fingerprint"]["holds"]
    original = LIBRARY / "catalog" / "enterprise.yaml"
    changed = tmp_path / "enterprise.yaml"
    text = original.read_text()
    assert 'amount: "12.50"' in text
    changed.write_text(text.replace('amount: "12.50"', 'amount: "12.75"'))
    verdict = {
        r.name: r
        for r in check_invariants(
            timeouts.output.events, timeouts.output.ledgers, load_catalog(changed)
        )
    }
    assert not verdict["repricing_reproduces_fingerprint"].holds
