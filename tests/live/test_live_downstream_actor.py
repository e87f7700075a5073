"""The downstream actor's pump, exercised without Ray."""

from __future__ import annotations

import asyncio
import time

from cpqsim.downstream import DownstreamRequest
from cpqsim_actors import downstream_actor
from cpqsim_actors.downstream_actor import DownstreamActor

from .conftest import shortened


def request(i: int) -> DownstreamRequest:
    return DownstreamRequest(
        system="inventory",
        operation="reserve",
        reference=f"ref-{i}",
        order_id="ord-1",
        task_id=f"task-{i}",
        attempt=1,
    )


def test_an_idle_pump_sleeps_instead_of_spinning(monkeypatch):
    """``env.run(until=...)`` re-queues its spent stop event; the pump must not see it
    as work due now (it used to spin, burning a core per downstream actor)."""
    profile = shortened("happy_path").scenario.downstream["inventory"]
    advances = 0
    original = DownstreamActor._advance

    def counting(self):
        nonlocal advances
        advances += 1
        original(self)

    monkeypatch.setattr(DownstreamActor, "_advance", counting)

    async def go():
        actor = DownstreamActor(profile, 1, time.time(), 0.0005)
        await actor.start()
        replies = await asyncio.gather(*(actor.call(request(i)) for i in range(5)))
        assert all(r is not None and r.ok for r in replies)
        before = advances
        await asyncio.sleep(0.3)
        actor.stop()
        return advances - before

    idle = asyncio.run(go())
    assert idle <= 0.3 / downstream_actor.MAX_IDLE_WALL_S + 3


def test_a_pump_cancelled_in_the_tick_it_wakes_still_stops():
    """Python 3.11's ``asyncio.wait_for`` swallows a cancellation that lands in the tick its
    inner wait completes (cpython#86296), and a pump that missed its cancellation ran on
    forever, hanging ``asyncio.run`` at exit. Cancel at several tick offsets after a wake-up;
    the pump must end cancelled every time."""
    profile = shortened("happy_path").scenario.downstream["inventory"]

    async def cancel_after(ticks: int) -> bool:
        actor = DownstreamActor(profile, 1, time.time(), 0.0005)
        await actor.start()
        await asyncio.sleep(0.01)  # the pump is idle, waiting for a wake-up
        task = actor._pump_task
        assert task is not None and actor._wake is not None
        actor._wake.set()
        for _ in range(ticks):
            await asyncio.sleep(0)
        task.cancel()
        done, _ = await asyncio.wait({task}, timeout=1.0)
        stopped = task in done and task.cancelled()
        if not stopped:
            actor._pump_task = None
            task.cancel()  # a second cancel ends a pump that swallowed the first
        return stopped

    async def go():
        return [await cancel_after(ticks) for ticks in range(4)]

    assert asyncio.run(go()) == [True] * 4
