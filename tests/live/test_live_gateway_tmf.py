"""The gateway speaks TM Forum: TMF648/TMF622 bodies in, TMF resources and Errors out.

Runs over an in-process platform (no Ray): the HTTP contract does not depend on where
the actors live. Every request sample is first checked against the official TMF
definition, every answer against the definition it claims to be.
"""

from __future__ import annotations

import copy
import json
import time

import pytest

from .local_gateway import (
    COMPACT,
    MANAGER,
    OPERATIONS,
    ORDER,
    ORDER_DOC,
    QUOTE,
    QUOTE_DOC,
    TMF,
    accepted_quote,
    bearer,
    local_gateway,
    tmf_validator,
)


@pytest.fixture(scope="module")
def client():
    with local_gateway(caller="seller-07") as c:  # the Seller of the sample bodies
        yield c


@pytest.fixture(scope="module")
def schemas():
    return {
        "Quote_Create": tmf_validator(QUOTE_DOC, "Quote_Create"),
        "Quote": tmf_validator(QUOTE_DOC, "Quote"),
        "ProductOrder_Create": tmf_validator(ORDER_DOC, "ProductOrder_Create"),
        "ProductOrder": tmf_validator(ORDER_DOC, "ProductOrder"),
        "Error": tmf_validator(QUOTE_DOC, "Error"),
        "EventSubscription": tmf_validator(QUOTE_DOC, "EventSubscription"),
    }


def sample(name: str) -> dict:
    return json.loads((TMF / name).read_text(encoding="utf-8"))


def conforms(validator, body) -> None:
    problems = [f"{list(e.path)}: {e.message}" for e in validator.iter_errors(body)]
    assert not problems, problems


def order_request(quote: dict) -> dict:
    text = json.dumps(sample("product_order_create.sample.json"))
    text = text.replace("QUOTE_ID", quote["id"]).replace("QUOTE_HREF", quote["href"])
    return json.loads(text)


# ------------------------------------------------------------------------ TMF648 in


def test_a_tmf648_quote_create_body_creates_the_quote_it_describes(client, schemas):
    body = sample("quote_create.sample.json")
    conforms(schemas["Quote_Create"], body)

    created = client.post(QUOTE, json=body)

    assert created.status_code == 201, created.text
    quote = created.json()
    conforms(schemas["Quote"], quote)
    assert created.headers["Location"] == quote["href"]
    assert quote["accountId"] == "acct-0042"
    assert {p["role"]: p["id"] for p in quote["relatedParty"]} == {
        "Customer": "acct-0042",
        "Seller": "seller-07",
    }
    first, second = quote["quoteItem"]
    assert first["productOffering"]["id"] == "business-internet"
    assert [c["productOffering"]["id"] for c in first["quoteItem"]] == [
        "bi-access-fiber",
        "bi-sla-premium",
        "static-ip",
    ]
    assert second["productOffering"]["id"] == "managed-firewall"


@pytest.mark.parametrize(
    ("change", "field"),
    [
        (
            lambda b: b["quoteItem"][0]["quoteItem"].append(
                {"productOffering": {"id": "saas-sso"}}
            ),
            "quoteItem[0].quoteItem[3].productOffering.id",
        ),
        (
            lambda b: b["quoteItem"][1].update(productOffering={"id": "no-such-offering"}),
            "quoteItem[1].productOffering.id",
        ),
        (lambda b: b["quoteItem"][0].update(action="noChange"), "quoteItem[0].action"),
        (lambda b: b["quoteItem"][0].update(action="modify"), "quoteItem[0].product.id"),
        (lambda b: b.update(relatedParty=[b["relatedParty"][1]]), "relatedParty"),
    ],
    ids=[
        "not-an-option-or-add-on",
        "unknown-offering",
        "no-such-action",
        "modify-without-product",
        "no-customer",
    ],
)
def test_a_tmf648_body_that_cannot_be_mapped_is_422_naming_the_tmf_path(
    client, schemas, change, field
):
    body = sample("quote_create.sample.json")
    change(body)

    refused = client.post(QUOTE, json=body)

    assert refused.status_code == 422, refused.text
    conforms(schemas["Error"], refused.json())
    assert field in [v["field"] for v in refused.json()["violations"]]


