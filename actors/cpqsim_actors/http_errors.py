"""Every refusal the gateway gives, in the TM Forum ``Error`` shape, and never a 5xx for it.

TMF630 errors carry ``code`` and ``reason`` (required), ``message`` and ``status``; we add
``violations`` (each with a ``field`` path and a ``reason``) where a body broke several
rules at once. The handlers here replace FastAPI's defaults, which echo the rejected input
back: an echo of a lone surrogate or a ``NaN`` cannot be encoded and turned a 4xx into a
500. Nothing the client sent is ever reflected except field names, cut short.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ConfigDict, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

from cpqsim_actors.fast_json import FastJSONResponse as JSONResponse
from cpqsim_actors.handles import ActorUnavailable
from cpqsim_actors.journal import JournalRefused

log = logging.getLogger(__name__)

MAX_ECHOED = 80  # characters of a field name or path echoed back at most

REASONS = {
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    409: "Conflict",
    413: "Content Too Large",
    415: "Unsupported Media Type",
    422: "Unprocessable Entity",
    500: "Internal Server Error",
    503: "Service Unavailable",
}


class Violation(BaseModel):
    field: str = Field(description="where in the request (body path, query or header name)")
    reason: str
    rule: str | None = None


class TmfError(BaseModel):
    """The TMF630 ``Error`` resource (``code`` and ``reason`` required), plus violations."""

    model_config = ConfigDict(populate_by_name=True)

    code: str = Field(description="stable machine-readable code, e.g. unknown_quote")
    reason: str = Field(description="short explanation (the HTTP reason phrase)")
    message: str | None = Field(default=None, description="what went wrong and what to do")
    status: str | None = Field(default=None, description="the HTTP status, as text")
    violations: list[Violation] | None = None
    type_: str = Field(default="Error", alias="@type")


def error_response(
    status: int,
    code: str,
    message: str,
    violations: list[dict[str, Any]] | None = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    body: dict[str, Any] = {
        "code": code,
        "reason": REASONS.get(status, "Error"),
        "message": message,
        "status": str(status),
        "@type": "Error",
    }
    if violations:
        body["violations"] = violations
    return JSONResponse(body, status_code=status, headers=headers)


def error_doc(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` entries declaring these statuses as TMF errors."""
    return {s: {"model": TmfError, "description": REASONS.get(s, "Error")} for s in statuses}


def _short(text: object) -> str:
    """Printable, encodable, bounded: safe to put in a JSON answer whatever came in."""
    clean = str(text).encode("utf-8", "backslashreplace").decode("utf-8")
    clean = "".join(ch if ch.isprintable() else "?" for ch in clean)
    return clean if len(clean) <= MAX_ECHOED else clean[: MAX_ECHOED - 1] + "…"


# Tags of tagged-union bodies (which shape was recognised): not part of the client's path.
BODY_SHAPE_TAGS = frozenset({"compact", "tmf648"})


def field_path(loc: tuple | list) -> str:
    """``("body", "quoteItem", 0, "quantity")`` -> ``quoteItem[0].quantity``."""
    parts = list(loc)
    where = parts.pop(0) if parts and parts[0] in ("body", "query", "header", "path") else ""
    if where == "body" and parts and parts[0] in BODY_SHAPE_TAGS:
        parts.pop(0)
    out = ""
    for part in parts:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    if where in ("query", "header", "path"):
        return f"{where} {_short(out)}"
    return _short(out) or "body"


def validation_violations(errors: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """pydantic errors without their ``input`` (never echoed: see the module docstring)."""
    return [
        {
            "field": field_path(e.get("loc", ())),
            "reason": _short(e.get("msg", "")),
            "rule": e.get("type"),
        }
        for e in errors[:50]
    ]


def allowed_methods(request: Request) -> list[str]:
    """Every documented method on this path (Starlette's own Allow names one route's)."""
    path = request.url.path
    methods: set[str] = set()
    for route in request.app.router.routes:
        regex = getattr(route, "path_regex", None)
        if regex is not None and getattr(route, "include_in_schema", False) and regex.match(path):
            methods |= set(getattr(route, "methods", None) or ())
    return sorted(methods)


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(RequestValidationError)
    async def _invalid(_request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = list(exc.errors())
        violations = validation_violations(errors)
        first = violations[0] if violations else {"field": "body", "reason": "invalid"}
        summary = f"{first['field']}: {first['reason']}" + (
            f" (and {len(violations) - 1} more)" if len(violations) > 1 else ""
        )
        if any(v["rule"] == "json_invalid" for v in violations):
            return error_response(400, "malformed_json", "the body is not valid JSON", violations)
        places = {str(e.get("loc", ("body",))[0]) for e in errors}
        if places and "body" not in places:  # query, header or path: a malformed request
            keys = {str(e.get("loc", ("", ""))[-1]).lower() for e in errors}
            missing = any(e.get("type") == "missing" for e in errors)
            if "idempotency-key" in keys:
                code = "missing_idempotency_key" if missing else "invalid_idempotency_key"
            else:
                code = "invalid_parameter"
            return error_response(400, code, summary, violations)
        return error_response(422, "invalid_request", summary, violations)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        status = exc.status_code
        code = {404: "not_found", 405: "method_not_allowed"}.get(status, "http_error")
        message = exc.detail if isinstance(exc.detail, str) else REASONS.get(status, "error")
        headers = dict(exc.headers or {})
        if status == 405:
            headers["Allow"] = ", ".join(allowed_methods(request))
        return error_response(status, code, _short(message), headers=headers or None)

    @app.exception_handler(ActorUnavailable)
    async def _unavailable(_request: Request, exc: ActorUnavailable) -> JSONResponse:
        cause = getattr(exc, "cause", None) or exc  # Ray wraps it: the shard's own error
        if isinstance(cause, JournalRefused):
            # No retry will help: the journal must be restored first. Say why.
            return error_response(503, "journal_refused", str(cause))
        return error_response(
            503,
            "unavailable",
            "a platform actor is restarting; retry shortly",
            headers={"Retry-After": "1"},
        )

    @app.exception_handler(Exception)
    async def _unexpected(_request: Request, exc: Exception) -> JSONResponse:
        log.exception("unexpected error in the gateway")
        return error_response(500, "internal_error", f"unexpected {type(exc).__name__}")
