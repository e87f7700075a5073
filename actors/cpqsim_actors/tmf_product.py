"""The installed base in the TM Forum shape: TMF637 ``Product`` resources.

An asset is what a customer has; TMF637 calls it a product. Its fields are used for what
they mean in the standard: the offering it instantiates (``productOffering``), its
characteristics (``productCharacteristic``), the parent/child structure
(``productRelationship``), the orders that made and changed it (``productOrderItem``),
the account billed (``billingAccount``, ``relatedParty``), the contract term
(``productTerm``) and the recurring charge (``productPrice``). What TMF637 has no field
for travels as extension attributes: our own status, the asset version a change must be
quoted against, the quantity, the chosen options, the billing subscription, the order
holding a pending change, and the metadata a migrated asset lacks.

Statuses are mapped through tables (:data:`PRODUCT_STATUS`, :data:`PENDING_STATUS`):
TMF637 has no "pending change", so an asset held by an in-flight order reads as what it
was before the lock, except that a disconnect in flight reads ``pendingTerminate``.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

from cpqsim.asset import Asset, AssetStatus
from cpqsim.catalog import Catalog
from cpqsim_actors.tmf import INVENTORY_PATH, ORDER_PATH, TMF_ACTION, _root, money, offering_ref

#: Our asset status -> TMF637 ``ProductStatusType``.
PRODUCT_STATUS: dict[AssetStatus, str] = {
    AssetStatus.ACTIVE: "active",
    AssetStatus.SUSPENDED: "suspended",
    AssetStatus.PENDING_CHANGE: "active",  # refined by PENDING_STATUS below
    AssetStatus.DISCONNECTED: "terminated",
}

#: An asset held by an in-flight change: (the change in flight, status before the lock)
#: -> TMF637 status. Only a disconnect moves it to a pending status of its own.
PENDING_STATUS: dict[str, str] = {
    "disconnect": "pendingTerminate",
}

#: How a child asset relates to its parent, seen from each side (TMF637 relationship types).
RELATIONSHIP: dict[str, tuple[str, str]] = {
    # role: (child -> parent, parent -> child)
    "add_on": ("reliesOn", "isReliedOnBy"),
    "component": ("isBundledIn", "bundled"),
}

#: Top-level attributes every answer keeps whatever ``fields`` asks for (TMF630).
ALWAYS = ("id", "href", "@type")


def product_status(asset: Asset, pending_action: str | None = None) -> str:
    """The TMF637 status of ``asset`` (``pending_action``: the change holding it, if any)."""
    if asset.status is AssetStatus.PENDING_CHANGE:
        pending = PENDING_STATUS.get(pending_action or "")
        if pending is not None:
            return pending
        before = asset.status_before_lock or AssetStatus.ACTIVE
        return PRODUCT_STATUS[before]
    return PRODUCT_STATUS[asset.status]


def product_href(base_url: str, asset_id: str) -> str:
    return f"{_root(base_url)}{INVENTORY_PATH}/product/{asset_id}"


def _product_ref(base_url: str, asset_id: str) -> dict[str, Any]:
    return {"id": asset_id, "href": product_href(base_url, asset_id), "@type": "ProductRef"}


def _day_start(day: date) -> str:
    return f"{day.isoformat()}T00:00:00.000Z"


def product_resource(
    asset: Asset,
    catalog: Catalog,
    base_url: str,
    *,
    children: list[Asset] = (),  # type: ignore[assignment]
    orders: list[dict[str, str]] = (),  # type: ignore[assignment]
    created: str | None = None,
    terminated: str | None = None,
    pending_action: str | None = None,
) -> dict[str, Any]:
    """The TMF637 ``Product`` of one asset.

    ``children`` are the assets under it, ``orders`` the order items that created and
    changed it (``order_id``, ``item_id``, ``action``), ``created`` and ``terminated``
    the times of its creation and disconnection, ``pending_action`` the change in flight.
    """
    root = _root(base_url)
    known = catalog.has_offering(asset.offering)
    offering = catalog.offering(asset.offering) if known else None
    relationships = []
    if asset.parent_id is not None:
        kind = RELATIONSHIP.get(asset.role, RELATIONSHIP["add_on"])[0]
        relationships.append(
            {"relationshipType": kind, "product": _product_ref(base_url, asset.parent_id)}
        )
    for child in children:
        kind = RELATIONSHIP.get(child.role, RELATIONSHIP["add_on"])[1]
        relationships.append(
            {"relationshipType": kind, "product": _product_ref(base_url, child.asset_id)}
        )
    resource: dict[str, Any] = {
        "id": asset.asset_id,
        "href": product_href(base_url, asset.asset_id),
        "name": offering.name if offering is not None else asset.offering,
        "isBundle": bool(offering is not None and offering.contained()),
        "isCustomerVisible": True,
        "status": product_status(asset, pending_action),
        "productOffering": offering_ref(catalog, asset.offering, base_url),
        "productCharacteristic": [
            {"name": name, "value": value, "valueType": "string"}
            for name, value in sorted(asset.characteristics.items())
        ],
        "productRelationship": relationships,
        "productOrderItem": [
            {
                "productOrderId": o["order_id"],
                "productOrderHref": f"{root}{ORDER_PATH}/productOrder/{o['order_id']}",
                "orderItemId": o["item_id"],
                "orderItemAction": TMF_ACTION.get(o["action"], "modify"),
                "role": o.get("role", "fulfilled"),
                "@referredType": "ProductOrderItem",
            }
            for o in orders
        ],
        "billingAccount": {"id": asset.account_id, "@referredType": "BillingAccount"},
        "relatedParty": [
            {"id": asset.account_id, "role": "Customer", "@referredType": "Organization"}
        ],
        "@type": "Product",
        # extensions
        "cpqsimStatus": asset.status.value,
        "assetVersion": asset.version,
        "role": asset.role,
        "quantity": asset.quantity,
        "options": [offering_ref(catalog, o, base_url) for o in asset.options],
    }
    if created:
        resource["orderDate"] = created
    if asset.term_start is not None:
        resource["startDate"] = _day_start(asset.term_start)
    elif created:
        resource["startDate"] = created
    if terminated and asset.status is AssetStatus.DISCONNECTED:
        resource["terminationDate"] = terminated
    if asset.site:
        resource["place"] = [{"id": asset.site, "role": "installationAddress"}]
    if asset.term_start is not None or asset.term_end is not None:
        period: dict[str, str] = {}
        if asset.term_start is not None:
            period["startDateTime"] = _day_start(asset.term_start)
        if asset.term_end is not None:
            period["endDateTime"] = _day_start(asset.term_end)
        resource["productTerm"] = [{"name": "contract term", "validFor": period}]
    if asset.recurring_monthly is not None:
        currency = asset.currency or catalog.currency
        total = Decimal(asset.recurring_monthly) * asset.quantity
        resource["productPrice"] = [
            {
                "name": "recurring charge",
                "description": f"{asset.recurring_monthly} {currency} per unit per month",
                "priceType": "recurring",
                "recurringChargePeriod": "month",
                "price": {"dutyFreeAmount": money(total, currency)},
            }
        ]
    if asset.subscription_id is not None:
        resource["billingSubscription"] = {
            "id": asset.subscription_id,
            "@referredType": "BillingSubscription",
        }
    if asset.locked_by is not None:
        resource["pendingChange"] = {
            "productOrderId": asset.locked_by,
            "productOrderHref": f"{root}{ORDER_PATH}/productOrder/{asset.locked_by}",
            "action": pending_action,
        }
    if asset.missing_metadata:
        resource["missingMetadata"] = list(asset.missing_metadata)
    return resource


def select_fields(resource: dict[str, Any], fields: list[str] | None) -> dict[str, Any]:
    """TMF630 attribute selection: only the named top-level attributes (and the id, href
    and type every resource keeps)."""
    if not fields:
        return resource
    wanted = set(fields) | set(ALWAYS)
    return {k: v for k, v in resource.items() if k in wanted}
