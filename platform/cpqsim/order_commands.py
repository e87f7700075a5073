"""Commands on an order (instructions, not facts), and how the order decides on them.

``cancel`` accepts a cancellation before every task's point of no return (or refuses it,
naming the tasks past theirs); accepted, the order winds down through the orchestration's
``advance``: nothing new starts, work in flight is reconciled, work done is compensated
in reverse dependency order. ``repair`` is an operations decision on a fallout case,
authorised by role (``OrderPolicy.repair_authority``): a refusal is recorded as a fact.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from cpqsim.context import Context
from cpqsim.lifecycle import GuardFailed
from cpqsim.orchestration import (
    Reaction,
    ResiliencePolicy,
    Step,
    advance,
    dispatch,
    request_reconciliation,
)
from cpqsim.order import (
    FalloutCaseResolved,
    FulfillmentTaskCompleted,
    ItemAbandoned,
    Order,
    OrderCancellationAccepted,
    RepairRefused,
    TaskState,
    TaskStatus,
)
from cpqsim.order_policy import OrderPolicy, RepairAction


class OrderCommand(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    order_id: str = Field(min_length=1, max_length=200)


class CancelOrder(OrderCommand):
    """Stop an order: refused past any task's point of no return; before it, work not
    started is dropped, work in flight reconciled, work done compensated."""

    requested_by: Literal["customer", "operations"] = "customer"
    reason: str = Field(default="", max_length=2000)


class RepairFallout(OrderCommand):
    """An operations decision on a fallout case, on the actor's authority (their role)."""

    case_id: str = Field(min_length=1, max_length=200)
    action: RepairAction
    role: str = Field(min_length=1, max_length=100)
    reason: str = Field(default="", max_length=2000)
    evidence: str | None = Field(
        default=None, max_length=2000, description="mark_done: the reference that proves it"
    )


# ----------------------------------------------------------------------------- deciding


REPAIRS_BY_CASE_KIND: dict[str, tuple[RepairAction, ...]] = {
    # a task that failed for good: try again, ask the downstream, declare it done with
    # evidence, give up on its item, or give up on the whole order
    "task": ("retry", "reconcile", "mark_done", "abandon_item", "cancel_order"),
    # an undo that failed or cannot be done by a machine: undo it again, or by hand
    "compensation": ("compensate", "mark_done"),
}


def repairs_for(case_kind: str) -> tuple[RepairAction, ...]:
    """The repair commands a case of this kind accepts (the API lists them per case).

    The ``repair_actions`` recorded in ``fallout_opened`` facts predate these command
    names (``retry_task``, ``reconcile_with_downstream``); the facts stay as recorded.
    """
    return REPAIRS_BY_CASE_KIND.get(case_kind, REPAIRS_BY_CASE_KIND["task"])


class CancellationRefused(GuardFailed):
    code = "cutoff_passed"


class OrderClosed(GuardFailed):
    code = "order_closed"


def _passed_cutoff(task: TaskState) -> bool:
    cutoff = task.spec.cutoff
    if cutoff == "on_dispatch":
        return task.attempts > 0 or task.status is TaskStatus.DONE
    if cutoff == "on_completion":
        return task.status is TaskStatus.DONE
    return False


def cancel(order: Order, command: CancelOrder, ctx: Context, policy: ResiliencePolicy) -> Reaction:
    """Accept the cancellation before every point of no return, or refuse it saying why."""
    if order.terminal:
        raise OrderClosed(f"order {order.order_id} is {order.status.value}: nothing to cancel")
    if order.cancellation is not None:
        raise OrderClosed(f"order {order.order_id} is already being wound down")
    passed = [tid for tid in order.task_order if _passed_cutoff(order.tasks[tid])]
    if passed:
        raise CancellationRefused(
            f"order {order.order_id} cannot be cancelled: past the point of no return of "
            + ", ".join(f"{tid} ({order.tasks[tid].spec.cutoff})" for tid in passed)
        )
    step = Step(order)
    step.emit(
        OrderCancellationAccepted(
            order_id=order.order_id,
            kind=command.requested_by,
            reason=command.reason or f"cancelled by the {command.requested_by}",
            requested_by=ctx.actor,
            dropped=_droppable(order, {i.item_id for i in order.items}),
        )
    )
    advance(step, ctx, policy)
    return step.reaction()


def _droppable(order: Order, items: set[str]) -> list[str]:
    """Tasks of ``items`` that can be dropped at once: nothing of them is in flight."""
    return [
        tid
        for tid in order.task_order
        if order.tasks[tid].spec.kind != "compensation"
        and order.tasks[tid].spec.item_id in items
        and order.tasks[tid].status in (TaskStatus.PENDING, TaskStatus.WAITING_RETRY)
    ]


def _dependent_items(order: Order, item_id: str) -> set[str]:
    """``item_id`` and every item whose work waits on it (they cannot go on without it)."""
    of_task = {tid: order.tasks[tid].spec.item_id for tid in order.task_order}
    items, frontier = {item_id}, [item_id]
    while frontier:
        current = frontier.pop()
        for tid in order.task_order:
            spec = order.tasks[tid].spec
            if spec.item_id in items or spec.kind == "compensation":
                continue
            if any(of_task.get(dep) == current for dep in spec.depends_on):
                items.add(spec.item_id)
                frontier.append(spec.item_id)
    return items


