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
