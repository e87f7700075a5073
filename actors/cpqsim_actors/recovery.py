"""Journal recovery shared by every aggregate shard.

A shard that (re)starts replays its journaled facts into its aggregates, restores its id
counters so no id is handed out twice, and re-anchors its clock on the run's t0 so its
timeline continues where it stopped. Only how one fact is folded differs per shard.
"""

from __future__ import annotations

from cpqsim.context import IdSource
from cpqsim.events import CloudEvent
from cpqsim_actors.clock import VirtualClock
from cpqsim_actors.journal import Journal


class JournaledShard:
    ids: IdSource
    clock: VirtualClock
    journal: Journal | None

    def _replay_event(self, event: CloudEvent) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    def _open_journal(self, journal_path: str | None, time_scale: float) -> None:
        self.journal = Journal(journal_path) if journal_path else None
        if self.journal is None:
            return
        for event in self.journal.replay():
            self._replay_event(event)
        self.ids.restore(self.journal.ids())
        t0 = self.journal.get_meta("t0_wall")
        if t0 is not None:
            self.clock = VirtualClock(t0, time_scale)
