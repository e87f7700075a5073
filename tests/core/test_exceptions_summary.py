"""The order-exception figures of a run: the fallout queue, repair times, what cancellations
cost each downstream, and an order's story beside the ledgers."""

from __future__ import annotations

from cpqsim.context import at, iso
from cpqsim.downstream import DownstreamLedger, DownstreamProfile, DownstreamRequest, Fault
from cpqsim.events import CloudEvent
from cpqsim.exceptions_summary import (
    exceptions_summary,
    fallout_queue,
    order_evidence,
    repairs,
)


def ev(name: str, t: float, order_id: str = "O1", **data) -> CloudEvent:
    return CloudEvent(
        id=f"evt-{name}-{order_id}-{t}",
        type=f"cpqsim.{name}.v1",
        source="/cpqsim/order",
        subject=f"order/{order_id}",
        time=iso(at(t)),
        correlationid="c",
        data={"order_id": order_id, **data},
    )


def opened(case: str, t: float, order_id: str = "O1", owner: str = "provisioning-ops", **kw):
    data = {"case_id": case, "task_id": "t1", "owner": owner, "reason": "r", **kw}
    return ev("order.fallout_opened", t, order_id, repair_actions=["retry"], **data)


def resolved(case: str, t: float, order_id: str = "O1", action: str = "retry"):
    return ev(
        "order.fallout_resolved",
        t,
        order_id,
        case_id=case,
        task_id="t1",
        action=action,
        actor="ops-1",
        role="provisioning-ops",
        reason="fixed",
    )


def ledger(system: str, *entries: tuple[str, str | None, Fault, int]):
    book = DownstreamLedger(DownstreamProfile(name=system))
    for reference, compensates, fault, finished_ms in entries:
        request = DownstreamRequest(
            system=system,
            operation="undo" if compensates else "do",
            reference=reference,
            idempotency_key=reference,
            order_id=reference.split(":")[0],
            task_id=reference.split(":", 1)[1],
            attempt=1,
            compensates=compensates,
        )
        book.finish(book.accept(request, finished_ms - 100), finished_ms, fault)
    return book.snapshot()


def test_given_cases_opened_and_repaired_then_the_queue_steps_up_and_drains():
    events = [opened("F1", 60), opened("F2", 120, "O2"), resolved("F1", 660), resolved("F2", 120)]

    found = repairs(events)

    assert [(r.case_id, r.took_s) for r in found] == [("F1", 600.0), ("F2", 0.0)]
    # at one instant an opening counts before a resolution, so a case repaired at once
    # still shows as having been open
    assert fallout_queue(found) == [(60.0, 1), (120.0, 2), (120.0, 1), (660.0, 0)]


def test_given_a_case_never_repaired_then_it_is_open_at_the_end_and_has_no_repair_time():
    events = [opened("F1", 10), opened("F2", 20, kind="compensation"), resolved("F1", 70)]

    summary = exceptions_summary(events, {})["fallout"]

    assert summary["opened"] == 2
    assert summary["resolved"] == 1
    assert summary["open_at_end"] == 1
    assert summary["peak_open"] == 2
    assert summary["by_kind"] == {"compensation": 1, "task": 1}
    assert summary["repair_time_p50_s"] == 60.0
    assert summary["repair_time_max_s"] == 60.0


def test_given_cancellations_then_they_are_counted_by_who_asked_and_by_outcome():
    events = [
        ev("order.cancellation_accepted", 5, "O1", kind="customer", reason="changed mind"),
        ev("order.cancellation_accepted", 6, "O2", kind="operations", reason="fraud"),
        ev("order.cancellation_accepted", 7, "O3", kind="rollback", reason="all or nothing"),
        ev("order.cancelled", 9, "O1"),
        ev("order.repair_refused", 9, "O2", case_id="F9", actor="a", role="sales"),
    ]

    summary = exceptions_summary(events, {})

    assert summary["cancellations"] == {
        "accepted_by_customer": 1,
        "accepted_by_operations": 1,
        "rollbacks": 1,
        "orders_cancelled": 1,
    }
    assert summary["fallout"]["repairs_refused"] == 1


def test_given_undo_requests_then_compensations_count_references_not_attempts():
    inventory = ledger(
        "inventory",
        ("O1:reserve", None, Fault.NONE, 1000),
        ("O1:reserve/undo", "O1:reserve", Fault.ERROR, 2000),
        ("O1:reserve/undo", "O1:reserve", Fault.NONE, 3000),
        ("O1:reserve/undo", "O1:reserve", Fault.NONE, 4000),  # a duplicate undo
        ("O2:reserve", None, Fault.NONE, 5000),
    )

    summary = exceptions_summary([], {"inventory": inventory})["compensations"]

    assert summary == {
        "inventory": {
            "compensations_requested": 1,
            "undone": 1,
            "failed": 1,
            "live_references": 1,  # O2's reservation; O1's was undone
        }
    }


def test_an_orders_evidence_interleaves_its_facts_with_the_ledgers_in_time():
    events = [
        ev("order.task_dispatched", 1, task_id="O1:reserve", attempt=1),
        ev("order.task_dispatched", 1, "O2", task_id="O2:reserve", attempt=1),
        ev("order.task_completed", 2, task_id="O1:reserve", attempt=1, via="reply"),
        ev("order.cancellation_accepted", 3, kind="customer", reason="r"),
    ]
    inventory = ledger(
        "inventory",
        ("O1:reserve", None, Fault.NONE, 1500),
        ("O2:reserve", None, Fault.NONE, 1600),
        ("O1:reserve/undo", "O1:reserve", Fault.NONE, 3500),
    )

    rows = order_evidence(events, {"inventory": inventory}, "O1")

    assert [(r.t_s, r.source, r.what) for r in rows] == [
        (1.0, "platform", "order.task_dispatched"),
        (1.5, "inventory", "do completed (side effect)"),
        (2.0, "platform", "order.task_completed"),
        (3.0, "platform", "order.cancellation_accepted"),
        (3.5, "inventory", "undo completed (reversal)"),
    ]
    assert "undoes O1:reserve" in rows[-1].detail
