"""Load test of the cpqsim gateway: the quote-to-order journey plus lighter reads.

Talks HTTP only (never Ray from a Locust process: gevent and Ray's gRPC hang together)
and uses ``FastHttpUser`` (several times the throughput of ``HttpUser`` per core).
Requests are named by endpoint so stats group per route, and a response counts as a
failure only when it is really wrong for that step of the journey.

    cpqsim serve --port 8000 &
    locust -f loadtests/locustfile.py --headless -u 20 -r 10 -t 30s \
        --host http://127.0.0.1:8000 --only-summary
"""

from __future__ import annotations

import contextlib
import random
import uuid

from locust import FastHttpUser, between, task

CATALOG = "/tmf-api/productCatalogManagement/v4"
QUOTE = "/tmf-api/quoteManagement/v4/quote"
ORDER = "/tmf-api/productOrderingManagement/v4/productOrder"

# Valid configurations of the sample enterprise catalog (same mix as the library scenarios).
MIX = [
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
DISCOUNTS = ["0", "0", "0.05", "0.15", "0.30"]


class JourneyFailed(Exception):
    """Stop this journey: the failing request has already been reported."""


class CpqUser(FastHttpUser):
    wait_time = between(0.05, 0.3)

    def on_start(self) -> None:
        self.seller = f"seller-{uuid.uuid4().hex[:6]}"
        self.orders: list[str] = []
        self.quotes: list[str] = []

    # ------------------------------------------------------------------ helpers

    def _post(self, path: str, name: str, expect: tuple[int, ...], **kwargs) -> dict:
        body = None
        with self.client.post(path, name=name, catch_response=True, **kwargs) as resp:
            if resp.status_code in expect:
                body = resp.json()
                resp.success()
            else:
                resp.failure(f"{name}: expected {expect}, got {resp.status_code}: {resp.text}")
        if body is None:
            raise JourneyFailed
        return body

    def _get(self, path: str, name: str) -> None:
        with self.client.get(path, name=name, catch_response=True) as resp:
            if resp.status_code != 200:
                resp.failure(f"{name}: got {resp.status_code}: {resp.text}")
            else:
                resp.success()

    # ------------------------------------------------------------------ tasks

    @task(4)
    def quote_to_order(self) -> None:
        with contextlib.suppress(JourneyFailed):
            self._journey()

    def _journey(self) -> None:
        quote = self._post(
            QUOTE,
            "POST /quote",
            (201,),
            json={
                "accountId": f"acct-{random.randrange(200):04d}",
                "requester": self.seller,
                "lines": random.choice(MIX),
                "discountPct": random.choice(DISCOUNTS),
            },
        )
        qid = quote["id"]
        self.quotes.append(qid)
        priced = self._post(f"{QUOTE}/{qid}/price", "POST /quote/{id}/price", (200,))
        if priced.get("approvalRequired"):
            self._post(
                f"{QUOTE}/{qid}/submitForApproval", "POST /quote/{id}/submitForApproval", (200,)
            )
            self._post(
                f"{QUOTE}/{qid}/approve",
                "POST /quote/{id}/approve",
                (200,),
                json={
                    "approver": f"manager-{uuid.uuid4().hex[:6]}",
                    "role": priced["requiredApprovalRole"],
                },
            )
        self._post(f"{QUOTE}/{qid}/accept", "POST /quote/{id}/accept", (200,))
        key = f"convert-{uuid.uuid4()}"
        order = self._post(
            f"{QUOTE}/{qid}/convert",
            "POST /quote/{id}/convert",
            (201,),
            headers={"Idempotency-Key": key},
        )
        self.orders.append(order["id"])
        self._get(f"{ORDER}/{order['id']}", "GET /productOrder/{id}")

    @task(2)
    def browse_catalog(self) -> None:
        self._get(f"{CATALOG}/productOffering", "GET /productOffering")
        self._get(f"{CATALOG}/productOffering/saas-suite", "GET /productOffering/{id}")

    @task(1)
    def read_quotes(self) -> None:
        self._get(f"{QUOTE}?limit=20", "GET /quote")
        if self.quotes:
            self._get(f"{QUOTE}/{random.choice(self.quotes[-20:])}", "GET /quote/{id}")

    @task(1)
    def read_orders(self) -> None:
        self._get(f"{ORDER}?limit=20", "GET /productOrder")
        if self.orders:
            oid = random.choice(self.orders[-20:])
            self._get(f"{ORDER}/{oid}/timeline", "GET /productOrder/{id}/timeline")
