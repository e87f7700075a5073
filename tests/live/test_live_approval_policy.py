"""Over HTTP, the approval policy in force: read it, replace it by version, decide under it.

Runs over an in-process platform (no Ray): the same actor classes Ray would host.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from cpqsim.principals import Principal
from cpqsim_actors.auth import DEMO_PRINCIPALS, PrincipalDirectory, token_hash
from cpqsim_scenarios.approval_policy_file import load_approval_policy

from .local_gateway import COMPACT, FINANCE, MANAGER, QUOTE, bearer, local_gateway

POLICY = "/policy/approvalPolicy"
SAMPLE = (
    Path(__file__).resolve().parents[2]
    / "scenarios"
    / "library"
    / "catalog"
    / "approval_policy.yaml"
)


# A manager who also holds the finance role: the one person who could try both steps.
BOTH = Principal(id="max", roles=frozenset({"sales_manager", "finance_director"}), accounts=None)
AS_MAX = {"Authorization": "Bearer t-max"}
AS_FINANCE = bearer(FINANCE)


def directory() -> PrincipalDirectory:
    by_hash = {token_hash(d.token): d.principal for d in DEMO_PRINCIPALS}
    by_hash[token_hash("t-max")] = BOTH
    return PrincipalDirectory(by_hash, "test principals")


@pytest.fixture
def client():
    with local_gateway(principals=directory()) as c:  # calls as alice, a seller
        yield c


def test_a_seller_cannot_put_an_approval_policy(client):
    refused = client.put(POLICY, json=sample_body())
    assert refused.status_code == 403 and refused.json()["code"] == "role_required"
    assert client.get(POLICY).json()["version"] == "approval-policy-v1"


def sample_body() -> dict:
    return load_approval_policy(SAMPLE).model_dump(mode="json")


def test_the_embedded_default_is_in_force_until_a_version_is_put(client):
    shown = client.get(POLICY)
    assert shown.status_code == 200
    assert shown.json()["version"] == "approval-policy-v1"


def test_a_contradictory_policy_is_a_422_naming_the_rules(client):
    body = {
        "version": "bad-1",
        "role_rank": ["sales_manager", "finance_director"],
        "rules": [
            {"id": "wide", "discount_above": "0.10", "role": "finance_director"},
            {
                "id": "narrow",
                "discount_above": "0.20",
                "regions": ["EMEA"],
                "role": "sales_manager",
            },
        ],
    }
    refused = client.put(POLICY, json=body, headers=AS_FINANCE)
    assert refused.status_code == 422, refused.text
    [violation] = refused.json()["violations"]
    assert violation["field"] == "rules[1]"
    assert "'narrow'" in violation["reason"] and "'wide'" in violation["reason"]
    assert client.get(POLICY).json()["version"] == "approval-policy-v1"  # nothing changed


def test_a_version_names_one_content(client):
    body = sample_body()
    assert client.put(POLICY, json=body, headers=AS_FINANCE).status_code == 201
    assert (
        client.put(POLICY, json=body, headers=AS_FINANCE).status_code == 200
    )  # the same again: no change
    changed = {**body, "description": "other rules, same version"}
    conflict = client.put(POLICY, json=changed, headers=AS_FINANCE)
    assert conflict.status_code == 409 and "new version" in conflict.json()["message"]


def test_decisions_follow_the_new_policy_and_record_its_version(client):
    # Given the sample policy in force (above 25 %: a sales manager, then finance)
    assert client.put(POLICY, json=sample_body(), headers=AS_FINANCE).status_code == 201
    created = client.post(QUOTE, json={**COMPACT, "discountPct": "0.30"})
    qid = created.json()["id"]
    assert client.post(f"{QUOTE}/{qid}/price").json()["approvalRequired"] is True
    assert client.post(f"{QUOTE}/{qid}/submitForApproval").status_code == 200
    # When the manager approves step 1, then claims the finance step too
    step1 = client.post(f"{QUOTE}/{qid}/approve", json={"role": "sales_manager"}, headers=AS_MAX)
    assert step1.status_code == 200 and step1.json()["cpqsimStatus"] == "pending_approval"
    twice = client.post(
        f"{QUOTE}/{qid}/approve",
        json={"approver": "Max ", "role": "finance_director"},
        headers=AS_MAX,
    )
    # Then the second attempt is a 403, recorded; a finance director completes the chain
    assert twice.status_code == 403 and "already approved a step" in twice.json()["message"]
    final = client.post(f"{QUOTE}/{qid}/approve", headers=AS_FINANCE)
    assert final.status_code == 200 and final.json()["cpqsimStatus"] == "approved"
    platform = client.app.state.platform
    facts = [e for e in client.portal.call(platform.events) if e.subject == f"quote/{qid}"]
    names = [e.name for e in facts]
    assert names.count("quote.approval_refused") == 1
    decided = [e for e in facts if e.name in ("quote.approval_step_approved", "quote.approved")]
    assert [e.data["policy_version"] for e in decided] == ["enterprise-approval-2026.11"] * 2


def test_a_quote_priced_under_the_previous_version_is_priced_again_before_a_decision(client):
    created = client.post(QUOTE, json={**COMPACT, "discountPct": "0.15"})
    qid = created.json()["id"]
    client.post(f"{QUOTE}/{qid}/price")
    client.post(f"{QUOTE}/{qid}/submitForApproval")
    assert client.put(POLICY, json=sample_body(), headers=AS_FINANCE).status_code == 201
    stale = client.post(f"{QUOTE}/{qid}/approve", headers=bearer(MANAGER))
    assert stale.status_code == 409 and stale.json()["code"] == "stale_approval_policy"
