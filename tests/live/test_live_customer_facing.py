"""Cost and margin never leave through a customer-facing resource.

What the platform pays and what it keeps are for the people who approve a deal, never for
the customer who reads the quote, the proposal or the order. Given quotes walked the whole
way (approval, acceptance, conversion, cancellation) over HTTP, every answer of the TMF648
quote and TMF622 order APIs, and every GET those APIs declare (so a resource added later,
such as a proposal, is checked as soon as it exists), is searched, at any depth, for a key
that names a cost or a margin: none may appear.
"""

from __future__ import annotations

import re
from typing import Any

from .local_gateway import (
    COMPACT,
    FINANCE,
    ORDER,
    QUOTE,
    bearer,
    local_gateway,
)

CANCEL = "/tmf-api/productOrderingManagement/v4/cancelProductOrder"
CUSTOMER_FACING = ("/tmf-api/quoteManagement/", "/tmf-api/productOrderingManagement/")
# Not for the customer: listener registrations, and the auditor's evidence package.
NOT_CUSTOMER_FACING = re.compile(r"/hub\b|evidencePackage")
SECRET_KEY = re.compile(r"cost|margin", re.IGNORECASE)
# A rendered document (a proposal as text or HTML) has no keys: look for the words.
SECRET_WORDS = re.compile(r"\bmargin|\b(unit[ _]?)?cost\b\s*[:=]", re.IGNORECASE)


def secret_keys(body: Any, path: str = "") -> list[str]:
    """Every key at any depth of ``body`` that names a cost or a margin, with its path."""
    found: list[str] = []
    if isinstance(body, dict):
        for key, value in body.items():
            where = f"{path}.{key}" if path else str(key)
            if SECRET_KEY.search(str(key)):
                found.append(where)
            found.extend(secret_keys(value, where))
    elif isinstance(body, list):
        for i, value in enumerate(body):
            found.extend(secret_keys(value, f"{path}[{i}]"))
    return found


def test_the_walk_finds_a_cost_or_a_margin_at_any_depth():
    body = {"quoteItem": [{"price": {"unitCost": 1}}], "grossMarginPct": 0.3, "id": "q"}
    assert secret_keys(body) == ["quoteItem[0].price.unitCost", "grossMarginPct"]
    assert secret_keys({"id": "q", "quoteTotalPrice": [{"price": {}}]}) == []


def test_no_customer_facing_answer_carries_a_cost_or_a_margin():
    answers: list[tuple[str, Any]] = []

    def keep(label: str, response) -> dict | list:
        assert response.status_code < 300, f"{label}: {response.status_code} {response.text}"
        answers.append((label, response.json()))
        return response.json()

    with local_gateway() as client:
        # Given a deep discount approved by finance, accepted and ordered
        deep = keep("create", client.post(QUOTE, json={**COMPACT, "discountPct": "0.3"}))
        qid = deep["id"]
        keep("price", client.post(f"{QUOTE}/{qid}/price"))
        keep("submit", client.post(f"{QUOTE}/{qid}/submitForApproval"))
        keep("approve", client.post(f"{QUOTE}/{qid}/approve", headers=bearer(FINANCE)))
        keep("accept", client.post(f"{QUOTE}/{qid}/accept"))
        order = keep(
            "convert", client.post(f"{QUOTE}/{qid}/convert", headers={"Idempotency-Key": qid})
        )
        # and a second one revised, accepted and ordered through TMF622, then cancelled
        other = keep("create 2", client.post(QUOTE, json=COMPACT))
        keep("price 2", client.post(f"{QUOTE}/{other['id']}/price"))
        keep("revise", client.post(f"{QUOTE}/{other['id']}/revise", json={"reason": "again"}))
        keep("price 3", client.post(f"{QUOTE}/{other['id']}/price"))
        accepted = keep("accept 2", client.post(f"{QUOTE}/{other['id']}/accept"))
        order_body = {
            "quote": [{"id": other["id"]}],
            "productOrderItem": [
                {"id": i["id"], "action": "add", "quoteItem": {"id": i["id"]}}
                for i in accepted["quoteItem"]
            ],
        }
        second = keep(
            "productOrder",
            client.post(ORDER, json=order_body, headers={"Idempotency-Key": "o2"}),
        )
        keep("cancel", client.post(CANCEL, json={"productOrder": {"id": second["id"]}}))

        # When every GET the quote and order APIs declare is asked for these resources
        ids = {"quote_id": qid, "order_id": order["id"], "request_id": f"cancel-{second['id']}"}
        spec = client.get("/openapi.json").json()
        for template, operations in spec["paths"].items():
            if "get" not in operations or not template.startswith(CUSTOMER_FACING):
                continue
            if NOT_CUSTOMER_FACING.search(template):
                continue
            path = template.format(**ids)
            answer = client.get(path)
            if answer.status_code != 200:
                continue
            if answer.headers.get("content-type", "").startswith("application/json"):
                answers.append((f"GET {template}", answer.json()))
            else:
                words = SECRET_WORDS.findall(answer.text)
                answers.append((f"GET {template}", {"cost or margin": 1} if words else {}))

    # Then none of them names a cost or a margin
    gets = [label for label, _ in answers if label.startswith("GET")]
    assert f"GET {QUOTE}/{{quote_id}}" in gets and f"GET {ORDER}/{{order_id}}" in gets
    leaks = {label: keys for label, body in answers if (keys := secret_keys(body))}
    assert leaks == {}
