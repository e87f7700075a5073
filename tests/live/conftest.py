"""Givens for the live-runtime specifications: one Ray per test session, short scenarios.

Ray costs ~0.7 GB and several seconds to start, so it starts once (``ray_cluster``) and
every platform in the session creates and kills only its own actors. Child processes
(``cpqsim serve`` for the Locust run) join the same cluster through ``RAY_ADDRESS``.
"""

from __future__ import annotations

import json
import socket
from pathlib import Path

import jsonschema
import pytest

from cpqsim_scenarios.model import LoadedScenario, load_scenario

REPO = Path(__file__).resolve().parents[2]
LIBRARY = REPO / "scenarios" / "library"
TMF = REPO / "tests" / "data" / "tmf"


def shortened(name: str, **update) -> LoadedScenario:
    """A library scenario with some fields replaced (durations, time scale, profiles)."""
    loaded = load_scenario(LIBRARY / f"{name}.yaml")
    return loaded.model_copy(update={"scenario": loaded.scenario.model_copy(update=update)})


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _validator(filename: str, definition: str) -> jsonschema.Draft4Validator:
    doc = json.loads((TMF / filename).read_text(encoding="utf-8"))
    schema = {"$ref": f"#/definitions/{definition}", "definitions": doc["definitions"]}
    return jsonschema.Draft4Validator(schema)


@pytest.fixture(scope="session")
def product_order_schema() -> jsonschema.Draft4Validator:
    return _validator("TMF622_product_ordering_v4.0.0.swagger.json", "ProductOrder")


@pytest.fixture(scope="session")
def quote_schema() -> jsonschema.Draft4Validator:
    return _validator("TMF648_quote_v4.0.0.swagger.json", "Quote")
