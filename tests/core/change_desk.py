"""A change desk for specifications: an installed base, and orders run against it.

Quotes the lines on the sample catalog for one account, lets the installed base lock
what the order changes (as a runtime does, before the order exists), starts the order,
and answers its downstream calls as told (every call succeeds unless held back), folding
the asset facts each order fact calls for into the installed base.
"""

from __future__ import annotations

import dataclasses
from datetime import date
from decimal import Decimal

from cpqsim.asset import AssetCreated, AssetEvent, InstalledBase
from cpqsim.asset_reactions import assets_acted_on, lock_for_order, react
from cpqsim.catalog import Catalog
from cpqsim.configuration import QuoteLine
from cpqsim.context import Context, IdSource, at, rng_stream
from cpqsim.conversion import order_to_create
from cpqsim.decomposition import order_items
from cpqsim.events import CloudEvent
from cpqsim.orchestration import ROBUST, CallDownstream, replied
from cpqsim.order_commands import CancelOrder, RepairFallout
from cpqsim.order_policy import DEFAULT_ORDER_POLICY, OrderPolicy
from cpqsim.quote import (
    AcceptQuote,
    ConvertQuoteToOrder,
    CreateQuote,
    PriceQuote,
    Quote,
    QuoteServices,
    execute,
)
from cpqsim.services import OrderService

ACCOUNT = "acct-1"
TODAY = date(2026, 1, 5)  # at(0)

SUITE = {"offering": "saas-suite@2", "options": ["saas-edition-standard@1"]}
INTERNET = {
    "offering": "business-internet@1",
    "options": ["bi-access-fiber@1", "bi-sla-standard@1"],
}


def installed(asset_id: str, offering: str, **fields) -> AssetCreated:
    """An asset the customer has had since mid-2025, on a 12-month term."""
    values = {
        "account_id": ACCOUNT,
        "quantity": 10,
        "subscription_id": f"sub-{asset_id}",
        "recurring_monthly": Decimal("12.50"),
        "currency": "USD",
        "term_start": date(2025, 6, 1),
        "term_end": date(2026, 6, 1),
    }
    values.update(fields)
    return AssetCreated(asset_id=asset_id, offering=offering, **values)


