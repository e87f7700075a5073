"""The sim runtime: a business day of quote-to-order journeys in virtual time.

This module is only a port (:mod:`cpqsim_host.port`) over SimPy: what time it is
(``env.now``), timers (SimPy timeouts), downstream calls and queries (SimPy downstream
fakes), and commands executed at once on in-memory aggregates. The journey interpreter,
the conversion step and the effect runner are the host's, shared with the live runtimes.
Every random draw comes from a named stream of the master seed, ids from counters and
time from ``env.now``: the same seed yields a byte-identical event log.

A business day of 50,000 orders must fit in memory and grow linearly, so the runtime
keeps what is in flight, not what ever was: the event log may stream to a file (the
runner gives a streaming :class:`~cpqsim.events.EventLog`), a completed order's aggregate
is retired (its id and final status stay, so replays and late news are recognised), a
quote is forgotten once its journey has taken its last step, order counts per status are
kept as orders change (a sample reads them, never the orders), and downstream latencies
are kept as two float arrays. The garbage collector is tuned for the run (see
:func:`collector_tuned`).

The platform holds one installed base (:class:`~cpqsim.asset.InstalledBase`), started
from the scenario's asset facts. An order that changes assets locks them before it is
created (a refused lock: the order is created rejected, with the reasons); the order
facts the installed base reacts to become asset facts (:mod:`cpqsim.asset_reactions`),
logged right after the fact that caused them. Asset facts are named by an id source of
their own (``evt-assets-...``), as a separate producer's would be, so the ids of every
other fact are those of a run without an installed base.
"""

from __future__ import annotations

import dataclasses
import gc
import time
from array import array
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager

import simpy
from cpqsim_host.effect_runner import EffectRunner
from cpqsim_host.fakes import SimDownstream
from cpqsim_host.journey_runner import JourneyRunner
from cpqsim_host.journeys import JourneyPlan, plan_journeys
from cpqsim_host.operations_desk import OperationsDesk
from cpqsim_host.outcome import JourneyStats, RunOutput, Samples
from cpqsim_host.port import CommandAnswer, OnAnswer, OnError, OnReply, OrderStarted, Thunk
from cpqsim_host.scenario import CatalogChange, LoadedScenario, PlatformFault

from cpqsim.asset import AssetCreated, AssetEvent, InstalledBase
from cpqsim.asset_reactions import assets_acted_on, lock_for_order, react, reacts_to
from cpqsim.catalog_events import CatalogPublished
from cpqsim.context import Context, IdSource, at, rng_stream
from cpqsim.conversion import CreateOrder
from cpqsim.decomposition import order_items
from cpqsim.downstream import DownstreamRequest as Request
from cpqsim.downstream import LedgerSnapshot
from cpqsim.events import CloudEvent, EventLog, envelope
from cpqsim.lifecycle import DomainError
from cpqsim.orchestration import Signal
from cpqsim.order import Order, OrderStatus
from cpqsim.order_commands import OrderClosed, OrderCommand, RepairFallout
from cpqsim.pricing import PricingError
from cpqsim.quote import CreateQuote, QuoteCommand, QuoteServices, QuoteStatus
from cpqsim.services import OrderService, QuoteService

Progress = Callable[[float, float], None]

COMPLETED = OrderStatus.COMPLETED.value

# The collector during a run: the young generation is collected every this many net
# allocations instead of 700 (a day allocates millions of short-lived objects, and most
# of the young collections found nothing to free), and what exists when the run starts
# (catalog, plans, scheduled journeys) is frozen out of every collection.
RUN_GC_THRESHOLD = (50_000, 20, 20)


