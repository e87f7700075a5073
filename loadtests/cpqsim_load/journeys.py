"""The customer journeys, as HTTP conversations with the gateway.

Each journey takes a Locust HTTP client and a random generator and walks one path:
browse the catalog; create and price a quote; the whole way from a TMF648 quote
through approval (when the price needs it) and acceptance to a TMF622 product order,
then read the order back; or that, and then a change of mind: a TMF622 cancellation.
A response counts as a failure only when it is wrong for that step; a failed step ends
the journey (it has already been reported).
"""

from __future__ import annotations

import random
import uuid
from typing import Any

CATALOG = "/tmf-api/productCatalogManagement/v4/productOffering"
QUOTE = "/tmf-api/quoteManagement/v4/quote"
ORDER = "/tmf-api/productOrderingManagement/v4/productOrder"
CANCEL = "/tmf-api/productOrderingManagement/v4/cancelProductOrder"

# Valid configurations of the sample enterprise catalog (same mix as the library scenarios).
MIX: list[list[dict[str, Any]]] = [
    [
        {
            "offering": "saas-suite",
            "quantity": 25,
            "options": ["saas-edition-standard"],
            "addOns": ["saas-extra-storage"],
        }
    ],
    [
        {
            "offering": "saas-suite",
            "quantity": 120,
            "options": ["saas-edition-premium"],
            "addOns": ["saas-sso"],
        }
    ],
    [
        {
            "offering": "business-internet",
            "options": ["bi-access-fiber", "bi-sla-premium"],
            "addOns": ["static-ip"],
        }
    ],
    [
        {"offering": "business-internet", "options": ["bi-access-copper", "bi-sla-standard"]},
        {"offering": "managed-firewall", "options": ["mf-tier-advanced"]},
    ],
]
DISCOUNTS = ["0", "0", "0", "0.05", "0.15", "0.30"]


class JourneyFailed(Exception):
    """Stop this journey: the failing request has already been reported."""


def call(client, method: str, path: str, name: str, expect: tuple[int, ...], **kwargs) -> Any:
    body = None
    with client.request(method, path, name=name, catch_response=True, **kwargs) as resp:
        if resp.status_code in expect:
            body = resp.json() if resp.text else {}
            resp.success()
        else:
            resp.failure(f"{name}: expected {expect}, got {resp.status_code}: {resp.text[:300]}")
    if body is None:
        raise JourneyFailed
    return body


def tmf_quote(lines: list[dict[str, Any]], account: str, seller: str, discount: str) -> dict:
    """The same request as a TMF648 Quote_Create: options and add-ons as nested items."""
    return {
        "quoteItem": [
            {
                "id": str(i + 1),
                "action": "add",
                "quantity": line.get("quantity", 1),
                "productOffering": {"id": line["offering"]},
                "quoteItem": [
                    {"action": "add", "productOffering": {"id": child}}
                    for child in [*line.get("options", []), *line.get("addOns", [])]
                ],
            }
            for i, line in enumerate(lines)
        ],
        "relatedParty": [
            {"id": account, "role": "Customer", "@referredType": "Organization"},
            {"id": seller, "role": "Seller", "@referredType": "Individual"},
        ],
        "discountPct": discount,
    }


def browse_catalog(client, rng: random.Random) -> None:
    offerings = call(client, "GET", f"{CATALOG}?limit=20", "GET /productOffering", (200,))
    if offerings:
        pick = rng.choice(offerings)["id"]
        call(client, "GET", f"{CATALOG}/{pick}", "GET /productOffering/{id}", (200,))


def quote_and_price(client, rng: random.Random, seller: str) -> dict:
    quote = call(
        client,
        "POST",
        QUOTE,
        "POST /quote",
        (201,),
        json={
            "accountId": f"acct-{rng.randrange(200):04d}",
            "requester": seller,
            "lines": rng.choice(MIX),
            "discountPct": rng.choice(DISCOUNTS),
        },
    )
    return call(client, "POST", f"{QUOTE}/{quote['id']}/price", "POST /quote/{id}/price", (200,))


def quote_to_order(client, rng: random.Random, seller: str) -> str:
    lines = rng.choice(MIX)
    account = f"acct-{rng.randrange(200):04d}"
    body = tmf_quote(lines, account, seller, rng.choice(DISCOUNTS))
    quote = call(client, "POST", QUOTE, "POST /quote (TMF648)", (201,), json=body)
    qid = quote["id"]
    priced = call(client, "POST", f"{QUOTE}/{qid}/price", "POST /quote/{id}/price", (200,))
    if priced.get("approvalRequired"):
        call(client, "POST", f"{QUOTE}/{qid}/submitForApproval", "POST /quote/{id}/submit", (200,))
        approval = {
            "approver": f"manager-{rng.randrange(50)}",
            "role": priced["requiredApprovalRole"],
        }
        call(
            client,
            "POST",
            f"{QUOTE}/{qid}/approve",
            "POST /quote/{id}/approve",
            (200,),
            json=approval,
        )
    accepted = call(client, "POST", f"{QUOTE}/{qid}/accept", "POST /quote/{id}/accept", (200,))
    order_body = {
        "quote": [{"id": qid, "href": accepted["href"], "@referredType": "Quote"}],
        "productOrderItem": [
            {"id": item["id"], "action": "add", "quoteItem": {"id": item["id"], "quoteId": qid}}
            for item in accepted["quoteItem"]
        ],
        "relatedParty": [{"id": account, "role": "Customer", "@referredType": "Organization"}],
    }
    key = {"Idempotency-Key": f"order-{uuid.uuid4()}"}
    order = call(
        client, "POST", ORDER, "POST /productOrder (TMF622)", (201,), json=order_body, headers=key
    )
    call(client, "GET", f"{ORDER}/{order['id']}", "GET /productOrder/{id}", (200,))
    return order["id"]


def order_then_cancel(client, rng: random.Random, seller: str) -> str:
    """Order, then cancel. Both answers are right: 201 (accepted, the order winds down)
    or 409 (the order already passed a point of no return, or finished): which one
    depends on how far fulfilment got, which is the point of asking under load."""
    order_id = quote_to_order(client, rng, seller)
    body = {"productOrder": {"id": order_id}, "cancellationReason": "customer changed mind"}
    call(client, "POST", CANCEL, "POST /cancelProductOrder (TMF622)", (201, 409), json=body)
    return order_id


JOURNEYS = {
    "browse": lambda client, rng, seller: browse_catalog(client, rng),
    "quote": quote_and_price,
    "order": quote_to_order,
    "cancel": order_then_cancel,
}
