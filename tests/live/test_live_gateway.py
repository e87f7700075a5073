"""The HTTP gateway over a live platform on Ray: the journey, its shapes and its errors."""

from __future__ import annotations

import time

import pytest
from fastapi.testclient import TestClient

from cpqsim_actors.gateway import create_app
from cpqsim_actors.platform import LivePlatform, PlatformConfig

from .conftest import shortened

pytestmark = pytest.mark.ray

QUOTE = "/tmf-api/quoteManagement/v4/quote"
ORDER = "/tmf-api/productOrderingManagement/v4/productOrder"
CATALOG = "/tmf-api/productCatalogManagement/v4/productOffering"

DEEP_DISCOUNT = {
    "accountId": "acct-0001",
    "requester": "seller-01",
    "lines": [
        {
            "offering": "saas-suite",
            "quantity": 25,
            "options": ["saas-edition-standard"],
            "addOns": ["saas-extra-storage"],
        }
    ],
    "discountPct": "0.15",
}


@pytest.fixture(scope="module")
def client(ray_cluster):
    loaded = shortened("happy_path")
    platform = LivePlatform(
        PlatformConfig(
            catalog=loaded.catalog,
            downstream=dict(loaded.scenario.downstream),
            policy=loaded.scenario.resilience_policy(),
            time_scale=0.0005,
        )
    )
    try:
        with TestClient(create_app(platform), raise_server_exceptions=False) as c:
            yield c
    finally:
        platform.shutdown()


def accepted_quote(client) -> str:
    """A quote walked through price -> submit -> approve (by someone else) -> accept."""
    created = client.post(QUOTE, json=DEEP_DISCOUNT)
    assert created.status_code == 201, created.text
    qid = created.json()["id"]
    priced = client.post(f"{QUOTE}/{qid}/price").json()
    assert priced["approvalRequired"] is True
    assert client.post(f"{QUOTE}/{qid}/submitForApproval").status_code == 200
    approval = {"approver": "manager-07", "role": priced["requiredApprovalRole"]}
    assert client.post(f"{QUOTE}/{qid}/approve", json=approval).status_code == 200
    assert client.post(f"{QUOTE}/{qid}/accept").status_code == 200
    return qid


def test_quote_to_order_journey_with_idempotent_conversion(client, product_order_schema):
    qid = accepted_quote(client)
    convert = f"{QUOTE}/{qid}/convert"
    first = client.post(convert, headers={"Idempotency-Key": "k-1"})
    assert first.status_code == 201, first.text
    replay = client.post(convert, headers={"Idempotency-Key": "k-1"})
    assert replay.status_code == 200
    assert replay.json()["id"] == first.json()["id"]
    second_key = client.post(convert, headers={"Idempotency-Key": "k-2"})
    assert second_key.status_code == 409
    assert second_key.json()["code"] == "already_converted"
    missing = client.post(convert)
    assert missing.status_code == 400
    assert missing.json()["code"] == "missing_idempotency_key"

    order_id = first.json()["id"]
    deadline = time.monotonic() + 20
    while (order := client.get(f"{ORDER}/{order_id}").json())["state"] != "completed":
        assert time.monotonic() < deadline, f"order stuck in {order['state']}"
        time.sleep(0.2)
    assert not list(product_order_schema.iter_errors(order))
    item = order["productOrderItem"][0]
    assert item["action"] == "add"
    assert item["productOffering"]["id"] == "saas-suite"
    assert order["quote"][0]["id"] == qid
    timeline = client.get(f"{ORDER}/{order_id}/timeline").json()
    names = [e["type"] for e in timeline]
    assert names[0] == "cpqsim.order.created.v1" and names[-1] == "cpqsim.order.completed.v1"
    assert [e["time"] for e in timeline] == sorted(e["time"] for e in timeline)


