"""Stable routing of aggregate ids to a fixed set of shards.

``zlib.crc32`` and not ``hash()``: the same id must land on the same shard in every
process (gateway, driver, restarted actor) whatever ``PYTHONHASHSEED`` says.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterable
from typing import TypeVar

K = TypeVar("K")


def shard_of(key: str, shards: int) -> int:
    if shards < 1:
        raise ValueError("need at least one shard")
    return zlib.crc32(key.encode("utf-8")) % shards


def group_by_shard(items: Iterable[tuple[str, K]], shards: int) -> dict[int, list[K]]:
    """``(key, item)`` pairs grouped per shard, preserving arrival order within a shard."""
    groups: dict[int, list[K]] = {}
    for key, item in items:
        groups.setdefault(shard_of(key, shards), []).append(item)
    return groups
