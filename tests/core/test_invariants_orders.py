"""The invariants of where orders fail — each shown to fail on a log that breaks it, and
to hold on the same log put right."""

from __future__ import annotations

from cpqsim.context import at, iso
from cpqsim.downstream import DownstreamLedger, DownstreamProfile, DownstreamRequest, Fault
from cpqsim.events import CloudEvent
from cpqsim.invariants import check_invariants


def ev(name: str, t: float = 0.0, **data) -> CloudEvent:
    aggregate = name.split(".")[0]
    key = data.get("order_id") or data.get("quote_id") or data.get("catalog_id", "c")
    return CloudEvent(
        id=f"evt-{name}-{t}",
        type=f"cpqsim.{name}.v1",
        source=f"/cpqsim/{aggregate}",
        subject=f"{aggregate}/{key}",
        time=iso(at(t)),
        correlationid="c",
        data=data,
    )


def verdict(events, ledgers=None) -> dict:
    return {r.name: r for r in check_invariants(events, ledgers or {})}


def ledger_with(*runs: tuple[str, str | None], system: str = "inventory"):
    ledger = DownstreamLedger(DownstreamProfile(name=system))
    for reference, compensates in runs:
        request = DownstreamRequest(
            system=system,
            operation="x",
            reference=reference,
            idempotency_key=reference,
            order_id="O1",
            task_id=reference.split(":", 1)[1],
            attempt=1,
            compensates=compensates,
        )
        ledger.finish(ledger.accept(request, 0), 1, Fault.NONE)
    return {system: ledger.snapshot()}


TASKS = [
    {"task_id": "t1", "item_id": "i1", "depends_on": [], "kind": "fulfillment"},
    {"task_id": "t2", "item_id": "i1", "depends_on": ["t1"], "kind": "fulfillment"},
]
CANCELLED = [
    ev("order.created", 0, order_id="O1", quote_id="Q1"),
    ev("order.decomposed", 0, order_id="O1", tasks=TASKS),
    ev("order.task_dispatched", 1, order_id="O1", task_id="t1", system="inventory", attempt=1),
    ev("order.task_completed", 2, order_id="O1", task_id="t1", attempt=1, via="reply"),
    ev(
        "order.cancellation_accepted",
        3,
        order_id="O1",
        kind="customer",
        reason="r",
        requested_by="c",
        dropped=["t2"],
    ),
    ev("order.cancelled", 4, order_id="O1", reason="r"),
]


def test_a_cancelled_order_must_leave_nothing_in_force_downstream():
    kept = verdict(CANCELLED, ledger_with(("O1:t1", None)))
    name = "cancelled_orders_leave_no_live_side_effects"
    assert not kept[name].holds and "inventory O1:t1" in kept[name].examples[0]
    undone = verdict(CANCELLED, ledger_with(("O1:t1", None), ("O1:t1/undo", "O1:t1")))
    assert undone[name].holds


def test_a_task_is_undone_only_after_what_depended_on_it():
    events = [
        ev("order.decomposed", 0, order_id="O1", tasks=TASKS),
        ev("order.task_completed", 1, order_id="O1", task_id="t1"),
        ev("order.task_completed", 2, order_id="O1", task_id="t2"),
        ev("order.task_dispatched", 3, order_id="O1", task_id="t1/undo", system="inventory"),
    ]
    name = "compensations_in_reverse_dependency_order"
    assert not verdict(events)[name].holds
    right = [
        *events[:3],
        ev("order.task_completed", 3, order_id="O1", task_id="t2/undo"),
        events[3],
    ]
    assert verdict(right)[name].holds


def test_an_activated_item_must_be_billed():
    activated = [
        ev("order.created", 0, order_id="O1", quote_id="Q1"),
        ev("order.asset_activated", 1, order_id="O1", item_id="i1", asset_id="a1"),
    ]
    name = "activated_items_are_billed"
    assert not verdict(activated)[name].holds
    billed = [*activated, ev("order.billing_started", 2, order_id="O1", item_id="i1")]
    assert verdict(billed)[name].holds


def test_nothing_may_start_after_a_cancellation_is_accepted():
    events = [
        ev(
            "order.cancellation_accepted",
            1,
            order_id="O1",
            kind="customer",
            reason="r",
            requested_by="c",
            dropped=[],
        ),
        ev("order.asset_activated", 2, order_id="O1", item_id="i1", asset_id="a1"),
        ev("order.task_dispatched", 3, order_id="O1", task_id="t2", system="x", attempt=1),
        ev("order.task_dispatched", 4, order_id="O1", task_id="t1/undo", system="x", attempt=1),
    ]
    result = verdict(events)["nothing_changes_after_cancellation"]
    assert result.violations == 2  # the activation and t2; undoing t1 is what it should do


def test_an_approval_overdue_without_an_owner_is_a_stuck_quote():
    waiting = [
        ev("quote.submitted_for_approval", 0, quote_id="Q1", revision=1),
        ev("quote.created", 5 * 3600, quote_id="Q2", revision=1, catalog_version="1"),
    ]
    name = "no_quote_stuck_in_approval"
    assert not verdict(waiting)[name].holds
    escalated = [
        waiting[0],
        ev("quote.approval_escalated", 2 * 3600, quote_id="Q1", revision=1, owner="sales-ops"),
        waiting[1],
    ]
    assert verdict(escalated)[name].holds


def test_a_price_from_a_catalog_no_longer_in_force_cannot_be_accepted():
    stale = [
        ev("quote.created", 0, quote_id="Q1", revision=1, catalog_version="v1"),
        ev("quote.priced", 1, quote_id="Q1", revision=1, price={"catalog_version": "v1"}),
        ev("catalog.published", 2, catalog_id="c", catalog_version="v2"),
        ev("quote.accepted", 3, quote_id="Q1", revision=1, snapshot={}, approval_required=False),
    ]
    name = "no_stale_price_accepted"
    assert not verdict(stale)[name].holds
    requoted = [
        *stale[:3],
        ev("quote.priced", 3, quote_id="Q1", revision=1, price={"catalog_version": "v2"}),
        stale[3],
    ]
    assert verdict(requoted)[name].holds


def test_a_fallout_case_without_an_owner_is_a_violation():
    case = {"order_id": "O1", "task_id": "t1", "case_id": "case-1", "reason": "r"}
    ownerless = [ev("order.fallout_opened", 0, **case, owner="")]
    assert not verdict(ownerless)["fallout_cases_owned"].holds
    owned = [ev("order.fallout_opened", 0, **case, owner="provisioning-operations")]
    assert verdict(owned)["fallout_cases_owned"].holds


def test_a_side_effect_the_platform_gave_up_on_is_a_disagreement():
    events = [
        ev("order.task_dispatched", 1, order_id="O1", task_id="t1", system="inventory", attempt=1),
        ev("order.task_dropped", 2, order_id="O1", task_id="t1", attempt=1, reason="r"),
    ]
    result = verdict(events, ledger_with(("O1:t1", None)))["platform_agrees_with_downstream"]
    assert not result.holds and "gave up on" in result.examples[0]
    undone = ledger_with(("O1:t1", None), ("O1:t1/undo", "O1:t1"))
    assert verdict(events, undone)["platform_agrees_with_downstream"].holds
