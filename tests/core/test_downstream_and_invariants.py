"""Downstream ledger semantics and the invariant checker — including that it can fail."""

from __future__ import annotations

import random
from decimal import Decimal

import pytest

from cpqsim.context import Context, IdSource, at
from cpqsim.downstream import (
    DownstreamLedger,
    DownstreamProfile,
    DownstreamRequest,
    Fault,
    FaultProfile,
    QueryStatus,
    sample_fault,
)
from cpqsim.events import DomainEvent, envelope
from cpqsim.invariants import check_invariants
from cpqsim.order import (
    AssetActivated,
    FalloutCaseOpened,
    FulfillmentTaskDispatched,
    FulfillmentTaskTimedOut,
    OrderCreated,
    OrderDecomposed,
)
from cpqsim.quote import CommercialSnapshot, QuoteAccepted, QuoteApproved


def request(ref="O1:t1", key="O1:t1", attempt=1, system="provisioning"):
    return DownstreamRequest(
        system=system,
        operation="activate",
        reference=ref,
        idempotency_key=key,
        order_id="O1",
        task_id="t1",
        attempt=attempt,
    )


def execute_twice(deduplicates: bool, key: str | None):
    ledger = DownstreamLedger(DownstreamProfile(name="provisioning", deduplicates=deduplicates))
    for attempt in (1, 2):
        entry = ledger.accept(request(key=key, attempt=attempt), 0)
        ledger.finish(entry, 10, Fault.NONE)
    return ledger


def test_a_deduplicating_downstream_executes_a_repeated_key_once():
    assert execute_twice(deduplicates=True, key="k").duplicates() == {}


def test_without_a_key_even_a_deduplicating_downstream_executes_twice():
    assert execute_twice(deduplicates=True, key=None).duplicates() == {"O1:t1": 2}


def test_a_non_deduplicating_downstream_executes_every_request():
    assert execute_twice(deduplicates=False, key="k").duplicates() == {"O1:t1": 2}


def test_query_by_reference_tells_pending_done_failed_and_unknown_apart():
    ledger = DownstreamLedger(DownstreamProfile(name="p"))
    assert ledger.query("O1:t1") is QueryStatus.NOT_FOUND
    entry = ledger.accept(request(), 0)
    assert ledger.query("O1:t1") is QueryStatus.IN_PROGRESS
    ledger.finish(entry, 5, Fault.ERROR)
    assert ledger.query("O1:t1") is QueryStatus.FAILED
    ledger.finish(ledger.accept(request(attempt=2), 6), 9, Fault.LOST_RESPONSE)
    assert ledger.query("O1:t1") is QueryStatus.COMPLETED  # executed although the reply was lost


def test_fault_draws_follow_the_configured_rates():
    profile = DownstreamProfile(
        name="p", faults=FaultProfile(error_rate=0.1, timeout_rate=0.2, lost_response_rate=0.3)
    )
    rng = random.Random(3)
    draws = [sample_fault(profile, rng) for _ in range(20000)]
    for fault, rate in ((Fault.ERROR, 0.1), (Fault.STALL, 0.2), (Fault.LOST_RESPONSE, 0.3)):
        assert draws.count(fault) / len(draws) == pytest.approx(rate, abs=0.015)


def test_fault_rates_above_one_are_refused():
    with pytest.raises(ValueError, match="must be <= 1"):
        FaultProfile(error_rate=0.6, lost_response_rate=0.6)


# ---------------------------------------------------------------- invariant checker


def log(*events: DomainEvent):
    ctx = Context(now=at(0), ids=IdSource())
    return [envelope(e, ctx) for e in events]


def verdict(events, ledgers=None):
    return {r.name: r for r in check_invariants(events, ledgers or {})}


def snapshot(quote_id="Q1") -> CommercialSnapshot:
    return CommercialSnapshot(
        quote_id=quote_id,
        revision=1,
        account_id="a",
        lines=[],
        discount_pct=Decimal("0"),
        region=None,
        catalog_version="1",
        price_request=None,
        price_fingerprint=None,
    )


