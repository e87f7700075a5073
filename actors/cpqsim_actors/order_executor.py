"""An order shard and fulfillment executor: one async actor per slice of the orders.

It holds an ``OrderService`` (the core's order side) and is the live runtime's
:class:`~cpqsim_host.port.DownstreamPort`: timers are ``loop.call_later`` on the actor's
single event-loop thread, calls and queries go to downstream actors with the caller's
timeout scaled to wall time. The messages for one downstream decided in one event-loop
tick travel in one actor call, and their answers stream back as they come (an actor
call costs far more than the message it carries). The effect runner that turns effects
into those calls, and what comes back into signals, is the host's — the same one the sim
runs — so one order's facts are applied strictly one after another, exactly as in the
sim: a reply that arrives after the timeout is still delivered (late), a lost response
never is, and a timeout fires only if no reply came first.

The executor also feeds the installed base: every order fact the inventory reacts to
(:data:`ASSET_FEED`) is offered to it once journaled, numbered by its place among this
shard's such facts (the same after a replay), and can be asked for again from any place
(:meth:`OrderExecutor.asset_feed`), so a push lost to a crash is caught up.

Recovery needs nobody's help. The journal is written before any effect decided in the
same tick leaves the actor; a restarted executor replays it, restores its ids, and —
as soon as its event loop runs, which for a Ray async actor is during construction —
applies the restart rule (``cpqsim.orchestration.resume``) to every unsettled order.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import random
import uuid
from collections import Counter
from collections.abc import Callable, Iterable
from typing import Any

from cpqsim_host.effect_runner import EffectRunner
from cpqsim_host.operations_desk import OperationsDesk
from cpqsim_host.port import OnAnswer, OnError, OnReply, Thunk
from cpqsim_host.scenario import Operations

from cpqsim.asset_reactions import REACTS_TO, reacts_to
from cpqsim.catalog import Catalog
from cpqsim.context import Context, IdSource, rng_stream
from cpqsim.conversion import CreateOrder
from cpqsim.downstream import DownstreamRequest as Request
from cpqsim.events import CloudEvent
from cpqsim.lifecycle import DomainError
from cpqsim.orchestration import ResiliencePolicy, Signal
from cpqsim.order_commands import OrderCommand
from cpqsim.order_policy import DEFAULT_ORDER_POLICY, OrderPolicy
from cpqsim.services import OrderService
from cpqsim_actors.clock import VirtualClock
from cpqsim_actors.handles import ActorHandle, ActorUnavailable
from cpqsim_actors.messages import OrderView
from cpqsim_actors.recovery import JournaledShard, refused_while_journal_refused

#: The order facts the installed base reacts to (CloudEvent types): an item activated or
#: its change fulfilled, and what gives a change's locks (or a parent's hold) back; a
#: completion only of an order naming an asset (:func:`~cpqsim.asset_reactions.reacts_to`).
ASSET_FEED = REACTS_TO
FEED_PUSH_EVERY_S = 0.05  # wall seconds the fed facts of a while share one push
#: What an order sent with the feed leaves out (the reactions never read it).
_LEFT_OUT: dict[str, Any] = {
    "snapshot": None,
    "tasks": {},
    "task_order": [],
    "fallout_cases": [],
}


@refused_while_journal_refused(
    "asset_feed",
    "start_orders",
    "execute_orders",
    "get",
    "list",
    "timeline",
    "events",
    "fallout_cases",
    "fallout_case",
    "unsettled",
    "orders_final",
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
        order_policy: OrderPolicy = DEFAULT_ORDER_POLICY,
        operations: Operations | None = None,
        inventory: ActorHandle | None = None,
    ) -> None:
        self.name = name
        self.inventory = inventory  # the installed base this shard's orders feed
        # The facts of ASSET_FEED, in journal order: the feed's numbering.
        self.asset_facts: list[CloudEvent] = []
        self._feed_pushed = 0  # how many of them this incarnation has pushed
        self._feed_push_scheduled = False
        self.feed_pushes = 0
        self.orders = OrderService(catalog, policy, order_policy)
        self.clock = VirtualClock(t0_wall, time_scale)
        self.downstream = downstream
        self.ids = IdSource(namespace=name)
        self.rng: random.Random = rng_stream(seed, f"orchestration.{name}")
        self.log: list[CloudEvent] = []
        self.timelines: dict[str, list[CloudEvent]] = {}
        self.errors: list[str] = []
        # The operations team working this shard's fallout cases (a share of the staff).
        self.desk = (
            OperationsDesk(
                self,
                operations,
                rng_stream(seed, f"operations.{name}"),
                order_of=self.orders.orders.get,
                repair=lambda command, actor: self._handle_orders([(command, actor)]),
            )
            if operations is not None
            else None
        )
        self.effects = EffectRunner(
            self,
            self._signal,
            (lambda e: self.desk.case_opened(e.order_id, e.case_id)) if self.desk else None,
        )
        self._tasks: set[asyncio.Task] = set()
        self._timers: set[asyncio.TimerHandle] = set()
        # Messages to each downstream carry (caller, seq) so they are admitted in order;
        # a restarted executor is a new caller.
        self._caller = f"{name}:{uuid.uuid4().hex[:8]}"
        self._seq: dict[str, int] = {}
        # Messages to downstreams queued this tick, per system: (message, on answer,
        # on unreachable); sent as one call per system (see ``_post``).
        self._outgoing: dict[str, list[tuple]] = {}
        self._send_scheduled = False
        self.batches_sent = 0  # actor calls to downstreams...
        self.messages_sent = 0  # ...and the messages they carried
        # Facts recorded during one tick are journaled in one transaction, before any
        # effect decided in that tick leaves the actor (see ``_record``).
        self._unjournaled: list[CloudEvent] = []
        self._journal_flush_scheduled = False
        self._completed: dict[str, str] = {}  # order id -> time of order.completed
        self._unreachable: dict[str, float] = {}  # system -> virtual time it is back
        self._started = False
        self._dead = False  # stopped: a crash, so nothing of this incarnation runs again
        self._open_journal(journal_path, time_scale)
        # What a previous life fed is the catch-up's to bring, not a push's.
        self._feed_pushed = len(self.asset_facts)
        with contextlib.suppress(RuntimeError):  # no loop yet (in-process): first call starts
            asyncio.get_running_loop()
            self._ensure_started()

    # ---------------------------------------------------------------- recovery

    def _replay_event(self, event: CloudEvent) -> None:
        self.orders.apply(event)
        self._remember([event])
        if self._fed(event):
            self.asset_facts.append(event)

    # ------------------------------------------------------- the installed base's feed

    @property
    def feed_key(self) -> str:
        """The feed's name at the inventory: the shard's, when its journal keeps the
        numbering across restarts; this incarnation's otherwise (a fresh numbering)."""
        return self.name if self.journal is not None else self._caller

    def _offer_assets(self, events: list[CloudEvent]) -> None:
        """Number the fed facts among ``events`` (journaled now); push them soon.

        Pushes are gathered for :data:`FEED_PUSH_EVERY_S` into one call: under load an
        order activates its items one reply at a time, and a call per activation would
        cost the inventory an actor call per order. Nobody waits on the push.
        """
        fed = [e for e in events if self._fed(e)]
        if not fed:
            return
        self.asset_facts.extend(fed)
        if self.inventory is not None and not self._feed_push_scheduled:
            self._feed_push_scheduled = True
            asyncio.get_running_loop().call_later(FEED_PUSH_EVERY_S, self._push_feed)

    def _fed(self, event: CloudEvent) -> bool:
        if event.type not in ASSET_FEED:
            return False
        order = self.orders.orders.get(event.subject.removeprefix("order/"))
        return order is None or reacts_to(order, event.type)

    def _push_feed(self) -> None:
        self._feed_push_scheduled = False
        if self._dead or self.inventory is None:
            return
        start, self._feed_pushed = self._feed_pushed, len(self.asset_facts)
        if start < self._feed_pushed:
            self.feed_pushes += 1
            self._spawn(self._push_assets(start, self._pairs(self.asset_facts[start:])))

    def _pairs(self, events: list[CloudEvent]) -> list[tuple[Any, CloudEvent]]:
        """Each fed fact with its order, slimmed to what the reactions read (items, terms,
        ids): the accepted snapshot and the task states stay here, not in every message."""
        slim: dict[str, Any] = {}
        pairs = []
        for event in events:
            order_id = event.subject.removeprefix("order/")
            if order_id not in slim:
                slim[order_id] = self.orders.orders[order_id].model_copy(update=_LEFT_OUT)
            pairs.append((slim[order_id], event))
        return pairs

    async def _push_assets(self, start: int, pairs: list) -> None:
        assert self.inventory is not None
        # Lost (the inventory restarting): the supervisor's catch-up brings it again.
        with contextlib.suppress(ActorUnavailable):
            await self.inventory.call("absorb", self.feed_key, start, pairs)

    def _ensure_started(self) -> None:
        """Resume every unsettled order once, on the first tick this incarnation runs."""
        if self._started:
            return
        self._started = True
        for signal in self.orders.resume(self.ids.next("restart")):
            self._later(0.0, lambda s=signal: self._signal(s))

    # ------------------------------------------------------- the downstream port

    def now_s(self) -> float:
        return self.clock.now_s()

    def schedule(self, delay_s: float, fn: Thunk) -> None:
        self._later(self.clock.wall(delay_s), fn)

    def _later(self, wall_s: float, fn: Callable[[], None]) -> None:
        loop = asyncio.get_running_loop()
        handle: asyncio.TimerHandle | None = None

        def fire() -> None:
            self._timers.discard(handle)  # type: ignore[arg-type]
            self._guarded(fn)

        handle = loop.call_later(wall_s, fire)
        self._timers.add(handle)

    def call(self, request: Request, timeout: float, on_reply: OnReply, on_deadline: Thunk) -> None:
        self.schedule(timeout, on_deadline)
        if self._cut_off(request.system):
            return  # never arrives: the caller learns of it only at its deadline
        seq = self._next_seq(request.system)

        def answered(reply: Any) -> None:
            if reply is not None:  # None: executed, reply lost (the deadline will tell)
                on_reply(reply)

        # A downstream that is gone is as good as a lost response: nothing to do.
        self._post(request.system, ("call", request, self._caller, seq), answered, None)

    def query(self, system: str, reference: str, on_answer: OnAnswer, on_error: OnError) -> None:
        if self._cut_off(system):
            reason = f"{system} unreachable (injected fault)"
            self._later(0.0, lambda: on_error(reason))
            return
        seq = self._next_seq(system)
        self._post(system, ("query", reference, self._caller, seq), on_answer, on_error)

    # ------------------------------------------------- batching per target per tick

    def _post(
        self,
        system: str,
        message: tuple,
        on_answer: Callable[[Any], None],
        on_unreachable: Callable[[str], None] | None,
    ) -> None:
        """Queue a message for ``system``; every message of this tick goes in one call."""
        self._outgoing.setdefault(system, []).append((message, on_answer, on_unreachable))
        if not self._send_scheduled:
            self._send_scheduled = True
            asyncio.get_running_loop().call_soon(self._send_outgoing)

    def _send_outgoing(self) -> None:
        self._send_scheduled = False
        if self._dead:
            return  # a crash: nothing of this incarnation leaves any more
        # Write-ahead: the facts that decided these messages are journaled before they go.
        self._flush_journal()
        outgoing, self._outgoing = self._outgoing, {}
        for system, batch in outgoing.items():
            self.batches_sent += 1
            self.messages_sent += len(batch)
            self._spawn(self._exchange(system, batch))

    async def _exchange(self, system: str, batch: list[tuple]) -> None:
        """One call carries the batch; each answer goes to its handler as it arrives.

        A batch of one is a plain call: a stream costs an extra message (its end) per
        call, which only pays when it carries several.
        """
        handle = self.downstream[system]
        answered: set[int] = set()
        try:
            if len(batch) == 1:
                (kind, payload, caller, seq), on_answer, _ = batch[0]
                answer = await handle.call(kind, payload, caller, seq)
                answered.add(0)
                self._guarded(lambda: on_answer(answer))
                return
            async for answers in handle.stream("serve", [m for m, _, _ in batch]):
                for i, answer in answers:
                    answered.add(i)
                    handler = batch[i][1]
                    self._guarded(lambda h=handler, a=answer: h(a))
        except Exception as exc:  # gone (ActorUnavailable), or a bug over there
            if not isinstance(exc, ActorUnavailable):
                self.errors.append(f"{system}: {type(exc).__name__}: {exc}"[:500])
            reason = f"{system} unreachable: {exc}"
            for i, (_, _, on_unreachable) in enumerate(batch):
                if i not in answered and on_unreachable is not None:
                    self._guarded(lambda h=on_unreachable: h(reason))

    def _cut_off(self, system: str) -> bool:
        """Fault injection: is ``system`` unreachable from here right now?

        Checked before a sequence number is taken: a message that never leaves must not
        leave a gap the downstream would wait for (it admits a caller's messages in order).
        """
        back = self._unreachable.get(system)
        return back is not None and self.clock.now_s() < back

    def _next_seq(self, system: str) -> int:
        seq = self._seq.get(system, 0)
        self._seq[system] = seq + 1
        return seq

    # ---------------------------------------------------------------- plumbing

    def _ctx(self, actor: str = "orchestrator") -> Context:
        return Context(now=self.clock.now(), ids=self.ids, rng=self.rng, actor=actor)

    def _guarded(self, fn: Callable[[], None]) -> None:
        """A callback that fails is recorded, never allowed to take the actor's loop down."""
        if self._dead:
            return  # news for an incarnation that crashed: it went with the process
        try:
            fn()
        except Exception as exc:  # pragma: no cover - a bug: keep the evidence
            self.errors.append(f"{type(exc).__name__}: {exc}")

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
        facts, and effects only reach a downstream from tasks queued after it, so the
        journal is written before any downstream hears of them: write-ahead, one
        transaction per tick instead of one per signal.
        """
        self._remember(events)
        if not events:
            return
        if self.journal is None:
            self._offer_assets(events)  # nothing to wait for: as good as journaled
            return
        self._unjournaled.extend(events)
        if not self._journal_flush_scheduled:
            self._journal_flush_scheduled = True
            asyncio.get_running_loop().call_soon(self._flush_journal)

    def _flush_journal(self) -> None:
        self._journal_flush_scheduled = False
        if self._dead:
            return  # a crash loses the facts not yet journaled (and their effects)
        if self.journal is not None and self._unjournaled:
            events, self._unjournaled = self._unjournaled, []
            self.journal.append(events, self.ids.state())
            self._offer_assets(events)

    def _spawn(self, coro) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _signal(self, signal: Signal) -> None:
        _order, events, effects = self.orders.signal(signal, self._ctx())
        self._record(events)
        self.effects.run(effects)

    def _view(self, order_id: str) -> OrderView | None:
        order = self.orders.orders.get(order_id)
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

    async def start_orders(self, creates: list[CreateOrder]) -> list[tuple[OrderView, bool]]:
        """Create (once per order id) and launch orders of converted quotes.

        Returns each order's view and whether this call created it; a replayed
        conversion gets the original order back and starts nothing.
        """
        self._ensure_started()
        out: list[tuple[OrderView, bool]] = []
        for create in creates:
            order, events, effects = self.orders.start(create, self._ctx(create.actor))
            self._record(events)
            self.effects.run(effects)
            view = self._view(order.order_id)
            assert view is not None
            out.append((view, bool(events)))
        self._flush_journal()  # the answer promises the orders exist: journal them first
        return out

    async def execute_orders(self, items: list[tuple[OrderCommand, str]]) -> list[dict]:
        """Cancel orders or repair their cases; one answer per command, in order."""
        self._ensure_started()
        answers = self._handle_orders(items)
        self._flush_journal()  # the answers promise these facts: journal them first
        return answers

    def _handle_orders(self, items: list[tuple[OrderCommand, str]]) -> list[dict]:
        answers = []
        for command, actor in items:
            try:
                _, events, effects = self.orders.handle(command, self._ctx(actor))
            except DomainError as exc:
                answers.append({"ok": False, "code": exc.code, "message": exc.message})
                continue
            self._record(events)
            self.effects.run(effects)
            refused = any(e.name == "order.repair_refused" for e in events)
            answers.append(
                {
                    "ok": not refused,
                    "code": "forbidden" if refused else None,
                    "new_events": len(events),
                    "last_event_id": events[-1].id if events else None,
                }
            )
        return answers

    async def publish_catalog(self, catalog: Catalog) -> None:
        """A new catalog version is in force: new orders decompose against it."""
        self.orders.catalog = catalog

    async def catalog_version(self) -> str:
        return self.orders.catalog.version

    async def make_unreachable(self, system: str, for_s: float) -> None:
        """Fault injection: ``system`` cannot be reached from here for ``for_s`` seconds."""
        self._unreachable[system] = self.clock.now_s() + for_s

    async def get(self, order_id: str) -> OrderView | None:
        self._flush_journal()  # never show a fact the journal does not hold yet
        return self._view(order_id)

    async def list(
        self, limit: int, accounts: list[str] | None = None
    ) -> tuple[list[OrderView], int]:
        """The first ``limit`` orders by creation, and how many; with ``accounts``, only
        those accounts' orders (a caller's scope)."""
        self._flush_journal()  # never show a fact the journal does not hold yet
        orders = self.orders.orders
        ids: Iterable[str] = orders
        total = len(orders)
        if accounts is not None:
            scope = set(accounts)
            ids = [o for o, order in orders.items() if order.account_id in scope]
            total = len(ids)
        keys = heapq.nsmallest(
            limit,
            ids,
            key=lambda o: (self.timelines[o][0].time if self.timelines.get(o) else "", o),
        )
        return [v for v in map(self._view, keys) if v is not None], total

    async def timeline(self, order_id: str) -> list[CloudEvent] | None:
        self._flush_journal()  # never show a fact the journal does not hold yet
        if order_id not in self.orders.orders:
            return None
        return list(self.timelines.get(order_id, []))

    async def events(self) -> list[CloudEvent]:
        self._flush_journal()  # never show a fact the journal does not hold yet
        return list(self.log)

    async def asset_feed(self, cursors: dict[str, int]) -> tuple[str, int, list]:
        """The fed facts the inventory has not read (``cursors``: how far it read each
        feed), with their orders: this feed's name, the first one's number, the pairs."""
        self._flush_journal()  # never offer a fact the journal does not hold yet
        since = cursors.get(self.feed_key, 0)
        return self.feed_key, since, self._pairs(self.asset_facts[since:])

    async def status_counts(self) -> dict[str, int]:
        return dict(Counter(o.status.value for o in self.orders.orders.values()))

    async def fallout_cases(
        self, status: str | None = None, accounts: list[str] | None = None
    ) -> list[dict[str, Any]]:
        """This shard's fallout cases (``status`` open or resolved; None: all), as data;
        with ``accounts``, only those accounts' orders' cases."""
        self._flush_journal()  # never show a fact the journal does not hold yet
        scope = None if accounts is None else set(accounts)
        return [
            self._case_view(order.order_id, case)
            for order in self.orders.orders.values()
            if scope is None or order.account_id in scope
            for case in order.fallout_cases
            if status is None or case["status"] == status
        ]

    async def fallout_case(self, case_id: str) -> dict[str, Any] | None:
        self._flush_journal()
        for order in self.orders.orders.values():
            for case in order.fallout_cases:
                if case["case_id"] == case_id:
                    return self._case_view(order.order_id, case)
        return None

    def _case_view(self, order_id: str, case: dict[str, Any]) -> dict[str, Any]:
        """A case with when it opened and closed, read from the order's own facts."""
        opened = resolved = None
        for e in self.timelines.get(order_id, []):
            if e.data.get("case_id") == case["case_id"]:
                if e.name == "order.fallout_opened":
                    opened = e.time
                elif e.name == "order.fallout_resolved":
                    resolved = e.time
        return {
            **case,
            "order_id": order_id,
            "account_id": self.orders.orders[order_id].account_id,
            "opened_at": opened,
            "resolved_at": resolved,
        }

    async def unsettled(self) -> int:
        """Orders neither terminal nor held in an owned fallout case."""
        return self.orders.unsettled()

    async def orders_final(self) -> dict[str, str]:
        return {oid: o.status.value for oid, o in self.orders.orders.items()}

    async def stats(self) -> dict[str, Any]:
        return {
            "orders": len(self.orders.orders),
            "fallout_cases": sum(len(o.fallout_cases) for o in self.orders.orders.values()),
            "inflight": len(self._tasks),
            "timers": len(self._timers),
            "downstream_calls": self.batches_sent,
            "downstream_messages": self.messages_sent,
            "feed_pushes": self.feed_pushes,
            "errors": list(self.errors[:10]),
        }

    def stop(self) -> None:
        """Die as a process dies: unjournaled facts, in-flight calls and timers are lost."""
        self._dead = True
        self._unjournaled.clear()
        self._outgoing.clear()
        for pending in [*self._tasks, *self._timers]:
            # the loop they ran on may be gone already (a finished asyncio.run): nothing
            # is left to cancel then
            with contextlib.suppress(RuntimeError):
                pending.cancel()
        self._tasks.clear()
        self._timers.clear()
