"""Platform state in the TM Forum shapes the gateway promises: TMF648 Quote, TMF622 ProductOrder.

Only the published fields are used for what they mean in the standard; what TM Forum has
no field for (internal lifecycle status, approval need, fingerprints, fulfillment tasks)
travels as extension attributes, which the Swagger definitions allow. Money leaves the
platform as JSON numbers only here, at the edge, because ``Money.value`` is a number.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from cpqsim.canonical import to_plain
from cpqsim.catalog import Catalog, stable_id
from cpqsim.order import Order, OrderStatus, TaskStatus
from cpqsim.order_commands import repairs_for
from cpqsim.quote import Quote, QuoteStatus

CATALOG_PATH = "/tmf-api/productCatalogManagement/v4"
QUOTE_PATH = "/tmf-api/quoteManagement/v4"
ORDER_PATH = "/tmf-api/productOrderingManagement/v4"

# TMF648 QuoteStateType has no "draft", "priced" or "converted": map onto its states and
# keep ours in the ``cpqsimStatus`` extension.
QUOTE_STATE = {
    QuoteStatus.DRAFT: "inProgress",
    QuoteStatus.PRICED: "inProgress",
    QuoteStatus.PENDING_APPROVAL: "pending",
    QuoteStatus.APPROVED: "approved",
    QuoteStatus.REJECTED: "rejected",
    QuoteStatus.ACCEPTED: "accepted",
    QuoteStatus.CONVERTED: "accepted",
    QuoteStatus.CANCELLED: "cancelled",
}


def _root(base_url: str) -> str:
    return base_url.rstrip("/")


def money(amount: str | Decimal, currency: str) -> dict[str, Any]:
    return {"unit": currency, "value": float(Decimal(str(amount)))}


def offering_ref(catalog: Catalog, offering_id: str, base_url: str) -> dict[str, Any]:
    """A TMF reference: the stable offering id, and an href naming the exact version."""
    name = catalog.offering(offering_id).name if catalog.has_offering(offering_id) else offering_id
    return {
        "id": stable_id(offering_id),
        "href": f"{_root(base_url)}{CATALOG_PATH}/productOffering/{offering_id}",
        "name": name,
        "@referredType": "ProductOffering",
    }


def _prices(charges: list[dict[str, Any]], currency: str) -> list[dict[str, Any]]:
    """Recurring (per month) and one-time sums of ``charges`` as TMF price entries."""
    totals = {"recurring": Decimal(0), "one_time": Decimal(0)}
    for charge in charges:
        totals[charge["kind"]] += Decimal(str(charge["net_amount"]))
    out = []
    if any(c["kind"] == "recurring" for c in charges):
        out.append(
            {
                "name": "recurring charges",
                "priceType": "recurring",
                "recurringChargePeriod": "month",
                "price": {"dutyFreeAmount": money(totals["recurring"], currency)},
                "@type": "QuotePrice",
            }
        )
    if any(c["kind"] == "one_time" for c in charges):
        out.append(
            {
                "name": "one-time charges",
                "priceType": "oneTime",
                "price": {"dutyFreeAmount": money(totals["one_time"], currency)},
                "@type": "QuotePrice",
            }
        )
    return out


def quote_resource(
    quote: Quote, catalog: Catalog, base_url: str, created: str = "", updated: str = ""
) -> dict[str, Any]:
    state = QUOTE_STATE[quote.status]
    price = to_plain(quote.price) if quote.price is not None else {}
    currency = price.get("currency", catalog.currency)
    priced_lines = price.get("lines", [])
    items = []
    for i, line in enumerate(quote.lines):
        children = [
            {
                "id": f"{i + 1}.{k + 1}",
                "action": "add",
                "quantity": line.quantity,
                "state": state,
                "productOffering": offering_ref(catalog, element, base_url),
                "@type": "QuoteItem",
            }
            for k, element in enumerate([*line.options, *line.add_ons])
        ]
        item: dict[str, Any] = {
            "id": str(i + 1),
            "action": "add",
            "quantity": line.quantity,
            "state": state,
            "productOffering": offering_ref(catalog, line.offering, base_url),
            "quoteItem": children,
            "@type": "QuoteItem",
        }
        line_charges = priced_lines[i]["charges"] if i < len(priced_lines) else []
        if line_charges:
            item["quoteItemPrice"] = _prices(line_charges, currency)
        items.append(item)
    parties = [
        {"id": quote.account_id, "role": "Customer", "@referredType": "Organization"},
        {"id": quote.requester, "role": "Seller", "@referredType": "Individual"},
    ]
    resource: dict[str, Any] = {
        "id": quote.quote_id,
        "href": f"{_root(base_url)}{QUOTE_PATH}/quote/{quote.quote_id}",
        "version": str(quote.revision),
        "state": state,
        "category": "enterprise",
        "quoteItem": items,
        "relatedParty": parties,
        "@type": "Quote",
        # extensions
        "cpqsimStatus": quote.status.value,
        "accountId": quote.account_id,
        "discountPct": str(quote.discount_pct),
        "approvalRequired": quote.approval_required,
        "requiredApprovalRole": quote.required_role,
        "priceFingerprint": quote.price_fingerprint,
        "catalogVersion": quote.catalog_version,
    }
    if created:
        resource["quoteDate"] = created
    if updated and quote.status in (QuoteStatus.ACCEPTED, QuoteStatus.CONVERTED):
        resource["effectiveQuoteCompletionDate"] = updated
    charges = [c for line in priced_lines for c in line["charges"]]
    if charges:
        resource["quoteTotalPrice"] = _prices(charges, currency)
    if quote.approval_required:
        approval = quote.approval.model_dump() if quote.approval is not None else {}
        parties.extend(
            [{"id": approval["approver"], "role": "Approver", "@referredType": "Individual"}]
            if approval
            else []
        )
        resource["authorization"] = [
            {
                "name": f"approval by {quote.required_role}",
                "state": "approved" if approval else "requested",
                "@type": "Authorization",
            }
        ]
    if quote.region:
        resource["region"] = quote.region
    if quote.order_id:
        resource["productOrder"] = {
            "id": quote.order_id,
            "href": f"{_root(base_url)}{ORDER_PATH}/productOrder/{quote.order_id}",
        }
    return resource


def _item_state(order: Order, item_id: str) -> str:
    if item_id in order.billing_started:
        return "completed"
    if order.status in (OrderStatus.COMPLETED, OrderStatus.IN_PROGRESS):
        return "inProgress"
    return order.status.value  # acknowledged, held, failed, cancelled: same names


def order_resource(
    order: Order,
    catalog: Catalog,
    base_url: str,
    created: str = "",
    completed: str | None = None,
) -> dict[str, Any]:
    root = _root(base_url)
    items = []
    for item in order.items:
        state = _item_state(order, item.item_id)
        children = [
            {
                "id": f"{item.item_id}.{k + 1}",
                "action": "add",
                "quantity": item.quantity,
                "state": state,
                "productOffering": offering_ref(catalog, element, base_url),
                "@type": "ProductOrderItem",
            }
            for k, element in enumerate([*item.options, *item.add_ons])
        ]
        entry: dict[str, Any] = {
            "id": item.item_id,
            "action": "add",
            "quantity": item.quantity,
            "state": state,
            "productOffering": offering_ref(catalog, item.offering, base_url),
            "quoteItem": {
                "id": str(item.line_index + 1),
                "quoteId": order.quote_id,
                "quoteHref": f"{root}{QUOTE_PATH}/quote/{order.quote_id}",
                "@referredType": "QuoteItem",
            },
            "productOrderItem": children,
            "@type": "ProductOrderItem",
        }
        asset = order.assets.get(item.item_id)
        if asset:
            entry["product"] = {
                "id": asset,
                "status": "active",
                "productOffering": offering_ref(catalog, item.offering, base_url),
                "@type": "Product",
            }
        items.append(entry)
    resource: dict[str, Any] = {
        "id": order.order_id,
        "href": f"{root}{ORDER_PATH}/productOrder/{order.order_id}",
        "state": order.status.value,
        "category": "enterprise",
        "externalId": order.idempotency_key,
        "productOrderItem": items,
        "quote": [
            {
                "id": order.quote_id,
                "href": f"{root}{QUOTE_PATH}/quote/{order.quote_id}",
                "@referredType": "Quote",
            }
        ],
        "relatedParty": [
            {"id": order.account_id, "role": "Customer", "@referredType": "Organization"}
        ],
        "@type": "ProductOrder",
        # extensions
        "quoteRevision": order.quote_revision,
        "snapshotFingerprint": order.snapshot_fingerprint,
        "priceFingerprint": order.price_fingerprint,
        "fulfillment": [
            {
                "taskId": tid,
                "system": order.tasks[tid].spec.system,
                "operation": order.tasks[tid].spec.operation,
                "status": order.tasks[tid].status.value,
                "attempts": order.tasks[tid].attempts,
            }
            for tid in order.task_order
        ],
        "falloutCases": list(order.fallout_cases),
    }
    if created:
        resource["orderDate"] = created
    if completed:
        resource["completionDate"] = completed
    open_tasks = sum(1 for t in order.tasks.values() if t.status is not TaskStatus.DONE)
    resource["openTasks"] = open_tasks
    return resource


# ----------------------------------------------------------------------------- cancellation

CANCEL_PREFIX = "cancel-"  # one cancellation request per order: its id names the order


def cancellation_id(order_id: str) -> str:
    return f"{CANCEL_PREFIX}{order_id}"


def cancellation_state(order: Order) -> str:
    """TMF622 TaskStateType of the order's cancellation request."""
    if order.status is OrderStatus.CANCELLED:
        return "done"
    if order.terminal:  # wound down but could not be undone entirely (e.g. failed)
        return "terminatedWithError"
    return "inProgress"


