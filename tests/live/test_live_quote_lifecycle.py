"""Over HTTP: present a quote, accept its proposal by hash, watch an offer lapse, and read
(and re-verify) a quote's evidence package."""

from __future__ import annotations

import time
from contextlib import contextmanager

from fastapi.testclient import TestClient

from cpqsim.quote_policy import QuotePolicy
from cpqsim_actors.gateway import create_app

from .local_gateway import (
    COMPACT,
    QUOTE,
    QUOTE_DOC,
    SELLER,
    bearer,
    local_platform,
    test_directory,
    tmf_validator,
)


@contextmanager
def gateway(**config):
    platform = local_platform(**config)
    try:
        app = create_app(platform, test_directory())
        with TestClient(app, raise_server_exceptions=False, headers=bearer(SELLER)) as client:
            yield client  # calling as alice, a seller of COMPACT's account
    finally:
        platform.shutdown()


def presented_quote(client) -> dict:
    qid = client.post(QUOTE, json=COMPACT).json()["id"]
    assert client.post(f"{QUOTE}/{qid}/price").status_code == 200
    shown = client.post(f"{QUOTE}/{qid}/present")
    assert shown.status_code == 200, shown.text
    return shown.json()


def test_a_presented_quote_shows_its_proposal_hash_and_validity_as_a_tmf648_quote():
    with gateway() as client:
        body = presented_quote(client)
    assert body["cpqsimStatus"] == "presented" and body["state"] == "approved"
    assert len(body["proposalSha256"]) == 64
    assert body["validFor"]["endDateTime"] > body["validFor"]["startDateTime"]
    assert body["eligibility"] == "UNKNOWN" and "provide segment" in body["requiredActions"]
    assert not list(tmf_validator(QUOTE_DOC, "Quote").iter_errors(body))


def test_acceptance_names_the_proposal_and_another_hash_is_refused():
    with gateway() as client:
        body = presented_quote(client)
        qid = body["id"]
        wrong = client.post(f"{QUOTE}/{qid}/accept", json={"proposalSha256": "0" * 64})
        assert wrong.status_code == 409 and wrong.json()["code"] == "proposal_mismatch"
        right = client.post(
            f"{QUOTE}/{qid}/accept", json={"proposalSha256": body["proposalSha256"]}
        )
        assert right.status_code == 200 and right.json()["cpqsimStatus"] == "accepted"


def test_the_validity_watch_expires_an_offer_made_over_http_and_conversion_is_refused():
    # 0.01 h = 36 virtual seconds = 18 wall ms at the test time scale
    with gateway(quote_policy=QuotePolicy(validity_hours=0.01)) as client:
        qid = presented_quote(client)["id"]
        deadline = time.monotonic() + 10
        while client.get(f"{QUOTE}/{qid}").json()["cpqsimStatus"] != "expired":
            assert time.monotonic() < deadline, "the validity watch never expired the offer"
            time.sleep(0.1)
        refused = client.post(f"{QUOTE}/{qid}/convert", headers={"Idempotency-Key": "k"})
        assert refused.status_code == 409 and refused.json()["code"] == "quote_expired"


def test_the_evidence_package_of_a_converted_quote_verifies():
    with gateway() as client:
        body = presented_quote(client)
        qid = body["id"]
        accept = {"proposalSha256": body["proposalSha256"]}
        assert client.post(f"{QUOTE}/{qid}/accept", json=accept).status_code == 200
        converted = client.post(f"{QUOTE}/{qid}/convert", headers={"Idempotency-Key": "e-1"})
        assert converted.status_code == 201, converted.text
        package = client.get(f"{QUOTE}/{qid}/evidencePackage", params={"verify": "true"})
        assert package.status_code == 200, package.text
        evidence = package.json()
        assert client.get(f"{QUOTE}/nope/evidencePackage").status_code == 404
    assert evidence["order_id"] == converted.json()["id"]
    assert evidence["proposal"]["sha256"] == body["proposalSha256"]
    assert evidence["acceptance"]["proposal_sha256"] == body["proposalSha256"]
    assert evidence["verification"]["ok"] is True, evidence["verification"]


def test_a_clone_replaces_its_source_which_goes_superseded_referring_to_it():
    with gateway() as client:
        source = presented_quote(client)
        clone = client.post(f"{QUOTE}/{source['id']}/clone", json={"supersede": True})
        assert clone.status_code == 201, clone.text
        new = clone.json()
        old = client.get(f"{QUOTE}/{source['id']}").json()
        assert new["id"] != source["id"] and new["cpqsimStatus"] == "draft"
        assert new["version"] == "1" and "proposalSha256" not in new
        assert old["cpqsimStatus"] == "superseded" and old["supersededBy"] == new["id"]
        # an accepted quote can still be copied, but it is never superseded
        accepted = client.post(f"{QUOTE}/{new['id']}/price")
        assert client.post(f"{QUOTE}/{new['id']}/accept").status_code == 200, accepted.text
        refused = client.post(f"{QUOTE}/{new['id']}/clone", json={"supersede": True})
        assert refused.status_code == 409
        assert client.post(f"{QUOTE}/{new['id']}/clone").status_code == 201
        assert client.post(f"{QUOTE}/nope/clone").status_code == 404
