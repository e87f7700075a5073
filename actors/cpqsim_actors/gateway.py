"""The HTTP gateway: a stateless FastAPI app in front of the live platform's actors.

It validates bodies (pydantic: 422 naming each field), mints quote ids, awaits actor
calls (never a blocking ``ray.get`` on the event loop) and renders TMF shapes. Domain
refusals come back from the shards as data and map to stable statuses: unknown id 404,
refused command 409 ``{code, message}``, unsellable configuration 422 with every
violation. Client mistakes never produce a 5xx; an actor that is restarting is a 503.
"""

from __future__ import annotations

from contextlib import asynccontextmanager
from decimal import Decimal
from typing import Annotated, Any

from fastapi import FastAPI, Header, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from cpqsim.catalog import to_tmf620_product_offering
from cpqsim.configuration import QuoteLine
from cpqsim.quote import (
    AcceptQuote,
    ApproveQuote,
    CancelQuote,
    CreateQuote,
    PriceQuote,
    QuoteCommand,
    RejectQuote,
    ReviseQuote,
    SubmitQuoteForApproval,
)
from cpqsim_actors.handles import ActorUnavailable
from cpqsim_actors.messages import CommandResult, OrderView, QuoteView
from cpqsim_actors.platform import LivePlatform
from cpqsim_actors.tmf import CATALOG_PATH, ORDER_PATH, QUOTE_PATH, order_resource, quote_resource

MAX_IDEMPOTENCY_KEY = 200

# ------------------------------------------------------------------------ request bodies


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class LineIn(_Body):
    offering: str = Field(min_length=1, max_length=200)
    quantity: int = Field(default=1, ge=1, le=1_000_000)
    options: list[str] = Field(default_factory=list, max_length=100)
    addOns: list[str] = Field(default_factory=list, max_length=100)

    def to_core(self) -> QuoteLine:
        return QuoteLine(
            offering=self.offering,
            quantity=self.quantity,
            options=self.options,
            add_ons=self.addOns,
        )


class QuoteCreateIn(_Body):
    accountId: str = Field(min_length=1, max_length=200)
    requester: str = Field(min_length=1, max_length=200)
    lines: list[LineIn] = Field(min_length=1, max_length=50)
    discountPct: Decimal = Field(default=Decimal("0"), ge=0, le=1, allow_inf_nan=False)
    region: str | None = Field(default=None, max_length=100)


class ApprovalIn(_Body):
    approver: str = Field(min_length=1, max_length=200)
    role: str = Field(min_length=1, max_length=100)
    reason: str = Field(default="", max_length=2000)


class RejectionIn(ApprovalIn):
    reason: str = Field(min_length=1, max_length=2000)


class ReviseIn(_Body):
    lines: list[LineIn] | None = Field(default=None, min_length=1, max_length=50)
    discountPct: Decimal | None = Field(default=None, ge=0, le=1, allow_inf_nan=False)
    reason: str = Field(default="", max_length=2000)


class AcceptIn(_Body):
    revision: int | None = Field(default=None, ge=1, description="expected revision")


class CancelIn(_Body):
    reason: str = Field(default="", max_length=2000)


# ------------------------------------------------------------------------------- helpers


def _error(status: int, code: str, message: str, **extra: Any) -> JSONResponse:
    return JSONResponse({"code": code, "message": message, **extra}, status_code=status)


def _refusal(result: CommandResult) -> JSONResponse:
    code, message = result.code or "error", result.message or ""
    if result.outcome == "not_found":
        return _error(404, code, message)
    if result.outcome == "invalid":
        return _error(422, code, message, violations=result.violations)
    return _error(409, code, message)


def _listing(items: list[dict], total: int) -> JSONResponse:
    return JSONResponse(
        items, headers={"X-Total-Count": str(total), "X-Result-Count": str(len(items))}
    )


PAGE = 20  # default page size of the quote and order listings (X-Total-Count says more)
Limit = Annotated[int, Query(ge=1, le=1000, description="page size")]
Offset = Annotated[int, Query(ge=0, le=1_000_000, description="items to skip")]