def test_a_tmf648_body_with_an_unknown_field_is_refused_but_polymorphism_attributes_pass(
    client,
):
    body = sample("quote_create.sample.json")
    body["@baseType"] = "Quote"
    assert client.post(QUOTE, json=body).status_code == 201
    body["discountPercentage"] = "0.1"  # a typo of the discountPct extension
    refused = client.post(QUOTE, json=body)
    assert refused.status_code == 422
    assert "discountPercentage" in refused.json()["message"]


# ------------------------------------------------------------------------ TMF622 in


def test_a_tmf622_product_order_create_orders_an_accepted_quote_once(client, schemas):
    quote = accepted_quote(client, sample("quote_create.sample.json"))
    body = order_request(quote)
    conforms(schemas["ProductOrder_Create"], body)

    first = client.post(ORDER, json=body, headers={"Idempotency-Key": "po-1"})
    replay = client.post(ORDER, json=body, headers={"Idempotency-Key": "po-1"})
    other_key = client.post(ORDER, json=body, headers={"Idempotency-Key": "po-2"})

    assert first.status_code == 201, first.text
    conforms(schemas["ProductOrder"], first.json())
    assert first.headers["Location"] == first.json()["href"]
    assert first.json()["quote"][0]["id"] == quote["id"]
    assert replay.status_code == 200 and replay.json()["id"] == first.json()["id"]
    assert other_key.status_code == 409
    conforms(schemas["Error"], other_key.json())
    assert other_key.json()["code"] == "already_converted"


def test_a_product_order_must_match_the_quote_it_orders(client):
    quote = accepted_quote(client, sample("quote_create.sample.json"))
    body = order_request(quote)
    body["productOrderItem"][1]["productOffering"]["id"] = "saas-suite"
    body["productOrderItem"][0]["quantity"] = 7

    refused = client.post(ORDER, json=body, headers={"Idempotency-Key": "mismatch"})

    assert refused.status_code == 422
    fields = {v["field"] for v in refused.json()["violations"]}
    assert fields == {"productOrderItem[1].productOffering.id", "productOrderItem[0].quantity"}


def test_a_product_order_for_a_quote_not_yet_accepted_is_409(client):
    created = client.post(QUOTE, json=sample("quote_create.sample.json")).json()
    refused = client.post(
        ORDER, json=order_request(created), headers={"Idempotency-Key": "too-early"}
    )
    assert refused.status_code == 409
    assert refused.json()["code"] == "illegal_transition"


def test_a_product_order_for_an_unknown_quote_is_422_and_needs_an_idempotency_key(client):
    body = order_request({"id": "Q-NOPE", "href": "x"})
    unknown = client.post(ORDER, json=body, headers={"Idempotency-Key": "k"})
    assert unknown.status_code == 422 and unknown.json()["code"] == "unknown_quote"
    keyless = client.post(ORDER, json=body)
    assert keyless.status_code == 400 and keyless.json()["code"] == "missing_idempotency_key"


# ------------------------------------------------------------------------ bad input


def compact(**change) -> dict:
    body = copy.deepcopy(COMPACT)
    body.update(change)
    return body


