"""Givens shared by the gateway specifications that need no Ray.

``LocalBackend`` hosts the very actor classes Ray would, in this process, so the HTTP
contract (shapes, statuses, the door's refusals, the OpenAPI document) is specified
quickly and deterministically; ``test_live_gateway.py`` runs the journey on real Ray.
Every client calls as a demo principal (alice the seller unless told otherwise); a request
may speak as another with ``headers=bearer("bob")``.
"""

from __future__ import annotations

import json
from contextlib import contextmanager
from pathlib import Path

import jsonschema
from fastapi.testclient import TestClient

from cpqsim.principals import Principal
from cpqsim_actors.auth import DEMO_PRINCIPALS, PrincipalDirectory, token_hash
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

# The demo principals, and the seller of the TMF sample bodies (tests/data/tmf).
TOKENS = {d.principal.id: d.token for d in DEMO_PRINCIPALS} | {"seller-07": "test-seller-07"}
SAMPLE_SELLER = Principal(
    id="seller-07", roles=frozenset({"seller"}), accounts=frozenset({"acct-0042", "acct-0001"})
)


def test_directory() -> PrincipalDirectory:
    by_hash = {token_hash(d.token): d.principal for d in DEMO_PRINCIPALS}
    by_hash[token_hash(TOKENS["seller-07"])] = SAMPLE_SELLER
    return PrincipalDirectory(by_hash, "test principals")


test_directory.__test__ = False  # a helper, not a test, wherever it is imported


SELLER, OTHER_SELLER, MANAGER, FINANCE, OPERATIONS = "alice", "dave", "bob", "carol", "olga"
APPROVER_WITH = {"sales_manager": MANAGER, "finance_director": FINANCE}


def bearer(who: str) -> dict[str, str]:
    """The Authorization header of demo principal ``who``."""
    return {"Authorization": f"Bearer {TOKENS[who]}"}


COMPACT = {
    "accountId": "acct-0001",
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
def local_gateway(
    caller: str | None = SELLER, principals: PrincipalDirectory | None = None, **app_options
):
    """A TestClient over a gateway whose platform lives in this process, calling as the
    demo principal ``caller`` (None: no token at all)."""
    platform = local_platform()
    app = create_app(platform, principals or test_directory(), **app_options)
    headers = bearer(caller) if caller is not None else {}
    try:
        with TestClient(app, raise_server_exceptions=False, headers=headers) as c:
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
