"""The door: request bodies are bounded and strictly JSON before any route sees them.

A pure ASGI middleware (no per-request task or copy for body-less requests, which are
the hot path) that

* refuses a body over ``max_body_bytes`` with 413 *before reading it* when the client
  declares its length, and as soon as the limit is crossed when it streams chunks, so a
  50 MB body is never parsed;
* parses a JSON body once, strictly: ``NaN``/``Infinity`` (not JSON, but Python's json
  accepts them), lone UTF-16 surrogates such as ``"\\ud800"`` (not encodable, so nothing
  downstream could store or echo them), invalid UTF-8 and absurd nesting are a 400 in the
  TMF ``Error`` shape. What passes is handed on byte for byte.
"""

from __future__ import annotations

import json
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from cpqsim_actors.http_errors import error_response

DEFAULT_MAX_BODY_BYTES = 256 * 1024
MAX_DEPTH = 32  # our deepest legitimate body (TMF quote items in quote items) is ~8


class BodyRefused(Exception):
    def __init__(self, status: int, code: str, message: str, field: str = "body") -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.field = status, code, message, field


def _refuse_constant(name: str) -> Any:
    raise BodyRefused(400, "malformed_json", f"{name} is not a JSON number")


def _check(value: Any, path: str, depth: int) -> None:
    """Walk the parsed body: bounded depth, every string (and key) encodable as UTF-8."""
    if depth > MAX_DEPTH:
        raise BodyRefused(400, "malformed_json", f"nested deeper than {MAX_DEPTH} levels", path)
    if isinstance(value, str):
        _check_text(value, path)
    elif isinstance(value, dict):
        for key, item in value.items():
            _check_text(key, path)
            _check(item, f"{path}.{key}" if len(path) < 200 else path, depth + 1)
    elif isinstance(value, list):
        for i, item in enumerate(value):
            _check(item, f"{path}[{i}]" if len(path) < 200 else path, depth + 1)


def _check_text(text: str, path: str) -> None:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise BodyRefused(
            400, "malformed_json", "a string holds a lone UTF-16 surrogate (U+D800 to U+DFFF)", path
        ) from None


def parse_strict_json(raw: bytes) -> Any:
    """The body as Python values, or :class:`BodyRefused` saying why not."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise BodyRefused(400, "malformed_json", "the body is not UTF-8") from None
    try:
        value = json.loads(text, parse_constant=_refuse_constant)
    except json.JSONDecodeError as exc:
        raise BodyRefused(
            400,
            "malformed_json",
            f"not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}",
        ) from None
    except RecursionError:
        raise BodyRefused(400, "malformed_json", f"nested deeper than {MAX_DEPTH} levels") from None
    _check(value, "body", 0)
    return value


def _is_json(headers: dict[bytes, bytes]) -> bool:
    ctype = headers.get(b"content-type", b"").split(b";", 1)[0].strip().lower()
    return ctype == b"application/json" or ctype.endswith(b"+json")


class RequestGuard:
    def __init__(self, app: ASGIApp, max_body_bytes: int = DEFAULT_MAX_BODY_BYTES) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] in ("GET", "HEAD", "OPTIONS", "DELETE"):
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        declared = headers.get(b"content-length")
        if declared is not None:
            try:
                length = int(declared)
            except ValueError:
                await self._refuse(
                    scope,
                    receive,
                    send,
                    BodyRefused(400, "bad_request", "Content-Length is not a number"),
                )
                return
            if length > self.max_body_bytes:
                await self._refuse(scope, receive, send, self._too_large())
                return
            if length == 0:
                await self.app(scope, receive, send)
                return
        try:
            raw = await self._read(receive)
            if raw and _is_json(headers):
                parse_strict_json(raw)
        except BodyRefused as refusal:
            await self._refuse(scope, receive, send, refusal)
            return
        await self.app(scope, _replay(raw, receive), send)

    def _too_large(self) -> BodyRefused:
        return BodyRefused(
            413, "body_too_large", f"request bodies are limited to {self.max_body_bytes} bytes"
        )

    async def _read(self, receive: Receive) -> bytes:
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                break
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_body_bytes:
                raise self._too_large()
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        return b"".join(chunks)

    async def _refuse(
        self, scope: Scope, receive: Receive, send: Send, refusal: BodyRefused
    ) -> None:
        violations = [{"field": refusal.field, "reason": refusal.message, "rule": refusal.code}]
        response = error_response(refusal.status, refusal.code, refusal.message, violations)
        if refusal.status == 413:
            response.headers["Connection"] = "close"  # the rest of the body is not read
        await response(scope, receive, send)


def _replay(body: bytes, receive: Receive) -> Receive:
    """A ``receive`` that hands the already-read body over once, then defers to the client."""
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay
