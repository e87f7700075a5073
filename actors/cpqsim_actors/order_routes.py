"""HTTP for where orders fail: TMF622 cancellation, and the fallout queue operations work.

``POST /cancelProductOrder`` asks the order to stop. The order decides (a refusal past a
point of no return is a 409 naming the tasks, an order already finished is a 409 too, an
unknown one a 404); accepted, the request is answered at once in ``inProgress`` while the
order winds down (work in flight reconciled, work done compensated) and reads ``done``
when the order is cancelled. There is one cancellation per order, so its id names the
order and ``GET /cancelProductOrder/{id}`` reads the order's own state: the gateway keeps
nothing.

The fallout queue (``/ops/falloutCase``) is what an operations desk works from: open
cases oldest first, each with its owner and the repairs it allows. A repair by a role
without authority is refused with a 403 *and* recorded as a fact on the order, since a
refused attempt on money or service is itself evidence.

The caller (the bearer token's principal) is the actor of every cancellation and repair,
under one of its own roles; it sees only its accounts' orders and cases (another
account's reads as absent, a 404).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import FastAPI, Query, Request

from cpqsim.order_commands import CancelOrder, RepairFallout
from cpqsim.principals import Principal
from cpqsim_actors import api_models as m
from cpqsim_actors.auth import OPERATING_ROLES, Caller, acting_role, require, same_as_caller
from cpqsim_actors.fast_json import FastJSONResponse as JSONResponse
from cpqsim_actors.http_errors import error_doc, error_response
from cpqsim_actors.tmf import (
    CANCEL_PREFIX,
    ORDER_PATH,
    cancellation_resource,
    fallout_case_resource,
)
from cpqsim_actors.tmf_in import CancelProductOrderCreateTmf

CASES_PATH = "/ops/falloutCase"
Limit = Annotated[int, Query(ge=1, le=1000, description="page size")]
Offset = Annotated[int, Query(ge=0, le=1_000_000, description="items to skip")]
CaseState = Annotated[
    Literal["open", "resolved"] | None, Query(description="only cases in this state")
]


def _refused(answer: dict[str, Any]) -> JSONResponse:
    code, message = answer.get("code") or "refused", answer.get("message") or ""
    if code in ("unknown_order", "unknown_case"):
        return error_response(404, code, message)
    if code == "forbidden":
        return error_response(
            403, code, message or "this role may not take that action (the refusal is recorded)"
        )
    return error_response(409, code, message)


def install_order_exception_routes(app: FastAPI, platform: Any, metrics: Any) -> None:
    """Add the cancellation and fallout-queue routes to the gateway ``app``."""

    def base(request: Request) -> str:
        return str(request.base_url)

    async def cancellation(order_id: str, request: Request, requested_for: str | None = None):
        view = await metrics.timed("get_order", platform.get_order(order_id))
        if view is None or view.order.cancellation is None:
            return None
        if view.order.cancellation.get("kind") == "rollback":
            return None  # the order undid itself (all or nothing): nobody asked
        events = await metrics.timed("timeline", platform.timeline(order_id)) or []
        accepted = next((e.time for e in events if e.name == "order.cancellation_accepted"), None)
        cancelled = next((e.time for e in events if e.name == "order.cancelled"), None)
        return cancellation_resource(view.order, base(request), accepted, cancelled, requested_for)

    async def visible_order(caller: Principal, order_id: str):
        view = await metrics.timed("get_order", platform.get_order(order_id))
        return view if view is not None and caller.may_see(view.order.account_id) else None

    @app.post(
        f"{ORDER_PATH}/cancelProductOrder",
        status_code=201,
        tags=["order"],
        response_model=m.CancelProductOrder,
        responses=error_doc(400, 403, 404, 409, 413, 422, 503),
        summary="Cancel a product order (TMF622 CancelProductOrder_Create)",
    )
    async def cancel_order(body: CancelProductOrderCreateTmf, request: Request, caller: Caller):
        require(caller, f"order.cancel.{body.requestedBy}")
        order_id = body.productOrder.id
        if caller.accounts is not None and await visible_order(caller, order_id) is None:
            return error_response(
                404, "unknown_order", f"product order {order_id[:80]} does not exist"
            )
        command = CancelOrder(
            order_id=order_id,
            requested_by=body.requestedBy,
            reason=body.cancellationReason or "",
        )
        (answer,) = await metrics.timed(
            "order_command", platform.execute_orders([(command, caller.id)])
        )
        if not answer["ok"]:
            return _refused(answer)
        resource = await cancellation(order_id, request, body.requestedCancellationDate)
        assert resource is not None  # the order just accepted it
        return JSONResponse(resource, status_code=201, headers={"Location": resource["href"]})

    @app.get(
        f"{ORDER_PATH}/cancelProductOrder/{{request_id}}",
        tags=["order"],
        response_model=m.CancelProductOrder,
        responses=error_doc(400, 404, 503),
        summary="A cancellation request and its state (done once the order is cancelled)",
    )
    async def get_cancellation(request_id: str, request: Request, caller: Caller):
        order_id = request_id.removeprefix(CANCEL_PREFIX)
        resource = (
            await cancellation(order_id, request)
            if request_id.startswith(CANCEL_PREFIX)
            and (caller.accounts is None or await visible_order(caller, order_id) is not None)
            else None
        )
        if resource is None:
            return error_response(
                404, "unknown_cancellation", f"no cancellation request {request_id[:80]}"
            )
        return JSONResponse(resource)

    @app.get(
        CASES_PATH,
        tags=["ops"],
        response_model=list[m.FalloutCase],
        responses=error_doc(400, 503),
        summary="The fallout queue: cases oldest first (X-Total-Count says how many)",
    )
    async def list_cases(
        caller: Caller, state: CaseState = None, limit: Limit = 100, offset: Offset = 0
    ):
        cases = await metrics.timed("fallout_cases", platform.fallout_cases(state, caller.accounts))
        page = [fallout_case_resource(c) for c in cases[offset : offset + limit]]
        return JSONResponse(
            page, headers={"X-Total-Count": str(len(cases)), "X-Result-Count": str(len(page))}
        )

    async def find_case(case_id: str, caller: Principal):
        case = await metrics.timed("fallout_cases", platform.fallout_case(case_id))
        if case is None or not caller.may_see(case["account_id"]):
            return None  # another account's case reads as absent
        return case

    def unknown_case(case_id: str) -> JSONResponse:
        return error_response(404, "unknown_case", f"no fallout case {case_id[:80]}")

    @app.get(
        f"{CASES_PATH}/{{case_id}}",
        tags=["ops"],
        response_model=m.FalloutCase,
        responses=error_doc(400, 404, 503),
    )
    async def get_case(case_id: str, caller: Caller):
        case = await find_case(case_id, caller)
        return unknown_case(case_id) if case is None else JSONResponse(fallout_case_resource(case))

    @app.post(
        f"{CASES_PATH}/{{case_id}}/repair",
        tags=["ops"],
        response_model=m.FalloutCase,
        responses=error_doc(400, 403, 404, 409, 413, 422, 503),
        summary="Repair a case (retry, reconcile, mark done, compensate, abandon, cancel)",
    )
    async def repair_case(case_id: str, body: m.RepairIn, caller: Caller):
        # No role gate here: the order policy judges the caller's role, and records a
        # refusal as a fact on the order (a refused attempt is evidence too).
        same_as_caller(caller, body.actor, "actor")
        role = acting_role(caller, body.role, OPERATING_ROLES)
        case = await find_case(case_id, caller)
        if case is None:
            return unknown_case(case_id)
        command = RepairFallout(
            order_id=case["order_id"],
            case_id=case_id,
            action=body.action,
            role=role,
            reason=body.reason,
            evidence=body.evidence,
        )
        (answer,) = await metrics.timed(
            "order_command", platform.execute_orders([(command, caller.id)])
        )
        if not answer["ok"]:
            return _refused(answer)
        after = await find_case(case_id, caller)
        assert after is not None
        return JSONResponse(fallout_case_resource(after))