@contextmanager
def collector_tuned() -> Iterator[None]:
    """Freeze what exists now and collect less often until the run is over.

    Measured on happy_path at 10x its volume, the default collector spent about a
    quarter of the run's CPU re-scanning a heap that only grows (catalog, plans, ledgers,
    retired orders' ids); see ``benchmarks/bench_sim.py --gc``. Cyclic garbage is still
    collected, less often; the previous settings come back afterwards.
    """
    previous = gc.get_threshold()
    gc.freeze()
    gc.set_threshold(*RUN_GC_THRESHOLD)
    try:
        yield
    finally:
        gc.set_threshold(*previous)
        gc.unfreeze()


class OrderTally:
    """Each order's latest status, and how many orders are in each status.

    Kept as orders change (O(1) per change), so sampling the platform costs the number of
    statuses, not the number of orders; the per-order statuses are the run's final
    ``orders_final`` and say which retired orders completed.
    """

    def __init__(self) -> None:
        self.status: dict[str, str] = {}
        self.counts: dict[str, int] = {}

    def record(self, order_id: str, status: str) -> None:
        old = self.status.get(order_id)
        if old == status:
            return
        if old is not None:
            self.counts[old] -= 1
        self.counts[status] = self.counts.get(status, 0) + 1
        self.status[order_id] = status

    def now(self) -> dict[str, int]:
        return {status: n for status, n in self.counts.items() if n}


class LatencyLog:
    """(finished at, seconds in system) pairs in two float arrays.

    A downstream fake appends one pair per request; a list of tuples would hold about
    110 bytes per request for the whole run, these 16.
    """

    def __init__(self) -> None:
        self._at = array("d")
        self._seconds = array("d")

    def append(self, point: tuple[float, float]) -> None:
        self._at.append(point[0])
        self._seconds.append(point[1])

    def __iter__(self) -> Iterator[tuple[float, float]]:
        return zip(self._at, self._seconds, strict=True)

    def __len__(self) -> int:
        return len(self._at)