def created(order_id="O1", quote_id="Q1"):
    return OrderCreated(
        order_id=order_id,
        quote_id=quote_id,
        quote_revision=1,
        account_id="a",
        idempotency_key="k",
        items=[],
        snapshot=snapshot(quote_id),
        snapshot_fingerprint="f",
        price_fingerprint="p",
    )


def test_duplicate_side_effects_are_reported_with_the_reference():
    ledger = execute_twice(deduplicates=False, key=None)
    result = verdict([], {"provisioning": ledger.snapshot()})["no_duplicate_side_effects"]
    assert not result.holds and "O1:t1 executed 2 times" in result.examples[0]


def test_an_order_left_in_progress_without_an_owner_is_stuck():
    result = verdict(log(created()))["orders_terminal_or_in_fallout"]
    assert not result.holds and "O1" in result.examples[0]


def test_an_order_held_in_an_owned_fallout_case_is_not_stuck():
    case = FalloutCaseOpened(
        order_id="O1",
        task_id="t1",
        attempt=3,
        case_id="c1",
        owner="provisioning-operations",
        reason="r",
        repair_actions=[],
    )
    decomposed = OrderDecomposed(order_id="O1", tasks=[])
    assert verdict(log(created(), decomposed, case))["orders_terminal_or_in_fallout"].holds


def test_two_orders_from_one_quote_break_convert_at_most_once():
    result = verdict(log(created("O1"), created("O2")))["quote_converted_at_most_once"]
    assert not result.holds


def test_billing_before_activation_is_caught():
    from cpqsim.decomposition import TaskSpec
    from cpqsim.order import OrderDecomposed

    billing = TaskSpec(
        task_id="i1/billing/start_billing",
        item_id="i1",
        element="x",
        system="billing",
        operation="start_billing",
        depends_on=[],
        kind="billing",
    )
    dispatched = FulfillmentTaskDispatched(
        order_id="O1",
        task_id=billing.task_id,
        attempt=1,
        system="billing",
        operation="start_billing",
        reference="r",
        idempotency_key="r",
    )
    early = log(created(), OrderDecomposed(order_id="O1", tasks=[billing]), dispatched)
    assert not verdict(early)["billing_not_before_activation"].holds
    activated = AssetActivated(order_id="O1", item_id="i1", asset_id="a1", offering="x", quantity=1)
    on_time = log(created(), OrderDecomposed(order_id="O1", tasks=[billing]), activated, dispatched)
    assert verdict(on_time)["billing_not_before_activation"].holds


def test_an_approval_of_another_snapshot_does_not_cover_acceptance():
    approved = QuoteApproved(
        quote_id="Q1",
        revision=1,
        approver="m",
        role="sales_manager",
        requester="s",
        snapshot_fingerprint="sha256:old",
        policy_version="v1",
    )
    accepted = QuoteAccepted(
        quote_id="Q1",
        revision=1,
        snapshot=snapshot(),
        snapshot_fingerprint="sha256:new",
        price_fingerprint="p",
        approval_required=True,
        approval_snapshot_fingerprint="sha256:old",
    )
    result = verdict(log(approved, accepted))["approval_matches_accepted_snapshot"]
    assert not result.holds and "another snapshot" in result.examples[0]


def test_a_retry_after_a_timeout_without_reconciliation_is_reported():
    def dispatched(attempt):
        return FulfillmentTaskDispatched(
            order_id="O1",
            task_id="t1",
            attempt=attempt,
            system="provisioning",
            operation="activate",
            reference="O1:t1",
            idempotency_key=None,
        )

    timed_out = FulfillmentTaskTimedOut(
        order_id="O1", task_id="t1", attempt=1, treated_as="failure"
    )
    result = verdict(log(dispatched(1), timed_out, dispatched(2)))["no_retry_before_reconciliation"]
    assert not result.holds
