"""Orchestration specifications: given an order, when a signal arrives, then facts + effects."""

from __future__ import annotations

import pytest

from cpqsim.configuration import QuoteLine
from cpqsim.downstream import QueryStatus
from cpqsim.orchestration import (
    NAIVE,
    ROBUST,
    CallDownstream,
    DownstreamReplied,
    DownstreamTimedOut,
    QueryDownstream,
    RaiseFallout,
    ReconciliationAnswered,
    StartTimer,
    TimerFired,
    react,
    start_order,
)
from cpqsim.order import OrderStatus, TaskStatus
from cpqsim.quote import AcceptQuote, ConvertQuoteToOrder, CreateQuote, PriceQuote, execute

INTERNET = QuoteLine(offering="business-internet", options=["bi-access-fiber", "bi-sla-standard"])


def accepted_quote(services, ctx, lines):
    state = None
    for command in (
        CreateQuote(quote_id="Q1", account_id="a", requester="s", lines=lines),
        PriceQuote(quote_id="Q1"),
        AcceptQuote(quote_id="Q1"),
        ConvertQuoteToOrder(quote_id="Q1", idempotency_key="k", order_id="O1"),
    ):
        state, _ = execute(state, command, ctx, services)
    return state


def new_order(services, ctx, policy=ROBUST, lines=(INTERNET,)):
    quote = accepted_quote(services, ctx, list(lines))
    return start_order(quote, "O1", "k", services.catalog, ctx, policy)


def names(events):
    return [type(e).__name__ for e in events]


def calls(effects):
    return [e for e in effects if isinstance(e, CallDownstream)]


def complete(order, task_id, ctx, policy=ROBUST):
    return react(
        order, DownstreamReplied(order_id="O1", task_id=task_id, attempt=1, ok=True), ctx, policy
    )


def test_a_new_order_dispatches_only_tasks_without_dependencies(services, ctx):
    order, events, effects = new_order(services, ctx)
    assert names(events)[:2] == ["OrderCreated", "OrderDecomposed"]
    assert [c.request.task_id for c in calls(effects)] == [
        "O1-item1/business-internet/reserve-port"
    ]
    assert order.status is OrderStatus.IN_PROGRESS


def test_the_order_carries_the_accepted_snapshot_and_never_reprices(services, ctx):
    quote = accepted_quote(services, ctx, [INTERNET])
    order, _, _ = start_order(quote, "O1", "k", services.catalog, ctx, ROBUST)
    assert order.snapshot == quote.accepted_snapshot
    assert order.price_fingerprint == quote.price_fingerprint


def test_billing_starts_only_after_the_asset_is_activated(services, ctx):
    order, _, effects = new_order(services, ctx)
    seen: list[str] = []
    while calls(effects):
        call = calls(effects)[0]
        order, events, effects = complete(order, call.request.task_id, ctx)
        seen += names(events)
    activated = seen.index("AssetActivated")
    billing_done = seen.index("BillingStarted")
    assert activated < billing_done
    assert seen[-1] == "OrderCompleted"
    assert order.status is OrderStatus.COMPLETED


def test_robust_timeout_means_unknown_and_reconciles_before_any_retry(services, ctx):
    order, _, effects = new_order(services, ctx)
    task = calls(effects)[0].request.task_id
    order, events, effects = react(
        order, DownstreamTimedOut(order_id="O1", task_id=task, attempt=1), ctx, ROBUST
    )
    assert names(events) == ["FulfillmentTaskTimedOut", "FulfillmentTaskReconciliationRequested"]
    assert events[0].treated_as == "unknown"
    assert [type(e) for e in effects] == [QueryDownstream]
    assert order.tasks[task].status is TaskStatus.UNKNOWN