def repair(
    order: Order,
    command: RepairFallout,
    ctx: Context,
    policy: ResiliencePolicy,
    order_policy: OrderPolicy,
) -> Reaction:
    """An operations decision on an open case, authorised by role and recorded with it."""
    step = Step(order)
    case = order.open_case(command.case_id)
    if case is None:
        raise OrderClosed(f"order {order.order_id} has no open case {command.case_id}")
    if not order_policy.may(command.role, command.action):
        allowed = ", ".join(order_policy.repair_authority.get(command.action, [])) or "nobody"
        step.emit(
            RepairRefused(
                order_id=order.order_id,
                case_id=command.case_id,
                action=command.action,
                actor=ctx.actor,
                role=command.role,
                reason=f"{command.action} needs the role {allowed}, not {command.role}",
            )
        )
        return step.reaction()
    task_id = case["task_id"]
    accepted = repairs_for(case.get("kind", "task"))
    if command.action not in accepted:
        raise GuardFailed(
            f"case {command.case_id} ({case.get('kind', 'task')}) accepts "
            f"{', '.join(accepted)}, not {command.action}"
        )
    if command.action == "mark_done" and not command.evidence:
        raise GuardFailed("mark_done needs evidence: the reference that proves it was done")
    if command.action == "retry" and order.winding_down:
        raise GuardFailed(f"order {order.order_id} is being wound down: nothing is retried")
    step.emit(
        FalloutCaseResolved(
            order_id=order.order_id,
            case_id=command.case_id,
            task_id=task_id,
            action=command.action,
            actor=ctx.actor,
            role=command.role,
            reason=command.reason,
            evidence=command.evidence,
        )
    )
    _REPAIRS[command.action](step, order, case, command, ctx, policy, order_policy)
    return step.reaction()


def _retry(step, order, case, command, ctx, policy, order_policy) -> None:
    dispatch(step, case["task_id"], policy)


def _reconcile(step, order, case, command, ctx, policy, order_policy) -> None:
    request_reconciliation(step, case["task_id"])


def _mark_done(step, order, case, command, ctx, policy, order_policy) -> None:
    task = order.tasks[case["task_id"]]
    # A case on work (or on an undo task that failed) closes its task as done by hand; a
    # case on a done task nobody can undo records it as undone by hand (evolve).
    if case.get("kind") != "compensation" or task.spec.kind == "compensation":
        step.emit(
            FulfillmentTaskCompleted(
                order_id=order.order_id,
                task_id=case["task_id"],
                attempt=task.attempts,
                via="manual",
            )
        )
    advance(step, ctx, policy)


def _compensate(step, order, case, command, ctx, policy, order_policy) -> None:
    if order.tasks[case["task_id"]].spec.kind == "compensation":
        dispatch(step, case["task_id"], policy)  # the undo failed: send it again
        return
    advance(step, ctx, policy)  # the case is resolved: plan (again) what undoes the task


def _cancel_order(step, order, case, command, ctx, policy, order_policy) -> None:
    current = step.order
    assert current is not None
    dropped = _droppable(current, {i.item_id for i in current.items})
    if current.tasks[case["task_id"]].status is TaskStatus.FALLOUT:
        dropped.append(case["task_id"])
    step.emit(
        OrderCancellationAccepted(
            order_id=order.order_id,
            kind="operations",
            reason=command.reason or "cancelled by operations from a fallout case",
            requested_by=ctx.actor,
            dropped=dropped,
        )
    )
    advance(step, ctx, policy)


def _abandon_item(step, order, case, command, ctx, policy, order_policy) -> None:
    current = step.order
    assert current is not None
    item_id = current.tasks[case["task_id"]].spec.item_id
    offerings = [i.offering.split("@")[0] for i in current.items]
    if order_policy.partial_policy(offerings) == "all_or_nothing":
        dropped = _droppable(current, {i.item_id for i in current.items})
        dropped.append(case["task_id"])
        step.emit(
            OrderCancellationAccepted(
                order_id=order.order_id,
                kind="rollback",
                reason=f"{item_id} abandoned and the order is all-or-nothing: undo everything",
                requested_by=ctx.actor,
                dropped=dropped,
            )
        )
    else:
        for abandoned in sorted(_dependent_items(current, item_id)):
            current = step.order
            assert current is not None
            dropped = _droppable(current, {abandoned})
            if current.tasks[case["task_id"]].spec.item_id == abandoned:
                dropped.append(case["task_id"])
            step.emit(
                ItemAbandoned(
                    order_id=order.order_id,
                    item_id=abandoned,
                    reason=command.reason or "abandoned by operations",
                    dropped=dropped,
                )
            )
    advance(step, ctx, policy)


_REPAIRS = {
    "retry": _retry,
    "reconcile": _reconcile,
    "mark_done": _mark_done,
    "compensate": _compensate,
    "cancel_order": _cancel_order,
    "abandon_item": _abandon_item,
}
