"""Micro-batching of actor calls: one call per actor per tick, each caller its own answers.

Given a handle that records the calls it receives, when requests are submitted the way a
busy gateway submits them (many in one event-loop tick, more while a call is out), then
the batcher sends few calls, in arrival order, and hands every request exactly its own
results (or the call's error).
"""

from __future__ import annotations

import asyncio

import pytest

from cpqsim_actors.batching import CallBatcher
from cpqsim_actors.handles import ActorUnavailable


class RecordingHandle:
    """Answers ``method(items)`` with each item doubled, after ``delay_s``; records calls."""

    name = "recording"

    def __init__(self, delay_s: float = 0.0, fail: bool = False) -> None:
        self.delay_s = delay_s
        self.fail = fail
        self.calls: list[tuple[str, list]] = []

    async def call(self, method: str, items: list) -> list:
        self.calls.append((method, list(items)))
        await asyncio.sleep(self.delay_s)
        if self.fail:
            raise ActorUnavailable("restarting")
        return [2 * item for item in items]


def test_submissions_of_one_tick_share_one_call_in_arrival_order():
    handle = RecordingHandle()
    batcher = CallBatcher(handle, "execute_batch")

    async def go():
        return await asyncio.gather(*(batcher.submit([i, 100 + i]) for i in range(10)))

    answers = asyncio.run(go())

    assert answers == [[2 * i, 200 + 2 * i] for i in range(10)]
    assert len(handle.calls) == 1
    method, items = handle.calls[0]
    assert method == "execute_batch"
    assert items == [x for i in range(10) for x in (i, 100 + i)]


def test_requests_arriving_while_calls_are_out_wait_and_go_together():
    handle = RecordingHandle(delay_s=0.05)
    batcher = CallBatcher(handle, "execute_batch", max_in_flight=1)

    async def go():
        first = asyncio.ensure_future(batcher.submit([1]))
        await asyncio.sleep(0.01)  # the first call is out now
        later = [asyncio.ensure_future(batcher.submit([n])) for n in range(2, 7)]
        return await first, await asyncio.gather(*later)

    first, later = asyncio.run(go())

    assert first == [2]
    assert later == [[2 * n] for n in range(2, 7)]
    assert [items for _, items in handle.calls] == [[1], [2, 3, 4, 5, 6]]


def test_an_idle_batcher_adds_no_call_and_no_wait():
    handle = RecordingHandle()
    batcher = CallBatcher(handle, "execute_batch")

    async def go():
        return [await batcher.submit([n]) for n in range(3)]  # one at a time

    assert asyncio.run(go()) == [[0], [2], [4]]
    assert [items for _, items in handle.calls] == [[0], [1], [2]]
    assert (batcher.calls, batcher.items) == (3, 3)


def test_the_error_of_a_call_reaches_every_request_it_carried_and_only_those():
    handle = RecordingHandle(fail=True)
    batcher = CallBatcher(handle, "execute_batch")

    async def go():
        failed = await asyncio.gather(
            *(batcher.submit([n]) for n in range(3)), return_exceptions=True
        )
        handle.fail = False
        return failed, await batcher.submit([5])

    failed, after = asyncio.run(go())

    assert all(isinstance(f, ActorUnavailable) for f in failed)
    assert after == [10]


def test_a_request_that_gives_up_leaves_the_others_their_answers():
    handle = RecordingHandle(delay_s=0.05)
    batcher = CallBatcher(handle, "execute_batch")

    async def go():
        impatient = asyncio.ensure_future(batcher.submit([1]))
        patient = asyncio.ensure_future(batcher.submit([2]))
        await asyncio.sleep(0.01)
        impatient.cancel()
        return await patient

    assert asyncio.run(go()) == [4]


def test_a_batcher_serves_a_new_event_loop_after_the_old_one_closed():
    """Tests (and notebooks) run one platform under several ``asyncio.run`` calls."""
    handle = RecordingHandle(delay_s=0.2)
    batcher = CallBatcher(handle, "execute_batch", max_in_flight=1)

    async def abandon():
        pending = asyncio.ensure_future(batcher.submit([1]))
        await asyncio.sleep(0.01)  # the loop closes with that call still out
        return pending

    asyncio.run(abandon())

    async def again():
        return await asyncio.wait_for(batcher.submit([3]), timeout=2)

    assert asyncio.run(again()) == [6]


def test_at_least_one_call_may_be_in_flight():
    with pytest.raises(ValueError):
        CallBatcher(RecordingHandle(), "execute_batch", max_in_flight=0)


def test_nothing_to_send_sends_nothing():
    handle = RecordingHandle()
    assert asyncio.run(CallBatcher(handle, "execute_batch").submit([])) == []
    assert handle.calls == []
