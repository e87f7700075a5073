"""Where orders really fail: given an order in some state, when something goes wrong or
someone decides, then these facts (and only these)."""

from __future__ import annotations

import pytest
from order_desk import Desk, golden_catalog

from cpqsim.downstream import (
    DownstreamLedger,
    DownstreamProfile,
    DownstreamRequest,
    Fault,
    live_side_effects,
)
from cpqsim.lifecycle import DomainError
from cpqsim.orchestration import NAIVE
from cpqsim.order import OrderStatus, TaskStatus
from cpqsim.order_policy import OrderPolicy

INTERNET = [{"offering": "internet"}]
SUITE = [{"offering": "suite", "quantity": 2}]


def test_work_in_flight_is_reconciled_then_dropped_never_retried_when_cancelled():
    desk = Desk(INTERNET)
    desk.step({"cancel": {"requested_by": "customer"}})
    facts, _ = desk.step({"timeout": "reserve-port"})
    assert facts == ["task_timed_out", "task_reconciliation_requested"]  # unknown, not failed
    facts, dispatched = desk.step({"answer": "reserve-port", "found": "not_found"})
    assert facts == ["task_reconciled", "task_dropped", "cancelled"] and dispatched == []
    assert desk.order.status is OrderStatus.CANCELLED


def test_work_in_flight_that_turns_out_done_is_compensated():
    desk = Desk(INTERNET)
    desk.step({"cancel": {"requested_by": "customer"}})
    desk.step({"timeout": "reserve-port"})
    facts, dispatched = desk.step({"answer": "reserve-port", "found": "completed"})
    assert facts[:3] == ["task_reconciled", "task_completed", "compensation_planned"]
    assert dispatched[0].endswith("reserve-port/undo")
    undo = desk.sent[dispatched[0]].request
    assert undo.compensates == "O1:O1-item1/internet/reserve-port" and undo.operation == "release"


def test_a_late_reply_after_cancellation_is_undone_never_brought_back_to_life():
    desk = Desk(INTERNET)
    desk.step({"timeout": "reserve-port"})
    desk.step({"answer": "reserve-port", "found": "not_found"})  # looks not done: retry due
    desk.step({"cancel": {"requested_by": "customer"}})  # the waiting retry is dropped
    assert desk.order.tasks["O1-item1/internet/reserve-port"].status is TaskStatus.DROPPED
    assert desk.order.status is OrderStatus.CANCELLED
    # ...and then the first attempt's reply arrives after all: the side effect exists.
    facts, _ = desk.step({"late_reply": "reserve-port"})
    assert facts == ["task_completed", "fallout_opened"]
    case = desk.order.fallout_cases[-1]
    assert case["kind"] == "compensation" and desk.order.status is OrderStatus.HELD
    assert not desk.order.assets  # nothing activated, nothing billed
    facts, _ = desk.step({"repair": {"action": "compensate", "role": "operations"}})
    assert facts == ["fallout_resolved", "compensation_planned", "task_dispatched"]
    desk.step({"reply": "reserve-port/undo", "ok": True})
    assert desk.order.status is OrderStatus.CANCELLED


def test_a_compensation_that_keeps_failing_becomes_a_case_of_its_own():
    desk = Desk(INTERNET)
    desk.step({"cancel": {"requested_by": "customer"}})
    desk.step({"reply": "reserve-port", "ok": True})
    for attempt in range(1, 5):
        facts, _ = desk.step({"reply": "reserve-port/undo", "ok": False})
        if attempt < 4:
            desk.step({"timer": "reserve-port/undo"})
    assert facts == ["task_failed", "fallout_opened"]
    [case] = desk.order.fallout_cases
    assert case["task_id"].endswith("reserve-port/undo") and case["owner"] == "inventory-operations"
    assert desk.order.status is OrderStatus.HELD and desk.order.settled


def test_a_done_task_nobody_can_undo_goes_to_a_person():
    desk = Desk(INTERNET, catalog=golden_catalog(**{"reserve-port": {"compensation": None}}))
    desk.step({"cancel": {"requested_by": "customer"}})
    facts, _ = desk.step({"reply": "reserve-port", "ok": True})
    assert facts == ["task_completed", "fallout_opened"]
    assert desk.order.fallout_cases[0]["kind"] == "compensation"
    with pytest.raises(DomainError, match="evidence"):
        desk.step({"repair": {"action": "mark_done", "role": "operations_lead"}})
    desk.step(
        {
            "repair": {
                "action": "mark_done",
                "role": "operations_lead",
                "evidence": "INV-4711 released by hand",
            }
        }
    )
    assert desk.order.status is OrderStatus.CANCELLED


