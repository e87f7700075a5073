"""An append-only journal of one shard's CloudEvents in embedded SQLite.

A shard appends every fact it produced (one transaction per command or batch) and, when
(re)started, rebuilds its aggregates by replaying the facts in order. The id counters
are stored next to the events so a restarted shard never hands out an id twice, and the
run's clock anchor (t0) too, so a restarted shard keeps the same time axis.

The *outbox* holds messages promised to another shard in the same transaction as the
facts that promised them (a converted quote's order), until the receiver confirms: a
crash between the two shards loses nothing, because whoever starts next re-sends them.

The rows of facts are *hash-chained*: each row's ``hash`` is the sha256 of the previous
row's hash and its own body, and the chain's length and last hash (its head) are kept in
``meta`` in the same transaction. Replay verifies the chain before it hands out a single
fact: a body edited on disk, a row deleted or put out of order, or rows cut off the end
are refused with :class:`JournalRefused`, naming the journal, the 0-based row and why —
never replayed as if they were true (an edited ``quote.created`` and a deleted
``converted_to_order`` once gave the same quote a second order). A journal written
before rows were chained cannot be verified and is refused the same way: it is not
silently adopted. The chain is tamper-evident, not tamper-proof: whoever rewrites every
hash after an edit, and the head, is not caught by the journal alone.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from pathlib import Path

from cpqsim.events import CloudEvent
from cpqsim_actors.handles import ActorUnavailable

#: The hash the first row follows.
GENESIS = "0" * 64


class JournalRefused(ActorUnavailable):
    """A journal that does not verify: the shard serves nothing until it is dealt with.

    An :class:`ActorUnavailable` (the gateway answers 503), with the reason as its message.
    """


def row_hash(previous: str, body: str) -> str:
    """The hash of a row: it covers the previous row's hash and this row's body."""
    return hashlib.sha256(f"{previous}\n{body}".encode()).hexdigest()


class Journal:
    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # Created in the constructor, used on the actor's loop thread: one user at a time.
        self._db = sqlite3.connect(str(self.path), isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS events "
            "(seq INTEGER PRIMARY KEY, body TEXT NOT NULL, hash TEXT NOT NULL)"
        )
        self._db.execute("CREATE TABLE IF NOT EXISTS meta (k TEXT PRIMARY KEY, v TEXT NOT NULL)")
        columns = {row[1] for row in self._db.execute("PRAGMA table_info(events)")}
        self.chained = "hash" in columns  # False: written before rows were chained
        # The chain's head as this journal last wrote it (what replay must end on).
        head = self.get_meta("chain") or {"rows": 0, "head": GENESIS}
        self._rows, self._head = int(head["rows"]), str(head["head"])
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS outbox (k TEXT PRIMARY KEY, body TEXT NOT NULL)"
        )

    def append(
        self,
        events: list[CloudEvent],
        ids: dict[str, int] | None = None,
        outbox: dict[str, str] | None = None,
        meta: dict[str, object] | None = None,
    ) -> None:
        """One transaction: the facts, the chain head, the id counters, the promises and
        any ``meta`` values that must move with the facts (a reader's cursors)."""
        if not events and ids is None and not outbox and not meta:
            return
        if not self.chained:
            raise self.unchained()
        # pydantic's own serializer: event data is plain JSON already (the envelope made
        # it so), and replay validates whatever key order.
        rows, head = [], self._head
        for event in events:
            body = event.model_dump_json()
            head = row_hash(head, body)
            rows.append((body, head))
        with self._db:  # one transaction: events, chain head, counters and promises
            self._db.execute("BEGIN")
            if rows:
                self._db.executemany("INSERT INTO events (body, hash) VALUES (?, ?)", rows)
                chain = {"rows": self._rows + len(rows), "head": head}
                self._db.execute(
                    "INSERT OR REPLACE INTO meta (k, v) VALUES ('chain', ?)", (json.dumps(chain),)
                )
            if ids is not None:
                self._db.execute(
                    "INSERT OR REPLACE INTO meta (k, v) VALUES ('ids', ?)", (json.dumps(ids),)
                )
            if outbox:
                self._db.executemany(
                    "INSERT OR REPLACE INTO outbox (k, body) VALUES (?, ?)", list(outbox.items())
                )
            for key, value in (meta or {}).items():
                self._db.execute(
                    "INSERT OR REPLACE INTO meta (k, v) VALUES (?, ?)", (key, json.dumps(value))
                )
        self._rows += len(rows)
        self._head = head

    def outbox(self) -> dict[str, str]:
        return dict(self._db.execute("SELECT k, body FROM outbox ORDER BY k").fetchall())

    def confirm(self, keys: list[str]) -> None:
        """The receiver has them: drop these promises."""
        with self._db:
            self._db.execute("BEGIN")
            self._db.executemany("DELETE FROM outbox WHERE k = ?", [(k,) for k in keys])

    def replay(self) -> list[CloudEvent]:
        """Every fact, in order, once the whole chain verifies; :class:`JournalRefused`
        naming the first bad row otherwise."""
        if not self.chained:
            raise self.unchained()
        rows = self._db.execute("SELECT seq, body, hash FROM events ORDER BY seq").fetchall()
        previous = GENESIS
        for position, (seq, body, stored) in enumerate(rows):
            if row_hash(previous, body) != stored:
                raise self._refused(
                    f"row {position} (seq {seq}) does not verify: its hash does not follow "
                    "from the row before it and its own body (the row was edited, or a row "
                    "before it was deleted or moved)"
                )
            previous = stored
        if (len(rows), previous) != (self._rows, self._head):
            at = min(len(rows), self._rows)
            raise self._refused(
                f"row {at}: the journal holds {len(rows)} rows ending on "
                f"{previous[:12]}... but its chain head records {self._rows} rows ending on "
                f"{self._head[:12]}... (rows were deleted from the end, or the head was edited)"
            )
        return [CloudEvent.model_validate_json(body) for _, body, _ in rows]

    def _refused(self, why: str) -> JournalRefused:
        return JournalRefused(
            f"journal {self.path} refused: {why}; the shard serves nothing until the journal "
            "is restored (or moved away to start afresh)"
        )

    def unchained(self) -> JournalRefused:
        return self._refused(
            "it was written before journal rows were hash-chained, so it cannot be verified"
        )

    def ids(self) -> dict[str, int]:
        return self.get_meta("ids") or {}

    def get_meta(self, key: str):
        row = self._db.execute("SELECT v FROM meta WHERE k = ?", (key,)).fetchone()
        return json.loads(row[0]) if row else None

    def set_meta(self, key: str, value) -> None:
        self._db.execute(
            "INSERT OR REPLACE INTO meta (k, v) VALUES (?, ?)", (key, json.dumps(value))
        )

    def close(self) -> None:
        self._db.close()