def test_quote_bodies_are_tmf648_quotes_in_every_state(client, quote_schema):
    created = client.post(QUOTE, json=DEEP_DISCOUNT).json()
    qid = created["id"]
    shapes = [created, client.post(f"{QUOTE}/{qid}/price").json()]
    shapes.append(client.post(f"{QUOTE}/{qid}/submitForApproval").json())
    shapes.append(client.get(f"{QUOTE}/{qid}").json())
    listing = client.get(QUOTE, params={"limit": 5})
    assert listing.status_code == 200 and len(listing.json()) <= 5
    assert int(listing.headers["X-Total-Count"]) >= 1
    shapes += listing.json()
    for shape in shapes:
        assert not list(quote_schema.iter_errors(shape)), shape
    assert [s["state"] for s in shapes[:3]] == ["inProgress", "inProgress", "pending"]


def test_orders_list_and_catalog_are_served(client, product_order_schema):
    accepted = accepted_quote(client)
    client.post(f"{QUOTE}/{accepted}/convert", headers={"Idempotency-Key": "list-1"})
    orders = client.get(ORDER, params={"limit": 3})
    assert orders.status_code == 200 and 1 <= len(orders.json()) <= 3
    for order in orders.json():
        assert not list(product_order_schema.iter_errors(order))
    offerings = client.get(CATALOG).json()
    assert any(o["id"] == "saas-suite" for o in offerings)
    assert client.get(f"{CATALOG}/saas-suite").json()["@type"] == "ProductOffering"


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"accountId": 1},
        {**DEEP_DISCOUNT, "lines": []},
        {**DEEP_DISCOUNT, "discountPct": "1.5"},
        {**DEEP_DISCOUNT, "lines": [{"offering": "saas-suite", "quantity": 0}]},
        {**DEEP_DISCOUNT, "unexpected": True},
        [1, 2, 3],
    ],
)
def test_malformed_bodies_are_422_with_field_errors(client, body):
    response = client.post(QUOTE, json=body)
    assert response.status_code == 422
    error = response.json()
    assert error["@type"] == "Error" and error["code"] == "invalid_request"
    assert error["violations"] and all(v["field"] for v in error["violations"])


def test_unsellable_configuration_is_422_naming_the_field(client):
    body = {**DEEP_DISCOUNT, "lines": [{"offering": "saas-sso"}]}
    response = client.post(QUOTE, json=body)
    assert response.status_code == 422
    assert response.json()["code"] == "invalid_configuration"
    assert response.json()["violations"][0]["field"].startswith("lines[0]")


def test_not_json_is_400_never_5xx(client):
    response = client.post(
        QUOTE, content=b"{not json", headers={"content-type": "application/json"}
    )
    assert response.status_code == 400
    assert response.json()["code"] == "malformed_json"


def test_unknown_ids_are_404(client):
    assert client.get(f"{QUOTE}/Q-NOPE").status_code == 404
    assert client.post(f"{QUOTE}/Q-NOPE/price").status_code == 404
    assert (
        client.post(f"{QUOTE}/Q-NOPE/convert", headers={"Idempotency-Key": "x"}).status_code == 404
    )
    assert client.get(f"{ORDER}/ord-nope").status_code == 404
    assert client.get(f"{ORDER}/ord-nope/timeline").status_code == 404
    assert client.get(f"{CATALOG}/nope").status_code == 404


def test_domain_refusals_are_409_with_code_and_message(client):
    qid = client.post(QUOTE, json=DEEP_DISCOUNT).json()["id"]
    early = client.post(f"{QUOTE}/{qid}/accept")
    assert early.status_code == 409
    assert early.json()["code"] == "illegal_transition" and early.json()["message"]
    client.post(f"{QUOTE}/{qid}/price")
    client.post(f"{QUOTE}/{qid}/submitForApproval")
    own = client.post(
        f"{QUOTE}/{qid}/approve", json={"approver": "seller-01", "role": "sales_manager"}
    )
    # Self-approval is refused as a lack of authority (403), and recorded on the quote
    assert own.status_code == 403 and own.json()["code"] == "approval_refused"
    assert "segregation of duties" in own.json()["message"]
    not_converted = client.post(f"{QUOTE}/{qid}/convert", headers={"Idempotency-Key": "k"})
    assert not_converted.status_code == 409
