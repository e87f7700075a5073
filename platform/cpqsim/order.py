"""The product order aggregate and the facts of its fulfillment.

The order carries the accepted quote snapshot verbatim (it never re-prices) and tracks
its fulfillment tasks. Two lifecycles are data here: the order's (TMF622 state names)
and each task's. ``evolve`` folds facts; deciding what to do next is the orchestration
process manager's job (``cpqsim.orchestration``).
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict

from cpqsim.decomposition import OrderItem, TaskSpec
from cpqsim.events import DomainEvent
from cpqsim.lifecycle import TransitionTable
from cpqsim.quote import CommercialSnapshot


class OrderStatus(StrEnum):
    ACKNOWLEDGED = "acknowledged"
    IN_PROGRESS = "inProgress"
    HELD = "held"  # an owned fallout case is open
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"


TERMINAL_ORDER_STATUSES = frozenset(
    {OrderStatus.COMPLETED, OrderStatus.FAILED, OrderStatus.CANCELLED}
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
        (OS.ACKNOWLEDGED, "decomposed"): OS.IN_PROGRESS,
        (OS.IN_PROGRESS, "fallout_opened"): OS.HELD,
        (OS.HELD, "fallout_opened"): OS.HELD,
        (OS.IN_PROGRESS, "completed"): OS.COMPLETED,
        (OS.ACKNOWLEDGED, "cancelled"): OS.CANCELLED,
        (OS.IN_PROGRESS, "cancelled"): OS.CANCELLED,
        (OS.HELD, "failed"): OS.FAILED,
    },
)


class TaskStatus(StrEnum):
    PENDING = "pending"
    IN_FLIGHT = "in_flight"
    UNKNOWN = "unknown"  # timed out: outcome unknown until reconciled
    WAITING_RETRY = "waiting_retry"
    DONE = "done"
    FALLOUT = "fallout"


T = TaskStatus
TASK_LIFECYCLE = TransitionTable(
    "fulfillment task",
    {
        (T.PENDING, "dispatched"): T.IN_FLIGHT,
        (T.WAITING_RETRY, "dispatched"): T.IN_FLIGHT,
        (T.IN_FLIGHT, "completed"): T.DONE,
        (T.UNKNOWN, "completed"): T.DONE,  # late reply, or reconciliation found it done
        (T.WAITING_RETRY, "completed"): T.DONE,  # late reply of an earlier attempt
        (T.IN_FLIGHT, "failed"): T.WAITING_RETRY,
        (T.IN_FLIGHT, "timed_out"): T.UNKNOWN,
        (T.UNKNOWN, "reconciled_absent"): T.WAITING_RETRY,
        (T.UNKNOWN, "reconciled_pending"): T.UNKNOWN,
        (T.UNKNOWN, "reconciliation_failed"): T.UNKNOWN,  # the query itself failed
        (T.UNKNOWN, "treated_as_failed"): T.WAITING_RETRY,  # what a naive policy does
        (T.IN_FLIGHT, "fallout"): T.FALLOUT,
        (T.UNKNOWN, "fallout"): T.FALLOUT,
        (T.WAITING_RETRY, "fallout"): T.FALLOUT,
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


class OrderCreated(OrderEvent):
    type_name: ClassVar[str] = "created"
    quote_id: str
    quote_revision: int
    account_id: str
    idempotency_key: str
    items: list[OrderItem]
    snapshot: CommercialSnapshot
    snapshot_fingerprint: str
    price_fingerprint: str


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
    type_name: ClassVar[str] = "fallout_opened"
    case_id: str
    owner: str
    reason: str
    repair_actions: list[str]


class AssetActivated(OrderEvent):
    type_name: ClassVar[str] = "asset_activated"
    item_id: str
    asset_id: str
    offering: str
    quantity: int


class BillingStarted(OrderEvent):
    type_name: ClassVar[str] = "billing_started"
    item_id: str
    asset_id: str


class OrderCompleted(OrderEvent):
    type_name: ClassVar[str] = "completed"


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
    billing_started: list[str] = []  # item ids
    fallout_cases: list[dict[str, Any]] = []

    @property
    def terminal(self) -> bool:
        return self.status in TERMINAL_ORDER_STATUSES

    @property
    def open_owned_cases(self) -> int:
        return sum(1 for c in self.fallout_cases if c["status"] == "open" and c["owner"])

    @property
    def settled(self) -> bool:
        return settled(self.status, self.open_owned_cases)


def _task_step(state: Order, task_id: str, trigger: str, **changes: Any) -> Order:
    task = state.tasks[task_id]
    status = TASK_LIFECYCLE.next_state(task.status, trigger)
    tasks = dict(state.tasks)
    tasks[task_id] = task.model_copy(update={"status": status, **changes})
    return state.model_copy(update={"tasks": tasks})


def _order_step(state: Order, trigger: str) -> Order:
    return state.model_copy(update={"status": ORDER_LIFECYCLE.next_state(state.status, trigger)})


def evolve(state: Order | None, event: OrderEvent) -> Order:
    if isinstance(event, OrderCreated):
        return Order(
            order_id=event.order_id,
            quote_id=event.quote_id,
            quote_revision=event.quote_revision,
            account_id=event.account_id,
            idempotency_key=event.idempotency_key,
            items=event.items,
            snapshot=event.snapshot,
            snapshot_fingerprint=event.snapshot_fingerprint,
            price_fingerprint=event.price_fingerprint,
        )
    assert state is not None, f"{type(event).__name__} before OrderCreated"
    if isinstance(event, OrderDecomposed):
        state = _order_step(state, ORDER_TRIGGERS[event.cloudevent_type()])
        return state.model_copy(
            update={
                "tasks": {t.task_id: TaskState(spec=t) for t in event.tasks},
                "task_order": [t.task_id for t in event.tasks],
            }
        )
    if isinstance(event, FulfillmentTaskDispatched):
        return _task_step(state, event.task_id, "dispatched", attempts=event.attempt, polls=0)
    if isinstance(event, FulfillmentTaskCompleted):
        return _task_step(state, event.task_id, "completed")
    if isinstance(event, FulfillmentTaskFailed):
        return _task_step(state, event.task_id, "failed")
    if isinstance(event, FulfillmentTaskTimedOut):
        state = _task_step(state, event.task_id, "timed_out")
        if event.treated_as == "failure":
            state = _task_step(state, event.task_id, "treated_as_failed")
        return state
    if isinstance(event, FulfillmentTaskReconciliationRequested):
        task = state.tasks[event.task_id]
        return _task_step(state, event.task_id, "reconciled_pending", polls=task.polls + 1)
    if isinstance(event, FulfillmentTaskReconciliationFailed):
        return _task_step(state, event.task_id, "reconciliation_failed")
    if isinstance(event, FulfillmentTaskReconciled):
        if event.found in ("not_found", "failed"):
            return _task_step(state, event.task_id, "reconciled_absent")
        return state  # completed -> a Completed fact follows; in_progress -> keep waiting
    if isinstance(event, FulfillmentTaskRetryScheduled):
        return state
    if isinstance(event, FalloutCaseOpened):
        state = _task_step(state, event.task_id, "fallout")
        state = _order_step(state, ORDER_TRIGGERS[event.cloudevent_type()])
        case = {
            "case_id": event.case_id,
            "task_id": event.task_id,
            "owner": event.owner,
            "reason": event.reason,
            "repair_actions": event.repair_actions,
            "status": "open",
        }
        return state.model_copy(update={"fallout_cases": [*state.fallout_cases, case]})
    if isinstance(event, AssetActivated):
        return state.model_copy(update={"assets": {**state.assets, event.item_id: event.asset_id}})
    if isinstance(event, BillingStarted):
        return state.model_copy(update={"billing_started": [*state.billing_started, event.item_id]})
    if isinstance(event, OrderCompleted):
        return _order_step(state, ORDER_TRIGGERS[event.cloudevent_type()])
    raise TypeError(f"unhandled order event {type(event).__name__}")  # pragma: no cover


ORDER_EVENTS: dict[str, type[OrderEvent]] = {
    cls.cloudevent_type(): cls
    for cls in (
        OrderCreated,
        OrderDecomposed,
        FulfillmentTaskDispatched,
        FulfillmentTaskCompleted,
        FulfillmentTaskFailed,
        FulfillmentTaskTimedOut,
        FulfillmentTaskReconciliationRequested,
        FulfillmentTaskReconciled,
        FulfillmentTaskReconciliationFailed,
        FulfillmentTaskRetryScheduled,
        FalloutCaseOpened,
        AssetActivated,
        BillingStarted,
        OrderCompleted,
    )
}

# Which facts move the order itself through ORDER_LIFECYCLE (by event name): ``evolve``
# and the invariant checker read order statuses from the same table.
ORDER_TRIGGERS: dict[str, str] = {
    OrderDecomposed.cloudevent_type(): "decomposed",
    FalloutCaseOpened.cloudevent_type(): "fallout_opened",
    OrderCompleted.cloudevent_type(): "completed",
}