def test_reconciliation_that_finds_the_side_effect_completes_the_task_without_a_retry(
    services, ctx
):
    order, _, effects = new_order(services, ctx)
    task = calls(effects)[0].request.task_id
    order, _, _ = react(
        order, DownstreamTimedOut(order_id="O1", task_id=task, attempt=1), ctx, ROBUST
    )
    order, events, effects = react(
        order,
        ReconciliationAnswered(
            order_id="O1", task_id=task, attempt=1, status=QueryStatus.COMPLETED
        ),
        ctx,
        ROBUST,
    )
    assert names(events)[:2] == ["FulfillmentTaskReconciled", "FulfillmentTaskCompleted"]
    assert events[1].via == "reconciliation"
    assert all(c.request.task_id != task for c in calls(effects))


def test_a_retry_after_reconciliation_reuses_the_idempotency_key(services, ctx):
    order, _, effects = new_order(services, ctx)
    first = calls(effects)[0].request
    order, _, _ = react(
        order, DownstreamTimedOut(order_id="O1", task_id=first.task_id, attempt=1), ctx, ROBUST
    )
    order, events, effects = react(
        order,
        ReconciliationAnswered(
            order_id="O1", task_id=first.task_id, attempt=1, status=QueryStatus.NOT_FOUND
        ),
        ctx,
        ROBUST,
    )
    assert names(events) == ["FulfillmentTaskReconciled", "FulfillmentTaskRetryScheduled"]
    [timer] = effects
    assert isinstance(timer, StartTimer) and timer.purpose == "retry"
    order, events, effects = react(
        order,
        TimerFired(order_id="O1", task_id=first.task_id, attempt=1, purpose="retry"),
        ctx,
        ROBUST,
    )
    [retry] = calls(effects)
    assert retry.request.attempt == 2
    assert retry.request.idempotency_key == first.idempotency_key is not None


def test_an_outcome_still_in_progress_is_polled_then_handed_to_an_owner(services, ctx):
    order, _, effects = new_order(services, ctx)
    task = calls(effects)[0].request.task_id
    order, _, _ = react(
        order, DownstreamTimedOut(order_id="O1", task_id=task, attempt=1), ctx, ROBUST
    )
    pending = ReconciliationAnswered(
        order_id="O1", task_id=task, attempt=1, status=QueryStatus.IN_PROGRESS
    )
    for _ in range(ROBUST.max_reconcile_polls - 1):
        order, _, effects = react(order, pending, ctx, ROBUST)
        assert [e.purpose for e in effects] == ["reconcile"]
        order, _, effects = react(
            order,
            TimerFired(order_id="O1", task_id=task, attempt=1, purpose="reconcile"),
            ctx,
            ROBUST,
        )
        assert [type(e) for e in effects] == [QueryDownstream]
    order, events, effects = react(order, pending, ctx, ROBUST)
    assert names(events)[-1] == "FalloutCaseOpened"
    assert events[-1].owner == "inventory-operations"
    assert any(isinstance(e, RaiseFallout) for e in effects)
    assert order.status is OrderStatus.HELD


def test_naive_policy_treats_timeout_as_failure_and_retries_without_a_key(services, ctx):
    order, _, effects = new_order(services, ctx, NAIVE)
    call = calls(effects)[0].request
    assert call.idempotency_key is None
    order, events, effects = react(
        order, DownstreamTimedOut(order_id="O1", task_id=call.task_id, attempt=1), ctx, NAIVE
    )
    assert names(events) == ["FulfillmentTaskTimedOut", "FulfillmentTaskRetryScheduled"]
    assert events[0].treated_as == "failure"
    assert not any(isinstance(e, QueryDownstream) for e in effects)


def test_retryable_errors_back_off_and_end_in_an_owned_fallout_case(services, ctx):
    order, _, effects = new_order(services, ctx)
    task = calls(effects)[0].request.task_id
    delays = []
    for attempt in range(1, ROBUST.max_attempts + 1):
        order, events, effects = react(
            order,
            DownstreamReplied(order_id="O1", task_id=task, attempt=attempt, ok=False, error="503"),
            ctx,
            ROBUST,
        )
        if attempt < ROBUST.max_attempts:
            delays.append(events[-1].delay_ms)
            order, _, effects = react(
                order,
                TimerFired(order_id="O1", task_id=task, attempt=attempt, purpose="retry"),
                ctx,
                ROBUST,
            )
    assert delays == sorted(delays) and delays[0] >= ROBUST.backoff_initial_s * 1000
    assert names(events)[-1] == "FalloutCaseOpened"
    assert order.tasks[task].status is TaskStatus.FALLOUT


