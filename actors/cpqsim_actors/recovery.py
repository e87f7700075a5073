"""Journal recovery shared by every aggregate shard.

A shard that (re)starts replays its journaled facts into its aggregates, restores its id
counters so no id is handed out twice, and re-anchors its clock on the run's t0 so its
timeline continues where it stopped. Only how one fact is folded differs per shard.

A journal whose hash chain does not verify (see :mod:`cpqsim_actors.journal`) is never
replayed in part: the shard comes up *refused*. It holds no fact, writes nothing, and
every method that would read or decide business state raises
:class:`~cpqsim_actors.journal.JournalRefused` with the reason (the gateway answers 503
with it); housekeeping (ping, start, the clock, the catalog) still answers, so the rest of
the platform keeps working around it. The journal is left exactly as found, as evidence.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable

from cpqsim.context import IdSource
from cpqsim.events import CloudEvent
from cpqsim_actors.clock import VirtualClock
from cpqsim_actors.journal import Journal, JournalRefused


class JournaledShard:
    ids: IdSource
    clock: VirtualClock
    journal: Journal | None
    refusal: str | None = None  # why the journal was refused (None: it verified)

    def _replay_event(self, event: CloudEvent) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    def _open_journal(self, journal_path: str | None, time_scale: float) -> None:
        self.journal = Journal(journal_path) if journal_path else None
        if self.journal is None:
            return
        try:
            events = self.journal.replay()
        except JournalRefused as exc:
            self.refusal = str(exc)
            self.journal.close()
            self.journal = None  # nothing of it is replayed, nothing more is written to it
            return
        for event in events:
            self._replay_event(event)
        self.ids.restore(self.journal.ids())
        t0 = self.journal.get_meta("t0_wall")
        if t0 is not None:
            self.clock = VirtualClock(t0, time_scale)

    def _refuse_if_refused(self) -> None:
        if self.refusal is not None:
            raise JournalRefused(self.refusal)


def refused_while_journal_refused(*names: str) -> Callable[[type], type]:
    """Class decorator: the named methods raise :class:`JournalRefused` on a refused shard."""

    def decorate(cls: type) -> type:
        for name in names:
            setattr(cls, name, _guarded(getattr(cls, name)))
        return cls

    return decorate


def _guarded(method: Callable) -> Callable:
    if inspect.iscoroutinefunction(method):

        @functools.wraps(method)
        async def guarded_async(self, *args, **kwargs):
            self._refuse_if_refused()
            return await method(self, *args, **kwargs)

        return guarded_async

    @functools.wraps(method)
    def guarded(self, *args, **kwargs):
        self._refuse_if_refused()
        return method(self, *args, **kwargs)

    return guarded
