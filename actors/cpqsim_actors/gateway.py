"""The HTTP gateway: a stateless FastAPI app in front of the live platform's actors.

It checks requests at the door (``request_guard``: bounded, strictly-JSON bodies;
unknown query parameters refused), validates bodies field by field, mints quote ids,
awaits actor calls (never a blocking ``ray.get`` on the event loop; concurrent requests
to one shard share a call) and renders TMF shapes, from the quote's card (what the body
shows, computed in the shard) rather than the whole quote. It speaks both the compact
quote request and TMF648 ``Quote_Create``, creates orders from accepted quotes (convert,
or TMF622 ``POST productOrder``, both idempotent per ``Idempotency-Key``), and answers
every refusal in the TMF ``Error`` shape: unknown id 404, refused command 409,
unmappable or unsellable request 422, malformed request 400, oversize body 413; an actor
that is restarting is a 503. Client mistakes never produce a 5xx.

Every route but ``/health`` and the docs needs a bearer token (:mod:`cpqsim_actors.auth`):
no token or an unknown one is a 401; the principal it names is the actor of every
command, and a principal sees only its own accounts' quotes and orders (another
account's quote is a 404, as if it did not exist, so ids reveal nothing). Cancellation (TMF622
``cancelProductOrder``) and the fallout queue are in :mod:`cpqsim_actors.order_routes`.
Around it: ``/metrics`` (Prometheus), ``/hub`` listeners, ``/ops/verdict`` (the invariant
checker over the live platform) and ``/docs`` that work offline.
"""

from __future__ import annotations

from contextlib import asynccontextmanager
from typing import Annotated, Any

from fastapi import Body, FastAPI, Header, Query, Request
from fastapi.responses import Response
from pydantic import Discriminator, Field, Tag

from cpqsim.catalog import to_tmf620_product_offering
from cpqsim.change import ChangeRefusal
from cpqsim.principals import Principal
from cpqsim.quote import (
    QUOTE_LIFECYCLE,
    AcceptQuote,
    ApproveQuote,
    CancelQuote,
    CreateQuote,
    PresentQuote,
    PriceQuote,
    QuoteCommand,
    RejectQuote,
    ReviseQuote,
    SubmitQuoteForApproval,
    SupersedeQuote,
    clone_command,
)
from cpqsim_actors import api_models as m
from cpqsim_actors.auth import (
    APPROVING_ROLES,
    AUTHENTICATION,
    Caller,
    Forbidden,
    PrincipalDirectory,
    acting_role,
    document_authentication,
    install_authentication,
    require,
    same_as_caller,
)
from cpqsim_actors.fast_json import FastJSONResponse as JSONResponse
from cpqsim_actors.http_errors import error_doc, error_response, install_error_handlers
from cpqsim_actors.hub import ORDER_API, QUOTE_API, Hub
from cpqsim_actors.hub_api import install_hub_routes
from cpqsim_actors.inventory_routes import install_inventory_routes
from cpqsim_actors.messages import CommandResult, ConvertOutcome, OrderView, QuoteCard, QuoteView
from cpqsim_actors.metrics import GatewayMetrics, MetricsMiddleware
from cpqsim_actors.offline_docs import install_offline_docs
from cpqsim_actors.order_routes import install_order_exception_routes
from cpqsim_actors.policy_routes import install_approval_policy_routes
from cpqsim_actors.request_guard import DEFAULT_MAX_BODY_BYTES, RequestGuard
from cpqsim_actors.strict_query import install_strict_query
from cpqsim_actors.tmf import CATALOG_PATH, ORDER_PATH, QUOTE_PATH, order_resource, quote_resource
from cpqsim_actors.tmf_in import (
    ProductOrderCreateTmf,
    QuoteCreateTmf,
    TmfBodyInvalid,
    check_order_matches_quote,
    products_named,
    quote_command,
    seller_party,
)

MAX_IDEMPOTENCY_KEY = 200
PAGE = 20  # default page size of the quote and order listings (X-Total-Count says more)
MAX_SETTLE_S = 600.0