RAW_BAD_BODIES = {
    "nan": (b'{"accountId": "a", "requester": "s", "lines": [], "discountPct": NaN}', 400),
    "infinity": (b'{"accountId": "a", "requester": "s", "discountPct": Infinity}', 400),
    "minus-infinity": (b'{"accountId": -Infinity}', 400),
    "lone-surrogate": (b'{"accountId": "\\ud800", "requester": "s", "lines": []}', 400),
    "surrogate-in-key": (b'{"\\udfff": 1}', 400),
    "not-json": (b"{not json", 400),
    "not-utf8": (b'{"accountId": "\xff\xfe"}', 400),
    "deep-nesting": (b"[" * 10_000 + b"]" * 10_000, 400),
    "wrong-types": (json.dumps(compact(lines="many", accountId=7)).encode(), 422),
    "fifty-digit-discount": (json.dumps(compact(discountPct="0." + "1" * 55)).encode(), 422),
    "discount-as-exponent": (json.dumps(compact(discountPct="1e-900")).encode(), 422),
    "array-body": (b"[1, 2, 3]", 422),
}


@pytest.mark.parametrize("name", sorted(RAW_BAD_BODIES))
def test_bad_bodies_are_4xx_in_the_tmf_error_shape_never_5xx(client, schemas, name):
    raw, status = RAW_BAD_BODIES[name]

    answer = client.post(QUOTE, content=raw, headers={"content-type": "application/json"})

    assert answer.status_code == status, answer.text
    conforms(schemas["Error"], answer.json())
    assert answer.json()["status"] == str(status)
    assert answer.json()["violations"][0]["field"]
    answer.content.decode("utf-8")  # the answer itself is always encodable


def test_an_oversize_body_is_refused_before_it_is_read(client):
    declared = client.post(
        QUOTE,
        content=b" " * (300 * 1024),
        headers={"content-type": "application/json"},
    )
    assert declared.status_code == 413
    assert declared.json()["code"] == "body_too_large"

    def chunks():  # no Content-Length: refused as soon as the limit is crossed
        for _ in range(400):
            yield b" " * 1024

    streamed = client.post(QUOTE, content=chunks(), headers={"content-type": "application/json"})
    assert streamed.status_code == 413


def test_a_50_mb_body_is_refused_in_well_under_a_second(client):
    big = b"[" + b"1," * (25 * 1024 * 1024) + b"1]"
    start = time.perf_counter()
    answer = client.post(QUOTE, content=big, headers={"content-type": "application/json"})
    assert answer.status_code == 413
    assert time.perf_counter() - start < 1.0


@pytest.mark.parametrize(
    "path",
    [f"{QUOTE}?limit=5&colour=red", f"{ORDER}?fields=id", f"{QUOTE}/Q-1?x=1", "/health?y"],
)
def test_unknown_query_parameters_are_400(client, schemas, path):
    answer = client.get(path)
    assert answer.status_code == 400, answer.text
    conforms(schemas["Error"], answer.json())
    assert answer.json()["code"] == "unknown_query_parameter"


@pytest.mark.parametrize("path", [f"{QUOTE}?limit=abc", f"{QUOTE}?limit=0", f"{ORDER}?offset=-1"])
def test_malformed_query_parameters_are_400(client, path):
    answer = client.get(path)
    assert answer.status_code == 400
    assert answer.json()["code"] == "invalid_parameter"


def test_unknown_ids_routes_and_methods_are_tmf_errors(client, schemas):
    for answer, status in [
        (client.get(f"{QUOTE}/Q-NOPE"), 404),
        (client.post(f"{QUOTE}/Q-NOPE/approve", json={}, headers=bearer(MANAGER)), 404),
        (client.get(f"{ORDER}/ord-nope"), 404),
        (client.get("/no/such/route"), 404),
        (client.delete(QUOTE), 405),
    ]:
        assert answer.status_code == status
        conforms(schemas["Error"], answer.json())


# ------------------------------------------------------------------------ the document


