"""Fulfillment orchestration as a pure process manager.

``react(order, signal, ctx, policy) -> (order, events, effects)``. Signals are what a
runtime observed (a reply, a timeout, a reconciliation answer, a timer); effects are
what it must do next (call, query, start a timer, route a fallout case). The runtime
owns time and I/O; every decision about order, retries and reconciliation is made here,
identically for both runtimes.

Under the robust policy a timeout means *unknown*: the task is reconciled by
query-by-reference before any retry, and retries carry the task's idempotency key. The
naive policy (blind retry, no keys) exists to prove the invariant checker can fail.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Literal, NamedTuple

from pydantic import BaseModel, ConfigDict, Field

from cpqsim.asset import Asset
from cpqsim.catalog import Catalog
from cpqsim.change import ChangeRefusal
from cpqsim.context import Context
from cpqsim.decomposition import (
    BILLING_SYSTEM,
    OrderItem,
    TaskSpec,
    compensation_of,
    decompose,
    order_items,
    plan_tasks,
)
from cpqsim.downstream import DAY_S, DownstreamRequest, QueryStatus
from cpqsim.order import (
    AssetActivated,
    BillingStarted,
    CompensationPlanned,
    FalloutCaseOpened,
    FulfillmentTaskCompleted,
    FulfillmentTaskDispatched,
    FulfillmentTaskDropped,
    FulfillmentTaskFailed,
    FulfillmentTaskReconciled,
    FulfillmentTaskReconciliationFailed,
    FulfillmentTaskReconciliationRequested,
    FulfillmentTaskRetryScheduled,
    FulfillmentTaskTimedOut,
    ItemChangeFulfilled,
    Order,
    OrderCancelled,
    OrderCompleted,
    OrderCreated,
    OrderDecomposed,
    OrderEvent,
    OrderFailed,
    OrderPartiallyCompleted,
    OrderRejected,
    OrderStatus,
    TaskState,
    TaskStatus,
    evolve,
)
from cpqsim.order_policy import DEFAULT_ORDER_POLICY, OrderPolicy
from cpqsim.order_terms import ElementTerms, ItemTerms, child_keys, item_terms, monthly_moves
from cpqsim.order_validation import OrderToValidate, validate_order
from cpqsim.pricing_result import PriceResult
from cpqsim.quote import Quote


class ResiliencePolicy(BaseModel):
    """How fulfillment copes with failure. Durations are seconds of (virtual) time."""

    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)

    name: str = Field(default="robust", min_length=1, max_length=100)
    call_timeout_s: float = Field(default=30.0, gt=0, le=DAY_S)
    max_attempts: int = Field(default=4, ge=1, le=100)
    backoff_initial_s: float = Field(default=5.0, ge=0, le=DAY_S)
    backoff_multiplier: float = Field(default=2.0, ge=1, le=100)
    backoff_max_s: float = Field(default=300.0, ge=0, le=DAY_S)
    backoff_jitter: float = Field(default=0.2, ge=0, le=1)
    timeout_means: Literal["unknown", "failure"] = "unknown"
    reconcile_before_retry: bool = True
    send_idempotency_keys: bool = True
    reconcile_poll_interval_s: float = Field(default=15.0, gt=0, le=DAY_S)
    max_reconcile_polls: int = Field(default=8, ge=1, le=1_000)


ROBUST = ResiliencePolicy()
NAIVE = ResiliencePolicy(
    name="naive",
    timeout_means="failure",
    reconcile_before_retry=False,
    send_idempotency_keys=False,
)


# ----------------------------------------------------------------------------- signals


class Signal(BaseModel):
    """What a runtime observed about a task. ``caused_by`` is the id of the event whose
    effect this answers (the dispatch a reply answers); facts decided on the signal carry
    it as their ``causationid``."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    order_id: str
    task_id: str
    attempt: int
    caused_by: str | None = None


class DownstreamReplied(Signal):
    ok: bool
    error: str | None = None
    retryable: bool = True


class DownstreamTimedOut(Signal):
    pass


class ReconciliationAnswered(Signal):
    status: QueryStatus


class ReconciliationFailed(Signal):
    """The query by reference itself failed (the downstream is unreachable)."""

    reason: str


class TimerFired(Signal):
    purpose: Literal["retry", "reconcile"]


