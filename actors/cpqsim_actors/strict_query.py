"""Unknown query parameters are a 400 in the TMF Error shape, not silently ignored.

A typo in a filter (``?limt=5``) that the server ignores returns an answer to a question
nobody asked. Each route checks its own query string against the parameters it declares
(its dependencies' included), inside its handler: no dependency is solved per request,
and the check costs nothing when there is no query string (the hot routes have none).
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.routing import APIRoute

from cpqsim_actors.fast_json import FastJSONResponse
from cpqsim_actors.http_errors import error_response


class QueryRefused(Exception):
    def __init__(self, names: list[str]) -> None:
        super().__init__(", ".join(names))
        self.names = names


def query_names(dependant: Any) -> set[str]:
    """Every query parameter a route declares, its dependencies' included."""
    names = {p.alias for p in dependant.query_params}
    for sub in dependant.dependencies:
        names |= query_names(sub)
    return names


class StrictQueryRoute(APIRoute):
    def get_route_handler(self):
        handler = super().get_route_handler()
        allowed = frozenset(query_names(self.dependant))

        async def checked(request: Request):
            if request.scope.get("query_string"):
                unknown = sorted({k for k in request.query_params if k not in allowed})
                if unknown:
                    raise QueryRefused(unknown)
            return await handler(request)

        return checked


def install_strict_query(app: FastAPI) -> None:
    """Call before adding routes: routes are built by the router's route class."""
    app.router.route_class = StrictQueryRoute

    @app.exception_handler(QueryRefused)
    async def _query_refused(_request: Request, exc: QueryRefused) -> FastJSONResponse:
        names = [n[:80] for n in exc.names[:20]]
        violations = [
            {"field": f"query {n}", "reason": "unknown query parameter", "rule": "unknown"}
            for n in names
        ]
        return error_response(
            400,
            "unknown_query_parameter",
            f"unknown query parameter(s): {', '.join(names)}",
            violations,
        )
