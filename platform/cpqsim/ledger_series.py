"""A downstream's queue and busy servers over time, exactly, from its ledger.

Sampling the queue every few minutes misses it: a queue that forms and drains between
two samples reads as a flat zero. The ledger records when each request arrived, when a
server took it and when it finished, so the queue (arrived, not yet taken) and the busy
servers (taken, not yet finished) are step functions known at every instant.
"""

from __future__ import annotations

from cpqsim.downstream import EntryStatus, LedgerSnapshot


def _steps(changes: list[tuple[int, int]]) -> list[tuple[float, int]]:
    """(ms, +1/-1) changes -> (seconds, level after the change): equal times merged,
    and an instant where the level ends as it was (one left, one came) is no step."""
    steps: list[tuple[float, int]] = []
    level = 0
    for at_ms, delta in sorted(changes):
        level += delta
        if steps and steps[-1][0] == at_ms / 1000:
            steps.pop()
        if not steps or steps[-1][1] != level:
            steps.append((at_ms / 1000, level))
    return steps


def queue_steps(ledger: LedgerSnapshot, end_ms: int | None = None) -> list[tuple[float, int]]:
    """Requests waiting for a server; those never taken wait until ``end_ms``."""
    changes = []
    for e in ledger.entries:
        if e.status is EntryStatus.REJECTED:
            continue  # refused at the door: never queued
        left = e.started_ms if e.started_ms is not None else end_ms
        if left is None:
            continue
        changes += [(e.accepted_ms, +1), (left, -1)]
    return _steps(changes)


def busy_steps(ledger: LedgerSnapshot, end_ms: int | None = None) -> list[tuple[float, int]]:
    """Servers busy serving; a request still in service is busy until ``end_ms``."""
    changes = []
    for e in ledger.entries:
        if e.started_ms is None:
            continue
        done = e.finished_ms if e.finished_ms is not None else end_ms
        if done is None:
            continue
        changes += [(e.started_ms, +1), (done, -1)]
    return _steps(changes)
