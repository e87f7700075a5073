"""A downstream fake as an async actor: the sim's ``SimDownstream`` stepped in real time.

The actor owns a plain ``simpy.Environment``; one asyncio task (the pump) advances it to
``virtual_now = (monotonic - t0) / time_scale`` and sleeps until the next scheduled
event or until a new request wakes it. Only the actor's event-loop thread ever touches
the environment (``RealtimeEnvironment`` in a thread dies silently under load). The
capacity, fault and ledger model is exactly the sim runtime's: one model, two runtimes.

Callers batch: :meth:`serve` takes every message one order executor has for this system
in one event-loop tick (calls and reconciliation queries, in the order it sent them) and
streams the answers back as they come, grouped by the tick they came in. An actor call
costs far more than serving a message, so one call per tick instead of one per message
is what lets fulfilment keep up (the single-message :meth:`call` and :meth:`query` stay
for direct use).
"""

from __future__ import annotations

import asyncio
import contextlib
import math
from collections.abc import AsyncIterator
from typing import Any

import simpy
from cpqsim_host.fakes import Reply, SimDownstream

from cpqsim.context import rng_stream
from cpqsim.downstream import DownstreamProfile, DownstreamRequest, LedgerSnapshot, QueryStatus
from cpqsim_actors.clock import VirtualClock

MAX_IDLE_WALL_S = 0.5  # the pump re-checks the clock at least this often