def test_a_late_reply_after_a_timeout_completes_the_task(services, ctx):
    order, _, effects = new_order(services, ctx)
    task = calls(effects)[0].request.task_id
    order, _, _ = react(
        order, DownstreamTimedOut(order_id="O1", task_id=task, attempt=1), ctx, ROBUST
    )
    order, events, _ = complete(order, task, ctx)
    assert events[0].via == "late_reply"
    assert order.tasks[task].status is TaskStatus.DONE


def test_news_about_a_settled_task_changes_nothing(services, ctx):
    order, _, effects = new_order(services, ctx)
    task = calls(effects)[0].request.task_id
    order, _, _ = complete(order, task, ctx)
    again, events, effects = complete(order, task, ctx)
    assert (again, events, effects) == (order, [], [])


def test_a_required_offering_in_the_same_order_is_fulfilled_first(services, ctx):
    firewall = QuoteLine(offering="managed-firewall", options=["mf-tier-basic"])
    order, _, effects = new_order(services, ctx, lines=(INTERNET, firewall))
    firewall_roots = [
        t for t in order.tasks.values() if t.spec.item_id == "O1-item2" and t.spec.kind != "billing"
    ]
    assert all(
        any(d.startswith("O1-item1/business-internet/") for d in t.spec.depends_on)
        for t in firewall_roots
        if not any(d.startswith("O1-item2/") for d in t.spec.depends_on)
    )
    assert all(c.request.task_id.startswith("O1-item1/") for c in calls(effects))


@pytest.mark.parametrize("policy", [ROBUST, NAIVE], ids=["robust", "naive"])
def test_the_same_inputs_give_the_same_facts(services, policy):
    from cpqsim.context import Context, IdSource, at, rng_stream

    def run():
        c = Context(now=at(0), ids=IdSource(), rng=rng_stream(7, "o"))
        order, events, effects = new_order(services, c, policy)
        task = calls(effects)[0].request.task_id
        _, more, _ = react(
            order, DownstreamTimedOut(order_id="O1", task_id=task, attempt=1), c, policy
        )
        return [e.model_dump() for e in events + more]

    assert run() == run()


# ----------------------------------------------------------- restart rule and causation


def test_the_restart_rule_times_out_in_flight_reconciles_unknown_and_rearms_retries(services, ctx):
    from cpqsim.orchestration import resume

    order, _, effects = new_order(services, ctx)
    [first] = calls(effects)
    tid = first.request.task_id
    assert [type(s).__name__ for s in resume(order, "restart-1")] == ["DownstreamTimedOut"]
    assert all(s.caused_by == "restart-1" for s in resume(order, "restart-1"))
    unknown, _, _ = react(
        order, DownstreamTimedOut(order_id="O1", task_id=tid, attempt=1), ctx, ROBUST
    )
    [again] = resume(unknown)
    assert isinstance(again, TimerFired) and again.purpose == "reconcile"
    failed, _, _ = react(
        order,
        DownstreamReplied(order_id="O1", task_id=tid, attempt=1, ok=False, error="busy"),
        ctx,
        ROBUST,
    )
    [rearm] = resume(failed)
    assert isinstance(rearm, TimerFired) and rearm.purpose == "retry"