class SimRuntime:
    """One SimPy environment hosting the whole platform; implements both host ports.

    ``log`` is where the facts go: by default an in-memory :class:`EventLog`; the runner
    passes a streaming one (to ``events.jsonl``, with the invariant checker subscribed).
    """

    def __init__(
        self,
        loaded: LoadedScenario,
        seed: int | None = None,
        log: EventLog | None = None,
        installed_base: Iterable[AssetCreated] | None = None,
    ) -> None:
        self.loaded = loaded
        self.scenario = loaded.scenario
        self.seed = self.scenario.seed if seed is None else seed
        self.env = simpy.Environment()
        self.ids = IdSource()
        self.policy = self.scenario.resilience_policy()
        self.installed_base = InstalledBase()
        self.quotes = QuoteService(
            _with_installed_base(
                QuoteServices(
                    catalog=loaded.catalog,
                    refuse_stale_prices=self.scenario.refuse_stale_prices,
                    approval_policy=loaded.approval_policy,
                    quote_policy=self.scenario.quote_policy,
                ),
                self.installed_base,
            )
        )
        self.orders = OrderService(loaded.catalog, self.policy, self.scenario.order_policy)
        self.log = log if log is not None else EventLog()
        self._orchestration_rng = rng_stream(self.seed, "orchestration")
        self.downstreams = {
            name: SimDownstream(self.env, profile, rng_stream(self.seed, f"downstream.{name}"))
            for name, profile in sorted(self.scenario.downstream.items())
        }
        for ds in self.downstreams.values():
            ds.latencies = LatencyLog()  # type: ignore[assignment]  # same appends, compact
        self.samples = Samples()
        self.stats = JourneyStats()
        self.plans: list[JourneyPlan] = plan_journeys(loaded, self.seed)
        self.journeys = JourneyRunner(
            self, self.stats, self.scenario.approval_timeout_s, on_finished=self._journey_finished
        )
        self.desk = (
            OperationsDesk(
                self,
                self.scenario.operations,
                rng_stream(self.seed, "operations"),
                order_of=lambda order_id: self.orders.orders.get(order_id),
                repair=self._repair,
            )
            if self.scenario.operations is not None
            else None
        )
        self.tally = OrderTally()
        self._open_journeys: set[str] = set()  # quote ids of journeys under way
        self.incarnation = 0  # of the order side: a restart starts a new one
        self.effects = self._effect_runner()
        self.fallout_cases = 0
        self.restarts = 0
        self._unreachable: dict[str, float] = {}  # system -> virtual time it is back
        self._asset_ids = IdSource("assets")  # asset facts: a producer of their own
        starting = loaded.installed_base if installed_base is None else installed_base
        self._record_assets(list(starting), self._asset_ctx(None, None))

    def ctx(self, actor: str) -> Context:
        return Context(now=at(self.env.now), ids=self.ids, rng=self._orchestration_rng, actor=actor)

    # ----------------------------------------------------------------- the clock

    def now_s(self) -> float:
        return self.env.now

    def schedule(self, delay_s: float, fn: Thunk) -> None:
        self.env.timeout(delay_s).callbacks.append(lambda _event: fn())

    # --------------------------------------------------------- the downstream port

    def call(self, request: Request, timeout: float, on_reply: OnReply, on_deadline: Thunk) -> None:
        def caller():
            if not self._cut_off(request.system):  # unreachable: the request never arrives
                self.downstreams[request.system].call(request, on_reply)
            yield self.env.timeout(timeout)
            on_deadline()

        self.env.process(caller())

    def query(self, system: str, reference: str, on_answer: OnAnswer, on_error: OnError) -> None:
        if self._cut_off(system):
            self.schedule(0.0, lambda: on_error(f"{system} unreachable (injected fault)"))
            return
        self.downstreams[system].query(reference, on_answer)

    def _cut_off(self, system: str) -> bool:
        back = self._unreachable.get(system)
        return back is not None and self.env.now < back

    def signal(self, signal: Signal) -> None:
        if self._retired(signal.order_id):
            return  # every task of a completed order is done: late news changes nothing
        order, events, effects = self.orders.signal(signal, self.ctx("orchestrator"))
        self._log_order_facts(order, events)
        self._track(order)
        self.effects.run(effects)

    # ------------------------------------------------------- the installed base

    def _asset_ctx(self, correlation: str | None, causation: str | None) -> Context:
        ctx = Context(now=at(self.env.now), ids=self._asset_ids, actor="installed-base")
        ctx.correlation_id = correlation
        ctx.causation_id = causation
        return ctx

    def _record_assets(self, facts: list[AssetEvent], ctx: Context) -> None:
        for fact in facts:
            self.installed_base.apply(fact)
            self.log.append(envelope(fact, ctx))

    def _admit(self, create: CreateOrder) -> CreateOrder:
        """Lock the assets the order will change, before it exists; or say why not.

        New sales pass untouched (nothing to lock): the hot path pays one scan of the
        quote's lines.
        """
        if not any(line.changes_asset for line in create.quote.lines):
            return create
        quote = create.quote
        items = order_items(create.order_id, quote.lines)
        acted_on = assets_acted_on(self.installed_base, items)
        locks, refusals = lock_for_order(
            self.installed_base,
            self.orders.catalog,
            create.order_id,
            quote.account_id,
            items,
            at(self.env.now).date(),
        )
        if refusals:
            return create.model_copy(update={"asset_refusals": refusals})
        self._record_assets(list(locks), self._asset_ctx(quote.quote_id, create.caused_by))
        return create.model_copy(update={"assets": acted_on})

    def _log_order_facts(self, order: Order, events: list[CloudEvent]) -> None:
        """Log the order's new facts, each asset fact they call for right after its cause."""
        logged = 0
        for i, event in enumerate(events):
            if reacts_to(order, event.type):
                facts = react(self.installed_base, order, event, self.orders.catalog)
                if facts:
                    self.log.extend(events[logged : i + 1])
                    logged = i + 1
                    self._record_assets(facts, self._asset_ctx(order.quote_id, event.id))
        self.log.extend(events[logged:] if logged else events)

    def _effect_runner(self) -> EffectRunner:
        on_fallout = None
        if self.desk is not None:
            desk = self.desk
            on_fallout = lambda effect: desk.case_opened(effect.order_id, effect.case_id)  # noqa: E731
        return EffectRunner(_OrderSidePort(self, self.incarnation), self.signal, on_fallout)

    def _repair(self, command: RepairFallout, actor: str) -> None:
        self.execute_orders([(command, actor)], lambda answers: None)

    # ------------------------------------------------- what is kept, what is retired

    def _track(self, order: Order) -> None:
        """Count the order's status; retire it once completed.

        A completed order has every task done, so no signal can change it any more: its
        aggregate leaves memory, and its id and status stay in the tally (which is how
        a replayed creation or a late reply for it is recognised).
        """
        status = order.status.value
        self.tally.record(order.order_id, status)
        if status == COMPLETED:
            del self.orders.orders[order.order_id]
            self.orders.order_by_key.pop(order.idempotency_key, None)

    def _retired(self, order_id: str) -> bool:
        return order_id not in self.orders.orders and self.tally.status.get(order_id) == COMPLETED

    def _journey_finished(self, plan: JourneyPlan) -> None:
        """A journey took its last step: nothing will ask for its quote again, unless
        the approval watch may still escalate it (it is left waiting for a decision)."""
        quote = self.quotes.quotes.get(plan.quote_id)
        if (
            quote is not None
            and quote.status is QuoteStatus.PENDING_APPROVAL
            and self.journeys.approval_timeout_s
        ):
            return
        if quote is not None and quote.status is QuoteStatus.PRESENTED:
            return  # the validity timer will still expire it
        self._open_journeys.discard(plan.quote_id)
        self.quotes.quotes.pop(plan.quote_id, None)

    # ----------------------------------------------------------- the platform port

    def execute(
        self,
        commands: list[tuple[QuoteCommand, str]],
        done: Callable[[list[CommandAnswer]], None],
    ) -> None:
        done([self._execute(command, actor) for command, actor in commands])

    def _execute(self, command: QuoteCommand, actor: str) -> CommandAnswer:
        if isinstance(command, CreateQuote):
            self._open_journeys.add(command.quote_id)
        try:
            quote, events = self.quotes.handle(command, self.ctx(actor))
        except (DomainError, PricingError) as exc:
            return CommandAnswer(
                ok=False,
                quote=self.quotes.quotes.get(command.quote_id),
                code=getattr(exc, "code", "invalid_configuration"),
                message=str(exc),
            )
        self.log.extend(events)
        # An approval without authority is recorded (the fact is logged) yet refused.
        refused = [e for e in events if e.name == "quote.approval_refused"]
        return CommandAnswer(
            ok=not refused,
            quote=quote,
            new_events=len(events),
            last_event_id=events[-1].id if events else None,
            code="approval_refused" if refused else None,
            message=refused[0].data["reason"] if refused else None,
        )

    def execute_orders(
        self,
        commands: list[tuple[OrderCommand, str]],
        done: Callable[[list[CommandAnswer]], None],
    ) -> None:
        answers = []
        for command, actor in commands:
            try:
                if self._retired(command.order_id):
                    # Refused as its aggregate would refuse it (a command id drawn alike).
                    self.ids.next("cmd")
                    raise OrderClosed(f"order {command.order_id} is {COMPLETED}: nothing to do")
                order, events, effects = self.orders.handle(command, self.ctx(actor))
            except DomainError as exc:
                answers.append(CommandAnswer(ok=False, code=exc.code, message=exc.message))
                continue
            self._log_order_facts(order, events)
            self._track(order)
            self.effects.run(effects)
            refused = [e for e in events if e.name == "order.repair_refused"]
            answers.append(
                CommandAnswer(
                    ok=not refused,
                    new_events=len(events),
                    last_event_id=events[-1].id if events else None,
                    code="forbidden" if refused else None,
                )
            )
        done(answers)

    def start_orders(
        self, creates: list[CreateOrder], done: Callable[[list[OrderStarted]], None]
    ) -> None:
        started = []
        for create in creates:
            if self._retired(create.order_id):  # created once already, and completed since
                started.append(OrderStarted(order_id=create.order_id, created=False))
                continue
            if create.order_id not in self.orders.orders:
                create = self._admit(create)
            order, events, effects = self.orders.start(create, self.ctx(create.actor))
            self._log_order_facts(order, events)
            self._track(order)
            self.effects.run(effects)
            started.append(OrderStarted(order_id=order.order_id, created=bool(events)))
        done(started)

    # ------------------------------------------------------------------ running

    def _sampler(self):
        """Every ``sample_every_s``: orders per status (from the tally) and each
        downstream's queue and busy servers. A sample costs O(statuses + systems)."""
        samples, every = self.samples, self.scenario.sample_every_s
        for name in self.downstreams:
            samples.queue_length[name] = []
            samples.busy[name] = []
        while True:
            samples.t.append(self.env.now)
            samples.orders_by_state.append(self.tally.now())
            for name, ds in self.downstreams.items():
                samples.queue_length[name].append(ds.queue_length)
                samples.busy[name].append(ds.busy)
            yield self.env.timeout(every)

    @property
    def end_s(self) -> float:
        return self.scenario.duration_s + self.scenario.drain_s

    # ------------------------------------------------------------ platform faults

    def _inject(self, fault: PlatformFault) -> None:
        if fault.restart == "orders":
            self._restart_orders()
        elif fault.restart == "quotes":
            self._restart_quotes()
        elif fault.unreachable is not None:
            self._unreachable[fault.unreachable] = self.env.now + fault.for_s
        elif fault.unavailable == "pricing":
            self.quotes.set_pricing_available(False)
            self.schedule(fault.for_s, lambda: self.quotes.set_pricing_available(True))

    def _restart_orders(self) -> None:
        """The order side dies: in-flight replies and timers are lost with it. It comes
        back from its journal (here, the event log) and applies the restart rule."""
        self.fallout_cases += self.effects.fallout_cases
        self.restarts += 1
        self.incarnation += 1
        self.effects = self._effect_runner()
        catalog = self.orders.catalog  # the catalog in force, which may have changed
        self.orders = OrderService(catalog, self.policy, self.scenario.order_policy)
        for event in self.log.about("order/"):
            if not self._retired(event.subject.removeprefix("order/")):
                self.orders.apply(event)  # completed orders stay retired
        for order in self.orders.orders.values():
            self.tally.record(order.order_id, order.status.value)
        for signal in self.orders.resume(self.ids.next("restart")):
            self.signal(signal)

    def _restart_quotes(self) -> None:
        """The quote side dies and replays its journal (here, the event log)."""
        self.restarts += 1
        self.quotes = QuoteService(self.quotes.services)
        for event in self.log.about("quote/"):
            if event.subject.removeprefix("quote/") in self._open_journeys:
                self.quotes.apply(event)  # finished journeys' quotes stay forgotten

    def _publish(self, change: CatalogChange) -> None:
        """A new catalog version in force: new quotes and orders use it."""
        catalog = self.loaded.later_catalogs[change.catalog]
        self.quotes.publish(catalog)
        self.orders.catalog = catalog
        fact = CatalogPublished(
            catalog_id=catalog.id, catalog_version=catalog.version, fingerprint=catalog.fingerprint
        )
        self.log.append(envelope(fact, self.ctx("catalog-publisher")))

    def run(self, progress: Progress | None = None, chunks: int = 50) -> None:
        self.journeys.start(self.plans)
        self.env.process(self._sampler())
        for fault in self.scenario.platform_faults:
            self.schedule(fault.at_s, lambda fault=fault: self._inject(fault))
        for change in self.scenario.catalog_changes:
            self.schedule(change.at_s, lambda change=change: self._publish(change))
        end = self.end_s
        with collector_tuned():
            for i in range(1, chunks + 1):
                self.env.run(until=end * i / chunks)
                if progress:
                    progress(self.env.now, end)

    def ledgers(self) -> dict[str, LedgerSnapshot]:
        """Each downstream's ledger as data. The run is over, so its entries are handed
        over as they are, not copied (a copy of a big day's ledgers would double them)."""
        return {
            name: LedgerSnapshot.model_construct(system=ds.profile.name, entries=ds.ledger.entries)
            for name, ds in self.downstreams.items()
        }

    def output(self, wall_s: float = 0.0) -> RunOutput:
        self.stats.fallout_cases = self.fallout_cases + self.effects.fallout_cases
        return RunOutput(
            runtime="sim",
            events=self.log if self.log.streaming else list(self.log),  # type: ignore[arg-type]
            ledgers=self.ledgers(),
            orders_final=dict(self.tally.status),
            samples=self.samples,
            latencies={name: ds.latencies for name, ds in self.downstreams.items()},
            downstream_calls={name: ds.calls for name, ds in self.downstreams.items()},
            downstream_rejected={name: ds.rejected for name, ds in self.downstreams.items()},
            stats=self.stats,
            simulated_s=self.env.now,
            wall_s=wall_s,
            downstream_busy_s={name: ds.busy_s for name, ds in self.downstreams.items()},
            downstream_waits={
                name: (ds.waited_s, ds.served) for name, ds in self.downstreams.items()
            },
            installed_base=self.installed_base,
        )


