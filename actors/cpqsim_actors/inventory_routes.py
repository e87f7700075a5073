"""HTTP for the installed base: TMF637 ``product`` resources at the standard path.

``GET /tmf-api/productInventory/v4/product`` lists what customers have, in creation
order, paged like the other TMF lists (``limit``/``offset``, ``X-Total-Count``), with
TMF630-style filters on the attributes TMF637 spells the account with
(``relatedParty.id`` and ``billingAccount.id``: both name the customer account here),
``status`` (a TMF637 ``ProductStatusType``, comma-separated for several) and
``productOffering.id``, and ``fields`` to keep only some top-level attributes.
``GET .../product/{id}`` reads one.

Every answer is scoped to the caller's accounts (:mod:`cpqsim_actors.auth`): another
account's product is a 404, exactly like one that does not exist, and a filter on an
account the caller may not see simply finds nothing. The products are read from the
platform's one installed base (the inventory actor), never from a copy.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import FastAPI, Query, Request

from cpqsim_actors import api_models as m
from cpqsim_actors.asset_inventory import render_product
from cpqsim_actors.auth import Caller
from cpqsim_actors.fast_json import FastJSONResponse as JSONResponse
from cpqsim_actors.http_errors import error_doc, error_response
from cpqsim_actors.tmf_product import (
    INVENTORY_PATH,
    PENDING_STATUS,
    PRODUCT_STATUS,
    select_fields,
)

PAGE = 20
Limit = Annotated[int, Query(ge=1, le=1000, description="page size")]
Offset = Annotated[int, Query(ge=0, le=1_000_000, description="items to skip")]
Fields = Annotated[
    str | None,
    Query(
        max_length=500,
        description="comma-separated top-level attributes to return (id, href and @type "
        "are always returned)",
    ),
]

#: The TMF637 statuses an asset of this inventory can read as (see ``tmf_product``).
STATUSES = frozenset(PRODUCT_STATUS.values()) | frozenset(PENDING_STATUS.values())


def _fields(text: str | None) -> list[str] | None:
    if text is None:
        return None
    return [f.strip() for f in text.split(",") if f.strip()] or None


def unknown_product(product_id: str) -> JSONResponse:
    return error_response(404, "unknown_product", f"product {product_id[:80]} does not exist")


def install_inventory_routes(app: FastAPI, platform: Any, metrics: Any) -> None:
    """Add the TMF637 product routes to the gateway ``app``."""

    def base(request: Request) -> str:
        return str(request.base_url)

    @app.get(
        f"{INVENTORY_PATH}/product",
        tags=["inventory"],
        response_model=list[m.Product],
        responses=error_doc(400, 503),
        summary="What customers have (TMF637 Product), oldest first; filter by account "
        "(relatedParty.id / billingAccount.id), status and offering",
    )
    async def list_products(
        request: Request,
        caller: Caller,
        related_party: Annotated[
            str | None,
            Query(alias="relatedParty.id", max_length=200, description="the customer account"),
        ] = None,
        billing_account: Annotated[
            str | None,
            Query(alias="billingAccount.id", max_length=200, description="the billing account"),
        ] = None,
        status: Annotated[
            str | None,
            Query(max_length=200, description="TMF637 status(es), comma-separated"),
        ] = None,
        offering: Annotated[
            str | None,
            Query(alias="productOffering.id", max_length=200, description="offering id"),
        ] = None,
        fields: Fields = None,
        limit: Limit = PAGE,
        offset: Offset = 0,
    ):
        accounts: set[str] | None = None if caller.accounts is None else set(caller.accounts)
        for named in (related_party, billing_account):
            if named is not None:
                accounts = {named} if accounts is None else accounts & {named}
        wanted: list[str] | None = None
        if status is not None:
            wanted = sorted({x.strip() for x in status.split(",") if x.strip()})
            unknown = [x for x in wanted if x not in STATUSES]
            if unknown:
                return error_response(
                    400,
                    "invalid_status",
                    f"status {unknown[0][:40]!r} is not a product status of this inventory "
                    f"({', '.join(sorted(STATUSES))})",
                    [{"field": "query status", "reason": "unknown status", "rule": "enum"}],
                )
        views, total = await metrics.timed(
            "list_products",
            platform.list_products(limit, offset, accounts, wanted, offering),
        )
        selected = _fields(fields)
        catalog, root = platform.catalog, base(request)
        page = [select_fields(render_product(v, catalog, root), selected) for v in views]
        return JSONResponse(
            page, headers={"X-Total-Count": str(total), "X-Result-Count": str(len(page))}
        )

    @app.get(
        f"{INVENTORY_PATH}/product/{{product_id}}",
        tags=["inventory"],
        response_model=m.Product,
        responses=error_doc(400, 404, 503),
        summary="One product (an installed asset) of the caller's accounts",
    )
    async def get_product(product_id: str, request: Request, caller: Caller, fields: Fields = None):
        view = await metrics.timed("get_product", platform.get_product(product_id))
        if view is None or not caller.may_see(view["asset"].account_id):
            return unknown_product(product_id)
        body = render_product(view, platform.catalog, base(request))
        return JSONResponse(select_fields(body, _fields(fields)))