def test_a_settled_order_needs_nothing_after_a_restart(services, ctx):
    from cpqsim.orchestration import resume
    from cpqsim.order import settled

    order, _, effects = new_order(services, ctx)
    while effects:
        call = calls(effects)[0]
        order, _, effects = react(
            order,
            DownstreamReplied(order_id="O1", task_id=call.request.task_id, attempt=1, ok=True),
            ctx,
            ROBUST,
        )
    assert order.status is OrderStatus.COMPLETED and order.settled
    assert resume(order) == []
    assert settled(OrderStatus.HELD, open_owned_cases=1)
    assert not settled(OrderStatus.HELD, open_owned_cases=0)
    assert not settled(OrderStatus.IN_PROGRESS, open_owned_cases=3)


def test_a_failed_reconciliation_query_keeps_the_outcome_unknown_and_never_retries(services, ctx):
    from cpqsim.orchestration import ReconciliationFailed

    order, _, effects = new_order(services, ctx)
    tid = calls(effects)[0].request.task_id
    order, _, _ = react(
        order, DownstreamTimedOut(order_id="O1", task_id=tid, attempt=1), ctx, ROBUST
    )
    failed = ReconciliationFailed(order_id="O1", task_id=tid, attempt=1, reason="unreachable")
    for _ in range(ROBUST.max_reconcile_polls - 1):
        order, events, effects = react(order, failed, ctx, ROBUST)
        assert names(events) == ["FulfillmentTaskReconciliationFailed"]
        assert [type(e) for e in effects] == [StartTimer]  # ask again later, never re-call
        order, events, effects = react(
            order,
            TimerFired(order_id="O1", task_id=tid, attempt=1, purpose="reconcile"),
            ctx,
            ROBUST,
        )
        assert [type(e) for e in effects] == [QueryDownstream]
    order, events, effects = react(order, failed, ctx, ROBUST)
    assert names(events) == ["FulfillmentTaskReconciliationFailed", "FalloutCaseOpened"]
    assert order.tasks[tid].status is TaskStatus.FALLOUT and order.settled


def test_every_effect_names_the_fact_that_decided_it(services, ctx):
    from cpqsim.conversion import order_to_create
    from cpqsim.services import OrderService

    quote = accepted_quote(services, ctx, [INTERNET])
    service = OrderService(services.catalog, ROBUST)
    _, events, effects = service.start(order_to_create(quote, "seller-1", "evt-conv"), ctx)
    by_id = {e.id: e for e in events}
    assert events[0].causationid == "evt-conv" and events[0].actor == ctx.actor
    for effect in effects:
        decided_by = by_id[effect.caused_by]
        assert decided_by.name == "order.task_dispatched"
        assert decided_by.data["task_id"] == effect.request.task_id


def test_an_order_rebuilt_from_its_journaled_facts_bills_the_accepted_amounts(services, ctx):
    """Given an order's facts as a journal holds them (JSON), when an executor restarted
    folds them back, then billing is handed the same terms as before the restart."""
    from cpqsim.events import CloudEvent, envelope
    from cpqsim.order import ORDER_EVENTS, evolve

    order, events, effects = new_order(services, ctx)
    journaled = [CloudEvent.model_validate_json(envelope(e, ctx).model_dump_json()) for e in events]
    rebuilt = None
    for event in journaled:
        rebuilt = evolve(rebuilt, ORDER_EVENTS[event.type].model_validate(event.data))

    assert rebuilt.terms == order.terms
    [terms] = order.terms.values()
    assert terms.main.recurring_monthly is not None and terms.currency is not None
    billed = {}
    for name, state, pending in (("before", order, effects), ("rebuilt", rebuilt, effects)):
        while calls(pending):
            call = calls(pending)[0]
            if call.request.operation == "start_billing":
                billed[name] = call.request.payload
            state, _, pending = complete(state, call.request.task_id, ctx)
    commercial = ("recurring_monthly", "one_time", "currency", "start_date", "term_end")
    assert [billed["rebuilt"].get(k) for k in commercial] == [
        billed["before"].get(k) for k in commercial
    ]
    assert billed["rebuilt"]["recurring_monthly"] == str(terms.main.recurring_monthly)
