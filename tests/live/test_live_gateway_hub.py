"""TMF event notifications: a registered loopback listener hears the platform's facts.

Given a listener registered on the quote or order hub, when the platform does business,
then the listener receives TMF notifications (create, state change) carrying the
CloudEvent id, again and again until it acknowledges one (at least once), and nothing
after it unregisters.
"""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from .local_gateway import (
    COMPACT,
    OPERATIONS,
    ORDER_DOC,
    QUOTE,
    QUOTE_DOC,
    accepted_quote,
    bearer,
    local_gateway,
    tmf_validator,
)

QUOTE_HUB = "/tmf-api/quoteManagement/v4/hub"
ORDER_HUB = "/tmf-api/productOrderingManagement/v4/hub"
OPS = bearer(OPERATIONS)  # a listener hears every account: only unscoped principals register


class Listener:
    """A loopback HTTP listener that records notifications and can refuse the first few."""

    def __init__(self, refuse_first: int = 0) -> None:
        self.received: list[tuple[str, dict]] = []
        self.refusals_left = refuse_first
        self.lock = threading.Lock()
        listener = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                with listener.lock:
                    refuse = listener.refusals_left > 0
                    listener.refusals_left -= 1 if refuse else 0
                    listener.received.append((self.path, body))
                self.send_response(503 if refuse else 201)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args) -> None:  # keep test output clean
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/cpq"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def wait_for(self, predicate, timeout_s: float = 10.0) -> list[tuple[str, dict]]:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            with self.lock:
                if predicate(self.received):
                    return list(self.received)
            time.sleep(0.05)
        with self.lock:
            raise AssertionError(f"listener got only {[p for p, _ in self.received]}")

    def close(self) -> None:
        self.server.shutdown()


@pytest.fixture
def listener():
    made: list[Listener] = []

    def make(refuse_first: int = 0) -> Listener:
        made.append(Listener(refuse_first))
        return made[-1]

    yield make
    for each in made:
        each.close()


@pytest.fixture(scope="module")
def client():
    with local_gateway(hub_poll_s=0.05) as c:
        yield c


def test_a_quote_listener_hears_creation_and_every_state_change(client, listener):
    ear = listener()
    registered = client.post(QUOTE_HUB, json={"callback": ear.url}, headers=OPS)
    assert registered.status_code == 201
    sub = registered.json()
    assert not list(tmf_validator(QUOTE_DOC, "EventSubscription").iter_errors(sub))

    quote = accepted_quote(client)

    got = ear.wait_for(lambda r: sum(b["event"]["quote"]["id"] == quote["id"] for _, b in r) >= 3)
    mine = [(path, body) for path, body in got if body["event"]["quote"]["id"] == quote["id"]]
    paths = [path for path, _ in mine]
    assert paths[0] == "/cpq/listener/quoteCreateEvent"
    assert set(paths[1:]) == {"/cpq/listener/quoteStateChangeEvent"}
    assert [b["event"]["quote"]["cpqsimStatus"] for _, b in mine] == [
        "draft",
        "priced",
        "accepted",
    ]
    for _, body in mine:
        assert not list(tmf_validator(QUOTE_DOC, body["eventType"]).iter_errors(body))
        assert body["eventId"] == body["cpqsimEvent"]["id"]
    assert client.delete(f"{QUOTE_HUB}/{sub['id']}", headers=OPS).status_code == 204


def test_delivery_is_at_least_once_and_stops_after_unregistering(client, listener):
    ear = listener(refuse_first=2)
    sub = client.post(
        QUOTE_HUB, json={"callback": ear.url, "query": "eventType=QuoteCreateEvent"}, headers=OPS
    )
    assert sub.status_code == 201, sub.text

    created = client.post(QUOTE, json=COMPACT).json()

    got = ear.wait_for(lambda r: len(r) >= 3)
    assert [b["eventId"] for _, b in got[:3]] == [got[0][1]["eventId"]] * 3  # retried
    assert got[0][1]["event"]["quote"]["id"] == created["id"]
    assert client.delete(f"{QUOTE_HUB}/{sub.json()['id']}", headers=OPS).status_code == 204
    assert client.get(f"{QUOTE_HUB}/{sub.json()['id']}", headers=OPS).status_code == 404
    client.post(QUOTE, json=COMPACT)
    time.sleep(0.5)
    assert len(ear.received) == 3


def test_an_order_listener_hears_the_order_through_to_completion(client, listener):
    ear = listener()
    sub = client.post(ORDER_HUB, json={"callback": ear.url}, headers=OPS)
    assert sub.status_code == 201
    quote = accepted_quote(client)
    order = client.post(f"{QUOTE}/{quote['id']}/convert", headers={"Idempotency-Key": "hub"})
    order_id = order.json()["id"]

    def completed(received) -> bool:
        return any(
            b["event"]["productOrder"]["id"] == order_id
            and b["event"]["productOrder"].get("state") == "completed"
            for _, b in received
        )

    got = ear.wait_for(completed, timeout_s=20)
    mine = [b for _, b in got if b["event"]["productOrder"]["id"] == order_id]
    assert mine[0]["eventType"] == "ProductOrderCreateEvent"
    assert "ProductOrderAttributeValueChangeEvent" in {b["eventType"] for b in mine}
    assert len({b["eventId"] for b in mine}) == len(mine)
    validator = tmf_validator(ORDER_DOC, "ProductOrderStateChangeEvent")
    assert all(not list(validator.iter_errors(b)) for b in mine)
    client.delete(f"{ORDER_HUB}/{sub.json()['id']}", headers=OPS)


@pytest.mark.parametrize(
    "body",
    [
        {"callback": "http://192.0.2.10:9000/cpq"},
        {"callback": "http://example.com/cpq"},
        {"callback": "ftp://127.0.0.1/cpq"},
        {"callback": "http://user:pw@127.0.0.1/cpq"},
        {"callback": "not a url"},
        {"callback": "http://127.0.0.1:9/cpq", "query": "eventType=NoSuchEvent"},
        {"callback": "http://127.0.0.1:9/cpq", "query": "state=done"},
    ],
)
def test_listeners_off_loopback_or_with_unknown_filters_are_refused(client, body):
    refused = client.post(QUOTE_HUB, json=body, headers=OPS)
    assert refused.status_code == 422, refused.text
    field = "query" if "query" in body else "callback"
    assert [v["field"] for v in refused.json()["violations"]] == [field]