def cancellation_resource(
    order: Order,
    base_url: str,
    requested_at: str | None = None,
    effective_at: str | None = None,
    requested_for: str | None = None,
) -> dict[str, Any]:
    """TMF622 ``CancelProductOrder`` for an order whose cancellation was accepted."""
    assert order.cancellation is not None
    root = _root(base_url)
    request_id = cancellation_id(order.order_id)
    resource: dict[str, Any] = {
        "id": request_id,
        "href": f"{root}{ORDER_PATH}/cancelProductOrder/{request_id}",
        "productOrder": {
            "id": order.order_id,
            "href": f"{root}{ORDER_PATH}/productOrder/{order.order_id}",
            "@referredType": "ProductOrder",
        },
        "state": cancellation_state(order),
        "cancellationReason": order.cancellation.get("reason", ""),
        "@type": "CancelProductOrder",
    }
    if requested_for or requested_at:
        resource["requestedCancellationDate"] = requested_for or requested_at
    if effective_at and order.status is OrderStatus.CANCELLED:
        resource["effectiveCancellationDate"] = effective_at
    return resource


def fallout_case_resource(case: dict[str, Any]) -> dict[str, Any]:
    """A fallout case as the operations API shows it (camelCase, like the TMF resources)."""
    return {
        "id": case["case_id"],
        "orderId": case["order_id"],
        "taskId": case["task_id"],
        "kind": case.get("kind", "task"),
        "owner": case["owner"],
        "reason": case["reason"],
        "repairActions": list(repairs_for(case.get("kind", "task"))),
        "status": case["status"],
        "openedAt": case.get("opened_at"),
        "resolvedAt": case.get("resolved_at"),
        "resolution": case.get("resolution"),
        "resolvedBy": case.get("resolved_by"),
    }
