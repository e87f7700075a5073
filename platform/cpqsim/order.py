"""The product order aggregate and the facts of its fulfillment.

The order carries the accepted quote snapshot verbatim (it never re-prices) and tracks
its fulfillment tasks. Two lifecycles are data here: the order's (TMF622 state names)
and each task's. ``evolve`` folds facts; deciding what to do next is the orchestration
process manager's job (``cpqsim.orchestration``).
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, model_serializer

from cpqsim.decomposition import OrderItem, TaskSpec
from cpqsim.events import DomainEvent
from cpqsim.lifecycle import TransitionTable
from cpqsim.omit_defaults import OmitsDefaults
from cpqsim.order_terms import ItemTerms
from cpqsim.quote import CommercialSnapshot


class OrderStatus(StrEnum):
    """TMF622 state names."""

    ACKNOWLEDGED = "acknowledged"
    REJECTED = "rejected"  # refused by order validation: never decomposed
    IN_PROGRESS = "inProgress"
    HELD = "held"  # an owned fallout case is open
    PENDING_CANCELLATION = "pendingCancellation"  # reconciling, dropping, compensating
    COMPLETED = "completed"
    PARTIAL = "partial"  # some items fulfilled, the others abandoned (keep-what-succeeded)
    FAILED = "failed"
    CANCELLED = "cancelled"


TERMINAL_ORDER_STATUSES = frozenset(
    {
        OrderStatus.COMPLETED,
        OrderStatus.PARTIAL,
        OrderStatus.FAILED,
        OrderStatus.CANCELLED,
        OrderStatus.REJECTED,
    }
)


def settled(status: OrderStatus, open_owned_cases: int) -> bool:
    """The one definition of a settled order, used by every runtime and the checker.

    An order is settled when it is terminal, or held with at least one open fallout case
    that has an owner: someone is responsible for it, so it is not silently stuck. A run
    may end (and a restart need not resume it) once every order is settled.
    """
    return status in TERMINAL_ORDER_STATUSES or (
        status is OrderStatus.HELD and open_owned_cases > 0
    )


OS = OrderStatus
ORDER_LIFECYCLE = TransitionTable(
    "order",
    {
        (OS.ACKNOWLEDGED, "rejected"): OS.REJECTED,
        (OS.ACKNOWLEDGED, "decomposed"): OS.IN_PROGRESS,
        (OS.IN_PROGRESS, "fallout_opened"): OS.HELD,
        (OS.HELD, "fallout_opened"): OS.HELD,
        (OS.PENDING_CANCELLATION, "fallout_opened"): OS.HELD,
        # A late reply after the order ended: its side effect must be undone by someone.
        (OS.CANCELLED, "fallout_opened"): OS.HELD,
        (OS.FAILED, "fallout_opened"): OS.HELD,
        (OS.PARTIAL, "fallout_opened"): OS.HELD,
        (OS.HELD, "fallout_resolved"): OS.HELD,  # other cases are still open
        (OS.HELD, "resumed"): OS.IN_PROGRESS,  # the last case is resolved
        (OS.HELD, "resumed_cancellation"): OS.PENDING_CANCELLATION,
        (OS.IN_PROGRESS, "completed"): OS.COMPLETED,
        (OS.IN_PROGRESS, "partially_completed"): OS.PARTIAL,
        (OS.IN_PROGRESS, "failed"): OS.FAILED,  # every item abandoned
        (OS.IN_PROGRESS, "cancellation_accepted"): OS.PENDING_CANCELLATION,
        (OS.HELD, "cancellation_accepted"): OS.HELD,  # cases first, then it winds down
        (OS.PENDING_CANCELLATION, "cancelled"): OS.CANCELLED,
        (OS.PENDING_CANCELLATION, "failed"): OS.FAILED,  # an all-or-nothing rollback
    },
)


class TaskStatus(StrEnum):
    PENDING = "pending"
    IN_FLIGHT = "in_flight"
    UNKNOWN = "unknown"  # timed out: outcome unknown until reconciled
    WAITING_RETRY = "waiting_retry"
    DONE = "done"
    FALLOUT = "fallout"
    DROPPED = "dropped"  # will not be done: the order was cancelled or the item abandoned


T = TaskStatus
TASK_LIFECYCLE = TransitionTable(
    "fulfillment task",
    {
        (T.PENDING, "dispatched"): T.IN_FLIGHT,
        (T.WAITING_RETRY, "dispatched"): T.IN_FLIGHT,
        (T.FALLOUT, "dispatched"): T.IN_FLIGHT,  # repair: retry the task
        (T.IN_FLIGHT, "completed"): T.DONE,
        (T.UNKNOWN, "completed"): T.DONE,  # late reply, or reconciliation found it done
        (T.WAITING_RETRY, "completed"): T.DONE,  # late reply of an earlier attempt
        (T.DROPPED, "completed"): T.DONE,  # it happened after all: to be compensated
        (T.FALLOUT, "completed"): T.DONE,  # repair: done, with evidence
        (T.IN_FLIGHT, "failed"): T.WAITING_RETRY,
        (T.IN_FLIGHT, "timed_out"): T.UNKNOWN,
        (T.UNKNOWN, "reconciled_absent"): T.WAITING_RETRY,
        (T.UNKNOWN, "reconciled_pending"): T.UNKNOWN,
        (T.UNKNOWN, "reconciliation_failed"): T.UNKNOWN,  # the query itself failed
        (T.UNKNOWN, "treated_as_failed"): T.WAITING_RETRY,  # what a naive policy does
        (T.FALLOUT, "reopened"): T.UNKNOWN,  # repair: reconcile with the downstream
        (T.IN_FLIGHT, "fallout"): T.FALLOUT,
        (T.UNKNOWN, "fallout"): T.FALLOUT,
        (T.WAITING_RETRY, "fallout"): T.FALLOUT,
        (T.PENDING, "dropped"): T.DROPPED,
        (T.WAITING_RETRY, "dropped"): T.DROPPED,
        (T.FALLOUT, "dropped"): T.DROPPED,
    },
)


class TaskState(BaseModel):
    model_config = ConfigDict(frozen=True)

    spec: TaskSpec
    status: TaskStatus = TaskStatus.PENDING
    attempts: int = 0
    polls: int = 0


# ----------------------------------------------------------------------------- events


class OrderEvent(DomainEvent):
    aggregate: ClassVar[str] = "order"
    order_id: str

    def subject(self) -> str:
        return f"order/{self.order_id}"


class OrderCreated(OrderEvent, OmitsDefaults):
    """The order exists, with what billing will be handed for each item (``terms``).

    The terms are read once from the accepted price when the order is created and are
    part of the fact: an order rebuilt from its facts (an executor restarted mid-run)
    bills the amounts the customer accepted, never none and never a re-price. Left out
    while empty (an order with no priced item)."""

    type_name: ClassVar[str] = "created"
    omit_when_default: ClassVar[frozenset[str]] = frozenset({"terms"})
    quote_id: str
    quote_revision: int
    account_id: str
    idempotency_key: str
    items: list[OrderItem]
    snapshot: CommercialSnapshot
    snapshot_fingerprint: str
    price_fingerprint: str
    terms: dict[str, ItemTerms] = {}


class OrderDecomposed(OrderEvent):
    type_name: ClassVar[str] = "decomposed"
    tasks: list[TaskSpec]


class TaskEvent(OrderEvent):
    task_id: str
    attempt: int


class FulfillmentTaskDispatched(TaskEvent):
    type_name: ClassVar[str] = "task_dispatched"
    system: str
    operation: str
    reference: str
    idempotency_key: str | None


class FulfillmentTaskCompleted(TaskEvent):
    type_name: ClassVar[str] = "task_completed"
    via: str  # "reply" | "late_reply" | "reconciliation"


class FulfillmentTaskFailed(TaskEvent):
    type_name: ClassVar[str] = "task_failed"
    error: str
    retryable: bool


class FulfillmentTaskTimedOut(TaskEvent):
    type_name: ClassVar[str] = "task_timed_out"
    treated_as: str  # "unknown" (robust) | "failure" (naive)


class FulfillmentTaskReconciliationRequested(TaskEvent):
    type_name: ClassVar[str] = "task_reconciliation_requested"
    reference: str


class FulfillmentTaskReconciled(TaskEvent):
    type_name: ClassVar[str] = "task_reconciled"
    found: str  # QueryStatus value


class FulfillmentTaskReconciliationFailed(TaskEvent):
    type_name: ClassVar[str] = "task_reconciliation_failed"
    reason: str


class FulfillmentTaskRetryScheduled(TaskEvent):
    type_name: ClassVar[str] = "task_retry_scheduled"
    delay_ms: int


class FalloutCaseOpened(TaskEvent):
    """A case for a person: the task failed for good (``kind`` task), or a done task
    cannot be undone, or its compensation failed (``kind`` compensation)."""

    type_name: ClassVar[str] = "fallout_opened"
    case_id: str
    owner: str
    reason: str
    repair_actions: list[str]
    kind: Literal["task", "compensation"] = "task"

    @model_serializer(mode="wrap")
    def _kind_only_when_not_task(self, handler):
        data = handler(self)  # facts of the common kind read exactly as before kinds existed
        if data.get("kind") == "task":
            data.pop("kind")
        return data


class FalloutCaseResolved(OrderEvent):
    type_name: ClassVar[str] = "fallout_resolved"
    case_id: str
    task_id: str
    action: str
    actor: str
    role: str
    reason: str
    evidence: str | None = None


class RepairRefused(OrderEvent):
    """An operations command refused for want of authority: recorded, it changes nothing."""

    type_name: ClassVar[str] = "repair_refused"
    case_id: str
    action: str
    actor: str
    role: str
    reason: str


class AssetActivated(OrderEvent):
    type_name: ClassVar[str] = "asset_activated"
    item_id: str
    asset_id: str
    offering: str
    quantity: int


class ItemChangeFulfilled(OrderEvent):
    """A change item's fulfilment work is done: the installed asset now runs the change
    (its billing step follows, as billing follows activation for a new item). A change
    whose only work is billing (a renewal) is fulfilled once billing has done it."""

    type_name: ClassVar[str] = "item_change_fulfilled"
    item_id: str
    asset_id: str
    action: str


class BillingStarted(OrderEvent):
    type_name: ClassVar[str] = "billing_started"
    item_id: str
    asset_id: str


class OrderRejected(OrderEvent):
    """Order validation refused the order before anything was decomposed."""

    type_name: ClassVar[str] = "rejected"
    reasons: list[dict[str, str]]  # {kind, message}


class OrderCancellationAccepted(OrderEvent):
    """The order will be wound down: ``dropped`` tasks will not run; work in flight is
    reconciled; work done is compensated in reverse dependency order."""

    type_name: ClassVar[str] = "cancellation_accepted"
    kind: Literal["customer", "operations", "rollback"]
    reason: str
    requested_by: str
    dropped: list[str]


class FulfillmentTaskDropped(TaskEvent):
    type_name: ClassVar[str] = "task_dropped"
    reason: str


class CompensationPlanned(OrderEvent):
    """Compensation tasks added to the plan: each undoes a done task, after the
    compensations of the tasks that depended on it."""

    type_name: ClassVar[str] = "compensation_planned"
    tasks: list[TaskSpec]


class ItemAbandoned(OrderEvent):
    type_name: ClassVar[str] = "item_abandoned"
    item_id: str
    reason: str
    dropped: list[str]


class OrderCompleted(OrderEvent):
    type_name: ClassVar[str] = "completed"


class OrderPartiallyCompleted(OrderEvent):
    type_name: ClassVar[str] = "partially_completed"
    completed_items: list[str]
    abandoned_items: list[str]


class OrderCancelled(OrderEvent):
    type_name: ClassVar[str] = "cancelled"
    reason: str


class OrderFailed(OrderEvent):
    type_name: ClassVar[str] = "failed"
    reason: str


# ------------------------------------------------------------------------------ state


class Order(BaseModel):
    model_config = ConfigDict(frozen=True)

    order_id: str
    quote_id: str
    quote_revision: int
    account_id: str
    idempotency_key: str
    items: list[OrderItem]
    snapshot: CommercialSnapshot
    snapshot_fingerprint: str
    price_fingerprint: str
    status: OrderStatus = OrderStatus.ACKNOWLEDGED
    tasks: dict[str, TaskState] = {}
    task_order: list[str] = []
    assets: dict[str, str] = {}  # item_id -> asset_id
    changed: dict[str, str] = {}  # change item_id -> the asset it changed (fulfilled)
    #: item_id -> the commercial terms billing is handed, read from the accepted quote's
    #: price when the order is created and recorded on ``order.created``.
    terms: dict[str, ItemTerms] = {}
    billing_started: list[str] = []  # item ids
    fallout_cases: list[dict[str, Any]] = []
    cancellation: dict[str, Any] | None = None  # kind, reason, requested_by
    abandoned_items: list[str] = []
    manually_compensated: list[str] = []  # task ids undone by hand (a resolved case)
    rejection: list[dict[str, str]] | None = None

    @property
    def terminal(self) -> bool:
        return self.status in TERMINAL_ORDER_STATUSES

    @property
    def open_owned_cases(self) -> int:
        return sum(1 for c in self.fallout_cases if c["status"] == "open" and c["owner"])

    @property
    def settled(self) -> bool:
        return settled(self.status, self.open_owned_cases)

    @property
    def winding_down(self) -> bool:
        """Cancelled or rolled back, and not finished: no new work, only undoing."""
        return self.cancellation is not None and not self.terminal

    def open_case(self, case_id: str) -> dict[str, Any] | None:
        return next(
            (c for c in self.fallout_cases if c["case_id"] == case_id and c["status"] == "open"),
            None,
        )


# Facts that move the order itself, by event name; ``status_trigger`` says which trigger
# of ORDER_LIFECYCLE each fires. ``evolve`` and the invariant checker both use it.
_FIXED_TRIGGERS = {
    "order.rejected": "rejected",
    "order.decomposed": "decomposed",
    "order.fallout_opened": "fallout_opened",
    "order.completed": "completed",
    "order.partially_completed": "partially_completed",
    "order.failed": "failed",
    "order.cancellation_accepted": "cancellation_accepted",
    "order.cancelled": "cancelled",
}


def status_trigger(name: str, open_cases_after: int, cancelling: bool) -> str | None:
    """The ORDER_LIFECYCLE trigger the fact ``name`` fires (None: the status stays).

    A resolved fallout case resumes the order only when it was the last one open, back
    to winding down if a cancellation was accepted meanwhile.
    """
    if name == "order.fallout_resolved":
        if open_cases_after > 0:
            return "fallout_resolved"
        return "resumed_cancellation" if cancelling else "resumed"
    return _FIXED_TRIGGERS.get(name)


def _task_step(state: Order, task_id: str, trigger: str, **changes: Any) -> Order:
    task = state.tasks[task_id]
    status = TASK_LIFECYCLE.next_state(task.status, trigger)
    tasks = dict(state.tasks)
    tasks[task_id] = task.model_copy(update={"status": status, **changes})
    return state.model_copy(update={"tasks": tasks})


def _drop(state: Order, task_ids: list[str]) -> Order:
    for task_id in task_ids:
        state = _task_step(state, task_id, "dropped")
    return state


def _order_status(state: Order, event: OrderEvent) -> Order:
    name = f"order.{event.type_name}"
    open_after = sum(1 for c in state.fallout_cases if c["status"] == "open")
    trigger = status_trigger(name, open_after, state.cancellation is not None)
    if trigger is None:
        return state
    return state.model_copy(update={"status": ORDER_LIFECYCLE.next_state(state.status, trigger)})


def _created(state: None, e: OrderCreated) -> Order:
    return Order(
        order_id=e.order_id,
        quote_id=e.quote_id,
        quote_revision=e.quote_revision,
        account_id=e.account_id,
        idempotency_key=e.idempotency_key,
        items=e.items,
        snapshot=e.snapshot,
        snapshot_fingerprint=e.snapshot_fingerprint,
        price_fingerprint=e.price_fingerprint,
        terms=e.terms,
    )


def _decomposed(state: Order, e: OrderDecomposed) -> Order:
    return state.model_copy(
        update={
            "tasks": {t.task_id: TaskState(spec=t) for t in e.tasks},
            "task_order": [t.task_id for t in e.tasks],
        }
    )


def _timed_out(state: Order, e: FulfillmentTaskTimedOut) -> Order:
    state = _task_step(state, e.task_id, "timed_out")
    if e.treated_as == "failure":
        state = _task_step(state, e.task_id, "treated_as_failed")
    return state


def _reconciled(state: Order, e: FulfillmentTaskReconciled) -> Order:
    if e.found in ("not_found", "failed"):
        return _task_step(state, e.task_id, "reconciled_absent")
    return state  # completed -> a Completed fact follows; in_progress -> keep waiting


def _fallout(state: Order, e: FalloutCaseOpened) -> Order:
    if e.kind == "task":
        state = _task_step(state, e.task_id, "fallout")
    case = {
        "case_id": e.case_id,
        "task_id": e.task_id,
        "owner": e.owner,
        "reason": e.reason,
        "repair_actions": e.repair_actions,
        "kind": e.kind,
        "status": "open",
    }
    return state.model_copy(update={"fallout_cases": [*state.fallout_cases, case]})


def _resolved(state: Order, e: FalloutCaseResolved) -> Order:
    cases = [
        {**c, "status": "resolved", "resolution": e.action, "resolved_by": e.actor}
        if c["case_id"] == e.case_id
        else c
        for c in state.fallout_cases
    ]
    update: dict[str, Any] = {"fallout_cases": cases}
    case = next(c for c in state.fallout_cases if c["case_id"] == e.case_id)
    if case.get("kind") == "compensation" and e.action == "mark_done":
        update["manually_compensated"] = [*state.manually_compensated, e.task_id]
    return state.model_copy(update=update)


def _cancellation(state: Order, e: OrderCancellationAccepted) -> Order:
    state = _drop(state, e.dropped)
    return state.model_copy(
        update={
            "cancellation": {"kind": e.kind, "reason": e.reason, "requested_by": e.requested_by}
        }
    )


def _compensation_planned(state: Order, e: CompensationPlanned) -> Order:
    tasks = {**state.tasks, **{t.task_id: TaskState(spec=t) for t in e.tasks}}
    order = [*state.task_order, *(t.task_id for t in e.tasks)]
    return state.model_copy(update={"tasks": tasks, "task_order": order})


def _abandoned(state: Order, e: ItemAbandoned) -> Order:
    state = _drop(state, e.dropped)
    return state.model_copy(update={"abandoned_items": [*state.abandoned_items, e.item_id]})


_EVOLVE: dict[type[OrderEvent], Any] = {
    OrderDecomposed: _decomposed,
    FulfillmentTaskDispatched: lambda s, e: _task_step(
        s, e.task_id, "dispatched", attempts=e.attempt, polls=0
    ),
    FulfillmentTaskCompleted: lambda s, e: _task_step(s, e.task_id, "completed"),
    FulfillmentTaskFailed: lambda s, e: _task_step(s, e.task_id, "failed"),
    FulfillmentTaskTimedOut: _timed_out,
    FulfillmentTaskReconciliationRequested: lambda s, e: _task_step(
        s,
        e.task_id,
        "reopened" if s.tasks[e.task_id].status is T.FALLOUT else "reconciled_pending",
        polls=s.tasks[e.task_id].polls + 1,
    ),
    FulfillmentTaskReconciliationFailed: lambda s, e: _task_step(
        s, e.task_id, "reconciliation_failed"
    ),
    FulfillmentTaskReconciled: _reconciled,
    FulfillmentTaskRetryScheduled: lambda s, e: s,
    FulfillmentTaskDropped: lambda s, e: _task_step(s, e.task_id, "dropped"),
    FalloutCaseOpened: _fallout,
    FalloutCaseResolved: _resolved,
    RepairRefused: lambda s, e: s,
    AssetActivated: lambda s, e: s.model_copy(
        update={"assets": {**s.assets, e.item_id: e.asset_id}}
    ),
    ItemChangeFulfilled: lambda s, e: s.model_copy(
        update={"changed": {**s.changed, e.item_id: e.asset_id}}
    ),
    BillingStarted: lambda s, e: s.model_copy(
        update={"billing_started": [*s.billing_started, e.item_id]}
    ),
    OrderRejected: lambda s, e: s.model_copy(update={"rejection": e.reasons}),
    OrderCancellationAccepted: _cancellation,
    CompensationPlanned: _compensation_planned,
    ItemAbandoned: _abandoned,
    OrderCompleted: lambda s, e: s,
    OrderPartiallyCompleted: lambda s, e: s,
    OrderCancelled: lambda s, e: s,
    OrderFailed: lambda s, e: s,
}


def evolve(state: Order | None, event: OrderEvent) -> Order:
    """Apply one fact: its own changes, then the order status the lifecycle table gives."""
    if isinstance(event, OrderCreated):
        return _created(None, event)
    assert state is not None, f"{type(event).__name__} before OrderCreated"
    state = _EVOLVE[type(event)](state, event)
    return _order_status(state, event)


ORDER_EVENTS: dict[str, type[OrderEvent]] = {
    cls.cloudevent_type(): cls for cls in (OrderCreated, *_EVOLVE)
}