def create_app(platform: LivePlatform) -> FastAPI:
    """The app for ``platform``; its lifespan waits until every actor is up."""
    catalog = platform.catalog

    @asynccontextmanager
    async def lifespan(_app: FastAPI):
        await platform.start()
        yield

    app = FastAPI(
        title="cpqsim gateway",
        description="TMF620/648/622-shaped HTTP API over the cpqsim live platform (Ray actors).",
        version="0.1.0",
        lifespan=lifespan,
    )

    @app.exception_handler(ActorUnavailable)
    async def _unavailable(_request: Request, exc: ActorUnavailable) -> JSONResponse:
        return JSONResponse(
            {"code": "unavailable", "message": str(exc)},
            status_code=503,
            headers={"Retry-After": "1"},
        )

    def base(request: Request) -> str:
        return str(request.base_url)

    # The catalog is immutable for the app's life: render each TMF620 body once per host.
    offering_bodies: dict[tuple[str, str], dict] = {}

    def offering_body(offering_id: str, base_url: str) -> dict:
        body = offering_bodies.get((offering_id, base_url))
        if body is None:
            if len(offering_bodies) > 10_000:  # many Host headers: don't grow without bound
                offering_bodies.clear()
            body = to_tmf620_product_offering(catalog, offering_id, base_url)
            offering_bodies[(offering_id, base_url)] = body
        return body

    def quote_json(view: QuoteView, request: Request) -> dict:
        return quote_resource(view.quote, catalog, base(request), view.created, view.updated)

    def order_json(view: OrderView, request: Request) -> dict:
        return order_resource(view.order, catalog, base(request), view.created, view.completed)

    async def run(command: QuoteCommand, request: Request, actor: str = "api") -> JSONResponse:
        result = await platform.execute(command, actor)
        if not result.ok:
            return _refusal(result)
        assert result.view is not None
        return JSONResponse(quote_json(result.view, request))

    @app.get("/health", tags=["ops"])
    async def health() -> dict:
        return {"status": "ok"}

    # ------------------------------------------------------------------ TMF620 catalog

    @app.get(f"{CATALOG_PATH}/productOffering", tags=["catalog"])
    async def list_offerings(request: Request, limit: Limit = 100, offset: Offset = 0):
        ids = catalog.version_ids()  # every version: TMF620 identifies one by id + version
        page = ids[offset : offset + limit]
        return _listing([offering_body(i, base(request)) for i in page], len(ids))

    @app.get(f"{CATALOG_PATH}/productOffering/{{offering_id}}", tags=["catalog"])
    async def get_offering(offering_id: str, request: Request):
        if not catalog.has_offering(offering_id):
            return _error(404, "unknown_offering", f"no product offering {offering_id}")
        return JSONResponse(offering_body(offering_id, base(request)))

    # ------------------------------------------------------------------ TMF648 quote

    @app.post(f"{QUOTE_PATH}/quote", status_code=201, tags=["quote"])
    async def create_quote(body: QuoteCreateIn, request: Request):
        quote_id = platform.new_quote_id()
        command = CreateQuote(
            quote_id=quote_id,
            account_id=body.accountId,
            requester=body.requester,
            lines=[line.to_core() for line in body.lines],
            discount_pct=body.discountPct,
            region=body.region,
        )
        result = await platform.execute(command, body.requester)
        if not result.ok:
            return _refusal(result)
        assert result.view is not None
        resource = quote_json(result.view, request)
        return JSONResponse(resource, status_code=201, headers={"Location": resource["href"]})

    @app.get(f"{QUOTE_PATH}/quote", tags=["quote"])
    async def list_quotes(request: Request, limit: Limit = PAGE, offset: Offset = 0):
        views, total = await platform.list_quotes(limit, offset)
        return _listing([quote_json(v, request) for v in views], total)

    @app.get(f"{QUOTE_PATH}/quote/{{quote_id}}", tags=["quote"])
    async def get_quote(quote_id: str, request: Request):
        view = await platform.get_quote(quote_id)
        if view is None:
            return _error(404, "unknown_quote", f"quote {quote_id} does not exist")
        return JSONResponse(quote_json(view, request))

    @app.post(f"{QUOTE_PATH}/quote/{{quote_id}}/price", tags=["quote"])
    async def price_quote(quote_id: str, request: Request):
        return await run(PriceQuote(quote_id=quote_id), request)

    @app.post(f"{QUOTE_PATH}/quote/{{quote_id}}/submitForApproval", tags=["quote"])
    async def submit_quote(quote_id: str, request: Request):
        return await run(SubmitQuoteForApproval(quote_id=quote_id), request)

    @app.post(f"{QUOTE_PATH}/quote/{{quote_id}}/approve", tags=["quote"])
    async def approve_quote(quote_id: str, body: ApprovalIn, request: Request):
        command = ApproveQuote(
            quote_id=quote_id, approver=body.approver, role=body.role, reason=body.reason
        )
        return await run(command, request, body.approver)

    @app.post(f"{QUOTE_PATH}/quote/{{quote_id}}/reject", tags=["quote"])
    async def reject_quote(quote_id: str, body: RejectionIn, request: Request):
        command = RejectQuote(
            quote_id=quote_id, approver=body.approver, role=body.role, reason=body.reason
        )
        return await run(command, request, body.approver)

    @app.post(f"{QUOTE_PATH}/quote/{{quote_id}}/revise", tags=["quote"])
    async def revise_quote(quote_id: str, body: ReviseIn, request: Request):
        command = ReviseQuote(
            quote_id=quote_id,
            lines=[line.to_core() for line in body.lines] if body.lines is not None else None,
            discount_pct=body.discountPct,
            reason=body.reason,
        )
        return await run(command, request)

    @app.post(f"{QUOTE_PATH}/quote/{{quote_id}}/accept", tags=["quote"])
    async def accept_quote(quote_id: str, request: Request, body: AcceptIn | None = None):
        revision = body.revision if body else None
        return await run(AcceptQuote(quote_id=quote_id, revision=revision), request)

    @app.post(f"{QUOTE_PATH}/quote/{{quote_id}}/cancel", tags=["quote"])
    async def cancel_quote(quote_id: str, request: Request, body: CancelIn | None = None):
        return await run(
            CancelQuote(quote_id=quote_id, reason=body.reason if body else ""), request
        )

    @app.post(
        f"{QUOTE_PATH}/quote/{{quote_id}}/convert",
        status_code=201,
        tags=["quote"],
        summary="Convert an accepted quote to a product order (idempotent per key)",
    )
    async def convert_quote(
        quote_id: str,
        request: Request,
        idempotency_key: Annotated[str | None, Header(alias="Idempotency-Key")] = None,
    ):
        key = (idempotency_key or "").strip()
        if not key:
            return _error(
                400, "missing_idempotency_key", "conversion needs an Idempotency-Key header"
            )
        if len(key) > MAX_IDEMPOTENCY_KEY:
            return _error(
                400,
                "invalid_idempotency_key",
                f"Idempotency-Key must be at most {MAX_IDEMPOTENCY_KEY} characters",
            )
        outcome = await platform.convert(quote_id, key)
        if not outcome.result.ok:
            return _refusal(outcome.result)
        assert outcome.order is not None
        resource = order_json(outcome.order, request)
        if outcome.created:
            return JSONResponse(resource, status_code=201, headers={"Location": resource["href"]})
        return JSONResponse(resource, status_code=200)

    # ------------------------------------------------------------------ TMF622 order

    @app.get(f"{ORDER_PATH}/productOrder", tags=["order"])
    async def list_orders(request: Request, limit: Limit = PAGE, offset: Offset = 0):
        views, total = await platform.list_orders(limit, offset)
        return _listing([order_json(v, request) for v in views], total)

    @app.get(f"{ORDER_PATH}/productOrder/{{order_id}}", tags=["order"])
    async def get_order(order_id: str, request: Request):
        view = await platform.get_order(order_id)
        if view is None:
            return _error(404, "unknown_order", f"product order {order_id} does not exist")
        return JSONResponse(order_json(view, request))

    @app.get(f"{ORDER_PATH}/productOrder/{{order_id}}/timeline", tags=["order"])
    async def order_timeline(order_id: str):
        events = await platform.timeline(order_id)
        if events is None:
            return _error(404, "unknown_order", f"product order {order_id} does not exist")
        return JSONResponse([e.model_dump(mode="json") for e in events])

    return app
