"""An order desk for specifications: the core's order side, driven step by step.

Builds an accepted, converted quote on the golden order catalog, starts its order on an
``OrderService``, and remembers the calls in flight so a specification can answer them
by the end of a task id.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cpqsim.catalog import Catalog, publish
from cpqsim.context import Context, IdSource, at, rng_stream
from cpqsim.conversion import order_to_create
from cpqsim.downstream import QueryStatus
from cpqsim.lifecycle import DomainError
from cpqsim.orchestration import (
    ROBUST,
    CallDownstream,
    QueryDownstream,
    ResiliencePolicy,
    StartTimer,
    answered,
    fired,
    replied,
    timed_out,
)
from cpqsim.order_commands import CancelOrder, RepairFallout
from cpqsim.order_policy import DEFAULT_ORDER_POLICY, OrderPolicy
from cpqsim.quote import (
    AcceptQuote,
    ConvertQuoteToOrder,
    CreateQuote,
    PriceQuote,
    QuoteServices,
    execute,
)
from cpqsim.services import OrderService

GOLDEN = Path(__file__).resolve().parents[1] / "golden" / "orders"


def golden_catalog(**changes) -> Catalog:
    doc = json.loads((GOLDEN / "catalog.json").read_text())
    for offering in doc["offerings"]:
        for step in offering.get("decomposition", []):
            step.update(changes.get(step["task"], {}))
    return publish(doc).catalog


class Desk:
    """Runs one golden order: the core's order side, and the calls it has in flight."""

    def __init__(
        self,
        lines: list[dict],
        catalog: Catalog | None = None,
        policy: ResiliencePolicy = ROBUST,
        order_policy: OrderPolicy = DEFAULT_ORDER_POLICY,
        account: str = "acct-1",
    ) -> None:
        catalog = catalog or golden_catalog()
        self.ctx = Context(now=at(0), ids=IdSource(), rng=rng_stream(1, "golden"), actor="ops-1")
        services = QuoteServices(catalog=catalog)
        quote = None
        for command in (
            CreateQuote(quote_id="Q1", account_id=account, requester="seller-1", lines=lines),
            PriceQuote(quote_id="Q1"),
            AcceptQuote(quote_id="Q1"),
            ConvertQuoteToOrder(quote_id="Q1", idempotency_key="k1", order_id="O1"),
        ):
            quote, _ = execute(quote, command, self.ctx, services)
        self.orders = OrderService(catalog, policy, order_policy)
        self.inflight: dict[str, CallDownstream] = {}
        self.queries: dict[str, QueryDownstream] = {}
        self.timers: dict[str, StartTimer] = {}
        self.sent: dict[str, CallDownstream] = {}  # every call ever sent, latest per task
        self.compensations: list[str] = []
        self.new = self._take(*self.orders.start(order_to_create(quote, "seller-1"), self.ctx))

    def _take(self, order, events, effects) -> tuple[list[str], list[str]]:
        dispatched = []
        for effect in effects:
            if isinstance(effect, QueryDownstream):
                self.queries[effect.task_id] = effect
            elif isinstance(effect, StartTimer):
                self.timers[effect.task_id] = effect
            if isinstance(effect, CallDownstream):
                tid = effect.request.task_id
                self.inflight[tid] = effect
                self.sent[tid] = effect
                dispatched.append(tid)
                if tid.endswith("/undo"):
                    self.compensations.append(tid)
        return [e.name.split(".", 1)[1] for e in events], dispatched

    def task(self, suffix: str) -> str:
        found = [t for t in self.inflight if t.endswith(suffix)]
        assert len(found) == 1, f"{suffix!r} names {found or 'no task in flight'}"
        return found[0]

    def _one(self, table: dict, suffix: str) -> str:
        found = [t for t in table if t.endswith(suffix)]
        assert len(found) == 1, f"{suffix!r} names {found or 'nothing'}"
        return found[0]

    def step(self, step: dict) -> tuple[list[str], list[str]]:
        if "late_reply" in step:  # a reply to a call already given up on
            call = self.sent[self._one(self.sent, step["late_reply"])]
            signal = replied(call.request, True, None, True, call.caused_by)
            return self._take(*self.orders.signal(signal, self.ctx))
        if "timeout" in step:
            call = self.inflight.pop(self.task(step["timeout"]))
            return self._take(*self.orders.signal(timed_out(call.request), self.ctx))
        if "answer" in step:
            query = self.queries.pop(self._one(self.queries, step["answer"]))
            signal = answered(query, QueryStatus(step["found"]))
            return self._take(*self.orders.signal(signal, self.ctx))
        if "timer" in step:
            timer = self.timers.pop(self._one(self.timers, step["timer"]))
            return self._take(*self.orders.signal(fired(timer), self.ctx))
        if "reply" in step:
            call = self.inflight.pop(self.task(step["reply"]))
            signal = replied(
                call.request,
                step["ok"],
                None if step["ok"] else "rejected",
                step.get("retryable", True),
                call.caused_by,
            )
            return self._take(*self.orders.signal(signal, self.ctx))
        if "cancel" in step:
            command = CancelOrder(order_id="O1", **step["cancel"])
            if "expect_refused" in step:
                with pytest.raises(DomainError, match=step["expect_refused"]):
                    self.orders.handle(command, self.ctx)
                return [], []
            return self._take(*self.orders.handle(command, self.ctx))
        if "repair" in step:
            [case] = [c for c in self.order.fallout_cases if c["status"] == "open"]
            command = RepairFallout(order_id="O1", case_id=case["case_id"], **step["repair"])
            return self._take(*self.orders.handle(command, self.ctx))
        return self.new

    @property
    def order(self):
        return self.orders.orders["O1"]
