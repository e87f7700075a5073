"""The customer journeys, as HTTP conversations with the gateway.

Each journey takes a Locust HTTP client and a random generator and walks one path:
browse the catalog; create and price a quote; the whole way from a TMF648 quote
through approval (when the price needs it) and acceptance to a TMF622 product order,
then read the order back; or that, and then a change of mind: a TMF622 cancellation.
A response counts as a failure only when it is wrong for that step; a failed step ends
the journey (it has already been reported). Every request carries a bearer token
(:mod:`cpqsim_load.callers`): the seller quotes for its own accounts, the approver holding
the role the price needs approves, operations read the fallout queue.
"""

from __future__ import annotations

import random
import uuid
from typing import Any

from cpqsim_load.callers import Callers

CATALOG = "/tmf-api/productCatalogManagement/v4/productOffering"
QUOTE = "/tmf-api/quoteManagement/v4/quote"
ORDER = "/tmf-api/productOrderingManagement/v4/productOrder"
CANCEL = "/tmf-api/productOrderingManagement/v4/cancelProductOrder"
CASES = "/ops/falloutCase"

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


def call(
    client,
    method: str,
    path: str,
    name: str,
    expect: tuple[int, ...],
    auth: dict[str, str],
    headers: dict[str, str] | None = None,
    **kwargs,
) -> Any:
    body = None
    every = {**auth, **(headers or {})}
    with client.request(
        method, path, name=name, catch_response=True, headers=every, **kwargs
    ) as resp:
        if resp.status_code in expect:
            body = resp.json() if resp.text else {}
            resp.success()
        else:
            resp.failure(f"{name}: expected {expect}, got {resp.status_code}: {resp.text[:300]}")
    if body is None:
        raise JourneyFailed
    return body


def tmf_quote(lines: list[dict[str, Any]], account: str, discount: str) -> dict:
    """The same request as a TMF648 Quote_Create: options and add-ons as nested items
    (no Seller party: the seller is whoever the token names)."""
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
        ],
        "discountPct": discount,
    }


def browse_catalog(client, rng: random.Random, who: Callers) -> None:
    seller = who.seller()
    offerings = call(client, "GET", f"{CATALOG}?limit=20", "GET /productOffering", (200,), seller)
    if offerings:
        pick = rng.choice(offerings)["id"]
        call(client, "GET", f"{CATALOG}/{pick}", "GET /productOffering/{id}", (200,), seller)


def quote_and_price(client, rng: random.Random, who: Callers) -> dict:
    seller = who.seller()
    quote = call(
        client,
        "POST",
        QUOTE,
        "POST /quote",
        (201,),
        seller,
        json={
            "accountId": rng.choice(who.seller_accounts),
            "lines": rng.choice(MIX),
            "discountPct": rng.choice(DISCOUNTS),
        },
    )
    path = f"{QUOTE}/{quote['id']}/price"
    return call(client, "POST", path, "POST /quote/{id}/price", (200,), seller)


def quote_to_order(client, rng: random.Random, who: Callers) -> str:
    seller = who.seller()
    lines = rng.choice(MIX)
    account = rng.choice(who.seller_accounts)
    body = tmf_quote(lines, account, rng.choice(DISCOUNTS))
    quote = call(client, "POST", QUOTE, "POST /quote (TMF648)", (201,), seller, json=body)
    qid = quote["id"]
    accepted = price_and_accept(client, qid, who)
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
        client,
        "POST",
        ORDER,
        "POST /productOrder (TMF622)",
        (201,),
        seller,
        json=order_body,
        headers=key,
    )
    call(client, "GET", f"{ORDER}/{order['id']}", "GET /productOrder/{id}", (200,), seller)
    return order["id"]


def price_and_accept(client, qid: str, who: Callers) -> dict:
    """Price the quote, have it approved when the price needs it, accept it: the accepted
    TMF648 quote."""
    seller = who.seller()
    priced = call(client, "POST", f"{QUOTE}/{qid}/price", "POST /quote/{id}/price", (200,), seller)
    return approve_and_accept(client, qid, priced, who)


def approve_and_accept(client, qid: str, priced: dict, who: Callers) -> dict:
    """Have the priced quote approved when its price needs it, then accept it."""
    seller = who.seller()
    if priced.get("approvalRequired"):
        submit = f"{QUOTE}/{qid}/submitForApproval"
        call(client, "POST", submit, "POST /quote/{id}/submit", (200,), seller)
        approver = who.approver(priced["requiredApprovalRole"])
        call(client, "POST", f"{QUOTE}/{qid}/approve", "POST /quote/{id}/approve", (200,), approver)
    return call(client, "POST", f"{QUOTE}/{qid}/accept", "POST /quote/{id}/accept", (200,), seller)


def order_then_cancel(client, rng: random.Random, who: Callers) -> str:
    """Order, then cancel. Both answers are right: 201 (accepted, the order winds down)
    or 409 (the order already passed a point of no return, or finished): which one
    depends on how far fulfilment got, which is the point of asking under load."""
    order_id = quote_to_order(client, rng, who)
    body = {"productOrder": {"id": order_id}, "cancellationReason": "customer changed mind"}
    name = "POST /cancelProductOrder (TMF622)"
    call(client, "POST", CANCEL, name, (201, 409), who.seller(), json=body)
    return order_id


def work_fallout_queue(client, rng: random.Random, who: Callers) -> None:
    """Operations look at the open fallout cases, and at one of them if there are any."""
    ops = who.operations()
    cases = call(client, "GET", f"{CASES}?state=open&limit=20", "GET /falloutCase", (200,), ops)
    if cases:
        case = rng.choice(cases)["id"]
        call(client, "GET", f"{CASES}/{case}", "GET /falloutCase/{id}", (200,), ops)


JOURNEYS = {
    "browse": browse_catalog,
    "quote": quote_and_price,
    "order": quote_to_order,
    "cancel": order_then_cancel,
}
