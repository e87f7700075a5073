"""Aggregates in memory and the commands on them: one quote side, one order side.

Every runtime hosts these: the sim holds one of each for everything, each Ray quote shard
a ``QuoteService`` for its slice of quotes, each order executor an ``OrderService`` for
its slice of orders. They turn domain events into CloudEvents (ids, time, actor and
causation from the context), keep the aggregates current, and link each effect to the
fact that decided it. They never perform I/O: what a runtime adds is where and when.
"""

from __future__ import annotations

from dataclasses import replace

from cpqsim.approval import ApprovalPolicy
from cpqsim.asset import InstalledBase
from cpqsim.catalog import Catalog
from cpqsim.context import Context
from cpqsim.conversion import CreateOrder
from cpqsim.events import CloudEvent, DomainEvent, envelope
from cpqsim.lifecycle import DomainError
from cpqsim.orchestration import (
    Effect,
    Reaction,
    ResiliencePolicy,
    Signal,
    react_traced,
    resume,
    start_order_reaction,
)
from cpqsim.order import ORDER_EVENTS, Order
from cpqsim.order import evolve as evolve_order
from cpqsim.order_commands import CancelOrder, OrderCommand, RepairFallout, cancel, repair
from cpqsim.order_policy import DEFAULT_ORDER_POLICY, OrderPolicy
from cpqsim.pricing_change_terms import ContractBook
from cpqsim.quote import QUOTE_EVENTS, Quote, QuoteCommand, QuoteServices, execute
from cpqsim.quote import evolve as evolve_quote


def _wrap(events: list[DomainEvent], ctx: Context) -> list[CloudEvent]:
    return [envelope(e, ctx) for e in events]


class QuoteService:
    """The quotes of one shard (or of the whole sim)."""

    def __init__(self, services: QuoteServices) -> None:
        self.services = services
        self.quotes: dict[str, Quote] = {}

    @property
    def catalog(self) -> Catalog:
        return self.services.catalog

    def publish(self, catalog: Catalog) -> None:
        """A new catalog version is in force: new prices use it, older ones are stale."""
        self.services = replace(self.services, catalog=catalog)

    def set_pricing_available(self, available: bool) -> None:
        """Pricing goes down (or comes back): meanwhile no quote is priced."""
        self.services = replace(self.services, pricing_available=available)

    def read_installed_base(self, base: InstalledBase) -> None:
        """Judge and price change lines against ``base`` from now on.

        The runtime holds one installed base per platform and keeps it current (asset
        facts from order fulfilment); the quote side only reads it, so the same object is
        handed in, never a copy.
        """
        self.services = replace(self.services, installed_base=base)

    def set_contract_terms(self, terms: ContractBook) -> None:
        """The contract terms in force for changes (early termination, suspension,
        renewal): copied into the price request of every change priced from now on."""
        self.services = replace(self.services, contract_terms=terms)

    def set_approval_policy(self, policy: ApprovalPolicy) -> None:
        """A new approval policy version is in force: quotes priced under another one are
        priced again before anyone decides on them (see ``quote._decide_approval``)."""
        self.services = replace(self.services, approval_policy=policy)

    def handle(self, command: QuoteCommand, ctx: Context) -> tuple[Quote, list[CloudEvent]]:
        """Execute one command; raises ``DomainError``/``PricingError`` when refused.

        A refused command changes nothing. The facts it establishes carry the command's
        id as their causation and the context's actor.
        """
        ctx.correlation_id = ctx.correlation_id or command.quote_id
        ctx.causation_id = ctx.causation_id or ctx.ids.next("cmd")
        state, events = execute(self.quotes.get(command.quote_id), command, ctx, self.services)
        assert state is not None
        self.quotes[command.quote_id] = state
        return state, _wrap(events, ctx)

    def apply(self, event: CloudEvent) -> Quote:
        """Fold one journaled fact back in (recovery)."""
        fact = QUOTE_EVENTS[event.type].model_validate(event.data)
        quote = evolve_quote(self.quotes.get(fact.quote_id), fact)
        self.quotes[quote.quote_id] = quote
        return quote


