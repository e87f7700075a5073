"""An append-only journal of one shard's CloudEvents in embedded SQLite.

A shard appends every fact it produced (one transaction per command or batch) and, when
(re)started, rebuilds its aggregates by replaying the facts in order. The id counters
are stored next to the events so a restarted shard never hands out an id twice, and the
run's clock anchor (t0) too, so a restarted shard keeps the same time axis.

The *outbox* holds messages promised to another shard in the same transaction as the
facts that promised them (a converted quote's order), until the receiver confirms: a
crash between the two shards loses nothing, because whoever starts next re-sends them.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

from cpqsim.events import CloudEvent


class Journal:
    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # Created in the constructor, used on the actor's loop thread: one user at a time.
        self._db = sqlite3.connect(str(self.path), isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS events (seq INTEGER PRIMARY KEY, body TEXT NOT NULL)"
        )
        self._db.execute("CREATE TABLE IF NOT EXISTS meta (k TEXT PRIMARY KEY, v TEXT NOT NULL)")
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS outbox (k TEXT PRIMARY KEY, body TEXT NOT NULL)"
        )

    def append(
        self,
        events: list[CloudEvent],
        ids: dict[str, int] | None = None,
        outbox: dict[str, str] | None = None,
    ) -> None:
        if not events and ids is None and not outbox:
            return
        with self._db:  # one transaction: events, counters and promises move together
            self._db.execute("BEGIN")
            self._db.executemany(
                # pydantic's own serializer: event data is plain JSON already (the
                # envelope made it so), and replay validates whatever key order.
                "INSERT INTO events (body) VALUES (?)",
                [(e.model_dump_json(),) for e in events],
            )
            if ids is not None:
                self._db.execute(
                    "INSERT OR REPLACE INTO meta (k, v) VALUES ('ids', ?)", (json.dumps(ids),)
                )
            if outbox:
                self._db.executemany(
                    "INSERT OR REPLACE INTO outbox (k, body) VALUES (?, ?)", list(outbox.items())
                )

    def outbox(self) -> dict[str, str]:
        return dict(self._db.execute("SELECT k, body FROM outbox ORDER BY k").fetchall())

    def confirm(self, keys: list[str]) -> None:
        """The receiver has them: drop these promises."""
        with self._db:
            self._db.execute("BEGIN")
            self._db.executemany("DELETE FROM outbox WHERE k = ?", [(k,) for k in keys])

    def replay(self) -> list[CloudEvent]:
        rows = self._db.execute("SELECT body FROM events ORDER BY seq").fetchall()
        return [CloudEvent.model_validate_json(body) for (body,) in rows]

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
