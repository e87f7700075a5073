"""The TMF ``/hub`` routes of one API: register, read and delete a listener registration."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.responses import Response

from cpqsim_actors import api_models as m
from cpqsim_actors.auth import Caller, Forbidden
from cpqsim_actors.fast_json import FastJSONResponse as JSONResponse
from cpqsim_actors.http_errors import error_doc, error_response
from cpqsim_actors.hub import QUOTE_API, CallbackRefused, Hub


def install_hub_routes(app: FastAPI, hub: Hub, api: str, root: str) -> None:
    """``POST {root}/hub``, ``GET``/``DELETE {root}/hub/{id}`` for ``api`` (quote or order)."""
    tag = f"{api} events"
    body_model = m.QuoteSubscriptionIn if api == QUOTE_API else m.OrderSubscriptionIn

    def unscoped(caller) -> None:
        if caller.accounts is not None:  # a listener hears every account's events
            raise Forbidden(
                "all_accounts_required",
                f"a {api} listener hears every account; {caller.id} is limited to its own",
            )

    async def register(body, request: Request, caller: Caller):
        unscoped(caller)
        try:
            sub = await hub.subscribe(api, body.callback, body.query, str(request.base_url))
        except CallbackRefused as exc:
            return error_response(
                422,
                "invalid_subscription",
                str(exc),
                [{"field": "callback" if "callback" in str(exc) else "query", "reason": str(exc)}],
            )
        return JSONResponse(sub, status_code=201, headers={"Location": f"{root}/hub/{sub['id']}"})

    register.__annotations__["body"] = body_model  # the API's own filter vocabulary
    app.post(
        f"{root}/hub",
        status_code=201,
        tags=[tag],
        response_model=m.EventSubscription,
        responses=error_doc(400, 403, 413, 422),
        summary=f"Register a loopback listener for {api} events (at-least-once, by eventId)",
        operation_id=f"register_{api}_listener",
    )(register)

    @app.get(
        f"{root}/hub/{{subscription_id}}",
        tags=[tag],
        response_model=m.EventSubscription,
        responses=error_doc(400, 403, 404),
        operation_id=f"get_{api}_listener",
    )
    async def get_listener(subscription_id: str, caller: Caller):
        unscoped(caller)
        sub = hub.get(api, subscription_id)
        if sub is None:
            return error_response(404, "unknown_subscription", "no such listener registration")
        return JSONResponse(sub)

    @app.delete(
        f"{root}/hub/{{subscription_id}}",
        status_code=204,
        tags=[tag],
        response_class=Response,
        responses=error_doc(400, 403, 404),
        operation_id=f"unregister_{api}_listener",
    )
    async def unregister(subscription_id: str, caller: Caller):
        unscoped(caller)
        if not hub.unsubscribe(api, subscription_id):
            return error_response(404, "unknown_subscription", "no such listener registration")
        return Response(status_code=204)
