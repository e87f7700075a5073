"""The failure matrix as library scenarios: each row's verdict, and what it shows.

Given a library scenario named after a row of the capstone failure matrix, when it runs
on the sim, then the robust configuration holds every invariant and the naive or
misconfigured one breaks exactly the invariants it should — and the failure really
happened (the run shows the row's symptom, not a quiet day).
"""

from __future__ import annotations

import functools
import json
from collections import Counter
from pathlib import Path

import pytest

from cpqsim_scenarios.model import load_scenario
from cpqsim_scenarios.runner import ScenarioRun, run_scenario

LIBRARY = Path(__file__).resolve().parents[2] / "scenarios" / "library"

# scenario -> invariants it must break (empty: every invariant holds)
MATRIX: dict[str, set[str]] = {
    "pricing_service_unavailable": set(),
    "catalog_cache_stale": set(),
    "catalog_cache_stale_naive": {"no_stale_price_accepted"},
    "quote_accepted_twice": set(),
    "approval_callback_lost": set(),
    "approval_callback_lost_naive": {"no_quote_stuck_in_approval"},
    "provisioning_timeouts": set(),
    "naive_retry": {"no_duplicate_side_effects", "no_retry_before_reconciliation"},
    "billing_handoff_duplicate": set(),
    "billing_handoff_duplicate_naive": {
        "no_duplicate_side_effects",
        "no_retry_before_reconciliation",
    },
    "manual_repair_wrong": set(),
    "manual_repair_wrong_naive": {"platform_agrees_with_downstream"},
    "partial_fulfilment": set(),
    "partial_fulfilment_all_or_nothing": set(),
    "cancellation_in_flight": set(),
    "cancellation_in_flight_naive": {
        "cancelled_orders_leave_no_live_side_effects",
        "platform_agrees_with_downstream",
        "no_duplicate_side_effects",
        "no_retry_before_reconciliation",
    },
    "failure_day": set(),
}


@functools.cache
def run(name: str) -> ScenarioRun:
    return run_scenario(LIBRARY / f"{name}.yaml")


def names(run: ScenarioRun) -> Counter:
    return Counter(e.name for e in run.output.events)


@pytest.mark.parametrize("name", sorted(MATRIX))
def test_each_row_gets_its_verdict(name):
    result = run(name).result
    broken = {i["name"] for i in result["invariants"] if not i["holds"]}
    assert broken == MATRIX[name], {i["name"]: i["examples"][:2] for i in result["invariants"]}
    assert result["verdict"] == ("fail" if MATRIX[name] else "pass")


def test_at_least_eight_rows_each_with_a_header_saying_what_it_shows():
    rows = {n for n in MATRIX if not n.endswith(("_naive", "_all_or_nothing"))}
    assert len(rows) >= 8
    for name in MATRIX:
        lines = (LIBRARY / f"{name}.yaml").read_text().splitlines()[1:]
        header = " ".join(line.lstrip("# ") for line in lines if line.startswith("#"))
        expected = "Expect exit 1" if MATRIX[name] else "Expect exit 0"
        assert expected in header, f"{name}: the header must say what to expect"


def test_the_rows_really_fail_the_way_they_say():
    journeys = {n: run(n).result["journeys"] for n in MATRIX}
    assert journeys["pricing_service_unavailable"]["pricing_waits"] > 0
    assert journeys["catalog_cache_stale"]["requoted"] > 0
    assert journeys["quote_accepted_twice"]["conversions_refused"] > 20
    assert journeys["approval_callback_lost"]["approvals_escalated"] > 0
    assert journeys["cancellation_in_flight"]["cancellations_accepted"] > 0
    assert journeys["cancellation_in_flight"]["cancellations_refused"] > 0  # past the cutoff
    states = {n: run(n).result["orders"]["by_state"] for n in MATRIX}
    assert states["partial_fulfilment"].get("partial", 0) > 0
    assert states["partial_fulfilment_all_or_nothing"].get("partial", 0) == 0
    assert states["partial_fulfilment_all_or_nothing"].get("failed", 0) > 0
    repaired = names(run("manual_repair_wrong"))
    assert repaired["order.fallout_resolved"] > 0 and repaired["order.item_abandoned"] > 0


def test_a_cancelled_orders_work_is_undone_in_the_ledgers():
    result = run("cancellation_in_flight")
    reversals = sum(
        1 for ledger in result.output.ledgers.values() for e in ledger.entries if e.reversal
    )
    assert names(result)["order.cancelled"] > 0 and reversals > 0
    exceptions = result.result["exceptions"]
    assert exceptions["cancellations"]["orders_cancelled"] == names(result)["order.cancelled"]
    undone = sum(d["undone"] for d in exceptions["compensations"].values())
    assert 0 < undone <= reversals


def test_the_failure_day_report_shows_its_fallout_queue_and_repair_times():
    fallout = run("failure_day").result["exceptions"]["fallout"]
    assert fallout["opened"] > 0 and fallout["resolved"] > 0
    assert fallout["repair_time_p50_s"] is not None and fallout["peak_open"] >= 1


def test_the_failure_day_combines_an_outage_errors_spikes_and_cancellations():
    result = run("failure_day")
    assert result.result["downstream"]["billing"]["rejected"] > 0  # the outage bit
    assert result.result["journeys"]["cancellations_accepted"] > 0
    assert names(result)["order.fallout_resolved"] > 0
    scenario = json.dumps(result.result["scenario"])
    assert "failure_day" in scenario


def test_an_undo_the_downstream_refuses_stays_with_a_person_and_never_strands_the_order():
    # Given the manual-repair day run long enough for the desk to exhaust its playbook
    loaded = load_scenario(LIBRARY / "manual_repair_wrong.yaml")
    longer = loaded.model_copy(
        update={"scenario": loaded.scenario.model_copy(update={"drain_s": 86_400.0})}
    )
    # When it runs
    result = run_scenario(longer)
    # Then a failed undo opens a compensation case (never an item to abandon), and no
    # order is left in progress without an owner
    undo_cases = [
        e
        for e in result.output.events
        if e.name == "order.fallout_opened" and e.data["task_id"].endswith("/undo")
    ]
    assert undo_cases and all(e.data.get("kind") == "compensation" for e in undo_cases)
    broken = {i["name"] for i in result.result["invariants"] if not i["holds"]}
    assert "orders_terminal_or_in_fallout" not in broken, broken