class ChangeDesk:
    def __init__(
        self,
        catalog: Catalog,
        assets: list[AssetCreated],
        order_policy: OrderPolicy = DEFAULT_ORDER_POLICY,
    ) -> None:
        self.catalog = catalog
        self.base = InstalledBase(assets)
        self.ctx = Context(now=at(0), ids=IdSource(), rng=rng_stream(1, "change"), actor="ops")
        self.services = QuoteServices(catalog=catalog)
        if "installed_base" in {f.name for f in dataclasses.fields(QuoteServices)}:
            # once quoting judges change lines, it judges them against this base
            self.services = dataclasses.replace(self.services, installed_base=self.base)
        self.orders = OrderService(catalog, ROBUST, order_policy)
        self.events: list[CloudEvent] = []
        self.asset_facts: list[AssetEvent] = []
        self.calls: list[CallDownstream] = []  # every call sent, in order
        self.inflight: list[CallDownstream] = []

    # ------------------------------------------------------------------ ordering

    def quote(self, order_id: str, *lines: QuoteLine) -> Quote:
        """Quote, accept and convert ``lines`` (judged against the base as it is now)."""
        quote = None
        qid = f"Q-{order_id}"
        for command in (
            CreateQuote(quote_id=qid, account_id=ACCOUNT, requester="seller", lines=list(lines)),
            PriceQuote(quote_id=qid),
            AcceptQuote(quote_id=qid),
            ConvertQuoteToOrder(quote_id=qid, idempotency_key=f"k-{order_id}", order_id=order_id),
        ):
            quote, _ = execute(quote, command, self.ctx, self.services)
        assert quote is not None and quote.accepted_snapshot is not None
        return quote

    def order(
        self,
        order_id: str,
        *lines: QuoteLine,
        quoted_as: list[QuoteLine] | None = None,
        quoted: Quote | None = None,
    ) -> list[AssetEvent]:
        """Quote, accept and convert ``lines``; lock; start the order. Returns the locks.

        ``quoted_as``: lines the quote side accepts, quoted instead; the order then
        carries ``lines``, unpriced (for lines quoting does not take yet). ``quoted``: a
        quote made earlier (:meth:`quote`), when the asset could still be quoted on.
        """
        quote = quoted or self.quote(order_id, *(lines if quoted_as is None else quoted_as))
        if quoted_as is not None:
            snapshot = quote.accepted_snapshot.model_copy(update={"lines": list(lines)})
            quote = quote.model_copy(
                update={"lines": list(lines), "price": None, "accepted_snapshot": snapshot}
            )
        create = order_to_create(quote, "seller")
        assert create is not None
        items = order_items(order_id, quote.lines)
        acted_on = assets_acted_on(self.base, items)
        locks, refusals = lock_for_order(self.base, self.catalog, order_id, ACCOUNT, items, TODAY)
        for lock in locks:
            self._fold(lock)
        create = create.model_copy(update={"assets": acted_on, "asset_refusals": refusals})
        self._take(*self.orders.start(create, self.ctx))
        return list(locks)

    def cancel(self, order_id: str) -> None:
        self._take(*self.orders.handle(CancelOrder(order_id=order_id), self.ctx))

    def answer_all(self, hold: tuple[str, ...] = ()) -> None:
        """Answer every call in flight with success, except tasks ending with ``hold``
        (kept in flight), until nothing else is sent."""
        while True:
            ready = [c for c in self.inflight if not c.request.task_id.endswith(hold or ("\0",))]
            if not ready:
                return
            call = ready[0]
            self.inflight.remove(call)
            signal = replied(call.request, True, caused_by=call.caused_by)
            self._take(*self.orders.signal(signal, self.ctx))

    def fail(self, ending: str) -> None:
        """The call in flight for the task ending with ``ending`` fails for good: the
        downstream refuses it (not retryable), and a fallout case is opened."""
        call = next(c for c in self.inflight if c.request.task_id.endswith(ending))
        self.inflight.remove(call)
        signal = replied(
            call.request, False, error="refused", retryable=False, caused_by=call.caused_by
        )
        self._take(*self.orders.signal(signal, self.ctx))

    def repair(self, order_id: str, action: str, role: str = "operations_lead") -> None:
        """Operations decide the order's one open fallout case (``abandon_item``...)."""
        order = self.orders.orders[order_id]
        [case] = [c for c in order.fallout_cases if c["status"] == "open"]
        command = RepairFallout(
            order_id=order_id, case_id=case["case_id"], action=action, role=role
        )
        self._take(*self.orders.handle(command, self.ctx))

    def _take(self, order, events, effects) -> None:
        self.events += events
        for event in events:
            for fact in react(self.base, order, event, self.catalog):
                self._fold(fact)
        for effect in effects:
            if isinstance(effect, CallDownstream):
                self.calls.append(effect)
                self.inflight.append(effect)

    def _fold(self, fact: AssetEvent) -> None:
        self.base.apply(fact)
        self.asset_facts.append(fact)

    # ------------------------------------------------------------------ reading

    def tasks(self, order_id: str) -> list[str]:
        """The order's planned tasks, without the order id prefix."""
        order = self.orders.orders[order_id]
        return [t.removeprefix(f"{order_id}-") for t in order.task_order]

    def sent(self, order_id: str) -> list[tuple[str, str]]:
        return [
            (c.request.system, c.request.operation)
            for c in self.calls
            if c.request.order_id == order_id
        ]

    def payload(self, order_id: str, operation: str) -> dict[str, str]:
        found = [
            c.request.payload
            for c in self.calls
            if c.request.order_id == order_id and c.request.operation == operation
        ]
        assert len(found) == 1, f"{operation}: {len(found)} calls"
        return found[0]

    def facts(self, order_id: str) -> list[str]:
        """The order's facts by name (``created``, ``item_change_fulfilled``...)."""
        return [e.name.split(".", 1)[1] for e in self.events if e.subject == f"order/{order_id}"]

    def status(self, order_id: str) -> str:
        return self.orders.orders[order_id].status.value

    def rejection(self, order_id: str) -> list[dict[str, str]]:
        return self.orders.orders[order_id].rejection or []
