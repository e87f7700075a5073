"""The downstream actor (its pump, its batches) and the executor's batching, without Ray."""

from __future__ import annotations

import asyncio
import time

from cpqsim.conversion import order_to_create
from cpqsim.downstream import DownstreamRequest, QueryStatus
from cpqsim.quote import AcceptQuote, ConvertQuoteToOrder, CreateQuote, PriceQuote
from cpqsim_actors import downstream_actor
from cpqsim_actors.downstream_actor import DownstreamActor
from cpqsim_actors.handles import ActorSpec, LocalBackend
from cpqsim_actors.order_executor import OrderExecutor
from cpqsim_actors.quote_shard import QuoteShard

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


def test_one_batch_is_admitted_in_order_and_every_message_answered_once():
    """``serve`` takes a tick's messages from one executor; a reconciliation query sent
    right after its call, in the same batch, finds the call (it never overtakes it)."""
    profile = shortened("happy_path").scenario.downstream["inventory"]

    async def go():
        actor = DownstreamActor(profile, 1, time.time(), 0.0005)
        await actor.start()
        messages = [("call", request(i), "exec-1", i) for i in range(4)]
        messages.append(("query", "ref-0", "exec-1", 4))
        answers = {}
        async for batch in actor.serve(messages):
            for i, answer in batch:
                assert i not in answers
                answers[i] = answer
        actor.stop()
        return answers

    answers = asyncio.run(go())

    assert sorted(answers) == [0, 1, 2, 3, 4]
    assert all(answers[i] is not None and answers[i].ok for i in range(4))
    assert answers[4] != QueryStatus.NOT_FOUND


def test_a_later_batch_waits_for_the_earlier_one_of_the_same_caller():
    """Ray may start two calls into an async actor in either order; sequence numbers keep
    one caller's messages in the order it sent them."""
    profile = shortened("happy_path").scenario.downstream["inventory"]

    async def drain(actor, messages):
        return [a for batch in [b async for b in actor.serve(messages)] for a in batch]

    async def go():
        actor = DownstreamActor(profile, 1, time.time(), 0.0005)
        await actor.start()
        later = asyncio.ensure_future(drain(actor, [("query", "ref-7", "exec-1", 1)]))
        await asyncio.sleep(0.02)
        assert not later.done()  # seq 1 waits for seq 0
        first = await drain(actor, [("call", request(7), "exec-1", 0)])
        answers = await later
        actor.stop()
        return first, answers

    first, answers = asyncio.run(go())
    assert first[0][1].ok
    assert answers[0][1] != QueryStatus.NOT_FOUND


def test_an_executor_sends_one_call_per_downstream_per_tick():
    """Orders started together call their first downstream together: one actor call (and
    one stream of answers) carries all their messages."""
    loaded = shortened("happy_path")
    scenario = loaded.scenario
    quiet = {
        name: p.model_copy(update={"network_latency_s": 0.0, "servers": 100})
        for name, p in scenario.downstream.items()
    }

    async def go():
        backend = LocalBackend()
        handles = {
            name: backend.create(
                ActorSpec(name=name, cls=DownstreamActor, args=(p, 1, time.time(), 0.0005))
            )
            for name, p in quiet.items()
        }
        executor = OrderExecutor(
            "order-0", loaded.catalog, scenario.resilience_policy(), time.time(), 0.0005, handles
        )
        shard = QuoteShard(
            "quote-t", loaded.catalog, scenario.resilience_policy(), time.time(), 0.0005
        )
        await executor.start_orders([converted(shard, loaded, f"Q-{i}") for i in range(20)])
        for _ in range(200):
            if executor.orders.unsettled() == 0:
                break
            await asyncio.sleep(0.05)
        stats = await executor.stats()
        finals = await executor.orders_final()
        executor.stop()
        backend.shutdown()
        return stats, finals

    stats, finals = asyncio.run(go())

    assert len(finals) == 20 and set(finals.values()) == {"completed"}
    assert stats["errors"] == []
    assert stats["downstream_messages"] >= 20 * 2  # at least two tasks per order
    assert stats["downstream_calls"] * 4 <= stats["downstream_messages"]


def converted(shard: QuoteShard, loaded, quote_id: str):
    """The order a freshly converted quote calls for (through a real quote shard)."""
    lines = loaded.scenario.traffic.mix[0].lines
    for command in (
        CreateQuote(quote_id=quote_id, account_id="a", requester="s", lines=lines),
        PriceQuote(quote_id=quote_id),
        AcceptQuote(quote_id=quote_id),
        ConvertQuoteToOrder(quote_id=quote_id, idempotency_key=f"k-{quote_id}"),
    ):
        result = shard.execute(command, "s")
        assert result.ok, result.message
    return order_to_create(result.view.quote, "s", result.last_event_id)
