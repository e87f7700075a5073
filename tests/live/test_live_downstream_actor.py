"""The downstream actor's pump and batched channel, exercised without Ray."""

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


def test_submitted_messages_are_answered_once_each_through_poll():
    profile = shortened("happy_path").scenario.downstream["inventory"]

    async def go():
        actor = DownstreamActor(profile, 1, time.time(), 0.0005)
        await actor.start()
        batch = [("call", request(i), i) for i in range(5)] + [("query", "ref-0", 99)]
        # Sequence 1 waits for sequence 0, even if it arrives first.
        later = asyncio.ensure_future(actor.submit("me", 1, [("query", "ref-1", 100)]))
        await asyncio.sleep(0.01)
        assert not later.done()
        assert await actor.submit("me", 0, batch) == 6
        await later
        answers: dict[int, object] = {}
        while len(answers) < 7:
            for token, value in await asyncio.wait_for(actor.poll("me"), 5):
                assert token not in answers
                answers[token] = value
        actor.stop()
        return answers

    answers = asyncio.run(go())
    assert all(answers[i].ok for i in range(5))
    assert {99, 100} <= set(answers)
