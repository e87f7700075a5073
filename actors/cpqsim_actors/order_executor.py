"""An order shard and fulfillment executor: one async actor per slice of the orders.

It holds the order side of ``PlatformCore`` and executes the effects the process
manager decides: calls to downstream actors (with the caller timeout scaled to wall
time), reconciliation queries and timers. Every resulting signal is fed back into
``PlatformCore.signal`` on the actor's single event-loop thread, so one order's facts are
applied strictly one after another, exactly as in the sim runtime: a reply that arrives
after the timeout is still delivered (late), a lost response never is, and a timeout
fires only if no reply came first.
"""

from __future__ import annotations

import asyncio
import heapq
import random
import uuid
from collections import Counter
from typing import Any

from cpqsim import orchestration
from cpqsim.catalog import Catalog
from cpqsim.context import Context, IdSource, rng_stream
from cpqsim.downstream import DownstreamRequest
from cpqsim.events import CloudEvent
from cpqsim.orchestration import (
    CallDownstream,
    DownstreamTimedOut,
    Effect,
    QueryDownstream,
    RaiseFallout,
    ReconciliationAnswered,
    ResiliencePolicy,
    Signal,
    StartTimer,
    TimerFired,
)
from cpqsim.order import ORDER_EVENTS, OrderStatus, TaskStatus, evolve
from cpqsim.quote import Quote, QuoteServices
from cpqsim.service import PlatformCore
from cpqsim_actors.clock import VirtualClock
from cpqsim_actors.handles import ActorHandle, ActorUnavailable
from cpqsim_actors.messages import OrderView
from cpqsim_actors.recovery import JournaledShard
from cpqsim_scenarios.sim.downstream import Reply

SETTLED = frozenset(
    {OrderStatus.COMPLETED, OrderStatus.FAILED, OrderStatus.CANCELLED, OrderStatus.HELD}
)


