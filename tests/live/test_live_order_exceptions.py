"""Over HTTP, where orders fail: TMF622 cancellation, the fallout queue and its repairs.

Runs over an in-process platform (no Ray). Provisioning is made unreachable so that an
order stops where a real one would (held in fallout, after the CPE shipped, ...), and
brought back when the specification needs the order to finish.
"""

from __future__ import annotations

import time

import pytest

from .local_gateway import (
    OPERATIONS,
    ORDER,
    ORDER_DOC,
    QUOTE,
    accepted_quote,
    bearer,
    local_gateway,
    tmf_validator,
)

CANCEL = "/tmf-api/productOrderingManagement/v4/cancelProductOrder"
CASES = "/ops/falloutCase"
INTERNET = {
    "accountId": "acct-0002",
    "lines": [
        {
            "offering": "business-internet",
            "quantity": 1,
            "options": ["bi-access-fiber", "bi-sla-premium"],
        }
    ],
}


@pytest.fixture
def client():
    with local_gateway() as c:
        yield c


@pytest.fixture(scope="module")
def cancel_schema():
    return tmf_validator(ORDER_DOC, "CancelProductOrder")


def conforms(validator, body) -> None:
    problems = [f"{list(e.path)}: {e.message}" for e in validator.iter_errors(body)]
    assert not problems, problems


def provisioning_reachable(client, reachable: bool) -> None:
    platform = client.app.state.platform
    client.portal.call(platform.make_unreachable, "provisioning", 0 if reachable else 1e9)


def ordered(client, body: dict | None = None) -> str:
    quote = accepted_quote(client, body)
    made = client.post(f"{QUOTE}/{quote['id']}/convert", headers={"Idempotency-Key": quote["id"]})
    assert made.status_code == 201, made.text
    return made.json()["id"]


def eventually(read, until, timeout_s: float = 10.0):
    deadline = time.monotonic() + timeout_s
    while True:
        value = read()
        if until(value) or time.monotonic() > deadline:
            return value
        time.sleep(0.05)


def order_state(client, order_id: str) -> str:
    return client.get(f"{ORDER}/{order_id}").json()["state"]


def held(client, order_id: str) -> None:
    assert eventually(lambda: order_state(client, order_id), lambda s: s == "held") == "held"


def test_cancelling_an_unknown_order_is_404_in_the_tmf_error_shape(client):
    answer = client.post(CANCEL, json={"productOrder": {"id": "no-such-order"}})
    assert answer.status_code == 404
    assert answer.json()["code"] == "unknown_order" and answer.json()["@type"] == "Error"
    assert client.get(f"{CANCEL}/cancel-no-such-order").status_code == 404


def test_a_cancellation_body_with_an_unknown_field_is_422(client):
    answer = client.post(CANCEL, json={"productOrder": {"id": "x"}, "refund": "all"})
    assert answer.status_code == 422


def test_a_completed_order_cannot_be_cancelled_and_the_409_says_why(client):
    order_id = ordered(client)
    assert eventually(lambda: order_state(client, order_id), lambda s: s == "completed") == (
        "completed"
    )
    answer = client.post(CANCEL, json={"productOrder": {"id": order_id}})
    assert answer.status_code == 409
    assert answer.json()["code"] == "order_closed" and "completed" in answer.json()["message"]


def test_past_the_point_of_no_return_the_409_names_the_task(client):
    provisioning_reachable(client, False)  # the line cannot be activated: the CPE has shipped
    order_id = ordered(client, INTERNET)
    held(client, order_id)

    answer = client.post(CANCEL, json={"productOrder": {"id": order_id}})

    assert answer.status_code == 409
    assert answer.json()["code"] == "cutoff_passed"
    assert "ship-cpe (on_dispatch)" in answer.json()["message"]


def test_a_held_order_is_in_the_fallout_queue_and_repaired_only_with_authority(client):
    provisioning_reachable(client, False)
    order_id = ordered(client)
    held(client, order_id)

    queue = client.get(CASES, params={"state": "open"})
    assert queue.status_code == 200 and queue.headers["X-Total-Count"] == "1"
    (case,) = queue.json()
    assert case["orderId"] == order_id and case["owner"] == "provisioning-operations"
    assert "reconcile" in case["repairActions"] and case["openedAt"]
    assert client.get(f"{CASES}/{case['id']}").json() == case
    assert client.get(f"{CASES}/no-such-case").status_code == 404

    # alice sells: her role (seller) has no repair authority, whatever the body says
    sales = {"action": "mark_done", "evidence": "PRV-1"}
    refused = client.post(f"{CASES}/{case['id']}/repair", json=sales)
    assert refused.status_code == 403 and refused.json()["code"] == "forbidden"
    timeline = client.get(f"{ORDER}/{order_id}/timeline").json()
    refusals = [e for e in timeline if e["type"] == "cpqsim.order.repair_refused.v1"]
    assert refusals and refusals[0]["actor"] == "alice"  # the refused attempt is evidence
    claimed = client.post(f"{CASES}/{case['id']}/repair", json={**sales, "role": "operations_lead"})
    assert claimed.status_code == 403 and claimed.json()["code"] == "role_not_held"
    lead = {"action": "mark_done"}
    no_evidence = client.post(f"{CASES}/{case['id']}/repair", json=lead, headers=bearer(OPERATIONS))
    assert no_evidence.status_code == 409 and "evidence" in no_evidence.json()["message"]
    unknown_action = client.post(
        f"{CASES}/{case['id']}/repair", json={**lead, "action": "pray"}, headers=bearer(OPERATIONS)
    )
    assert unknown_action.status_code == 422
    assert client.get(f"{CASES}/{case['id']}").json()["status"] == "open"


def test_a_cancellation_accepted_while_held_completes_once_operations_repair_the_case(
    client, cancel_schema
):
    provisioning_reachable(client, False)
    order_id = ordered(client)
    held(client, order_id)
    case_id = client.get(CASES, params={"state": "open"}).json()[0]["id"]

    accepted = client.post(
        CANCEL,
        json={"productOrder": {"id": order_id}, "cancellationReason": "budget withdrawn"},
    )
    assert accepted.status_code == 201, accepted.text
    conforms(cancel_schema, accepted.json())
    assert accepted.json()["state"] == "inProgress"  # a task's outcome is still unknown
    assert accepted.headers["Location"] == accepted.json()["href"]
    again = client.post(CANCEL, json={"productOrder": {"id": order_id}})
    assert again.status_code == 409

    provisioning_reachable(client, True)
    repair = {"action": "reconcile", "actor": "Olga", "reason": "back"}
    repaired = client.post(f"{CASES}/{case_id}/repair", json=repair, headers=bearer(OPERATIONS))
    assert repaired.status_code == 200 and repaired.json()["status"] == "resolved"
    assert repaired.json()["resolution"] == "reconcile"

    href = accepted.json()["href"].removeprefix("http://testserver")
    done = eventually(lambda: client.get(href).json(), lambda c: c["state"] != "inProgress")
    conforms(cancel_schema, done)
    assert done["state"] == "done" and done["effectiveCancellationDate"]
    assert done["cancellationReason"] == "budget withdrawn"
    assert order_state(client, order_id) == "cancelled"
    facts = [e["type"] for e in client.get(f"{ORDER}/{order_id}/timeline").json()]
    # the reserved licences were released: the done work was compensated
    assert "cpqsim.order.compensation_planned.v1" in facts
    assert client.get(CASES, params={"state": "open"}).headers["X-Total-Count"] == "0"
