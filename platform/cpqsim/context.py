"""The only doors through which time, identity and chance enter the core.

Runtimes build a :class:`Context` per command: the sim runtime from virtual time and a
seeded generator, the live runtime from the wall clock. The core never asks the world.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta


class IdSource:
    """Deterministic, human-readable ids: ``<prefix>-<n>`` with a per-prefix counter.

    A ``namespace`` keeps ids from different producers (shards, runs) apart without
    randomness.
    """

    def __init__(self, namespace: str = "") -> None:
        self._namespace = namespace
        self._counters: dict[str, int] = {}

    def next(self, prefix: str) -> str:
        n = self._counters.get(prefix, 0) + 1
        self._counters[prefix] = n
        ns = f"{self._namespace}-" if self._namespace else ""
        return f"{prefix}-{ns}{n:06d}"

    def state(self) -> dict[str, int]:
        return dict(self._counters)

    def restore(self, counters: dict[str, int]) -> None:
        self._counters = dict(counters)


EPOCH = datetime(2026, 1, 5, 8, 0, 0, tzinfo=UTC)


def at(seconds: float, epoch: datetime = EPOCH) -> datetime:
    """The instant ``seconds`` after ``epoch``, truncated to the millisecond.

    Truncation keeps event timestamps byte-stable when virtual time is a float.
    """
    millis = round(seconds * 1000)
    return epoch + timedelta(milliseconds=millis)


def iso(instant: datetime) -> str:
    """RFC 3339 UTC with millisecond precision, e.g. ``2026-01-05T08:00:00.000Z``."""
    return (
        instant.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.")
        + f"{instant.microsecond // 1000:03d}Z"
    )


@dataclass
class Context:
    """What a decision may know about the world: now, how to name things, chance."""

    now: datetime
    ids: IdSource = field(default_factory=IdSource)
    rng: random.Random = field(default_factory=lambda: random.Random(0))
    actor: str = "system"
    correlation_id: str | None = None
    causation_id: str | None = None


def rng_stream(seed: int, name: str) -> random.Random:
    """An independent, named generator derived from the master seed.

    Seeding with a string is hashed with SHA-512 by ``random``, not with ``hash()``, so
    streams do not depend on ``PYTHONHASHSEED``. Named streams keep one component's draws
    from shifting another's when a scenario changes.
    """
    return random.Random(f"cpqsim:{seed}:{name}")
