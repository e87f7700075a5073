"""The sim runtime: a business day of quote-to-order journeys in virtual time.

Journeys (planned from the seed) drive quote commands through the pure core; orders'
effects become SimPy processes (calls with timeouts, reconciliation queries, retry
timers) against SimPy downstream fakes. Every random draw comes from a named stream of
the master seed, ids from a counter and time from ``env.now``: the same seed yields a
byte-identical event log.
"""

from __future__ import annotations

from collections.abc import Callable

import simpy

from cpqsim import orchestration
from cpqsim.context import Context, IdSource, at, rng_stream
from cpqsim.downstream import LedgerSnapshot
from cpqsim.events import CloudEvent, EventLog
from cpqsim.lifecycle import DomainError
from cpqsim.orchestration import (
    CallDownstream,
    Effect,
    QueryDownstream,
    RaiseFallout,
    ReconciliationAnswered,
    Signal,
    StartTimer,
    TimerFired,
)
from cpqsim.pricing import PricingError
from cpqsim.quote import (
    ConvertQuoteToOrder,
    QuoteCommand,
    QuoteServices,
)
from cpqsim.service import PlatformCore
from cpqsim_scenarios.journey_script import Command, CommandAnswer, Convert, Wait, journey
from cpqsim_scenarios.journeys import JourneyPlan, plan_journeys
from cpqsim_scenarios.model import LoadedScenario
from cpqsim_scenarios.outcome import JourneyStats, RunOutput, Samples
from cpqsim_scenarios.sim.downstream import Reply, SimDownstream


