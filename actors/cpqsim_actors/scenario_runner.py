"""Run a scenario on the live runtime: the same journeys, in scaled real time, on Ray.

The driver replays ``plan_journeys`` against the sharded actors. Due journey steps are
collected per tick and sent as one batch per shard; orders then fulfil themselves
inside the order executors against the downstream actors. After the last arrival the
run drains until every order is terminal or held in an owned fallout case, or until
``duration_s + drain_s`` of virtual time, whichever comes first. What comes back is a
``RunOutput`` that the same invariant checker judges as a sim run.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import heapq
import itertools
import time
from collections.abc import Callable
from typing import Any

from cpqsim_actors.clock import VirtualClock
from cpqsim_actors.handles import Backend
from cpqsim_actors.platform import LivePlatform, PlatformConfig
from cpqsim_scenarios.journey_script import Command, Convert, Journey, Wait, journey
from cpqsim_scenarios.journeys import plan_journeys
from cpqsim_scenarios.model import LoadedScenario
from cpqsim_scenarios.outcome import JourneyStats, RunOutput, Samples

Progress = Callable[[float, float], None]

MAX_TICK_WALL_S = 0.02  # the driver wakes at least this often
SETTLE_POLL_WALL_S = 0.1  # how often to ask the executors whether every order settled
# Past the virtual deadline, orders still in flight usually mean the wall clock could not
# keep up with the time scale (actor hops cost real milliseconds). Give them this much
# extra wall time to settle, and say so in the run's notes, rather than report them stuck.
OVERTIME_GRACE_WALL_S = 15.0
PROGRESS_EVERY_WALL_S = 0.25


def run_on_ray(
    loaded: LoadedScenario,
    seed: int | None = None,
    progress: Progress | None = None,
    *,
    backend: Backend | None = None,
    quote_shards: int = 2,
    order_shards: int = 2,
) -> RunOutput:
    """Run ``loaded`` on live actors (Ray unless another backend is given)."""
    coro = _run(loaded, seed, progress, backend, quote_shards, order_shards)
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coro)
    # Called from inside an event loop (a notebook): run on a private loop in a thread.
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coro).result()


async def _run(
    loaded: LoadedScenario,
    seed: int | None,
    progress: Progress | None,
    backend: Backend | None,
    quote_shards: int,
    order_shards: int,
) -> RunOutput:
    scenario = loaded.scenario
    seed = scenario.seed if seed is None else seed
    plans = plan_journeys(scenario, seed)
    wall_start = time.perf_counter()
    platform = LivePlatform(
        PlatformConfig(
            catalog=loaded.catalog,
            downstream=dict(scenario.downstream),
            policy=scenario.resilience_policy(),
            time_scale=scenario.time_scale,
            quote_shards=quote_shards,
            order_shards=order_shards,
            seed=seed,
            t0_wall=time.time() + 3600,  # re-anchored below, once every actor is up
        ),
        backend=backend,
    )
    try:
        await platform.start()
        # Actors start slowly (a process each); the run's clock starts when all are up.
        t0 = time.time()
        await platform.reset_clock(t0)
        clock = VirtualClock(t0, scenario.time_scale)
        driver = _Driver(platform, clock, scenario.duration_s + scenario.drain_s, progress)
        driver.samples_every = scenario.sample_every_s
        await driver.run(plans, scenario.duration_s)
        return await _collect(platform, driver, wall_start)
    finally:
        platform.shutdown()


class _Driver:
    def __init__(
        self, platform: LivePlatform, clock: VirtualClock, end_s: float, progress: Progress | None
    ) -> None:
        self.platform = platform
        self.clock = clock
        self.end_s = end_s
        self.progress = progress
        self.stats = JourneyStats()
        self.samples = Samples()
        self.samples_every = 300.0
        self._heap: list[tuple[float, int, Journey, Any]] = []
        self._seq = itertools.count()
        self.stopped_at = 0.0
        self.overtime_s = 0.0

    def _push(self, due: float, gen: Journey, value: Any = None) -> None:
        heapq.heappush(self._heap, (due, next(self._seq), gen, value))

    async def run(self, plans, duration_s: float) -> None:
        for plan in plans:
            self._push(plan.arrival_s, journey(plan, self.stats))
        next_sample = 0.0
        next_settle_check = 0.0
        last_progress = 0.0
        overtime_until: float | None = None
        while True:
            now = self.clock.now_s()
            if now >= self.end_s:
                wall = time.monotonic()
                overtime_until = overtime_until or wall + OVERTIME_GRACE_WALL_S
                settled = not self._heap and await self.platform.unsettled_orders() == 0
                if wall >= overtime_until or settled:
                    self.overtime_s = max(now - self.end_s, 0.0)
                    break
                ready = [(gen, value) for _, _, gen, value in self._heap]
                self._heap.clear()
                await self._advance(ready)  # late journeys still finish, out of order
                await asyncio.sleep(SETTLE_POLL_WALL_S)
                continue
            if now >= next_sample:
                await self._sample(next_sample)
                next_sample += self.samples_every
            ready = []
            while self._heap and self._heap[0][0] <= now:
                _, _, gen, value = heapq.heappop(self._heap)
                ready.append((gen, value))
            if ready:
                await self._advance(ready)
            wall = time.monotonic()
            if not self._heap and now >= duration_s and wall >= next_settle_check:
                next_settle_check = wall + SETTLE_POLL_WALL_S
                if await self.platform.unsettled_orders() == 0:
                    break
            if self.progress and wall - last_progress >= PROGRESS_EVERY_WALL_S:
                last_progress = wall
                self.progress(min(now, self.end_s), self.end_s)
            nxt = min(self._heap[0][0] if self._heap else self.end_s, next_sample, self.end_s)
            await asyncio.sleep(min(self.clock.wall_until(nxt), MAX_TICK_WALL_S))
        self.stopped_at = min(self.clock.now_s(), self.end_s + self.overtime_s)
        if self.progress:
            self.progress(min(self.stopped_at, self.end_s), self.end_s)

    async def _advance(self, ready: list[tuple[Journey, Any]]) -> None:
        """Resume due journeys; run their commands in per-shard batches until all wait."""
        pending = ready
        while pending:
            commands: list[tuple[Journey, Command]] = []
            converts: list[tuple[Journey, Convert]] = []
            for gen, value in pending:
                try:
                    step = gen.send(value)
                except StopIteration:
                    continue
                if isinstance(step, Wait):
                    self._push(self.clock.now_s() + step.seconds, gen)
                elif isinstance(step, Command):
                    commands.append((gen, step))
                else:
                    converts.append((gen, step))
            results, outcomes = await asyncio.gather(
                self.platform.execute_many([(c.command, c.actor) for _, c in commands]),
                self.platform.convert_many([(c.quote_id, c.key, c.actor) for _, c in converts]),
            )
            pending = []
            for (gen, _), result in zip(commands, results, strict=True):
                if not result.ok:
                    self.stats.commands_refused += 1
                pending.append((gen, result))
            for (gen, _), outcome in zip(converts, outcomes, strict=True):
                if not outcome.result.ok:
                    self.stats.conversions_refused += 1
                else:
                    if outcome.replay:
                        self.stats.conversion_replays += 1
                    if outcome.created:
                        self.stats.converted += 1
                pending.append((gen, outcome))

    async def _sample(self, t: float) -> None:
        counts, queues = await asyncio.gather(
            self.platform.order_status_counts(), self.platform.downstream_samples()
        )
        self.samples.t.append(t)
        self.samples.orders_by_state.append(counts)
        for name, (queue, busy) in queues.items():
            self.samples.queue_length.setdefault(name, []).append(queue)
            self.samples.busy.setdefault(name, []).append(busy)


async def _collect(platform: LivePlatform, driver: _Driver, wall_start: float) -> RunOutput:
    events, ledgers, metrics, finals, executors = await asyncio.gather(
        platform.events(),
        platform.ledgers(),
        platform.downstream_metrics(),
        platform.orders_final(),
        platform.executor_stats(),
    )
    driver.stats.fallout_cases = sum(e["fallout_cases"] for e in executors)
    return RunOutput(
        runtime="ray",
        events=events,
        ledgers=ledgers,
        orders_final=finals,
        samples=driver.samples,
        latencies={name: m["latencies"] for name, m in metrics.items()},
        downstream_calls={name: m["calls"] for name, m in metrics.items()},
        downstream_rejected={name: m["rejected"] for name, m in metrics.items()},
        stats=driver.stats,
        simulated_s=driver.stopped_at,
        wall_s=time.perf_counter() - wall_start,
        notes=_notes(driver, finals),
    )


def _notes(driver: _Driver, finals: dict[str, str]) -> list[str]:
    """Caveats that change how a live verdict reads (the sim never needs them)."""
    notes = []
    if driver.overtime_s > 0:
        open_orders = sum(1 for s in finals.values() if s not in ("completed", "held"))
        notes.append(
            f"orders were still in flight at the end of the drain window; the run went "
            f"{driver.overtime_s:.0f} virtual seconds over ({open_orders} still open). The "
            f"wall clock could not keep up with time_scale={driver.clock.time_scale}: "
            "raise time_scale in the scenario for a faithful live run"
        )
    if driver._heap:
        notes.append(
            f"{len(driver._heap)} customer journeys had not finished when the run ended "
            f"(time_scale={driver.clock.time_scale} may be too aggressive for this machine)"
        )
    return notes