def _with_installed_base(services: QuoteServices, base: InstalledBase) -> QuoteServices:
    """Quoting reads the platform's one installed base (change lines are judged on it).

    The field arrives with delta pricing (branch wip/changeprice); until then quoting
    does not judge change lines and the services are returned as they are. Once both
    have landed, pass ``installed_base=`` in the constructor above and drop this.
    """
    if "installed_base" in {f.name for f in dataclasses.fields(QuoteServices)}:
        return dataclasses.replace(services, installed_base=base)  # type: ignore[call-arg]
    return services


class _OrderSidePort:
    """The downstream port as one incarnation of the order side sees it.

    Whatever was in flight when that incarnation died (a reply on its way, a timer) is
    lost with it, as in a real crash: callbacks of a dead incarnation do nothing.
    """

    def __init__(self, sim: SimRuntime, incarnation: int) -> None:
        self.sim = sim
        self.incarnation = incarnation

    def _alive(self, fn: Callable[..., None]) -> Callable[..., None]:
        def guarded(*args) -> None:
            if self.sim.incarnation == self.incarnation:
                fn(*args)

        return guarded

    def now_s(self) -> float:
        return self.sim.now_s()

    def schedule(self, delay_s: float, fn: Thunk) -> None:
        self.sim.schedule(delay_s, self._alive(fn))

    def call(self, request: Request, timeout: float, on_reply: OnReply, on_deadline: Thunk) -> None:
        self.sim.call(request, timeout, self._alive(on_reply), self._alive(on_deadline))

    def query(self, system: str, reference: str, on_answer: OnAnswer, on_error: OnError) -> None:
        self.sim.query(system, reference, self._alive(on_answer), self._alive(on_error))


def run_sim(
    loaded: LoadedScenario,
    seed: int,
    progress: Progress | None = None,
    *,
    log: EventLog | None = None,
    installed_base: Iterable[AssetCreated] | None = None,
) -> RunOutput:
    """The ``sim`` runtime's entry point (see :mod:`cpqsim_host.registry`).

    ``log``: where the facts go (the runner streams them to ``events.jsonl``); by default
    they are kept in memory and handed back in the output. ``installed_base``: the asset
    facts the run starts from, instead of the scenario's (``loaded.installed_base``).
    """
    started = time.perf_counter()
    sim = SimRuntime(loaded, seed, log, installed_base)
    sim.run(progress=progress)
    return sim.output(wall_s=time.perf_counter() - started)
