"""Routing, batching, conversion and journal replay, exercised without Ray.

``LocalBackend`` instantiates the very actor classes Ray would host, in this process,
so these specifications pin the platform's logic independently of the actor runtime.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from decimal import Decimal

import pytest

from cpqsim.configuration import QuoteLine
from cpqsim.invariants import check_invariants
from cpqsim.quote import AcceptQuote, CreateQuote, PriceQuote
from cpqsim_actors.handles import LocalBackend
from cpqsim_actors.platform import LivePlatform, PlatformConfig
from cpqsim_actors.scenario_runner import run_on_ray
from cpqsim_actors.sharding import shard_of
from cpqsim_scenarios.sim.runtime import SimRuntime

from .conftest import shortened

LINE = QuoteLine(offering="saas-suite", quantity=25, options=["saas-edition-standard"])


@pytest.fixture
def platform(tmp_path):
    loaded = shortened("happy_path")
    p = LivePlatform(
        PlatformConfig(
            catalog=loaded.catalog,
            downstream=dict(loaded.scenario.downstream),
            policy=loaded.scenario.resilience_policy(),
            time_scale=0.0005,
            quote_shards=3,
            order_shards=2,
            journal_dir=tmp_path,
        ),
        backend=LocalBackend(),
    )
    yield p
    p.shutdown()


def create(qid: str) -> CreateQuote:
    return CreateQuote(quote_id=qid, account_id="acct-1", requester="seller-1", lines=[LINE])


def test_batched_commands_land_on_the_crc32_shard_and_answer_in_input_order(platform):
    async def go():
        await platform.start()
        ids = [f"Q-{i:04d}" for i in range(30)]
        results = await platform.execute_many([(create(q), "seller-1") for q in ids])
        assert [r.view.quote.quote_id for r in results] == ids
        for i, shard in enumerate(platform.quote_shards):
            held = set(shard.instance.quotes.quotes)
            assert held == {q for q in ids if shard_of(q, 3) == i}

    asyncio.run(go())


def test_refusals_are_answers_not_exceptions(platform):
    async def go():
        await platform.start()
        missing = await platform.execute(PriceQuote(quote_id="Q-nope"))
        assert (missing.outcome, missing.code) == ("not_found", "unknown_quote")
        await platform.execute(create("Q-1"))
        early = await platform.execute(AcceptQuote(quote_id="Q-1"))
        assert early.outcome == "refused" and early.code == "illegal_transition"
        bad = CreateQuote(
            quote_id="Q-2",
            account_id="a",
            requester="s",
            lines=[QuoteLine(offering="no-such-offering")],
            discount_pct=Decimal("0"),
        )
        invalid = await platform.execute(bad)
        assert invalid.outcome == "invalid"
        assert invalid.violations[0]["path"] == "lines[0].offering"

    asyncio.run(go())


def test_conversion_is_idempotent_per_key_and_refused_for_a_second_key(platform):
    async def go():
        await platform.start()
        for command in (create("Q-1"), PriceQuote(quote_id="Q-1"), AcceptQuote(quote_id="Q-1")):
            assert (await platform.execute(command)).ok
        first = await platform.convert("Q-1", "key-1")
        again = await platform.convert("Q-1", "key-1")
        other = await platform.convert("Q-1", "key-2")
        assert first.created and not first.replay
        assert again.replay and not again.created
        assert again.order.order.order_id == first.order.order.order_id
        assert other.result.code == "already_converted" and other.order is None
        order_id = first.order.order.order_id
        assert platform.order_shard(order_id).instance.orders.orders.keys() == {order_id}

    asyncio.run(go())


def test_a_restarted_quote_shard_replays_its_journal_and_never_reuses_an_id(platform):
    async def go():
        await platform.start()
        ids = [f"Q-{i:04d}" for i in range(20)]
        await platform.execute_many([(create(q), "s") for q in ids])
        await platform.execute_many([(PriceQuote(quote_id=q), "s") for q in ids])
        before = {q: (await platform.get_quote(q)).quote for q in ids}
        events_before = {e.id for e in await platform.events()}
        for shard in platform.quote_shards:
            shard.kill(restart=True)
        after = {q: (await platform.get_quote(q)).quote for q in ids}
        assert after == before
        await platform.execute_many([(AcceptQuote(quote_id=q), "s") for q in ids[:5]])
        new_ids = [e.id for e in await platform.events() if e.id not in events_before]
        assert len(new_ids) == 5 and len(set(new_ids)) == 5

    asyncio.run(go())


def test_a_restarted_order_executor_replays_its_journal_including_the_last_ticks_facts(
    platform,
):
    """Facts are journaled once per event-loop tick; a restart right after a burst of
    conversions (and again after fulfilment) still finds every order and fact."""

    async def go():
        await platform.start()
        ids = [f"Q-{i:04d}" for i in range(12)]
        for step in (create, lambda q: PriceQuote(quote_id=q), lambda q: AcceptQuote(quote_id=q)):
            await platform.execute_many([(step(q), "s") for q in ids])
        converted = await platform.convert_many([(q, f"key-{q}", "s") for q in ids])
        order_ids = [c.order.order.order_id for c in converted]

        def snapshot():
            return {
                o: (s.instance.orders.orders[o], [e.id for e in s.instance.timelines[o]])
                for o in order_ids
                for s in [platform.order_shard(o)]
            }

        # Kill at once: the answers promised these orders, so the journal holds them.
        created = {o: platform.order_shard(o).instance.orders.orders[o].status for o in order_ids}
        for shard in platform.order_shards:
            shard.kill(restart=True)
        for o in order_ids:
            assert o in platform.order_shard(o).instance.orders.orders
        assert len(created) == len(ids)
        await platform.start()  # resumes the in-flight work of the restarted executors
        for _ in range(400):
            if not await platform.unsettled_orders():
                break
            await asyncio.sleep(0.02)
        assert await platform.unsettled_orders() == 0
        await platform.get_order(order_ids[0])  # any read flushes the last tick's facts
        before = snapshot()
        for shard in platform.order_shards:
            shard.kill(restart=True)
        assert snapshot() == before

    asyncio.run(go())


def test_in_process_live_run_replays_the_sim_journeys_and_satisfies_the_checker():
    loaded = shortened("provisioning_timeouts", duration_s=3600, drain_s=3600, time_scale=0.0002)
    live = run_on_ray(loaded, backend=LocalBackend())
    sim = SimRuntime(loaded)
    sim.run()
    # Same plans, same customer behaviour: the journey statistics agree exactly.
    for field in ("started", "accepted", "converted", "conversion_replays", "approvals_requested"):
        assert getattr(live.stats, field) == getattr(sim.stats, field), field
    assert live.runtime == "ray"
    assert all(r.holds for r in check_invariants(live.events, live.ledgers))
    assert Counter(live.orders_final.values()).keys() <= {"completed", "held"}
    times = [e.time for e in live.events]
    assert times == sorted(times)
