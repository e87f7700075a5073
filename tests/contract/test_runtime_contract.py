"""Every runtime behaves the same: given a scenario, when it runs, then the same verdict.

Each specification runs on ``sim``, ``inprocess`` and ``ray`` (see ``conftest.py``).
"""

from __future__ import annotations

import functools

import pytest
from cpqsim_host.scenario import PlatformFault

from .conftest import Judged, Runtime, variant

pytestmark = pytest.mark.slow

H = 3600.0
SHORT_DAY = {"duration_s": 2 * H, "drain_s": 4 * H}


@functools.cache
def on_sim(name: str) -> Judged:
    return Runtime("sim").run(variant(name, **SHORT_DAY))


@pytest.mark.parametrize(
    "scenario", ["happy_path", "provisioning_timeouts", "naive_retry", "provisioning_outage"]
)
def test_each_library_scenario_gets_the_same_verdict_on_every_runtime(runtime, scenario):
    run = runtime.run(variant(scenario, **SHORT_DAY))
    expected = on_sim(scenario)
    assert run.verdict == expected.verdict, {n: r.examples[:2] for n, r in run.invariants.items()}
    assert run.broken == expected.broken
    # Same plans, same customers: the journeys went the same way everywhere.
    for field in ("started", "accepted", "converted", "approvals_requested"):
        assert getattr(run.output.stats, field) == getattr(expected.output.stats, field), field


def test_a_second_conversion_is_refused_and_a_replayed_one_answers_the_same_order(runtime):
    run = runtime.run(
        variant(
            "happy_path",
            **SHORT_DAY,
            traffic={"convert_retry_rate": 0.5, "second_conversion_rate": 0.5},
        )
    )
    stats = run.output.stats
    assert stats.conversions_refused > 0 and stats.conversion_replays > 0
    assert run.invariants["quote_converted_at_most_once"].holds
    converted = {e.data["quote_id"] for e in run.events("quote.converted_to_order")}
    ordered = {e.data["quote_id"] for e in run.events("order.created")}
    assert converted == ordered and len(ordered) == stats.converted


def test_a_lost_reply_is_reconciled_before_any_retry(runtime):
    """Provisioning executes every request and loses every reply."""
    run = runtime.run(
        variant(
            "provisioning_timeouts",
            **SHORT_DAY,
            downstream={
                "provisioning": {
                    "faults": {"lost_response_rate": 1.0, "timeout_rate": 0, "error_rate": 0}
                }
            },
        )
    )
    assert run.verdict == "pass", run.broken
    timed_out = run.events("order.task_timed_out")
    assert timed_out and all(e.data["treated_as"] == "unknown" for e in timed_out)
    found = [e.data["found"] for e in run.events("order.task_reconciled")]
    assert "completed" in found
    provisioning = [
        e for e in run.events("order.task_dispatched") if e.data["system"] == "provisioning"
    ]
    assert all(e.data["attempt"] == 1 for e in provisioning)  # nothing was sent twice
    assert run.output.ledgers["provisioning"].duplicates() == {}


def test_a_restart_loses_no_accepted_order_and_duplicates_no_side_effect(runtime):
    """Order executors die five times and quote shards once, mid-day, under load."""
    restarts = [PlatformFault(at_s=H + k * 600, restart="orders") for k in range(5)]
    run = runtime.run(
        variant(
            "provisioning_timeouts",
            **SHORT_DAY,
            # Provisioning stalls often, so work is in flight or unknown at any instant.
            downstream={"provisioning": {"faults": {"timeout_rate": 0.3}}},
            faults=[*restarts, PlatformFault(at_s=H + 300, restart="quotes")],
        )
    )
    assert run.verdict == "pass", {n: run.invariants[n].examples[:2] for n in run.broken}
    accepted = {e.data["quote_id"] for e in run.events("quote.accepted")}
    converted = {e.data["quote_id"] for e in run.events("quote.converted_to_order")}
    ordered = {e.data["quote_id"] for e in run.events("order.created")}
    assert converted == ordered and converted <= accepted
    # The restarts met work in flight, which resumed by itself under the restart rule.
    resumed = [e for e in run.output.events if (e.causationid or "").startswith("restart-")]
    assert resumed, "no restart found work in flight: raise the load"
    assert all(s in ("completed", "held") for s in run.output.orders_final.values())


def test_an_unreachable_downstream_fails_queries_into_the_policy_not_into_silence(runtime):
    run = runtime.run(
        variant(
            "provisioning_timeouts",
            **SHORT_DAY,
            faults=[PlatformFault(at_s=0.5 * H, unreachable="provisioning", for_s=0.5 * H)],
        )
    )
    assert run.events("order.task_reconciliation_failed")
    for name in (
        "orders_terminal_or_in_fallout",
        "no_retry_before_reconciliation",
        "no_duplicate_side_effects",
    ):
        assert run.invariants[name].holds, run.invariants[name].examples


def test_orders_cancelled_in_flight_are_wound_down_and_undone_on_every_runtime(runtime):
    """Customers cancel while provisioning stalls: reconcile, drop, compensate, refuse."""
    run = runtime.run(variant("cancellation_in_flight", **SHORT_DAY))
    assert run.verdict == "pass", {n: run.invariants[n].examples[:2] for n in run.broken}
    stats = run.output.stats
    assert stats.cancellations_accepted > 0
    cancelled = run.events("order.cancelled")
    assert cancelled and run.invariants["cancelled_orders_leave_no_live_side_effects"].holds
    reversals = [e for ledger in run.output.ledgers.values() for e in ledger.entries if e.reversal]
    assert reversals  # the work done was undone downstream, not just forgotten


def test_an_operations_desk_repairs_fallout_on_every_runtime(runtime):
    """Provisioning rejects and fails; a desk reconciles, retries and abandons by role."""
    run = runtime.run(variant("manual_repair_wrong", **SHORT_DAY))
    assert run.verdict == "pass", run.why()
    assert run.events("order.fallout_opened") and run.events("order.fallout_resolved")
    assert run.invariants["fallout_cases_owned"].holds


def test_an_approval_policy_file_chains_two_approvers_on_every_runtime(runtime):
    # Given the catalog's approval policy (above 25 %: a sales manager, then finance)
    run = runtime.run(variant("approval_two_step", **SHORT_DAY))
    expected = on_sim("approval_two_step")
    # Then every runtime reaches the sim's verdict, with the same two-step decisions
    assert run.verdict == "pass" == expected.verdict, run.broken
    steps = run.events("quote.approval_step_approved")
    assert steps and len(steps) == len(expected.events("quote.approval_step_approved"))
    finals = {e.data["quote_id"]: e.data for e in run.events("quote.approved")}
    for step in steps:
        final = finals[step.data["quote_id"]]
        assert (final["step"], final["steps"]) == (2, 2)
        assert final["approver"] != step.data["approver"]
        assert final["policy_version"] == "enterprise-approval-2026.11"
