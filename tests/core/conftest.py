"""Shared givens for core specifications: the sample catalog and a deterministic context."""

from __future__ import annotations

from pathlib import Path

import pytest

from cpqsim.catalog import Catalog, parse_catalog
from cpqsim.context import Context, IdSource, at, rng_stream
from cpqsim.quote import QuoteServices
from cpqsim_scenarios.files import read_catalog_document

REPO = Path(__file__).resolve().parents[2]
SAMPLE_CATALOG = REPO / "scenarios" / "library" / "catalog" / "enterprise.yaml"


def load_catalog(path) -> Catalog:
    """The shell reads the file (exact numbers); the core publishes the document."""
    return parse_catalog(read_catalog_document(path), source=str(path))


@pytest.fixture(scope="session")
def sample_catalog() -> Catalog:
    return load_catalog(SAMPLE_CATALOG)


@pytest.fixture
def services(sample_catalog) -> QuoteServices:
    return QuoteServices(catalog=sample_catalog)


@pytest.fixture
def ctx() -> Context:
    return Context(now=at(0), ids=IdSource(), rng=rng_stream(1, "test"))
