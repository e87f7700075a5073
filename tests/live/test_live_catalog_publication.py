"""A new catalog version published to a quote shard is a fact in its log, kept as JSON.

Given a journaled quote shard, when a later catalog version is published and recorded,
then the shard prices with it, its log lists the ``catalog.published`` fact among the
quotes' facts, and a shard restarted from the same journal lists the same facts (the
catalog itself comes back from the platform, not from the journal).
"""

from __future__ import annotations

import time

import pytest

from cpqsim.quote import CreateQuote, PriceQuote
from cpqsim_actors.quote_shard import QuoteShard

from .conftest import shortened


@pytest.fixture
def loaded():
    return shortened("catalog_cache_stale")


def new_shard(loaded, path) -> QuoteShard:
    return QuoteShard(
        "quote-0",
        loaded.catalog,
        loaded.scenario.resilience_policy(),
        time.time(),
        0.001,
        str(path),
    )


def test_a_recorded_publication_is_in_the_log_and_survives_a_restart(loaded, tmp_path):
    # Given a journaled shard with a priced quote
    journal = tmp_path / "quote-0.sqlite"
    shard = new_shard(loaded, journal)
    mix = loaded.scenario.traffic.mix[0]
    create = CreateQuote(quote_id="Q-1", account_id="a", requester="s", lines=mix.lines)
    assert shard.execute_batch([(create, "s"), (PriceQuote(quote_id="Q-1"), "s")])[1].ok
    later = next(iter(loaded.later_catalogs.values()))
    assert later.version != loaded.catalog.version

    # When a later catalog version is published, and recorded by this shard
    shard.publish_catalog(later, record=True)

    # Then the shard is on it, and its log holds the fact after the quote's facts
    assert shard.catalog_version() == later.version
    names = [e.name for e in shard.events()]
    assert names[-1] == "catalog.published"
    assert names.count("catalog.published") == 1
    assert shard.events()[-1].data["catalog_version"] == later.version
    # ... and a shard restarted from the journal lists the same facts, in the same order
    again = new_shard(loaded, journal)
    assert [e.id for e in again.events()] == [e.id for e in shard.events()]


def test_an_unrecorded_publication_changes_the_catalog_only(loaded, tmp_path):
    # Given a shard, when a later version is published without recording it
    shard = new_shard(loaded, tmp_path / "quote-0.sqlite")
    later = next(iter(loaded.later_catalogs.values()))
    shard.publish_catalog(later)
    # Then it is in force there, and no fact says so (another shard records it)
    assert shard.catalog_version() == later.version
    assert shard.events() == []