class OrderExecutor(JournaledShard):
    def __init__(
        self,
        name: str,
        catalog: Catalog,
        policy: ResiliencePolicy,
        t0_wall: float,
        time_scale: float,
        downstream: dict[str, ActorHandle],
        journal_path: str | None = None,
        seed: int = 0,
    ) -> None:
        self.name = name
        self.core = PlatformCore(QuoteServices(catalog=catalog), policy)
        self.clock = VirtualClock(t0_wall, time_scale)
        self.downstream = downstream
        self.ids = IdSource(namespace=name)
        self.rng: random.Random = rng_stream(seed, f"orchestration.{name}")
        self.log: list[CloudEvent] = []
        self.timelines: dict[str, list[CloudEvent]] = {}
        self.fallout_cases = 0
        self.errors: list[str] = []
        self._inflight: set[asyncio.Task] = set()
        # Messages to each downstream carry (caller, seq) so they are admitted in order;
        # a restarted executor is a new caller.
        self._caller = f"{name}:{uuid.uuid4().hex[:8]}"
        self._seq: dict[str, int] = {}
        # Facts recorded during one tick are journaled in one transaction, before any
        # effect decided in that tick leaves the actor (see ``_record``).
        self._unjournaled: list[CloudEvent] = []
        self._journal_flush_scheduled = False
        self._completed: dict[str, str] = {}  # order id -> time of order.completed
        self._started = False
        self._open_journal(journal_path, time_scale)

    # ---------------------------------------------------------------- recovery

    def _replay_event(self, event: CloudEvent) -> None:
        fact = ORDER_EVENTS[event.type].model_validate(event.data)
        order = evolve(self.core.orders.get(fact.order_id), fact)
        self.core.orders[order.order_id] = order
        self.core.order_by_key[order.idempotency_key] = order.order_id
        self._remember([event])

    def _resume(self) -> None:
        """After a restart, in-flight work died with the old process: pick it up again.

        An in-flight call's outcome is unknown (the policy decides what that means),
        an unknown task is reconciled again and a waiting retry is re-armed.
        """
        for order in list(self.core.orders.values()):
            if order.status in SETTLED:
                continue
            for task_id, task in order.tasks.items():
                oid, n = order.order_id, task.attempts
                if task.status is TaskStatus.IN_FLIGHT:
                    self._spawn_signal(DownstreamTimedOut(order_id=oid, task_id=task_id, attempt=n))
                elif task.status is TaskStatus.UNKNOWN:
                    self._spawn_signal(
                        TimerFired(order_id=oid, task_id=task_id, attempt=n, purpose="reconcile")
                    )
                elif task.status is TaskStatus.WAITING_RETRY:
                    self._spawn_signal(
                        TimerFired(order_id=oid, task_id=task_id, attempt=n, purpose="retry")
                    )

    def _ensure_started(self) -> None:
        if not self._started:
            self._started = True
            self._resume()

    # ---------------------------------------------------------------- plumbing

    def _ctx(self, actor: str = "orchestrator") -> Context:
        return Context(now=self.clock.now(), ids=self.ids, rng=self.rng, actor=actor)

    def _remember(self, events: list[CloudEvent]) -> None:
        for event in events:
            self.log.append(event)
            order_id = event.subject.removeprefix("order/")
            self.timelines.setdefault(order_id, []).append(event)
            if order_id not in self._completed and event.name == "order.completed":
                self._completed[order_id] = event.time

    def _record(self, events: list[CloudEvent]) -> None:
        """Remember facts now; journal them once per event-loop tick.

        The flush is queued (``call_soon``) before the caller runs the effects of these
        facts, and effects only start as tasks queued after it, so the journal is
        written before any downstream hears of them: write-ahead, one transaction per
        tick instead of one per signal.
        """
        self._remember(events)
        if self.journal is None or not events:
            return
        self._unjournaled.extend(events)
        if not self._journal_flush_scheduled:
            self._journal_flush_scheduled = True
            asyncio.get_running_loop().call_soon(self._flush_journal)

    def _flush_journal(self) -> None:
        self._journal_flush_scheduled = False
        if self.journal is not None and self._unjournaled:
            events, self._unjournaled = self._unjournaled, []
            self.journal.append(events, self.ids.state())

    def _spawn(self, coro) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._inflight.add(task)
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task) -> None:
        self._inflight.discard(task)
        if not task.cancelled() and task.exception() is not None:
            self.errors.append(repr(task.exception()))

    def _spawn_signal(self, signal: Signal) -> None:
        async def later() -> None:
            self._signal(signal)

        self._spawn(later())

    def _signal(self, signal: Signal) -> None:
        _order, events, effects = self.core.signal(signal, self._ctx())
        self._record(events)
        self._run_effects(effects)

    def _run_effects(self, effects: list[Effect]) -> None:
        for effect in effects:
            if isinstance(effect, CallDownstream):
                self._spawn(self._call(effect))
            elif isinstance(effect, QueryDownstream):
                self._spawn(self._query(effect))
            elif isinstance(effect, StartTimer):
                self._spawn(self._timer(effect))
            elif isinstance(effect, RaiseFallout):
                self.fallout_cases += 1

    def _next_seq(self, system: str) -> int:
        seq = self._seq.get(system, 0)
        self._seq[system] = seq + 1
        return seq

    async def _call(self, effect: CallDownstream) -> None:
        req = effect.request
        deadline = asyncio.get_running_loop().time() + self.clock.wall(effect.timeout_s)
        reply_task = asyncio.ensure_future(self._send(req, self._next_seq(req.system)))
        done, _ = await asyncio.wait({reply_task}, timeout=self.clock.wall(effect.timeout_s))
        timed_out = not done
        if timed_out:
            self._signal(orchestration.timed_out(req))
        reply = await reply_task
        if reply is not None:
            self._signal(
                orchestration.replied(req, reply.ok, error=reply.error, retryable=reply.retryable)
            )
        elif not timed_out:
            # A lost response is silence: the caller still only learns of it at its timeout.
            await asyncio.sleep(max(0.0, deadline - asyncio.get_running_loop().time()))
            self._signal(orchestration.timed_out(req))

    async def _send(self, req: DownstreamRequest, seq: int) -> Reply | None:
        try:
            return await self.downstream[req.system].call("call", req, self._caller, seq)
        except ActorUnavailable:
            return None  # the downstream is gone: as good as a lost response

    async def _query(self, effect: QueryDownstream) -> None:
        seq = self._next_seq(effect.system)
        status = await self.downstream[effect.system].call(
            "query", effect.reference, self._caller, seq
        )
        self._signal(
            ReconciliationAnswered(
                order_id=effect.order_id,
                task_id=effect.task_id,
                attempt=effect.attempt,
                status=status,
            )
        )

    async def _timer(self, effect: StartTimer) -> None:
        await asyncio.sleep(self.clock.wall(effect.delay_s))
        self._signal(
            TimerFired(
                order_id=effect.order_id,
                task_id=effect.task_id,
                attempt=effect.attempt,
                purpose=effect.purpose,
            )
        )

    def _view(self, order_id: str) -> OrderView | None:
        order = self.core.orders.get(order_id)
        if order is None:
            return None
        timeline = self.timelines.get(order_id, [])
        created = timeline[0].time if timeline else ""
        updated = timeline[-1].time if timeline else ""
        completed = self._completed.get(order_id)
        return OrderView(order=order, created=created, updated=updated, completed=completed)

    # ------------------------------------------------------------------ API

    async def reset_clock(self, t0_wall: float) -> None:
        """Re-anchor the run's t0 (the driver does this once every actor is up)."""
        self.clock = VirtualClock(t0_wall, self.clock.time_scale)
        if self.journal is not None:
            self.journal.set_meta("t0_wall", t0_wall)

    async def start(self) -> str:
        self._ensure_started()
        return self.name

    async def start_orders(self, items: list[tuple[Quote, str]]) -> list[tuple[OrderView, bool]]:
        """Create (once per order id) and launch the orders of converted quotes.

        Returns each order's view and whether this call created it; a replayed
        conversion gets the original order back and starts nothing.
        """
        self._ensure_started()
        out: list[tuple[OrderView, bool]] = []
        for quote, actor in items:
            order, events, effects = self.core.start_order(quote, self._ctx(actor))
            self._record(events)
            self._run_effects(effects)
            view = self._view(order.order_id)
            assert view is not None
            out.append((view, bool(events)))
        self._flush_journal()  # the answer promises the orders exist: journal them first
        return out

    async def get(self, order_id: str) -> OrderView | None:
        self._flush_journal()  # never show a fact the journal does not hold yet
        return self._view(order_id)

    async def list(self, limit: int) -> tuple[list[OrderView], int]:
        self._flush_journal()  # never show a fact the journal does not hold yet
        keys = heapq.nsmallest(
            limit,
            self.core.orders,
            key=lambda o: (self.timelines[o][0].time if self.timelines.get(o) else "", o),
        )
        return [v for v in map(self._view, keys) if v is not None], len(self.core.orders)

    async def timeline(self, order_id: str) -> list[CloudEvent] | None:
        self._flush_journal()  # never show a fact the journal does not hold yet
        if order_id not in self.core.orders:
            return None
        return list(self.timelines.get(order_id, []))

    async def events(self) -> list[CloudEvent]:
        self._flush_journal()  # never show a fact the journal does not hold yet
        return list(self.log)

    async def status_counts(self) -> dict[str, int]:
        return dict(Counter(o.status.value for o in self.core.orders.values()))

    async def unsettled(self) -> int:
        """Orders neither terminal nor held in an owned fallout case."""
        return sum(1 for o in self.core.orders.values() if o.status not in SETTLED)

    async def orders_final(self) -> dict[str, str]:
        return {oid: o.status.value for oid, o in self.core.orders.items()}

    async def stats(self) -> dict[str, Any]:
        return {
            "orders": len(self.core.orders),
            "fallout_cases": self.fallout_cases,
            "inflight": len(self._inflight),
            "errors": list(self.errors[:10]),
        }

    def stop(self) -> None:
        for task in list(self._inflight):
            task.cancel()
        self._inflight.clear()
