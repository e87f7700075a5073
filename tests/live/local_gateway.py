"""Givens shared by the gateway specifications that need no Ray.

``LocalBackend`` hosts the very actor classes Ray would, in this process, so the HTTP
contract (shapes, statuses, the door's refusals, the OpenAPI document) is specified
quickly and deterministically; ``test_live_gateway.py`` runs the journey on real Ray.
"""

from __future__ import annotations

import json
from contextlib import contextmanager
from pathlib import Path

import jsonschema
from fastapi.testclient import TestClient

from cpqsim_actors.gateway import create_app
from cpqsim_actors.handles import LocalBackend
from cpqsim_actors.platform import LivePlatform, PlatformConfig

from .conftest import shortened

TMF = Path(__file__).resolve().parents[1] / "data" / "tmf"
QUOTE_DOC = "TMF648_quote_v4.0.0.swagger.json"
ORDER_DOC = "TMF622_product_ordering_v4.0.0.swagger.json"

QUOTE = "/tmf-api/quoteManagement/v4/quote"
ORDER = "/tmf-api/productOrderingManagement/v4/productOrder"
CATALOG = "/tmf-api/productCatalogManagement/v4/productOffering"

COMPACT = {
    "accountId": "acct-0001",
    "requester": "seller-01",
    "lines": [
        {
            "offering": "saas-suite",
            "quantity": 25,
            "options": ["saas-edition-standard"],
            "addOns": ["saas-extra-storage"],
        }
    ],
}


def tmf_validator(document: str, definition: str) -> jsonschema.Draft4Validator:
    doc = json.loads((TMF / document).read_text(encoding="utf-8"))
    schema = {"$ref": f"#/definitions/{definition}", "definitions": doc["definitions"]}
    return jsonschema.Draft4Validator(schema)


def local_platform(**config) -> LivePlatform:
    loaded = shortened("happy_path")
    return LivePlatform(
        PlatformConfig(
            catalog=loaded.catalog,
            downstream=dict(loaded.scenario.downstream),
            policy=loaded.scenario.resilience_policy(),
            time_scale=0.0005,
            journal=False,
            **config,
        ),
        backend=LocalBackend(),
    )


@contextmanager
def local_gateway(**app_options):
    """A TestClient over a gateway whose platform lives in this process."""
    platform = local_platform()
    try:
        with TestClient(create_app(platform, **app_options), raise_server_exceptions=False) as c:
            yield c
    finally:
        platform.shutdown()


def accepted_quote(client, body: dict | None = None) -> dict:
    """Create, price and accept a quote that needs no approval (0 % discount)."""
    created = client.post(QUOTE, json=body or COMPACT)
    assert created.status_code == 201, created.text
    qid = created.json()["id"]
    assert client.post(f"{QUOTE}/{qid}/price").status_code == 200
    accepted = client.post(f"{QUOTE}/{qid}/accept")
    assert accepted.status_code == 200, accepted.text
    return accepted.json()