class SimRuntime:
    def __init__(self, loaded: LoadedScenario, seed: int | None = None) -> None:
        self.loaded = loaded
        self.scenario = loaded.scenario
        self.seed = self.scenario.seed if seed is None else seed
        self.env = simpy.Environment()
        self.ids = IdSource()
        self.policy = self.scenario.resilience_policy()
        self.core = PlatformCore(QuoteServices(catalog=loaded.catalog), self.policy)
        self.log = EventLog()
        self._orchestration_rng = rng_stream(self.seed, "orchestration")
        self.downstreams = {
            name: SimDownstream(self.env, profile, rng_stream(self.seed, f"downstream.{name}"))
            for name, profile in sorted(self.scenario.downstream.items())
        }
        self.samples = Samples()
        self.stats = JourneyStats()
        self.plans: list[JourneyPlan] = plan_journeys(self.scenario, self.seed)

    # ----------------------------------------------------------------- plumbing

    def ctx(self, actor: str = "system", causation: str | None = None) -> Context:
        return Context(
            now=at(self.env.now),
            ids=self.ids,
            rng=self._orchestration_rng,
            actor=actor,
            causation_id=causation,
        )

    def _record(self, events: list[CloudEvent]) -> None:
        self.log.extend(events)

    def _quote(self, command: QuoteCommand, actor: str) -> bool:
        try:
            _, events = self.core.handle_quote(command, self.ctx(actor, causation=None))
        except (DomainError, PricingError):  # refused, as a real seller would be told
            self.stats.commands_refused += 1
            return False
        self._record(events)
        return True

    def _run_effects(self, effects: list[Effect]) -> None:
        for effect in effects:
            if isinstance(effect, CallDownstream):
                self.env.process(self._call(effect))
            elif isinstance(effect, QueryDownstream):
                self._query(effect)
            elif isinstance(effect, StartTimer):
                self.env.process(self._timer(effect))
            elif isinstance(effect, RaiseFallout):
                self.stats.fallout_cases += 1

    def signal(self, signal: Signal) -> None:
        _, events, effects = self.core.signal(signal, self.ctx())
        self._record(events)
        self._run_effects(effects)

    def _call(self, effect: CallDownstream):
        req = effect.request
        replied = False

        def on_reply(reply: Reply) -> None:
            nonlocal replied
            replied = True
            self.signal(
                orchestration.replied(req, reply.ok, error=reply.error, retryable=reply.retryable)
            )

        self.downstreams[req.system].call(req, on_reply)
        yield self.env.timeout(effect.timeout_s)
        if not replied:
            self.signal(orchestration.timed_out(req))

    def _query(self, effect: QueryDownstream) -> None:
        def on_answer(status) -> None:
            self.signal(
                ReconciliationAnswered(
                    order_id=effect.order_id,
                    task_id=effect.task_id,
                    attempt=effect.attempt,
                    status=status,
                )
            )

        self.downstreams[effect.system].query(effect.reference, on_answer)

    def _timer(self, effect: StartTimer):
        yield self.env.timeout(effect.delay_s)
        self.signal(
            TimerFired(
                order_id=effect.order_id,
                task_id=effect.task_id,
                attempt=effect.attempt,
                purpose=effect.purpose,
            )
        )

    # ----------------------------------------------------------------- journeys

    def _journey(self, plan: JourneyPlan):
        """Interpret the shared journey script with SimPy time and direct core calls."""
        yield self.env.timeout(plan.arrival_s)
        script = journey(plan, self.stats)
        answer = None
        while True:
            try:
                step = script.send(answer)
            except StopIteration:
                return
            answer = None
            if isinstance(step, Wait):
                yield self.env.timeout(step.seconds)
            elif isinstance(step, Command):
                ok = self._quote(step.command, step.actor)
                answer = CommandAnswer(ok=ok, quote=self.core.quotes.get(plan.quote_id))
            elif isinstance(step, Convert):
                self._convert(step.quote_id, step.key, step.actor)

    def _convert(self, quote_id: str, key: str, actor: str) -> None:
        ctx = self.ctx(actor)
        try:
            quote, events = self.core.convert(
                ConvertQuoteToOrder(quote_id=quote_id, idempotency_key=key), ctx
            )
        except DomainError:
            self.stats.conversions_refused += 1
            return
        self._record(events)
        if not events:
            self.stats.conversion_replays += 1
        _order, order_events, effects = self.core.start_order(quote, self.ctx(actor))
        if order_events:
            self.stats.converted += 1
        self._record(order_events)
        self._run_effects(effects)

    def _sampler(self):
        for name in self.downstreams:
            self.samples.queue_length[name] = []
            self.samples.busy[name] = []
        while True:
            counts: dict[str, int] = {}
            for order in self.core.orders.values():
                counts[order.status.value] = counts.get(order.status.value, 0) + 1
            self.samples.t.append(self.env.now)
            self.samples.orders_by_state.append(counts)
            for name, ds in self.downstreams.items():
                self.samples.queue_length[name].append(ds.queue_length)
                self.samples.busy[name].append(ds.busy)
            yield self.env.timeout(self.scenario.sample_every_s)

    # ----------------------------------------------------------------- running

    @property
    def end_s(self) -> float:
        return self.scenario.duration_s + self.scenario.drain_s

    def run(self, progress: Callable[[float, float], None] | None = None, chunks: int = 50) -> None:
        for plan in self.plans:
            self.env.process(self._journey(plan))
        self.env.process(self._sampler())
        end = self.end_s
        for i in range(1, chunks + 1):
            self.env.run(until=end * i / chunks)
            if progress:
                progress(self.env.now, end)

    def ledgers(self) -> dict[str, LedgerSnapshot]:
        return {name: ds.ledger.snapshot() for name, ds in self.downstreams.items()}

    def output(self, wall_s: float = 0.0) -> RunOutput:
        return RunOutput(
            runtime="sim",
            events=list(self.log),
            ledgers=self.ledgers(),
            orders_final={oid: o.status.value for oid, o in self.core.orders.items()},
            samples=self.samples,
            latencies={name: ds.latencies for name, ds in self.downstreams.items()},
            downstream_calls={name: ds.calls for name, ds in self.downstreams.items()},
            downstream_rejected={name: ds.rejected for name, ds in self.downstreams.items()},
            stats=self.stats,
            simulated_s=self.env.now,
            wall_s=wall_s,
        )