def test_openapi_declares_response_models_error_statuses_and_the_required_key(client):
    spec = client.get("/openapi.json").json()
    create = spec["paths"][QUOTE]["post"]
    assert create["responses"]["201"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/Quote"
    }
    assert {"400", "413", "422"} <= set(create["responses"])
    error = create["responses"]["422"]["content"]["application/json"]["schema"]
    assert error == {"$ref": "#/components/schemas/TmfError"}
    convert = spec["paths"][f"{QUOTE}/{{quote_id}}/convert"]["post"]
    key = next(p for p in convert["parameters"] if p["name"] == "Idempotency-Key")
    assert key["required"] is True and key["in"] == "header"
    assert {"200", "201", "404", "409"} <= set(convert["responses"])
    order = spec["paths"][ORDER]["post"]
    assert any(p["name"] == "Idempotency-Key" and p["required"] for p in order["parameters"])
    assert "ProductOrderCreateTmf" in json.dumps(order["requestBody"])


def test_docs_work_offline(client):
    page = client.get("/docs")
    assert page.status_code == 200
    assert "cdn" not in page.text.lower() and "/docs-assets/swagger-ui-bundle.js" in page.text
    script = client.get("/docs-assets/swagger-ui-bundle.js")
    assert script.status_code == 200 and len(script.content) > 500_000
    assert client.get("/redoc").status_code == 200
    assert client.get("/docs-assets/redoc.standalone.js").status_code == 200


# ------------------------------------------------------------------------ ops


def test_metrics_count_routes_actor_calls_and_platform_state(client):
    quote = accepted_quote(client)
    client.post(f"{QUOTE}/{quote['id']}/convert", headers={"Idempotency-Key": "metrics"})

    text = client.get("/metrics").text

    assert (
        'cpqsim_http_requests_total{method="POST",route="/tmf-api/quoteManagement/v4/quote",status="201"}'
        in text
    )
    assert (
        'cpqsim_http_request_duration_seconds_bucket{le="0.01",method="POST",route="/tmf-api/quoteManagement/v4/quote/{quote_id}/price"}'
        in text
    )
    assert 'cpqsim_actor_call_duration_seconds_count{operation="convert"}' in text
    assert 'cpqsim_downstream_utilisation{system="provisioning"}' in text
    assert 'cpqsim_downstream_queue_length{system="billing"}' in text
    assert "cpqsim_orders{state=" in text
    assert "cpqsim_open_fallout_cases " in text


def test_the_verdict_runs_the_invariant_checker_over_the_live_platform(client):
    quote = accepted_quote(client)
    client.post(f"{QUOTE}/{quote['id']}/convert", headers={"Idempotency-Key": "verdict"})

    verdict = client.get("/ops/verdict", params={"settleSeconds": 20}, headers=bearer(OPERATIONS))

    assert verdict.status_code == 200
    body = verdict.json()
    assert body["holds"] is True and body["violations"] == 0
    assert body["unsettled_orders"] == 0 and body["events"] > 0
    names = {r["name"] for r in body["invariants"]}
    assert {"no_duplicate_side_effects", "repricing_reproduces_fingerprint"} <= names


def test_the_verdict_names_a_side_effect_duplicated_downstream():
    """A checker that cannot fail proves nothing: given a duplicate in a ledger, it fails."""
    with local_gateway() as fresh:
        quote = accepted_quote(fresh)
        fresh.post(f"{QUOTE}/{quote['id']}/convert", headers={"Idempotency-Key": "dup"})
        ops = bearer(OPERATIONS)
        assert fresh.get("/ops/verdict", params={"settleSeconds": 20}, headers=ops).json()["holds"]
        platform = fresh.app.state.platform
        ledger = platform.downstream["provisioning"].instance.model.ledger
        done = next(e for e in ledger.entries if e.side_effect)
        ledger.entries.append(done.model_copy(update={"seq": len(ledger.entries)}))

        verdict = fresh.get("/ops/verdict", params={"settleSeconds": 0}, headers=ops).json()

    assert verdict["holds"] is False
    broken = {r["name"]: r for r in verdict["invariants"] if not r["holds"]}
    assert "no_duplicate_side_effects" in broken
    assert done.request.reference in broken["no_duplicate_side_effects"]["examples"][0]