Limit = Annotated[int, Query(ge=1, le=1000, description="page size")]
Offset = Annotated[int, Query(ge=0, le=1_000_000, description="items to skip")]
IdempotencyKey = Annotated[
    str,
    Header(
        alias="Idempotency-Key",
        min_length=1,
        max_length=MAX_IDEMPOTENCY_KEY,
        description="the client's key for this conversion; a retry with the same key "
        "gets the same order back (200) instead of a second one",
    ),
]


def _quote_body_kind(value: Any) -> str:
    return "tmf648" if isinstance(value, dict) and "quoteItem" in value else "compact"


QuoteCreateBody = Annotated[
    Annotated[m.QuoteCreateIn, Tag("compact")] | Annotated[QuoteCreateTmf, Tag("tmf648")],
    Discriminator(_quote_body_kind),
    Field(description="the compact request, or a TMF648 Quote_Create (has quoteItem)"),
]

# OpenAPI statuses per kind of route (all errors are TMF Error bodies).
READ = error_doc(400, 404, 503)
COMMAND = error_doc(400, 403, 404, 409, 413, 422, 503)
CREATE = error_doc(400, 403, 409, 413, 422, 503)
ACCOUNT_CACHE = 100_000  # quote id -> account entries kept (an account never changes)


def _refusal(result: CommandResult) -> JSONResponse:
    code, message = result.code or "error", result.message or ""
    if result.outcome == "failed":  # a bug in the platform; its log has the details
        return error_response(500, "internal_error", "the platform failed to run the command")
    if result.outcome == "not_found":
        return error_response(404, code, message)
    if result.outcome == "invalid":
        violations = [
            {
                "field": str(v.get("path", "")),
                "reason": str(v.get("message", v)),
                "rule": v.get("rule"),
            }
            for v in result.violations
        ]
        return error_response(422, code, message, violations)
    if code == "approval_refused":  # without authority: refused, and recorded on the quote
        return error_response(403, code, message)
    if code == "change_refused" and result.violations:  # the quote's own change check
        refusals = [ChangeRefusal.model_validate(v) for v in result.violations]
        return change_refused(refusals, tmf=False)
    return error_response(409, code, message)


def _listing(items: list[dict], total: int) -> JSONResponse:
    return JSONResponse(
        items, headers={"X-Total-Count": str(total), "X-Result-Count": str(len(items))}
    )


def _idempotency(key: str) -> str | JSONResponse:
    key = key.strip()
    if not key:
        return error_response(400, "invalid_idempotency_key", "Idempotency-Key must not be blank")
    return key


def change_refused(refusals: list, tmf: bool) -> JSONResponse:
    """Change lines the installed base refuses: 409 when another order holds an asset (a
    change in flight, or an add-on being added under it: try again once it is done),
    422 otherwise; every reason named, nothing changed."""
    violations = [
        {
            "field": r.path.replace("lines[", "quoteItem[", 1) if tmf else r.path,
            "reason": r.message,
            "rule": r.code,
        }
        for r in refusals
    ]
    in_flight = all(r.code in ("asset_pending_change", "asset_held_as_parent") for r in refusals)
    status, code = (409, "change_in_flight") if in_flight else (422, "change_refused")
    first = violations[0]
    return error_response(status, code, f"{first['field']}: {first['reason']}", violations)


def unknown_quote(quote_id: str) -> JSONResponse:
    return error_response(404, "unknown_quote", f"quote {quote_id[:80]} does not exist")


def unknown_order(order_id: str) -> JSONResponse:
    return error_response(404, "unknown_order", f"product order {order_id[:80]} does not exist")


def sees_everything(principal: Principal, what: str) -> None:
    """Views over every account (the verdict, the event hubs) are for unscoped principals."""
    if principal.accounts is not None:
        raise Forbidden(
            "all_accounts_required",
            f"{what} spans every account; {principal.id} is limited to its own",
        )


