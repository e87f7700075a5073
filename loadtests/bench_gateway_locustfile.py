"""Users for ``benchmarks/bench_gateway.py`` (HTTP only, never Ray).

``BaselineUser`` hits the bare uvicorn + FastAPI + one-Ray-actor app the benchmark starts;
``PriceUser`` prices its own quote again and again (the price-quote route alone);
``PacedPriceUser`` does the same at a fixed total rate (``BENCH_RATE`` requests per second
over all users), for latency at a given load (``PacedBaselineUser`` the same for the
baseline, the machine's own latency at that load); ``JourneyUser`` walks the main endpoints:
create, price, accept, convert, then read the quote and the order back. Except for the
paced user there is no think time: each user sends its next request as soon as the
previous answer arrives, so req/s measures the server. The gateway's users call as the
demo principals ``cpqsim serve`` announces (the seller alice on her account; an approver
holding the role a price needs), so the door's token check is part of what is measured.

    locust -f loadtests/bench_gateway_locustfile.py JourneyUser --headless -u 20 -r 20 \
        -t 20s --host http://127.0.0.1:8000 --only-summary --csv /tmp/bench
"""

from __future__ import annotations

import os
import uuid

from locust import FastHttpUser, constant, constant_throughput, task
from locust.exception import StopUser

SELLER = {"Authorization": "Bearer demo-seller-alice"}  # cpqsim serve's demo principals
APPROVER = {
    "sales_manager": {"Authorization": "Bearer demo-manager-bob"},
    "finance_director": {"Authorization": "Bearer demo-finance-carol"},
}
ACCOUNT = "acct-0001"  # one of alice's accounts
QUOTE = "/tmf-api/quoteManagement/v4/quote"
ORDER = "/tmf-api/productOrderingManagement/v4/productOrder"

# Configurations of the sample enterprise catalog that price without approval at 0 %.
LINES = [
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
            "offering": "business-internet",
            "options": ["bi-access-fiber", "bi-sla-premium"],
            "addOns": ["static-ip"],
        }
    ],
]


class Stop(Exception):
    """The failing request is already reported; end this journey."""


def paced(self) -> float:
    """Each of N users at BENCH_RATE / N requests per second (set by the benchmark)."""
    total = float(os.environ.get("BENCH_RATE") or 100)
    per_user = max(total, 0.1) / int(os.environ.get("BENCH_USERS") or 20)
    return constant_throughput(per_user)(self)


class BaselineUser(FastHttpUser):
    wait_time = constant(0)

    @task
    def ping(self) -> None:
        self.client.get("/ping", name="GET /ping (actor)")


class PacedBaselineUser(BaselineUser):
    """The baseline at a fixed total rate: the machine's own latency at that load."""

    wait_time = paced


class PriceUser(FastHttpUser):
    wait_time = constant(0)
    default_headers = SELLER

    def on_start(self) -> None:
        body = {"accountId": ACCOUNT, "lines": LINES[0]}
        with self.client.post(QUOTE, json=body, name="POST /quote", catch_response=True) as r:
            if r.status_code != 201:
                r.failure(f"create: {r.status_code} {r.text[:200]}")
                raise StopUser
            self.price_path = f"{QUOTE}/{r.json()['id']}/price"

    @task
    def price(self) -> None:
        self.client.post(self.price_path, name="POST /quote/{id}/price")


class PacedPriceUser(PriceUser):
    """The price-quote route at a fixed total rate, for its latency at that load."""

    wait_time = paced


class JourneyUser(FastHttpUser):
    wait_time = constant(0)
    default_headers = SELLER

    def on_start(self) -> None:
        self.n = 0

    def _call(self, method: str, path: str, name: str, expect: int, **kwargs) -> dict:
        body = None
        with self.client.request(method, path, name=name, catch_response=True, **kwargs) as r:
            if r.status_code == expect:
                body = r.json()
                r.success()
            else:
                r.failure(f"{name}: expected {expect}, got {r.status_code}: {r.text[:200]}")
        if body is None:
            raise Stop
        return body

    @task
    def journey(self) -> None:
        self.n += 1
        try:
            quote = self._call(
                "POST",
                QUOTE,
                "POST /quote",
                201,
                json={"accountId": ACCOUNT, "lines": LINES[self.n % len(LINES)]},
            )
            qid = quote["id"]
            priced = self._call("POST", f"{QUOTE}/{qid}/price", "POST /quote/{id}/price", 200)
            if priced.get("approvalRequired"):
                self._call("POST", f"{QUOTE}/{qid}/submitForApproval", "POST /submit", 200)
                self._call(
                    "POST",
                    f"{QUOTE}/{qid}/approve",
                    "POST /approve",
                    200,
                    headers=APPROVER[priced["requiredApprovalRole"]],
                )
            self._call("POST", f"{QUOTE}/{qid}/accept", "POST /quote/{id}/accept", 200)
            order = self._call(
                "POST",
                f"{QUOTE}/{qid}/convert",
                "POST /quote/{id}/convert",
                201,
                headers={"Idempotency-Key": f"bench-{uuid.uuid4().hex}"},
            )
            self._call("GET", f"{QUOTE}/{qid}", "GET /quote/{id}", 200)
            self._call("GET", f"{ORDER}/{order['id']}", "GET /productOrder/{id}", 200)
        except Stop:
            pass
