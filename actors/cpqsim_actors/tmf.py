"""Platform state in the TM Forum shapes the gateway promises: TMF648 Quote, TMF622 ProductOrder.

Only the published fields are used for what they mean in the standard; what TM Forum has
no field for (internal lifecycle status, approval need, fingerprints, fulfillment tasks)
travels as extension attributes, which the Swagger definitions allow. Money leaves the
platform as JSON numbers only here, at the edge, because ``Money.value`` is a number.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from cpqsim.catalog import Catalog, stable_id
from cpqsim.order import Order, OrderStatus, TaskStatus
from cpqsim.order_commands import repairs_for
from cpqsim.quote import Quote, QuoteStatus
from cpqsim_actors.messages import PriceSums, QuoteCard

CATALOG_PATH = "/tmf-api/productCatalogManagement/v4"
INVENTORY_PATH = "/tmf-api/productInventory/v4"
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
    QuoteStatus.PRESENTED: "approved",  # before the customer, ready to be accepted
    QuoteStatus.EXPIRED: "cancelled",  # TMF648 has no expired: the offer is withdrawn
    QuoteStatus.SUPERSEDED: "cancelled",
}


#: Our quote-line / order-item action -> the TMF648/TMF622 item action (``delete`` is a
#: disconnect; every other change of an installed product is a ``modify``).
TMF_ACTION: dict[str, str] = {
    "add": "add",
    "modify": "modify",
    "upgrade": "modify",
    "downgrade": "modify",
    "suspend": "modify",
    "resume": "modify",
    "renew": "modify",
    "disconnect": "delete",
}


def change_reference(
    action: str, asset_id: str, asset_version: int | None, base_url: str
) -> dict[str, Any]:
    """The ``product`` an item acts on (for ``add``: the product a new add-on relies on),
    and the extension naming our exact action when TMF's says less (``modify``)."""
    href = f"{_root(base_url)}{INVENTORY_PATH}/product/{asset_id}"
    if action == "add":
        product: dict[str, Any] = {
            "productRelationship": [
                {
                    "relationshipType": "reliesOn",
                    "product": {"id": asset_id, "href": href, "@type": "ProductRef"},
                }
            ],
            "@type": "ProductRefOrValue",
        }
        return {"product": product}
    product = {"id": asset_id, "href": href, "@type": "ProductRefOrValue"}
    extra: dict[str, Any] = {"product": product, "cpqsimAction": action}
    if asset_version is not None:
        extra["assetVersion"] = asset_version
    return extra


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


def _prices(sums: PriceSums, currency: str) -> list[dict[str, Any]]:
    """Recurring (per month) and one-time sums as TMF price entries."""
    out = []
    if sums.recurring is not None:
        out.append(
            {
                "name": "recurring charges",
                "priceType": "recurring",
                "recurringChargePeriod": "month",
                "price": {"dutyFreeAmount": money(sums.recurring, currency)},
                "@type": "QuotePrice",
            }
        )
    if sums.one_time is not None:
        out.append(
            {
                "name": "one-time charges",
                "priceType": "oneTime",
                "price": {"dutyFreeAmount": money(sums.one_time, currency)},
                "@type": "QuotePrice",
            }
        )
    return out


def quote_resource(
    quote: Quote | QuoteCard, catalog: Catalog, base_url: str, created: str = "", updated: str = ""
) -> dict[str, Any]:
    """The TMF648 Quote body of a quote's card (or of a whole quote, carded here).

    ``created`` and ``updated`` are taken from the card; for a whole quote they are the
    times of its first and latest fact.
    """
    card = quote if isinstance(quote, QuoteCard) else QuoteCard.of(quote, created, updated)
    state = QUOTE_STATE[card.status]
    currency = card.currency or catalog.currency
    items = []
    for i, line in enumerate(card.lines):
        children = [
            {
                "id": f"{i + 1}.{k + 1}",
                "action": "add",
                "quantity": line.quantity,
                "state": state,
                "productOffering": offering_ref(catalog, element, base_url),
                "@type": "QuoteItem",
            }
            for k, element in enumerate(line.elements)
        ]
        item: dict[str, Any] = {
            "id": str(i + 1),
            "action": TMF_ACTION[line.action],
            "quantity": line.quantity,
            "state": state,
            "productOffering": offering_ref(catalog, line.offering, base_url),
            "quoteItem": children,
            "@type": "QuoteItem",
        }
        if line.asset_id is not None:
            item.update(change_reference(line.action, line.asset_id, line.asset_version, base_url))
        if line.prices is not None:
            item["quoteItemPrice"] = _prices(line.prices, currency)
        items.append(item)
    parties = [
        {"id": card.account_id, "role": "Customer", "@referredType": "Organization"},
        {"id": card.requester, "role": "Seller", "@referredType": "Individual"},
    ]
    resource: dict[str, Any] = {
        "id": card.quote_id,
        "href": f"{_root(base_url)}{QUOTE_PATH}/quote/{card.quote_id}",
        "version": str(card.revision),
        "state": state,
        "category": "enterprise",
        "quoteItem": items,
        "relatedParty": parties,
        "@type": "Quote",
        # extensions
        "cpqsimStatus": card.status.value,
        "accountId": card.account_id,
        "discountPct": card.discount_pct,
        "approvalRequired": card.approval_required,
        "requiredApprovalRole": card.required_role,
        "priceFingerprint": card.price_fingerprint,
        "catalogVersion": card.catalog_version,
    }
    if card.created:
        resource["quoteDate"] = card.created
    if card.updated and card.status in (QuoteStatus.ACCEPTED, QuoteStatus.CONVERTED):
        resource["effectiveQuoteCompletionDate"] = card.updated
    if card.total is not None:
        resource["quoteTotalPrice"] = _prices(card.total, currency)
    if card.approval_required:
        if card.approver is not None:
            parties.append({"id": card.approver, "role": "Approver", "@referredType": "Individual"})
        resource["authorization"] = [
            {
                "name": f"approval by {card.required_role}",
                "state": "approved" if card.approver is not None else "requested",
                "@type": "Authorization",
            }
        ]
    if card.region:
        resource["region"] = card.region
    resource["eligibility"] = card.eligibility
    resource["requiredActions"] = list(card.required_actions)
    if card.valid_until:
        resource["validFor"] = {"startDateTime": card.presented_at, "endDateTime": card.valid_until}
    if card.proposal_sha256:
        resource["proposalSha256"] = card.proposal_sha256
    if card.superseded_by:
        resource["supersededBy"] = card.superseded_by
    if card.order_id:
        resource["productOrder"] = {
            "id": card.order_id,
            "href": f"{_root(base_url)}{ORDER_PATH}/productOrder/{card.order_id}",
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
                "action": TMF_ACTION[item.action],  # the elements go with their item
                "quantity": item.quantity,
                "state": state,
                "productOffering": offering_ref(catalog, element, base_url),
                "@type": "ProductOrderItem",
            }
            for k, element in enumerate([*item.options, *item.add_ons])
        ]
        entry: dict[str, Any] = {
            "id": item.item_id,
            "action": TMF_ACTION[item.action],
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
        if item.asset_id is not None:
            entry.update(change_reference(item.action, item.asset_id, item.asset_version, base_url))
        asset = order.assets.get(item.item_id)
        if asset:
            relied_on = entry.get("product", {}).get("productRelationship")
            entry["product"] = {
                "id": asset,
                "href": f"{root}{INVENTORY_PATH}/product/{asset}",
                "status": "active",
                "productOffering": offering_ref(catalog, item.offering, base_url),
                "@type": "Product",
                **({"productRelationship": relied_on} if relied_on else {}),
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