class DownstreamActor:
    def __init__(
        self, profile: DownstreamProfile, seed: int, t0_wall: float, time_scale: float
    ) -> None:
        self.profile = profile
        self.seed = seed
        self.clock = VirtualClock(t0_wall, time_scale)
        self.env = simpy.Environment()
        self.model = SimDownstream(
            self.env, profile, rng_stream(seed, f"downstream.{profile.name}")
        )
        self._pump_task: asyncio.Task | None = None
        self._wake: asyncio.Event | None = None
        self._next_seq: dict[str, int] = {}
        self._turns: dict[tuple[str, int], asyncio.Future] = {}

    # ------------------------------------------------------------------ time

    def _ensure_pump(self) -> None:
        if self._pump_task is None:
            self._wake = asyncio.Event()
            self._pump_task = asyncio.get_running_loop().create_task(self._pump())

    def _advance(self) -> None:
        """Run every event due up to the virtual now; afterwards ``env.now`` is now.

        ``env.run(until=...)`` leaves its spent stop event re-queued at ``env.now`` (SimPy
        re-schedules an event whose callback raised), so ``env.peek()`` would always say
        "due now" and the pump would spin instead of sleeping: step it away right here.
        """
        target = self.clock.now_s()
        if target > self.env.now:
            self.env.run(until=target)
            self._run_due()

    def _run_due(self) -> None:
        """Run events scheduled at the current instant (e.g. a just-started process)."""
        while self.env.peek() <= self.env.now:
            self.env.step()

    async def _pump(self) -> None:
        assert self._wake is not None
        while True:
            self._advance()
            nxt = self.env.peek()
            wait = MAX_IDLE_WALL_S if math.isinf(nxt) else self.clock.wall_until(nxt)
            self._wake.clear()
            if wait > 0:
                # asyncio.timeout, not wait_for: on Python 3.11 wait_for swallows a
                # cancellation landing in the tick the wait completes (cpython#86296),
                # and a pump that misses its cancellation never stops.
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(min(wait, MAX_IDLE_WALL_S)):
                        await self._wake.wait()
            else:
                await asyncio.sleep(0)

    def _poke(self) -> None:
        self._run_due()
        assert self._wake is not None
        self._wake.set()

    # ----------------------------------------------------------------- ordering

    async def _wait_turn(self, caller: str | None, seq: int | None) -> None:
        """Admit one caller's messages in the order it sent them.

        Ray does not order calls into an async actor, but the model needs it: a
        reconciliation query must never overtake the request it asks about, or it
        would answer "not found" for a request that is merely in transit.
        """
        if caller is None or seq is None:
            return
        if seq != self._next_seq.get(caller, 0):
            turn = asyncio.get_running_loop().create_future()
            self._turns[(caller, seq)] = turn
            await turn

    def _end_turn(self, caller: str | None, seq: int | None) -> None:
        if caller is None or seq is None:
            return
        self._next_seq[caller] = seq + 1
        nxt = self._turns.pop((caller, seq + 1), None)
        if nxt is not None and not nxt.done():
            nxt.set_result(None)

    # ------------------------------------------------------------------ API

    async def reset_clock(self, t0_wall: float) -> None:
        """Re-anchor t0; only before any request arrived (the env must not go back)."""
        if self.model.calls:
            raise RuntimeError("cannot move t0 of a downstream that already served calls")
        self.clock = VirtualClock(t0_wall, self.clock.time_scale)
        self.env = simpy.Environment()
        self.model = SimDownstream(
            self.env, self.profile, rng_stream(self.seed, f"downstream.{self.profile.name}")
        )
        if self._wake is not None:
            self._wake.set()

    async def start(self) -> str:
        self._ensure_pump()
        return self.profile.name

    async def call(
        self, request: DownstreamRequest, caller: str | None = None, seq: int | None = None
    ) -> Reply | None:
        """Returns the reply when it arrives; ``None`` once a lost response is executed.

        ``caller``/``seq`` (optional) order this message after the caller's earlier ones.
        """
        self._ensure_pump()
        await self._wait_turn(caller, seq)
        self._advance()
        future: asyncio.Future = asyncio.get_running_loop().create_future()

        def on_reply(reply: Reply) -> None:
            if not future.done():
                future.set_result(reply)

        def on_process_end(_event: Any) -> None:
            if not future.done():
                future.set_result(None)  # executed, reply lost

        self.model.call(request, on_reply).callbacks.append(on_process_end)
        self._end_turn(caller, seq)
        self._poke()
        return await future

    async def query(
        self, reference: str, caller: str | None = None, seq: int | None = None
    ) -> QueryStatus:
        self._ensure_pump()
        await self._wait_turn(caller, seq)
        self._advance()
        future: asyncio.Future = asyncio.get_running_loop().create_future()
        self.model.query(reference, lambda status: future.done() or future.set_result(status))
        self._end_turn(caller, seq)
        self._poke()
        return await future

    async def serve(
        self, messages: list[tuple[str, Any, str | None, int | None]]
    ) -> AsyncIterator[list[tuple[int, Any]]]:
        """Admit ``messages`` in order; yield ``(index, answer)`` lists as answers come.

        A message is ``("call", request, caller, seq)`` or ``("query", reference, caller,
        seq)``. A call's answer is its :class:`Reply`, or ``None`` once it was executed
        and its reply lost (so a caller knows the call is over, not that it failed); a
        query's answer is its :class:`QueryStatus`. Every message is answered exactly
        once; the stream ends when all are.
        """
        self._ensure_pump()
        ready: list[tuple[int, Any]] = []
        arrived = asyncio.Event()
        answered: set[int] = set()

        def answer(i: int, value: Any) -> None:
            if i not in answered:
                answered.add(i)
                ready.append((i, value))
                arrived.set()

        for i, (kind, payload, caller, seq) in enumerate(messages):
            await self._wait_turn(caller, seq)
            self._advance()
            if kind == "call":
                process = self.model.call(payload, lambda reply, i=i: answer(i, reply))
                process.callbacks.append(lambda _event, i=i: answer(i, None))
            else:
                self.model.query(payload, lambda status, i=i: answer(i, status))
            self._end_turn(caller, seq)
            self._poke()  # as far as it goes now, before the next one arrives (as in call)
        while len(answered) < len(messages) or ready:
            if not ready:
                arrived.clear()
                await arrived.wait()
            batch, ready = ready, []
            yield batch

    async def ledger(self) -> LedgerSnapshot:
        self._advance()
        return self.model.ledger.snapshot()

    async def sample(self) -> tuple[int, int]:
        """(queue length, busy servers) right now."""
        self._ensure_pump()
        self._advance()
        return self.model.queue_length, self.model.busy

    async def metrics(self) -> dict[str, Any]:
        self._advance()
        return {
            "calls": self.model.calls,
            "rejected": self.model.rejected,
            "latencies": list(self.model.latencies),
            "queue_length": self.model.queue_length,
            "busy": self.model.busy,
            "virtual_now": self.env.now,
        }

    def stop(self) -> None:
        if self._pump_task is not None:
            self._pump_task.cancel()
            self._pump_task = None