def test_a_repair_without_authority_is_refused_and_recorded():
    desk = Desk(SUITE)
    desk.step({"reply": "reserve-licenses", "ok": True})
    desk.step({"reply": "activate-tenant", "ok": False, "retryable": False})
    facts, _ = desk.step(
        {"repair": {"action": "mark_done", "role": "operations", "evidence": "ticket 1"}}
    )
    assert facts == ["repair_refused"]
    assert desk.order.open_owned_cases == 1  # nothing changed but the record
    facts, dispatched = desk.step({"repair": {"action": "retry", "role": "operations"}})
    assert facts == ["fallout_resolved", "task_dispatched"]
    assert (
        dispatched[0].endswith("activate-tenant") and desk.order.status is OrderStatus.IN_PROGRESS
    )


def test_an_abandoned_item_rolls_back_the_whole_order_when_it_is_all_or_nothing():
    policy = OrderPolicy(partial_fulfilment="all_or_nothing")
    desk = Desk([*INTERNET, *SUITE], order_policy=policy)
    desk.step({"reply": "reserve-licenses", "ok": True})
    desk.step({"reply": "activate-tenant", "ok": False, "retryable": False})
    desk.step({"reply": "reserve-port", "ok": True})  # ship-cpe is dispatched meanwhile
    facts, dispatched = desk.step({"repair": {"action": "abandon_item", "role": "operations_lead"}})
    assert facts == [
        "fallout_resolved",
        "cancellation_accepted",
        "compensation_planned",
        "task_dispatched",
    ]
    assert [d.rsplit("/", 2)[-2:] for d in dispatched] == [["reserve-licenses", "undo"]]
    # ship-cpe was in flight: its outcome decides; done, it is undone before the port.
    _, dispatched = desk.step({"reply": "ship-cpe", "ok": True})
    assert [d.endswith("ship-cpe/undo") for d in dispatched] == [True]
    desk.step({"reply": "reserve-licenses/undo", "ok": True})
    _, dispatched = desk.step({"reply": "ship-cpe/undo", "ok": True})
    assert [d.endswith("reserve-port/undo") for d in dispatched] == [True]
    facts, _ = desk.step({"reply": "reserve-port/undo", "ok": True})
    assert facts == ["task_completed", "failed"]
    assert desk.order.status is OrderStatus.FAILED
    assert desk.order.cancellation["kind"] == "rollback"


def test_the_naive_policy_drops_a_timed_out_task_it_never_reconciled():
    """Taking a timeout for failure leaves what really happened downstream in place."""
    desk = Desk(INTERNET, policy=NAIVE)
    desk.step({"cancel": {"requested_by": "customer"}})
    facts, _ = desk.step({"timeout": "reserve-port"})
    assert facts == ["task_timed_out", "task_dropped", "cancelled"]


def test_an_order_from_an_account_on_credit_hold_is_rejected_with_the_reason():
    desk = Desk(
        INTERNET, order_policy=OrderPolicy(credit_hold_accounts=["acct-9"]), account="acct-9"
    )
    facts, dispatched = desk.new
    assert facts == ["created", "rejected"] and dispatched == []
    assert desk.order.status is OrderStatus.REJECTED and desk.order.settled
    assert desk.order.rejection == [
        {"kind": "credit", "message": "account acct-9 is on credit hold"}
    ]


def test_cancelling_a_finished_or_cancelled_order_is_refused():
    desk = Desk(INTERNET)
    desk.step({"cancel": {"requested_by": "customer"}})
    with pytest.raises(DomainError, match="already being wound down"):
        desk.step({"cancel": {"requested_by": "customer"}})
    desk.step({"reply": "reserve-port", "ok": True})
    desk.step({"reply": "reserve-port/undo", "ok": True})
    with pytest.raises(DomainError, match="cancelled: nothing to cancel"):
        desk.step({"cancel": {"requested_by": "operations"}})


def test_the_ledger_counts_live_side_effects_net_of_reversals():
    ledger = DownstreamLedger(DownstreamProfile(name="inventory"))

    def run(reference: str, compensates: str | None = None) -> None:
        request = DownstreamRequest(
            system="inventory",
            operation="release" if compensates else "reserve",
            reference=reference,
            idempotency_key=reference,
            order_id="O1",
            task_id=reference,
            attempt=1,
            compensates=compensates,
        )
        ledger.finish(ledger.accept(request, 0), 1, Fault.NONE)

    run("O1:a")
    run("O1:b")
    assert ledger.live_side_effects() == {"O1:a": 1, "O1:b": 1}
    run("O1:a/undo", compensates="O1:a")
    run("O1:a/undo", compensates="O1:a")  # the same key again: deduplicated, no double undo
    assert ledger.live_side_effects() == {"O1:b": 1}
    assert live_side_effects(ledger.snapshot().entries) == {"O1:b": 1}
