"""The shell pauses the garbage collector while it loads a catalog, and only then."""

from __future__ import annotations

import gc
from pathlib import Path

import pytest

import cpqsim_scenarios.files as files
from cpqsim_scenarios.errors import InputInvalid

REPO = Path(__file__).resolve().parents[2]
CATALOGS = REPO / "scenarios" / "library" / "catalog"


@pytest.fixture
def collector_seen_by_publish(monkeypatch):
    """Whether the collector was enabled each time the core's publish ran."""
    seen: list[bool] = []
    publish = files.publish

    def watching(*args, **kwargs):
        seen.append(gc.isenabled())
        return publish(*args, **kwargs)

    monkeypatch.setattr(files, "publish", watching)
    return seen


def test_loading_a_catalog_publishes_with_the_collector_paused_then_restores_it(
    collector_seen_by_publish,
):
    assert gc.isenabled()

    catalog = files.load_catalog_file(CATALOGS / "enterprise.yaml")

    assert catalog.offerings
    assert collector_seen_by_publish == [False]
    assert gc.isenabled()


def test_a_refused_catalog_still_gives_the_collector_back():
    with pytest.raises(InputInvalid):
        files.load_catalog_file(CATALOGS / "broken_requires_cycle.yaml")

    assert gc.isenabled()


def test_a_caller_that_paused_the_collector_keeps_it_paused():
    gc.disable()
    try:
        files.read_catalog_document(CATALOGS / "enterprise.yaml")
        assert not gc.isenabled()
    finally:
        gc.enable()
