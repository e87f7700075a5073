"""Shared givens for core specifications: the sample catalog and a deterministic context."""

from __future__ import annotations

from pathlib import Path

import pytest

from cpqsim.catalog import Catalog, load_catalog
from cpqsim.context import Context, IdSource, at, rng_stream
from cpqsim.quote import QuoteServices

REPO = Path(__file__).resolve().parents[2]
SAMPLE_CATALOG = REPO / "scenarios" / "library" / "catalog" / "enterprise.yaml"


@pytest.fixture(scope="session")
def sample_catalog() -> Catalog:
    return load_catalog(SAMPLE_CATALOG)


@pytest.fixture
def services(sample_catalog) -> QuoteServices:
    return QuoteServices(catalog=sample_catalog)


@pytest.fixture
def ctx() -> Context:
    return Context(now=at(0), ids=IdSource(), rng=rng_stream(1, "test"))