def create_app(
    platform: Any,
    principals: PrincipalDirectory,
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
    hub_poll_s: float | None = None,
) -> FastAPI:
    """The app for ``platform`` (a ``LivePlatform``), answering the ``principals``' tokens;
    its lifespan waits until every actor is up."""
    catalog = platform.catalog
    metrics = GatewayMetrics()

    async def render(api: str, resource_id: str, base_url: str) -> dict | None:
        if api == QUOTE_API:
            quote = await platform.get_quote(resource_id)
            return (
                quote_resource(quote.quote, catalog, base_url, quote.created, quote.updated)
                if quote
                else None
            )
        order = await platform.get_order(resource_id)
        return (
            order_resource(order.order, catalog, base_url, order.created, order.completed)
            if order
            else None
        )

    hub = Hub(platform, render, metrics, **({} if hub_poll_s is None else {"poll_s": hub_poll_s}))

    @asynccontextmanager
    async def lifespan(_app: FastAPI):
        await metrics.timed("start", platform.start())
        yield
        await hub.stop()

    app = FastAPI(
        title="cpqsim gateway",
        description=(
            "TMF620/648/622-shaped HTTP API over the cpqsim live platform (Ray actors). "
            "Every error is a TMF Error body."
        ),
        version="0.2.0",
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
        dependencies=[AUTHENTICATION],  # closed unless listed in auth.OPEN_PATHS
    )
    install_strict_query(app)  # before any route is added: they are built by its class
    app.state.platform = platform
    app.state.metrics = metrics
    app.state.hub = hub
    install_error_handlers(app)
    install_authentication(app, principals)
    install_offline_docs(app)
    app.add_middleware(RequestGuard, max_body_bytes=max_body_bytes)
    app.add_middleware(MetricsMiddleware, metrics=metrics)

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

    def card_json(card: QuoteCard, request: Request) -> dict:
        return quote_resource(card, catalog, base(request))

    def order_json(view: OrderView, request: Request) -> dict:
        return order_resource(view.order, catalog, base(request), view.created, view.completed)

    # Which account each quote belongs to, so a scoped caller's command on another
    # account's quote is answered 404 without asking the shard every time.
    account_of: dict[str, str] = {}

    def remember(quote_id: str, account_id: str) -> None:
        if len(account_of) >= ACCOUNT_CACHE:
            account_of.clear()
        account_of[quote_id] = account_id

    async def may_touch(caller: Principal, quote_id: str) -> bool:
        """Whether the quote exists *for this caller* (another account's reads as absent)."""
        if caller.accounts is None:
            return True
        account = account_of.get(quote_id)
        if account is None:
            view = await metrics.timed("get_quote", platform.get_quote(quote_id))
            if view is None:
                return False
            account = view.quote.account_id
            remember(quote_id, account)
        return caller.may_see(account)

    async def run(
        command: QuoteCommand, request: Request, caller: Principal, action: str
    ) -> JSONResponse:
        require(caller, action)
        if not await may_touch(caller, command.quote_id):
            return unknown_quote(command.quote_id)
        result = await metrics.timed("execute", platform.execute(command, caller.id, "card"))
        if not result.ok:
            return _refusal(result)
        assert result.card is not None
        return JSONResponse(card_json(result.card, request))

    def order_answer(outcome: ConvertOutcome, request: Request) -> JSONResponse:
        if not outcome.result.ok:
            return _refusal(outcome.result)
        assert outcome.order is not None
        resource = order_json(outcome.order, request)
        if outcome.created:
            return JSONResponse(resource, status_code=201, headers={"Location": resource["href"]})
        return JSONResponse(resource, status_code=200)

    # ------------------------------------------------------------------ operations

    @app.get("/health", tags=["ops"], response_model=m.Health)
    async def health():
        return {"status": "ok"}

    @app.get(
        "/metrics",
        tags=["ops"],
        response_class=Response,
        responses={200: {"content": {"text/plain": {"schema": {"type": "string"}}}}},
        summary="Prometheus metrics (text exposition format)",
    )
    async def prometheus_metrics():
        return Response(await metrics.render(platform), media_type=metrics.content_type)

    @app.get(
        "/ops/verdict",
        tags=["ops"],
        response_model=m.Verdict,
        responses=error_doc(400, 503),
        summary="Judge the live platform with the invariant checker (waits for orders to settle)",
    )
    async def verdict(
        caller: Caller,
        settleSeconds: Annotated[
            float, Query(ge=0, le=MAX_SETTLE_S, description="wait at most this long")
        ] = 30.0,
    ):
        from cpqsim_actors.verdict import live_verdict

        sees_everything(caller, "the verdict")
        judged = await live_verdict(platform, settleSeconds)
        return JSONResponse(judged.model_dump(mode="json"))

    # ------------------------------------------------------------------ TMF620 catalog

    @app.get(
        f"{CATALOG_PATH}/productOffering",
        tags=["catalog"],
        response_model=list[m.ProductOffering],
        responses=READ,
    )
    async def list_offerings(request: Request, limit: Limit = 100, offset: Offset = 0):
        ids = catalog.version_ids()  # every version: TMF620 identifies one by id + version
        page = ids[offset : offset + limit]
        return _listing([offering_body(i, base(request)) for i in page], len(ids))

    @app.get(
        f"{CATALOG_PATH}/productOffering/{{offering_id}}",
        tags=["catalog"],
        response_model=m.ProductOffering,
        responses=READ,
    )
    async def get_offering(offering_id: str, request: Request):
        if not catalog.has_offering(offering_id):
            return error_response(
                404, "unknown_offering", f"no product offering {offering_id[:80]}"
            )
        return JSONResponse(offering_body(offering_id, base(request)))

    # ------------------------------------------------------------------ TMF648 quote

    @app.post(
        f"{QUOTE_PATH}/quote",
        status_code=201,
        tags=["quote"],
        response_model=m.Quote,
        responses=CREATE,
        summary="Create a quote (compact body or TMF648 Quote_Create)",
    )
    async def create_quote(
        body: Annotated[QuoteCreateBody, Body()], request: Request, caller: Caller
    ):
        require(caller, "quote.create")
        quote_id = platform.new_quote_id()
        if isinstance(body, QuoteCreateTmf):
            same_as_caller(caller, seller_party(body), "relatedParty[role=Seller].id")
            named = products_named(body)
            found = await metrics.timed("assets", platform.assets(named)) if named else {}
            visible = {a: x for a, x in found.items() if caller.may_see(x.account_id)}
            try:
                command = quote_command(body, quote_id, catalog, caller.id, visible)
            except TmfBodyInvalid as exc:
                first = exc.violations[0]
                return error_response(
                    422, "invalid_quote", f"{first['field']}: {first['reason']}", exc.violations
                )
        else:
            same_as_caller(caller, body.requester, "requester")
            command = CreateQuote(
                quote_id=quote_id,
                account_id=body.accountId,
                requester=caller.id,
                lines=[line.to_core() for line in body.lines],
                discount_pct=body.discountPct,
                region=body.region,
            )
        if not caller.may_see(command.account_id):
            raise Forbidden(
                "account_not_yours",
                f"{caller.id} may not quote for that account (not one of its accounts)",
            )
        if any(line.changes_asset for line in command.lines):
            refusals = await metrics.timed(
                "check_changes", platform.check_changes(command.account_id, command.lines)
            )
            if refusals:
                return change_refused(refusals, isinstance(body, QuoteCreateTmf))
        result = await metrics.timed("execute", platform.execute(command, caller.id, "card"))
        if not result.ok:
            return _refusal(result)
        assert result.card is not None
        remember(quote_id, command.account_id)
        resource = card_json(result.card, request)
        return JSONResponse(resource, status_code=201, headers={"Location": resource["href"]})

    @app.get(f"{QUOTE_PATH}/quote", tags=["quote"], response_model=list[m.Quote], responses=READ)
    async def list_quotes(
        request: Request, caller: Caller, limit: Limit = PAGE, offset: Offset = 0
    ):
        views, total = await metrics.timed(
            "list_quotes", platform.list_quotes(limit, offset, caller.accounts)
        )
        return _listing([quote_json(v, request) for v in views], total)

    @app.get(
        f"{QUOTE_PATH}/quote/{{quote_id}}", tags=["quote"], response_model=m.Quote, responses=READ
    )
    async def get_quote(quote_id: str, request: Request, caller: Caller):
        view = await metrics.timed("get_quote", platform.get_quote(quote_id))
        if view is None or not caller.may_see(view.quote.account_id):
            return unknown_quote(quote_id)
        return JSONResponse(quote_json(view, request))

    def quote_command_route(path: str, summary: str, responses=COMMAND):
        return app.post(
            f"{QUOTE_PATH}/quote/{{quote_id}}/{path}",
            tags=["quote"],
            response_model=m.Quote,
            responses=responses,
            summary=summary,
        )

    @quote_command_route("price", "Price the quote (trace and fingerprints)")
    async def price_quote(quote_id: str, request: Request, caller: Caller):
        return await run(PriceQuote(quote_id=quote_id), request, caller, "quote.price")

    @quote_command_route("submitForApproval", "Ask for the approval the price needs")
    async def submit_quote(quote_id: str, request: Request, caller: Caller):
        command = SubmitQuoteForApproval(quote_id=quote_id)
        return await run(command, request, caller, "quote.submit")

    def decided_by(caller: Principal, body: m.ApprovalIn, action: str) -> tuple[str, str]:
        """The approver is the caller; the role one the caller holds (body fields only
        confirm them: naming another person or an unheld role is a 403). Acting on behalf
        of someone under a delegation, the role is the delegator's: the approval policy's
        delegations decide (a delegation not in force is refused and recorded)."""
        # Approval roles are the policy's in force (it may add e.g. a sales director).
        policy = getattr(platform, "approval_policy_in_force", None)
        roles = APPROVING_ROLES | set(policy.role_rank if policy is not None else ())
        if not any(caller.has_role(r) for r in roles):
            require(caller, action)  # the standard refusal: the roles this action needs
        same_as_caller(caller, body.approver, "approver")
        if body.onBehalfOf is not None and body.role is not None:
            return caller.id, body.role
        return caller.id, acting_role(caller, body.role, roles)

    @quote_command_route("approve", "Approve the next step as the caller (never the requester)")
    async def approve_quote(
        quote_id: str, request: Request, caller: Caller, body: m.ApprovalIn | None = None
    ):
        body = body or m.ApprovalIn()
        approver, role = decided_by(caller, body, "quote.approve")
        command = ApproveQuote(
            quote_id=quote_id,
            approver=approver,
            role=role,
            reason=body.reason,
            on_behalf_of=body.onBehalfOf,
        )
        return await run(command, request, caller, "quote.approve")

    @quote_command_route("reject", "Reject as the caller, with a reason")
    async def reject_quote(quote_id: str, body: m.RejectionIn, request: Request, caller: Caller):
        approver, role = decided_by(caller, body, "quote.reject")
        command = RejectQuote(
            quote_id=quote_id,
            approver=approver,
            role=role,
            reason=body.reason,
            on_behalf_of=body.onBehalfOf,
        )
        return await run(command, request, caller, "quote.reject")

    @quote_command_route("revise", "Revise lines or discount (a new revision)")
    async def revise_quote(quote_id: str, body: m.ReviseIn, request: Request, caller: Caller):
        command = ReviseQuote(
            quote_id=quote_id,
            lines=[line.to_core() for line in body.lines] if body.lines is not None else None,
            discount_pct=body.discountPct,
            reason=body.reason,
        )
        if command.lines and any(line.changes_asset for line in command.lines):
            require(caller, "quote.revise")
            view = await metrics.timed("get_quote", platform.get_quote(quote_id))
            if view is None or not caller.may_see(view.quote.account_id):
                return unknown_quote(quote_id)
            refusals = await metrics.timed(
                "check_changes", platform.check_changes(view.quote.account_id, command.lines)
            )
            if refusals:
                return change_refused(refusals, tmf=False)
        return await run(command, request, caller, "quote.revise")

    @quote_command_route("present", "Render the proposal and present it (validity starts)")
    async def present_quote(quote_id: str, request: Request, caller: Caller):
        return await run(PresentQuote(quote_id=quote_id), request, caller, "quote.present")

    @quote_command_route("accept", "Accept (freezes the revision)")
    async def accept_quote(
        quote_id: str, request: Request, caller: Caller, body: m.AcceptIn | None = None
    ):
        revision = body.revision if body else None
        proposal = body.proposalSha256 if body else None
        command = AcceptQuote(quote_id=quote_id, revision=revision, proposal_sha256=proposal)
        return await run(command, request, caller, "quote.accept")

    @app.get(
        f"{QUOTE_PATH}/quote/{{quote_id}}/evidencePackage",
        tags=["quote"],
        response_model=dict[str, Any],
        responses=READ,
        summary="What was offered, priced, approved, accepted and ordered (verify=true: "
        "every fingerprint recomputed)",
    )
    async def quote_evidence(quote_id: str, caller: Caller, verify: bool = False):
        if not await may_touch(caller, quote_id):
            return unknown_quote(quote_id)
        package = await metrics.timed("evidence", platform.quote_evidence(quote_id))
        if package is None:
            return unknown_quote(quote_id)
        body = package.model_dump(mode="json")
        if verify:
            body["verification"] = platform.verify_evidence(package).model_dump(mode="json")
        return JSONResponse(body)

    @app.post(
        f"{QUOTE_PATH}/quote/{{quote_id}}/clone",
        status_code=201,
        tags=["quote"],
        response_model=m.Quote,
        responses=COMMAND,
        summary="A new quote with this one's content, priced afresh, requested by the caller "
        "(supersede: replace it)",
    )
    async def clone_quote(
        quote_id: str, request: Request, caller: Caller, body: m.CloneIn | None = None
    ):
        body = body or m.CloneIn()
        require(caller, "quote.create")
        same_as_caller(caller, body.requester, "requester")
        view = await platform.get_quote(quote_id)
        if view is None or not caller.may_see(view.quote.account_id):
            return unknown_quote(quote_id)
        source = view.quote
        if body.supersede and not QUOTE_LIFECYCLE.allows(source.status, "superseded"):
            return error_response(
                409,
                "illegal_transition",
                f"quote {quote_id} is {source.status.value}: "
                "it can be cloned but no longer superseded",
            )
        command = clone_command(source, platform.new_quote_id(), caller.id)
        created = await platform.execute(command, caller.id, "card")
        if not created.ok:
            return _refusal(created)
        if body.supersede:
            replaced = SupersedeQuote(
                quote_id=quote_id,
                superseded_by=command.quote_id,
                opportunity_id=command.opportunity_id,
                reason="replaced by its clone",
            )
            await platform.execute(replaced, caller.id, "card")
        assert created.card is not None
        remember(command.quote_id, source.account_id)
        resource = card_json(created.card, request)
        return JSONResponse(resource, status_code=201, headers={"Location": resource["href"]})

    @quote_command_route("cancel", "Cancel the quote")
    async def cancel_quote(
        quote_id: str, request: Request, caller: Caller, body: m.CancelIn | None = None
    ):
        command = CancelQuote(quote_id=quote_id, reason=body.reason if body else "")
        return await run(command, request, caller, "quote.cancel")

    @app.post(
        f"{QUOTE_PATH}/quote/{{quote_id}}/convert",
        status_code=201,
        tags=["quote"],
        response_model=m.ProductOrder,
        responses={
            200: {"model": m.ProductOrder, "description": "replay: the order made for this key"},
            **COMMAND,
        },
        summary="Convert an accepted quote to a product order (idempotent per key)",
    )
    async def convert_quote(
        quote_id: str, request: Request, idempotency_key: IdempotencyKey, caller: Caller
    ):
        require(caller, "quote.convert")
        key = _idempotency(idempotency_key)
        if isinstance(key, JSONResponse):
            return key
        if not await may_touch(caller, quote_id):
            return unknown_quote(quote_id)
        outcome = await metrics.timed("convert", platform.convert(quote_id, key, caller.id))
        return order_answer(outcome, request)

    # ------------------------------------------------------------------ TMF622 order

    @app.post(
        f"{ORDER_PATH}/productOrder",
        status_code=201,
        tags=["order"],
        response_model=m.ProductOrder,
        responses={
            200: {"model": m.ProductOrder, "description": "replay: the order made for this key"},
            **CREATE,
        },
        summary="Order an accepted quote (TMF622 ProductOrder_Create, idempotent per key)",
    )
    async def create_order(
        body: ProductOrderCreateTmf,
        request: Request,
        idempotency_key: IdempotencyKey,
        caller: Caller,
    ):
        require(caller, "order.create")
        key = _idempotency(idempotency_key)
        if isinstance(key, JSONResponse):
            return key
        quote_id = body.quote[0].id
        view = await metrics.timed("get_quote", platform.get_quote(quote_id))
        if view is None or not caller.may_see(view.quote.account_id):
            return error_response(
                422,
                "unknown_quote",
                f"quote[0].id: no quote {quote_id[:80]}",
                [{"field": "quote[0].id", "reason": "no such quote", "rule": "exists"}],
            )
        try:
            check_order_matches_quote(body, view.quote)
        except TmfBodyInvalid as exc:
            first = exc.violations[0]
            return error_response(
                422,
                "order_does_not_match_quote",
                f"{first['field']}: {first['reason']}",
                exc.violations,
            )
        outcome = await metrics.timed("convert", platform.convert(quote_id, key, caller.id))
        return order_answer(outcome, request)

    @app.get(
        f"{ORDER_PATH}/productOrder",
        tags=["order"],
        response_model=list[m.ProductOrder],
        responses=READ,
    )
    async def list_orders(
        request: Request, caller: Caller, limit: Limit = PAGE, offset: Offset = 0
    ):
        views, total = await metrics.timed(
            "list_orders", platform.list_orders(limit, offset, caller.accounts)
        )
        return _listing([order_json(v, request) for v in views], total)

    @app.get(
        f"{ORDER_PATH}/productOrder/{{order_id}}",
        tags=["order"],
        response_model=m.ProductOrder,
        responses=READ,
    )
    async def get_order(order_id: str, request: Request, caller: Caller):
        view = await metrics.timed("get_order", platform.get_order(order_id))
        if view is None or not caller.may_see(view.order.account_id):
            return unknown_order(order_id)
        return JSONResponse(order_json(view, request))

    @app.get(
        f"{ORDER_PATH}/productOrder/{{order_id}}/timeline",
        tags=["order"],
        response_model=list[dict[str, Any]],
        responses=READ,
        summary="The order's business events (CloudEvents), oldest first",
    )
    async def order_timeline(order_id: str, caller: Caller):
        if caller.accounts is not None:
            view = await metrics.timed("get_order", platform.get_order(order_id))
            if view is None or not caller.may_see(view.order.account_id):
                return unknown_order(order_id)
        events = await metrics.timed("timeline", platform.timeline(order_id))
        if events is None:
            return unknown_order(order_id)
        return JSONResponse([e.model_dump(mode="json") for e in events])

    # ------------------------------------------------------------------ TMF hub

    install_order_exception_routes(app, platform, metrics)
    install_inventory_routes(app, platform, metrics)
    install_approval_policy_routes(app, platform)

    for api, root in ((QUOTE_API, QUOTE_PATH), (ORDER_API, ORDER_PATH)):
        install_hub_routes(app, hub, api, root)

    document_authentication(app)
    return app