# ----------------------------------------------------------------------------- effects


class Effect(BaseModel):
    """Something a runtime must do. ``caused_by`` is the id of the event that decided it,
    filled in when the facts are enveloped (see :class:`cpqsim.services.OrderService`)."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    caused_by: str | None = None


class CallDownstream(Effect):
    request: DownstreamRequest
    timeout_s: float


class QueryDownstream(Effect):
    system: str
    reference: str
    order_id: str
    task_id: str
    attempt: int


class StartTimer(Effect):
    order_id: str
    task_id: str
    attempt: int
    purpose: Literal["retry", "reconcile"]
    delay_s: float


class RaiseFallout(Effect):
    order_id: str
    case_id: str
    owner: str
    reason: str


# ---------------------------------------------------------------- signals from effects
# Runtimes observe; these say which signal each observation is, so no runtime decides it.


def replied(
    request: DownstreamRequest,
    ok: bool,
    error: str | None = None,
    retryable: bool = True,
    caused_by: str | None = None,
) -> DownstreamReplied:
    """The signal for a reply to ``request`` (runtimes observe replies; the core judges)."""
    return DownstreamReplied(
        order_id=request.order_id,
        task_id=request.task_id,
        attempt=request.attempt,
        ok=ok,
        error=error,
        retryable=retryable,
        caused_by=caused_by,
    )


def timed_out(request: DownstreamRequest, caused_by: str | None = None) -> DownstreamTimedOut:
    """The signal for a caller timeout on ``request``."""
    return DownstreamTimedOut(
        order_id=request.order_id,
        task_id=request.task_id,
        attempt=request.attempt,
        caused_by=caused_by,
    )


def answered(query: QueryDownstream, status: QueryStatus) -> ReconciliationAnswered:
    return ReconciliationAnswered(
        order_id=query.order_id,
        task_id=query.task_id,
        attempt=query.attempt,
        status=status,
        caused_by=query.caused_by,
    )


def query_failed(query: QueryDownstream, reason: str) -> ReconciliationFailed:
    return ReconciliationFailed(
        order_id=query.order_id,
        task_id=query.task_id,
        attempt=query.attempt,
        reason=reason,
        caused_by=query.caused_by,
    )


def fired(timer: StartTimer) -> TimerFired:
    return TimerFired(
        order_id=timer.order_id,
        task_id=timer.task_id,
        attempt=timer.attempt,
        purpose=timer.purpose,
        caused_by=timer.caused_by,
    )


def resume(order: Order, caused_by: str | None = None) -> list[Signal]:
    """The restart rule: what an executor that lost its in-flight work must do next.

    Whatever was in flight when the process died has an unknown outcome (its reply, if
    any, went to the dead process): it is taken as timed out, and the policy decides what
    that means. A task already unknown is reconciled again, and a retry that was waiting
    is re-armed. Settled orders need nothing. ``caused_by`` names the restart: the facts
    decided on these signals carry it as their causation.
    """
    if order.settled:
        return []
    signals: list[Signal] = []
    for task_id in order.task_order:
        task = order.tasks[task_id]
        who = {
            "order_id": order.order_id,
            "task_id": task_id,
            "attempt": task.attempts,
            "caused_by": caused_by,
        }
        if task.status is TaskStatus.IN_FLIGHT:
            signals.append(DownstreamTimedOut(**who))
        elif task.status is TaskStatus.UNKNOWN:
            signals.append(TimerFired(**who, purpose="reconcile"))
        elif task.status is TaskStatus.WAITING_RETRY:
            signals.append(TimerFired(**who, purpose="retry"))
    return signals


class Reaction(NamedTuple):
    """What a process-manager step decided: the new state, facts, effects, and for each
    effect the index of the fact that decided it (its cause)."""

    order: Order
    events: list[OrderEvent]
    effects: list[Effect]
    causes: list[int]


class Step:
    """Accumulates facts and effects while keeping the state current after each fact."""

    def __init__(self, order: Order | None) -> None:
        self.order = order
        self.events: list[OrderEvent] = []
        self.effects: list[Effect] = []
        self.causes: list[int] = []

    def emit(self, event: OrderEvent) -> None:
        self.order = evolve(self.order, event)
        self.events.append(event)

    def effect(self, effect: Effect) -> None:
        """Add an effect decided by the latest fact."""
        self.effects.append(effect)
        self.causes.append(len(self.events) - 1)

    def reaction(self) -> Reaction:
        assert self.order is not None
        return Reaction(self.order, self.events, self.effects, self.causes)

    def result(self) -> tuple[Order, list[OrderEvent], list[Effect]]:
        order, events, effects, _ = self.reaction()
        return order, events, effects


def reference_of(order_id: str, task_id: str) -> str:
    """The stable business reference a downstream can be queried by."""
    return f"{order_id}:{task_id}"


def start_order_reaction(
    quote: Quote,
    order_id: str,
    idempotency_key: str,
    catalog: Catalog,
    ctx: Context,
    policy: ResiliencePolicy,
    order_policy: OrderPolicy = DEFAULT_ORDER_POLICY,
    assets: Sequence[Asset] = (),
    asset_refusals: Sequence[ChangeRefusal] = (),
) -> Reaction:
    """Create the order from the accepted snapshot, validate it, decompose it, dispatch
    what is ready; an order that fails validation is rejected, naming every reason.

    ``assets`` are the installed assets its change items act on (and their children),
    as the installed base held them when it locked them for this order;
    ``asset_refusals`` are the reasons the installed base refused to (the order is then
    rejected with them). See :mod:`cpqsim.asset_reactions`.
    """
    if quote.accepted_snapshot is None:
        raise ValueError(f"quote {quote.quote_id} has no accepted snapshot")
    step = Step(None)
    items = _with_charge_moves(order_items(order_id, quote.lines, assets), quote.price)
    priced = item_terms(quote.lines, quote.price, quote.accepted_snapshot.price_request)
    step.emit(
        OrderCreated(
            order_id=order_id,
            quote_id=quote.quote_id,
            quote_revision=quote.revision,
            account_id=quote.account_id,
            idempotency_key=idempotency_key,
            items=items,
            snapshot=quote.accepted_snapshot,
            snapshot_fingerprint=quote.accepted_snapshot_fingerprint or "",
            price_fingerprint=quote.price_fingerprint or "",
            terms={
                item.item_id: t for item, t in zip(items, priced, strict=True) if t != ItemTerms()
            },
        )
    )
    assert step.order is not None
    reasons = validate_order(
        OrderToValidate(
            quote=quote,
            items=items,
            catalog=catalog,
            policy=order_policy,
            business_date=ctx.now.date(),
            at=ctx.now,
            asset_refusals=list(asset_refusals),
        )
    )
    if reasons:
        step.emit(OrderRejected(order_id=order_id, reasons=reasons))
        return step.reaction()
    step.emit(OrderDecomposed(order_id=order_id, tasks=plan_tasks(decompose(catalog, items))))
    advance(step, ctx, policy)
    return step.reaction()


def _with_charge_moves(items: list[OrderItem], price: PriceResult | None) -> list[OrderItem]:
    """Each modify item's delta with the monthly charge it moves, as the accepted change
    price says (decomposition then bills it: see ``decomposition.MODIFY_BILLING``)."""
    moves = monthly_moves(price)
    if not moves:
        return items
    out = []
    for item in items:
        moved = moves.get(item.line_index)
        if item.action == "modify" and item.delta is not None and moved is not None:
            charged = item.delta.model_copy(update={"recurring_monthly": moved})
            item = item.model_copy(update={"delta": charged})
        out.append(item)
    return out


def start_order(
    quote: Quote,
    order_id: str,
    idempotency_key: str,
    catalog: Catalog,
    ctx: Context,
    policy: ResiliencePolicy,
) -> tuple[Order, list[OrderEvent], list[Effect]]:
    order, events, effects, _ = start_order_reaction(
        quote, order_id, idempotency_key, catalog, ctx, policy
    )
    return order, events, effects


def react_traced(order: Order, signal: Signal, ctx: Context, policy: ResiliencePolicy) -> Reaction:
    """``react``, also saying which fact decided each effect."""
    step = Step(order)
    task = order.tasks.get(signal.task_id)
    if task is None:
        raise KeyError(f"order {order.order_id} has no task {signal.task_id}")
    if task.status not in (TaskStatus.DONE, TaskStatus.FALLOUT):  # else late or duplicate news
        _ON_SIGNAL[type(signal)](step, task, signal, ctx, policy)
    return step.reaction()


def react(
    order: Order, signal: Signal, ctx: Context, policy: ResiliencePolicy
) -> tuple[Order, list[OrderEvent], list[Effect]]:
    order, events, effects, _ = react_traced(order, signal, ctx, policy)
    return order, events, effects


def _on_reply(
    step: Step, task: TaskState, signal: DownstreamReplied, ctx: Context, policy: ResiliencePolicy
) -> None:
    oid, tid, attempt = signal.order_id, signal.task_id, signal.attempt
    if signal.ok:
        late = signal.attempt != task.attempts or task.status is not TaskStatus.IN_FLIGHT
        via = "late_reply" if late else "reply"
        if task.status is TaskStatus.DROPPED:
            via = "late_reply_after_cancellation"  # it happened: undo it, never use it
        step.emit(FulfillmentTaskCompleted(order_id=oid, task_id=tid, attempt=attempt, via=via))
        if step.order is not None and step.order.terminal:
            open_fallout(
                step,
                tid,
                ctx,
                "a reply arrived after the order ended: the side effect exists downstream",
                kind="compensation",
            )
            return
        advance(step, ctx, policy)
    elif task.status is TaskStatus.IN_FLIGHT and signal.attempt == task.attempts:
        step.emit(
            FulfillmentTaskFailed(
                order_id=oid,
                task_id=tid,
                attempt=attempt,
                error=signal.error or "error",
                retryable=signal.retryable,
            )
        )
        if signal.retryable:
            _retry_or_fallout(step, tid, ctx, policy, reason=signal.error or "error")
        else:
            open_fallout(step, tid, ctx, f"non-retryable error: {signal.error}")


def _on_timeout(
    step: Step, task: TaskState, signal: DownstreamTimedOut, ctx: Context, policy: ResiliencePolicy
) -> None:
    if task.status is not TaskStatus.IN_FLIGHT or signal.attempt != task.attempts:
        return  # the reply came first, or this is an old attempt's timer
    step.emit(
        FulfillmentTaskTimedOut(
            order_id=signal.order_id,
            task_id=signal.task_id,
            attempt=signal.attempt,
            treated_as=policy.timeout_means,
        )
    )
    if policy.timeout_means == "unknown" and policy.reconcile_before_retry:
        request_reconciliation(step, signal.task_id)
    else:
        _retry_or_fallout(step, signal.task_id, ctx, policy, reason="timeout")


def _poll_again_or_fallout(
    step: Step, task: TaskState, signal: Signal, ctx: Context, policy: ResiliencePolicy, why: str
) -> None:
    if task.polls >= policy.max_reconcile_polls:
        open_fallout(step, signal.task_id, ctx, why)
        return
    step.effect(
        StartTimer(
            order_id=signal.order_id,
            task_id=signal.task_id,
            attempt=signal.attempt,
            purpose="reconcile",
            delay_s=policy.reconcile_poll_interval_s,
        )
    )


def _on_answer(
    step: Step,
    task: TaskState,
    signal: ReconciliationAnswered,
    ctx: Context,
    policy: ResiliencePolicy,
) -> None:
    if task.status is not TaskStatus.UNKNOWN:
        return
    oid, tid, attempt = signal.order_id, signal.task_id, signal.attempt
    step.emit(
        FulfillmentTaskReconciled(
            order_id=oid, task_id=tid, attempt=attempt, found=signal.status.value
        )
    )
    if signal.status is QueryStatus.COMPLETED:
        step.emit(
            FulfillmentTaskCompleted(
                order_id=oid, task_id=tid, attempt=attempt, via="reconciliation"
            )
        )
        advance(step, ctx, policy)
    elif signal.status is QueryStatus.IN_PROGRESS:
        _poll_again_or_fallout(
            step, task, signal, ctx, policy, "downstream outcome still unknown after polling"
        )
    else:  # not found or failed: nothing happened downstream, a retry is safe
        _retry_or_fallout(step, tid, ctx, policy, reason=f"reconciled: {signal.status.value}")


def _on_query_failure(
    step: Step,
    task: TaskState,
    signal: ReconciliationFailed,
    ctx: Context,
    policy: ResiliencePolicy,
) -> None:
    """A failed query answers nothing: the outcome stays unknown, so never retry the call;
    ask again later, and give the task to a person once the polling budget is spent."""
    if task.status is not TaskStatus.UNKNOWN:
        return
    step.emit(
        FulfillmentTaskReconciliationFailed(
            order_id=signal.order_id,
            task_id=signal.task_id,
            attempt=signal.attempt,
            reason=signal.reason,
        )
    )
    _poll_again_or_fallout(step, task, signal, ctx, policy, f"cannot reconcile: {signal.reason}")


def _on_timer(
    step: Step, task: TaskState, signal: TimerFired, ctx: Context, policy: ResiliencePolicy
) -> None:
    if signal.purpose == "reconcile" and task.status is TaskStatus.UNKNOWN:
        request_reconciliation(step, signal.task_id)
    elif signal.purpose == "retry" and task.status is TaskStatus.WAITING_RETRY:
        dispatch(step, signal.task_id, policy)


_ON_SIGNAL: dict[type[Signal], Callable[..., None]] = {
    DownstreamReplied: _on_reply,
    DownstreamTimedOut: _on_timeout,
    ReconciliationAnswered: _on_answer,
    ReconciliationFailed: _on_query_failure,
    TimerFired: _on_timer,
}


def request_reconciliation(step: Step, task_id: str) -> None:
    order = step.order
    assert order is not None
    task = order.tasks[task_id]
    ref = reference_of(order.order_id, task_id)
    step.emit(
        FulfillmentTaskReconciliationRequested(
            order_id=order.order_id, task_id=task_id, attempt=task.attempts, reference=ref
        )
    )
    step.effect(
        QueryDownstream(
            system=task.spec.system,
            reference=ref,
            order_id=order.order_id,
            task_id=task_id,
            attempt=task.attempts,
        )
    )


def _backoff_s(policy: ResiliencePolicy, attempt: int, ctx: Context) -> float:
    base = policy.backoff_initial_s * policy.backoff_multiplier ** max(attempt - 1, 0)
    jitter = 1 + policy.backoff_jitter * ctx.rng.random()
    return min(policy.backoff_max_s, base * jitter)


def _retry_or_fallout(
    step: Step, task_id: str, ctx: Context, policy: ResiliencePolicy, reason: str
) -> None:
    order = step.order
    assert order is not None
    task = order.tasks[task_id]
    if task.spec.kind != "compensation" and (
        order.winding_down or task.spec.item_id in order.abandoned_items
    ):
        step.emit(
            FulfillmentTaskDropped(
                order_id=order.order_id,
                task_id=task_id,
                attempt=task.attempts,
                reason=f"not retried: the work is being undone ({reason})",
            )
        )
        advance(step, ctx, policy)  # the last thing standing may have gone
        return
    if task.attempts >= policy.max_attempts:
        open_fallout(step, task_id, ctx, f"gave up after {task.attempts} attempts ({reason})")
        return
    delay = _backoff_s(policy, task.attempts, ctx)
    step.emit(
        FulfillmentTaskRetryScheduled(
            order_id=order.order_id,
            task_id=task_id,
            attempt=task.attempts,
            delay_ms=round(delay * 1000),
        )
    )
    step.effect(
        StartTimer(
            order_id=order.order_id,
            task_id=task_id,
            attempt=task.attempts,
            purpose="retry",
            delay_s=delay,
        )
    )


REPAIR_ACTIONS = {
    "task": ["reconcile_with_downstream", "retry_task", "cancel_order"],
    "compensation": ["compensate", "mark_done"],
}


def open_fallout(
    step: Step,
    task_id: str,
    ctx: Context,
    reason: str,
    kind: Literal["task", "compensation"] = "task",
) -> None:
    order = step.order
    assert order is not None
    task = order.tasks[task_id]
    if task.spec.kind == "compensation":
        kind = "compensation"  # an undo that failed for good: a person must undo it
    case_id = ctx.ids.next("case")
    owner = f"{task.spec.system}-operations"
    step.emit(
        FalloutCaseOpened(
            order_id=order.order_id,
            task_id=task_id,
            attempt=task.attempts,
            case_id=case_id,
            owner=owner,
            reason=reason,
            repair_actions=REPAIR_ACTIONS[kind],
            kind=kind,
        )
    )
    step.effect(RaiseFallout(order_id=order.order_id, case_id=case_id, owner=owner, reason=reason))


def dispatch(step: Step, task_id: str, policy: ResiliencePolicy) -> None:
    order = step.order
    assert order is not None
    task = order.tasks[task_id]
    attempt = task.attempts + 1
    ref = reference_of(order.order_id, task_id)
    key = ref if policy.send_idempotency_keys else None
    step.emit(
        FulfillmentTaskDispatched(
            order_id=order.order_id,
            task_id=task_id,
            attempt=attempt,
            system=task.spec.system,
            operation=task.spec.operation,
            reference=ref,
            idempotency_key=key,
        )
    )
    item = next(i for i in order.items if i.item_id == task.spec.item_id)
    undone = task.spec.compensates
    step.effect(
        CallDownstream(
            request=DownstreamRequest(
                system=task.spec.system,
                operation=task.spec.operation,
                reference=ref,
                idempotency_key=key,
                order_id=order.order_id,
                task_id=task_id,
                attempt=attempt,
                payload={
                    "element": task.spec.element,
                    "quantity": str(item.quantity),
                    "account_id": order.account_id,
                    **_asset_payload(order, item, task.spec),
                },
                compensates=reference_of(order.order_id, undone) if undone else None,
            ),
            timeout_s=policy.call_timeout_s,
        )
    )


def _asset_payload(order: Order, item: OrderItem, spec: TaskSpec) -> dict[str, str]:
    """What a task tells its downstream about the asset it acts on, and billing the
    commercial terms of the accepted price (every value text; unknown ones left out).

    A new item's ``start_billing`` opens the asset's subscription ``sub-<asset id>``
    and names its children's (add-ons, bundle components; each billed on its own) in
    ``child_subscriptions``: ``sub-<child id>=<recurring monthly per unit>`` pairs
    joined by ``;``. A change names the asset, its action and, for billing, the
    subscription and what changes on it.
    """
    asset_id = item.asset_id if item.is_change else order.assets.get(item.item_id)
    if spec.child is not None and spec.child < len(item.children):
        asset_id = item.children[spec.child].asset_id
    out: dict[str, str] = {}
    if asset_id is not None:
        out["asset_id"] = asset_id
    if item.is_change:
        out["action"] = item.action
    if spec.system != BILLING_SYSTEM or asset_id is None:
        return out
    out["subscription_id"] = f"sub-{asset_id}"
    terms = order.terms.get(item.item_id, ItemTerms())
    # A child taken along by a disconnect is billed on terms of its own, not the order's.
    main = terms.main if spec.child is None else ElementTerms()
    operation = spec.operation
    values: dict[str, object] = {}
    if not item.is_change and operation == "start_billing":
        values = {
            "recurring_monthly": main.recurring_monthly,
            "one_time": main.one_time,
            "currency": terms.currency,
            "start_date": terms.start_date,
            "term_end": terms.term_end,
            "proration_basis": terms.proration_basis,
        }
        # The children come from the item's structure (an order rebuilt from its facts
        # after a restart has no terms, and its add-ons must still be billed).
        children = [
            f"sub-{asset_id}.{key}="
            + str(terms.elements.get(key, ElementTerms()).recurring_monthly or "")
            for key in child_keys(item)
        ]
        if children:
            values["child_subscriptions"] = ";".join(children)
    elif operation == "modify_subscription":
        values = {"recurring_monthly": main.recurring_monthly, "currency": terms.currency}
    elif operation == "renew_subscription":
        values = {"term_end": terms.term_end}
    elif operation == "stop_billing":
        values = {"end_date": terms.start_date}
    elif operation in ("suspend_subscription", "resume_subscription"):
        values = {"start_date": terms.start_date}
    out.update({k: str(v) for k, v in values.items() if v is not None})
    return out


ADVANCING = frozenset({OrderStatus.IN_PROGRESS, OrderStatus.HELD, OrderStatus.PENDING_CANCELLATION})


def advance(step: Step, ctx: Context, policy: ResiliencePolicy) -> None:
    """Move the order on: activate finished items, start billing after activation,
    dispatch ready tasks, undo what must be undone, and finish when nothing is left.

    While an order winds down (cancelled, or rolled back) it starts no new work: it only
    undoes work done, in reverse dependency order. An abandoned item is undone the same
    way while the rest of the order goes on.
    """
    order = step.order
    assert order is not None
    if order.status not in ADVANCING:
        return
    if not order.winding_down:
        _activate_and_bill(step, ctx)
    undoing = _items_to_undo(step.order)
    if undoing:
        _plan_compensations(step, ctx, undoing)
    _dispatch_ready(step, policy)
    _finish_if_done(step)


def _items_to_undo(order: Order) -> set[str]:
    if order.winding_down:
        return {i.item_id for i in order.items}
    return set(order.abandoned_items)


def _activate_and_bill(step: Step, ctx: Context) -> None:
    order = step.order
    assert order is not None
    done = {tid for tid, t in order.tasks.items() if t.status is TaskStatus.DONE}
    for item in order.items:
        if item.item_id in order.abandoned_items:
            continue
        item_tasks = [t for t in order.tasks.values() if t.spec.item_id == item.item_id]
        fulfilment = [t for t in item_tasks if t.spec.kind == "fulfillment"]
        if item.is_change:
            # The change is live once its delta work is done; its billing step follows,
            # as for a new item. A change that is billing only (a renewal) has no other
            # work: it is live once billing did it, never before billing confirmed it.
            live_when = fulfilment or [t for t in item_tasks if t.spec.kind == "billing"]
            if item.item_id not in order.changed and all(t.spec.task_id in done for t in live_when):
                step.emit(
                    ItemChangeFulfilled(
                        order_id=order.order_id,
                        item_id=item.item_id,
                        asset_id=item.asset_id or "",
                        action=item.action,
                    )
                )
            continue
        if item.item_id not in order.assets and all(t.spec.task_id in done for t in fulfilment):
            step.emit(
                AssetActivated(
                    order_id=order.order_id,
                    item_id=item.item_id,
                    asset_id=ctx.ids.next("asset"),
                    offering=item.offering,
                    quantity=item.quantity,
                )
            )
        order = step.order
        assert order is not None
        billing = [t for t in item_tasks if t.spec.kind == "billing"]
        if (
            item.item_id not in order.billing_started
            and billing
            and all(t.spec.task_id in done for t in billing)
        ):
            step.emit(
                BillingStarted(
                    order_id=order.order_id,
                    item_id=item.item_id,
                    asset_id=order.assets[item.item_id],
                )
            )


def _dispatch_ready(step: Step, policy: ResiliencePolicy) -> None:
    order = step.order
    assert order is not None
    done = {tid for tid, t in order.tasks.items() if t.status is TaskStatus.DONE}
    for task_id in order.task_order:
        task = order.tasks[task_id]
        if task.status is not TaskStatus.PENDING:
            continue
        if not all(dep in done for dep in task.spec.depends_on):
            continue
        if task.spec.kind != "compensation":
            if order.winding_down or task.spec.item_id in order.abandoned_items:
                continue  # no new work on what is being undone
            if (
                task.spec.kind == "billing"
                and task.spec.item_id not in order.assets
                and task.spec.item_id not in order.changed
                and not _billing_only_change(order, task.spec.item_id)
            ):
                continue  # billing starts from the activation milestone, never before
        dispatch(step, task_id, policy)


def _billing_only_change(order: Order, item_id: str) -> bool:
    """A change item whose only work is billing (a renewal): its billing *is* the change,
    so it is dispatched at once and the change is live when it is done."""
    item = next((i for i in order.items if i.item_id == item_id), None)
    if item is None or not item.is_change:
        return False
    return not any(
        t.spec.item_id == item_id and t.spec.kind == "fulfillment" for t in order.tasks.values()
    )


def _undone(order: Order, task_id: str) -> bool:
    """A done task whose compensation has run (or that a person undid by hand)."""
    if task_id in order.manually_compensated:
        return True
    undo = order.tasks.get(f"{task_id}/undo")
    return undo is not None and undo.status is TaskStatus.DONE


def _successors(order: Order) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {tid: [] for tid in order.task_order}
    for tid in order.task_order:
        spec = order.tasks[tid].spec
        if spec.kind == "compensation":
            continue
        for dep in spec.depends_on:
            out.setdefault(dep, []).append(tid)
    return out


def _plan_compensations(step: Step, ctx: Context, undoing: set[str]) -> None:
    """Plan the undoing of done tasks, last done first.

    A done task is compensated once every task that depended on it is settled (dropped,
    or done with its own compensation planned), and its compensation waits for theirs:
    reverse dependency order, across items too. A task nobody can undo (no compensation
    operation) goes to a person as a compensation case.
    """
    order = step.order
    assert order is not None
    planned = {t.spec.compensates for t in order.tasks.values() if t.spec.kind == "compensation"}
    by_hand = set(order.manually_compensated)
    cased = {c["task_id"] for c in order.fallout_cases if c.get("kind") == "compensation"}
    successors = _successors(order)
    new: list[TaskSpec] = []
    for tid in reversed(order.task_order):
        task = order.tasks[tid]
        if task.spec.kind == "compensation" or task.spec.item_id not in undoing:
            continue
        if task.status is not TaskStatus.DONE or tid in planned or tid in by_hand:
            continue
        after = successors.get(tid, [])
        waiting = [
            s
            for s in after
            if order.tasks[s].status
            in (TaskStatus.IN_FLIGHT, TaskStatus.UNKNOWN, TaskStatus.FALLOUT)
            or (order.tasks[s].status is TaskStatus.DONE and s not in planned and s not in by_hand)
        ]
        if waiting:
            continue
        operation = compensation_of(task.spec)
        if operation is None:
            if tid not in cased:
                open_fallout(
                    step,
                    tid,
                    ctx,
                    f"{task.spec.system} {task.spec.operation} is done and has no "
                    "compensation: undo it by hand",
                    kind="compensation",
                )
                cased.add(tid)
            continue
        new.append(
            TaskSpec(
                task_id=f"{tid}/undo",
                item_id=task.spec.item_id,
                element=task.spec.element,
                system=task.spec.system,
                operation=operation,
                depends_on=sorted(
                    f"{s}/undo"
                    for s in after
                    if order.tasks[s].status is TaskStatus.DONE and s not in by_hand
                ),
                kind="compensation",
                compensates=tid,
            )
        )
        planned.add(tid)
    if new:
        step.emit(CompensationPlanned(order_id=order.order_id, tasks=new))


def _finish_if_done(step: Step) -> None:
    order = step.order
    assert order is not None
    if order.status is OrderStatus.HELD:
        return  # a person decides first
    originals = [t for t in order.tasks.values() if t.spec.kind != "compensation"]
    compensations_done = all(
        t.status is TaskStatus.DONE for t in order.tasks.values() if t.spec.kind == "compensation"
    )
    undoing = _items_to_undo(order)

    def settled_undone(t: TaskState) -> bool:
        return t.status is TaskStatus.DROPPED or (
            t.status is TaskStatus.DONE and _undone(order, t.spec.task_id)
        )

    if order.status is OrderStatus.PENDING_CANCELLATION:
        if compensations_done and all(settled_undone(t) for t in originals):
            assert order.cancellation is not None
            reason = order.cancellation["reason"]
            if order.cancellation["kind"] == "rollback":
                step.emit(OrderFailed(order_id=order.order_id, reason=reason))
            else:
                step.emit(OrderCancelled(order_id=order.order_id, reason=reason))
        return
    if order.status is not OrderStatus.IN_PROGRESS:
        return
    if not undoing:
        if all(t.status is TaskStatus.DONE for t in order.tasks.values()):
            step.emit(OrderCompleted(order_id=order.order_id))
        return
    kept = [t for t in originals if t.spec.item_id not in undoing]
    gone = [t for t in originals if t.spec.item_id in undoing]
    if not (compensations_done and all(t.status is TaskStatus.DONE for t in kept)):
        return
    if not all(settled_undone(t) for t in gone):
        return
    completed = [i.item_id for i in order.items if i.item_id not in undoing]
    if completed:
        step.emit(
            OrderPartiallyCompleted(
                order_id=order.order_id,
                completed_items=completed,
                abandoned_items=sorted(undoing),
            )
        )
    else:
        step.emit(OrderFailed(order_id=order.order_id, reason="every item was abandoned"))
