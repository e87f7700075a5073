"""Routing is a pure function of the id: stable across processes, spread across shards."""

from __future__ import annotations

import subprocess
import sys
import zlib

from cpqsim_actors.sharding import group_by_shard, shard_of


def test_shard_is_crc32_of_the_id_modulo_the_shard_count():
    for key in ("Q-000001", "ord-quote-0-000042", "ünïcode-id"):
        for n in (1, 2, 3, 7):
            assert shard_of(key, n) == zlib.crc32(key.encode("utf-8")) % n


def test_shard_does_not_depend_on_the_process_hash_seed():
    keys = [f"Q-{i:06d}" for i in range(50)]
    code = f"from cpqsim_actors.sharding import shard_of;print([shard_of(k, 4) for k in {keys!r}])"
    outputs = {
        subprocess.run(
            [sys.executable, "-c", code],
            env={"PYTHONHASHSEED": seed},
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        for seed in ("0", "123")
    }
    assert outputs == {str([shard_of(k, 4) for k in keys]) + "\n"}


def test_ids_spread_over_every_shard_roughly_evenly():
    counts = [0, 0, 0, 0]
    for i in range(4000):
        counts[shard_of(f"Q-{i:06d}", 4)] += 1
    assert min(counts) > 800, counts


def test_grouping_keeps_arrival_order_within_a_shard():
    items = [(f"Q-{i}", i) for i in range(100)]
    groups = group_by_shard(items, 3)
    assert sorted(i for g in groups.values() for i in g) == list(range(100))
    for shard, group in groups.items():
        assert group == sorted(group)
        assert all(shard_of(f"Q-{i}", 3) == shard for i in group)