class UnknownOrder(DomainError):
    code = "unknown_order"


class OrderService:
    """The orders of one executor (or of the whole sim), and their process manager."""

    def __init__(
        self,
        catalog: Catalog,
        policy: ResiliencePolicy,
        order_policy: OrderPolicy = DEFAULT_ORDER_POLICY,
    ) -> None:
        self.catalog = catalog
        self.policy = policy
        self.order_policy = order_policy
        self.orders: dict[str, Order] = {}
        self.order_by_key: dict[str, str] = {}

    def _wrap_reaction(
        self, reaction: Reaction, ctx: Context
    ) -> tuple[Order, list[CloudEvent], list[Effect]]:
        order, events, effects, causes = reaction
        self.orders[order.order_id] = order
        wrapped = _wrap(events, ctx)
        linked = [
            e.model_copy(update={"caused_by": wrapped[i].id}) if i >= 0 else e
            for e, i in zip(effects, causes, strict=True)
        ]
        return order, wrapped, linked

    def start(
        self, create: CreateOrder, ctx: Context
    ) -> tuple[Order, list[CloudEvent], list[Effect]]:
        """Create the order once per order id; a replay returns the original, doing nothing."""
        existing = self.orders.get(create.order_id)
        if existing is not None:
            return existing, [], []
        ctx.correlation_id = ctx.correlation_id or create.quote.quote_id
        ctx.causation_id = ctx.causation_id or create.caused_by
        reaction = start_order_reaction(
            create.quote,
            create.order_id,
            create.idempotency_key,
            self.catalog,
            ctx,
            self.policy,
            self.order_policy,
            create.assets,
            create.asset_refusals,
        )
        self.order_by_key[create.idempotency_key] = create.order_id
        return self._wrap_reaction(reaction, ctx)

    def signal(self, signal: Signal, ctx: Context) -> tuple[Order, list[CloudEvent], list[Effect]]:
        order = self.orders[signal.order_id]
        ctx.correlation_id = ctx.correlation_id or order.quote_id
        ctx.causation_id = ctx.causation_id or signal.caused_by
        return self._wrap_reaction(react_traced(order, signal, ctx, self.policy), ctx)

    def handle(
        self, command: OrderCommand, ctx: Context
    ) -> tuple[Order, list[CloudEvent], list[Effect]]:
        """Cancel an order or repair one of its cases; ``DomainError`` when refused.

        A repair refused for want of authority is not an error: it is recorded (a
        ``repair_refused`` fact), and changes nothing else.
        """
        order = self.orders.get(command.order_id)
        if order is None:
            raise UnknownOrder(f"order {command.order_id} does not exist")
        ctx.correlation_id = ctx.correlation_id or order.quote_id
        ctx.causation_id = ctx.causation_id or ctx.ids.next("cmd")
        if isinstance(command, CancelOrder):
            reaction = cancel(order, command, ctx, self.policy)
        elif isinstance(command, RepairFallout):
            reaction = repair(order, command, ctx, self.policy, self.order_policy)
        else:  # pragma: no cover - the command types are closed
            raise TypeError(f"unhandled order command {type(command).__name__}")
        return self._wrap_reaction(reaction, ctx)

    def apply(self, event: CloudEvent) -> Order:
        """Fold one journaled fact back in (recovery)."""
        fact = ORDER_EVENTS[event.type].model_validate(event.data)
        order = evolve_order(self.orders.get(fact.order_id), fact)
        self.orders[order.order_id] = order
        self.order_by_key[order.idempotency_key] = order.order_id
        return order

    def resume(self, restart_id: str | None = None) -> list[Signal]:
        """What a restarted executor must do for every unsettled order (the restart rule)."""
        return [s for order in self.orders.values() for s in resume(order, restart_id)]

    def unsettled(self) -> int:
        return sum(1 for o in self.orders.values() if not o.settled)
