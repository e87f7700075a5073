"""The live runtime on real Ray actors, judged by the same invariant checker as the sim."""

from __future__ import annotations

import asyncio
import time

import pytest

from cpqsim.invariants import check_invariants
from cpqsim.quote import CreateQuote, PriceQuote
from cpqsim_actors.handles import ActorUnavailable
from cpqsim_actors.platform import LivePlatform, PlatformConfig
from cpqsim_actors.scenario_runner import run_on_ray

from .conftest import shortened

pytestmark = pytest.mark.ray


def verdict(output) -> dict[str, bool]:
    return {r.name: r.holds for r in check_invariants(output.events, output.ledgers)}


def with_traffic(name: str, arrivals_per_hour: float, **update):
    loaded = shortened(name, **update)
    traffic = loaded.scenario.traffic.model_copy(update={"arrivals_per_hour": arrivals_per_hour})
    scenario = loaded.scenario.model_copy(update={"traffic": traffic})
    return loaded.model_copy(update={"scenario": scenario})


def test_provisioning_timeouts_on_ray_keeps_every_invariant(ray_cluster):
    loaded = with_traffic(
        "provisioning_timeouts", 120, duration_s=1800, drain_s=7200, time_scale=0.0005
    )
    progress: list[float] = []
    output = run_on_ray(loaded, progress=lambda now, end: progress.append(now / end))
    assert output.runtime == "ray"
    assert output.stats.converted > 10
    assert output.downstream_calls["provisioning"] > 0
    assert verdict(output) == dict.fromkeys(verdict(output), True)
    assert progress and progress[-1] <= 1.0
    assert output.simulated_s <= 1800 + 7200 or output.notes  # overtime is always explained
    assert len(output.samples.t) == len(output.samples.orders_by_state) > 0
    assert set(output.samples.queue_length) == set(loaded.scenario.downstream)


def test_naive_retry_on_ray_duplicates_side_effects(ray_cluster):
    loaded = with_traffic("naive_retry", 200, duration_s=900, drain_s=7200, time_scale=0.0005)
    profile = loaded.scenario.downstream["provisioning"]
    faults = profile.faults.model_copy(update={"lost_response_rate": 0.4, "timeout_rate": 0.2})
    downstream = {
        **loaded.scenario.downstream,
        "provisioning": profile.model_copy(update={"faults": faults}),
    }
    loaded = loaded.model_copy(
        update={"scenario": loaded.scenario.model_copy(update={"downstream": downstream})}
    )
    output = run_on_ray(loaded)
    result = verdict(output)
    assert result["no_duplicate_side_effects"] is False
    assert output.ledgers["provisioning"].duplicates()


def test_a_killed_quote_shard_comes_back_with_its_quotes(ray_cluster, tmp_path):
    loaded = shortened("happy_path")
    platform = LivePlatform(
        PlatformConfig(
            catalog=loaded.catalog,
            downstream=dict(loaded.scenario.downstream),
            policy=loaded.scenario.resilience_policy(),
            journal_dir=tmp_path,
        )
    )
    lines = loaded.scenario.traffic.mix[0].lines

    async def go():
        await platform.start()
        ids = [f"Q-{i:03d}" for i in range(10)]
        await platform.execute_many(
            [
                (CreateQuote(quote_id=q, account_id="a", requester="s", lines=lines), "s")
                for q in ids
            ]
        )
        await platform.execute_many([(PriceQuote(quote_id=q), "s") for q in ids])
        victim = platform.quote_shards[0]
        held = [q for q in ids if platform.quote_shard(q) is victim]
        assert held, "crc32 put no quote on shard 0"
        before = {q: (await platform.get_quote(q)).quote for q in held}
        victim.kill(restart=True)
        deadline = time.monotonic() + 60
        while True:
            try:
                after = {q: (await platform.get_quote(q)).quote for q in held}
                break
            except ActorUnavailable:
                assert time.monotonic() < deadline, "quote shard did not come back"
                await asyncio.sleep(0.2)
        assert after == before

    try:
        asyncio.run(go())
    finally:
        platform.shutdown()
