"""The journal's hash chain: a row edited, deleted or cut off on disk is refused on replay.

Given a shard journal written by the platform, when its rows are tampered with on disk,
then replay refuses the journal naming the first bad row and why, and hands out no fact;
a journal written before rows were chained is refused, not adopted; and a shard built on a
refused journal holds nothing, writes nothing, and answers every business call (over
HTTP: 503 with the reason) with the refusal.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from cpqsim.context import Context, IdSource, at
from cpqsim.events import envelope
from cpqsim.order import OrderCompleted
from cpqsim_actors.gateway import create_app
from cpqsim_actors.handles import LocalBackend
from cpqsim_actors.journal import Journal, JournalRefused
from cpqsim_actors.platform import LivePlatform, PlatformConfig
from cpqsim_actors.quote_shard import QuoteShard

from .conftest import shortened
from .local_gateway import OPERATIONS, QUOTE, bearer, test_directory


def journaled_platform(journal_dir: Path) -> LivePlatform:
    loaded = shortened("happy_path")
    config = PlatformConfig(
        catalog=loaded.catalog,
        downstream=dict(loaded.scenario.downstream),
        policy=loaded.scenario.resilience_policy(),
        time_scale=0.0005,
        quote_shards=1,
        journal_dir=journal_dir,
    )
    return LivePlatform(config, backend=LocalBackend())


def facts(n: int):
    ctx = Context(now=at(0), ids=IdSource(), actor="orchestrator")
    return [envelope(OrderCompleted(order_id=f"o-{i}"), ctx) for i in range(n)]


@pytest.fixture
def journal(tmp_path) -> Path:
    path = tmp_path / "order-0.sqlite"
    written = Journal(path)
    written.append(facts(3))
    written.append(facts(3))  # two transactions: the chain runs across them
    written.close()
    return path


def sql(path: Path, statement: str, *args) -> None:
    db = sqlite3.connect(path)
    with db:
        db.execute(statement, args)
    db.close()


def test_an_untouched_journal_replays_every_fact_in_order(journal):
    replayed = Journal(journal).replay()
    assert [e.subject for e in replayed] == [f"order/o-{i % 3}" for i in range(6)]


def test_a_row_edited_on_disk_is_refused_at_its_position(journal):
    sql(journal, "UPDATE events SET body = replace(body, 'o-1', 'o-9') WHERE seq = 5")
    with pytest.raises(JournalRefused, match=r"row 4 \(seq 5\) does not verify"):
        Journal(journal).replay()


def test_a_row_deleted_in_the_middle_is_refused_where_it_was(journal):
    sql(journal, "DELETE FROM events WHERE seq = 3")
    with pytest.raises(JournalRefused, match=r"row 2 \(seq 4\)"):
        Journal(journal).replay()


def test_rows_cut_off_the_end_are_refused_against_the_chain_head(journal):
    sql(journal, "DELETE FROM events WHERE seq = 6")
    with pytest.raises(JournalRefused, match=r"holds 5 rows .* records 6 rows"):
        Journal(journal).replay()


def test_a_journal_written_before_rows_were_chained_is_refused_not_adopted(tmp_path):
    old = tmp_path / "quote-0.sqlite"
    sql(old, "CREATE TABLE events (seq INTEGER PRIMARY KEY, body TEXT NOT NULL)")
    sql(old, "INSERT INTO events (body) VALUES (?)", facts(1)[0].model_dump_json())
    journal = Journal(old)
    with pytest.raises(JournalRefused, match="before journal rows were hash-chained"):
        journal.replay()
    with pytest.raises(JournalRefused):
        journal.append(facts(1))


def test_a_shard_on_a_refused_journal_holds_nothing_and_refuses_every_business_call(tmp_path):
    # Given a quote shard's journal with one row edited on disk
    platform = journaled_platform(tmp_path)
    shard: QuoteShard = platform.quote_shards[0].instance
    shard.publish_catalog(platform.catalog, record=True)
    platform.shutdown()
    path = tmp_path / "quote-0.sqlite"
    sql(path, "UPDATE events SET body = replace(body, 'catalog', 'Catalog') WHERE seq = 1")
    before = path.read_bytes()

    # When a new platform starts on that journal
    again = journaled_platform(tmp_path)
    refused: QuoteShard = again.quote_shards[0].instance
    try:
        # Then the shard is refused, holds no fact, and says why on every business call
        assert refused.refusal is not None and "row 0 (seq 1)" in refused.refusal
        assert refused.log == [] and refused.ping() == "quote-0"
        with pytest.raises(JournalRefused, match="row 0"):
            refused.get("Q-1")
        with pytest.raises(JournalRefused):
            refused.execute_batch([])
        refused.publish_catalog(again.catalog, record=True)  # housekeeping: records nothing

        # ...and over HTTP the gateway answers 503 with the reason, not "retry shortly"
        app = create_app(again, test_directory())
        with TestClient(app, raise_server_exceptions=False) as client:
            answer = client.get(f"{QUOTE}/Q-1", headers=bearer(OPERATIONS))
        assert answer.status_code == 503, answer.text
        body = answer.json()
        assert body["code"] == "journal_refused" and "row 0 (seq 1)" in body["message"]
    finally:
        again.shutdown()
    assert path.read_bytes() == before  # the evidence is left as it was found
