"""In-memory command handling over a set of aggregates: one shard, or the whole sim.

Both runtimes host this same class: the sim runtime holds one for everything, each Ray
shard actor holds one for its slice of quotes or orders. It turns domain events into
CloudEvents (ids and time from the context) and keeps the aggregates current; it never
performs I/O, so what a runtime adds is only where and when.
"""

from __future__ import annotations

from cpqsim.catalog import Catalog
from cpqsim.context import Context
from cpqsim.events import CloudEvent, DomainEvent, envelope
from cpqsim.orchestration import Effect, ResiliencePolicy, Signal, react, start_order
from cpqsim.order import Order
from cpqsim.quote import ConvertQuoteToOrder, Quote, QuoteCommand, QuoteServices, execute


class PlatformCore:
    def __init__(self, services: QuoteServices, policy: ResiliencePolicy) -> None:
        self.services = services
        self.policy = policy
        self.quotes: dict[str, Quote] = {}
        self.orders: dict[str, Order] = {}
        self.order_by_key: dict[str, str] = {}

    @property
    def catalog(self) -> Catalog:
        return self.services.catalog

    def _wrap(self, events: list[DomainEvent], ctx: Context) -> list[CloudEvent]:
        return [envelope(e, ctx) for e in events]

    # ------------------------------------------------------------------ quote side

    def handle_quote(self, command: QuoteCommand, ctx: Context) -> tuple[Quote, list[CloudEvent]]:
        """Execute one quote command; raises ``DomainError`` when refused (nothing changes)."""
        ctx.correlation_id = ctx.correlation_id or command.quote_id
        state, events = execute(self.quotes.get(command.quote_id), command, ctx, self.services)
        assert state is not None
        self.quotes[command.quote_id] = state
        return state, self._wrap(events, ctx)

    def convert(self, command: ConvertQuoteToOrder, ctx: Context) -> tuple[Quote, list[CloudEvent]]:
        """Quote side of conversion: idempotent per key, refused for a second key."""
        return self.handle_quote(command, ctx)

    # ------------------------------------------------------------------ order side

    def start_order(
        self, quote: Quote, ctx: Context
    ) -> tuple[Order, list[CloudEvent], list[Effect]]:
        """Order side of conversion: create once per order id, replay returns the original."""
        assert quote.order_id is not None and quote.conversion_key is not None
        existing = self.orders.get(quote.order_id)
        if existing is not None:
            return existing, [], []
        ctx.correlation_id = ctx.correlation_id or quote.quote_id
        order, events, effects = start_order(
            quote, quote.order_id, quote.conversion_key, self.catalog, ctx, self.policy
        )
        self.orders[order.order_id] = order
        self.order_by_key[quote.conversion_key] = order.order_id
        return order, self._wrap(events, ctx), effects

    def signal(self, signal: Signal, ctx: Context) -> tuple[Order, list[CloudEvent], list[Effect]]:
        order = self.orders[signal.order_id]
        ctx.correlation_id = ctx.correlation_id or order.quote_id
        order, events, effects = react(order, signal, ctx, self.policy)
        self.orders[order.order_id] = order
        return order, self._wrap(events, ctx), effects
