"""Who is acting at the gateway: bearer tokens, the caller as the actor, scoped reads.

Specified over an in-process platform (no Ray) with the demo principals: alice and dave
sell (alice on acct-0001/0002, dave on acct-0003), bob is a sales manager on all three,
carol a finance director and olga an operations lead on every account. The attacks a new
user tried before authentication existed are replayed here and must fail.
"""

from __future__ import annotations

import pytest

from cpqsim.principals import Principal
from cpqsim_actors.auth import (
    DEMO_PRINCIPALS,
    PrincipalDirectory,
    token_hash,
)

from .local_gateway import (
    COMPACT,
    FINANCE,
    MANAGER,
    OPERATIONS,
    ORDER,
    OTHER_SELLER,
    QUOTE,
    SELLER,
    accepted_quote,
    bearer,
    local_gateway,
)

CATALOG = "/tmf-api/productCatalogManagement/v4/productOffering"
CASES = "/ops/falloutCase"
HALF_OFF = {**COMPACT, "discountPct": "0.5"}
FULL_WIDTH_ALICE = "\uff41\uff4c\uff49\uff43\uff45"  # alice in full-width letters


@pytest.fixture(scope="module")
def client():
    with local_gateway() as c:  # alice, unless a request says otherwise
        yield c


def pending_approval(client, body: dict = HALF_OFF, who: str = SELLER) -> dict:
    """A quote by ``who`` priced and submitted: it waits for an approver."""
    created = client.post(QUOTE, json=body, headers=bearer(who))
    assert created.status_code == 201, created.text
    qid = created.json()["id"]
    priced = client.post(f"{QUOTE}/{qid}/price", headers=bearer(who)).json()
    assert priced["approvalRequired"], priced
    submitted = client.post(f"{QUOTE}/{qid}/submitForApproval", headers=bearer(who))
    assert submitted.status_code == 200, submitted.text
    return submitted.json()


# ------------------------------------------------------------------ authentication


def test_without_a_token_every_route_but_health_and_docs_is_401_asking_for_a_bearer():
    with local_gateway(caller=None) as anonymous:
        for path in (QUOTE, ORDER, CATALOG, CASES, "/metrics", "/ops/verdict"):
            answer = anonymous.get(path)
            assert answer.status_code == 401, path
            assert answer.headers["WWW-Authenticate"] == "Bearer"
            assert answer.json()["code"] == "unauthenticated"
        created = anonymous.post(QUOTE, json=COMPACT)
        assert created.status_code == 401
        for path in ("/health", "/docs", "/openapi.json"):
            assert anonymous.get(path).status_code == 200, path


def test_an_unknown_or_malformed_token_is_401_like_none():
    with local_gateway(caller=None) as anonymous:
        for header in ("Bearer not-a-token", "Basic YWxpY2U6eA==", "Bearer", "demo-seller-alice"):
            answer = anonymous.get(QUOTE, headers={"Authorization": header})
            assert answer.status_code == 401, header
            assert answer.headers["WWW-Authenticate"] == "Bearer"


def test_the_openapi_document_declares_bearer_security_and_the_401(client):
    spec = client.get("/openapi.json").json()
    assert spec["components"]["securitySchemes"]["HTTPBearer"]["scheme"] == "bearer"
    approve = spec["paths"][f"{QUOTE}/{{quote_id}}/approve"]["post"]
    assert approve["security"] == [{"HTTPBearer": []}]
    assert {"401", "403"} <= set(approve["responses"])
    assert spec["paths"]["/health"]["get"]["security"] == []


# ------------------------------------------------------------------ the caller acts


def test_the_requester_is_the_caller_and_a_body_naming_someone_else_is_403(client):
    created = client.post(QUOTE, json=COMPACT)
    assert created.status_code == 201
    parties = {p["role"]: p["id"] for p in created.json()["relatedParty"]}
    assert parties["Seller"] == "alice"

    as_dave = client.post(QUOTE, json={**COMPACT, "requester": "dave"})
    assert as_dave.status_code == 403 and as_dave.json()["code"] == "not_the_caller"
    spelled = client.post(QUOTE, json={**COMPACT, "requester": " ALICE "})
    assert spelled.status_code == 201  # the caller, under another spelling


def test_a_tmf648_seller_party_must_be_the_caller(client):
    body = {
        "quoteItem": [
            {
                "action": "add",
                "productOffering": {"id": "saas-suite"},
                "quoteItem": [{"productOffering": {"id": "saas-edition-standard"}}],
            }
        ],
        "relatedParty": [
            {"id": "acct-0001", "role": "Customer"},
            {"id": "bob", "role": "Seller"},
        ],
    }
    assert client.post(QUOTE, json=body).json()["code"] == "not_the_caller"
    without_seller = client.post(QUOTE, json={**body, "relatedParty": body["relatedParty"][:1]})
    assert without_seller.status_code == 201, without_seller.text
    parties = {p["role"]: p["id"] for p in without_seller.json()["relatedParty"]}
    assert parties["Seller"] == "alice"


def test_quoting_for_an_account_outside_the_callers_is_403(client):
    answer = client.post(QUOTE, json={**COMPACT, "accountId": "acct-0003"})
    assert answer.status_code == 403 and answer.json()["code"] == "account_not_yours"


def test_a_seller_writing_finance_director_in_the_body_cannot_approve_half_off(client):
    quote = pending_approval(client)
    assert quote["requiredApprovalRole"] == "finance_director"
    attack = {"approver": "carol", "role": "finance_director"}

    as_alice = client.post(f"{QUOTE}/{quote['id']}/approve", json=attack)
    as_bob = client.post(
        f"{QUOTE}/{quote['id']}/approve", json={"role": "finance_director"}, headers=bearer(MANAGER)
    )

    assert as_alice.status_code == 403 and as_alice.json()["code"] == "role_required"
    assert as_bob.status_code == 403 and as_bob.json()["code"] == "role_not_held"
    after = client.get(f"{QUOTE}/{quote['id']}").json()
    assert after["cpqsimStatus"] == "pending_approval"


def test_the_finance_director_approves_and_the_decision_names_her(client):
    quote = pending_approval(client)
    named = {"approver": "Carol ", "reason": "strategic account"}  # her id, another spelling

    approved = client.post(f"{QUOTE}/{quote['id']}/approve", json=named, headers=bearer(FINANCE))

    assert approved.status_code == 200, approved.text
    assert approved.json()["cpqsimStatus"] == "approved"
    parties = {p["role"]: p["id"] for p in approved.json()["relatedParty"]}
    assert parties["Approver"] == "carol"


def test_an_approver_naming_someone_else_in_the_body_is_403(client):
    quote = pending_approval(client)
    answer = client.post(
        f"{QUOTE}/{quote['id']}/approve", json={"approver": "bob"}, headers=bearer(FINANCE)
    )
    assert answer.status_code == 403 and answer.json()["code"] == "not_the_caller"


@pytest.mark.parametrize("spelling", ["Alice", "alice ", FULL_WIDTH_ALICE])
def test_alice_cannot_approve_her_own_quote_under_any_spelling(spelling):
    # Given alice holds both a seller's and a finance director's role
    both = Principal(
        id="alice", roles=frozenset({"seller", "finance_director"}), accounts=frozenset({"a-1"})
    )
    principals = PrincipalDirectory({token_hash("t-alice"): both}, "test")
    with local_gateway(caller=None, principals=principals) as client:
        alice = {"Authorization": "Bearer t-alice"}
        quote = pending_approval_as(client, alice)
        # When she approves the quote she requested, naming herself any way she likes
        answer = client.post(
            f"{QUOTE}/{quote['id']}/approve",
            json={"approver": spelling, "role": "finance_director"},
            headers=alice,
        )
        # Then segregation of duties refuses it (no authority: 403, recorded), and the quote
        # still waits
        assert answer.status_code == 403, answer.text
        assert answer.json()["code"] == "approval_refused"
        assert "segregation of duties" in answer.json()["message"]
        status = client.get(f"{QUOTE}/{quote['id']}", headers=alice).json()["cpqsimStatus"]
        assert status == "pending_approval"


def pending_approval_as(client, headers: dict) -> dict:
    created = client.post(QUOTE, json={**HALF_OFF, "accountId": "a-1"}, headers=headers)
    assert created.status_code == 201, created.text
    qid = created.json()["id"]
    client.post(f"{QUOTE}/{qid}/price", headers=headers)
    submitted = client.post(f"{QUOTE}/{qid}/submitForApproval", headers=headers)
    assert submitted.status_code == 200, submitted.text
    return submitted.json()


def test_a_principal_holding_several_approval_roles_names_the_one_it_acts_under():
    both = Principal(id="vic", roles=frozenset({"sales_manager", "finance_director"}))
    seller = Principal(id="sue", roles=frozenset({"seller"}), accounts=frozenset({"a-1"}))
    principals = PrincipalDirectory(
        {token_hash("t-vic"): both, token_hash("t-sue"): seller}, "test"
    )
    with local_gateway(caller=None, principals=principals) as client:
        quote = pending_approval_as(client, {"Authorization": "Bearer t-sue"})
        path = f"{QUOTE}/{quote['id']}/approve"
        vic = {"Authorization": "Bearer t-vic"}
        unnamed = client.post(path, headers=vic)
        assert unnamed.status_code == 403 and unnamed.json()["code"] == "role_ambiguous"
        named = client.post(path, json={"role": "finance_director"}, headers=vic)
        assert named.status_code == 200, named.text


def test_the_actor_of_every_fact_is_the_authenticated_principal(client):
    quote = pending_approval(client)
    client.post(f"{QUOTE}/{quote['id']}/approve", headers=bearer(FINANCE))
    events = client.portal.call(client.app.state.platform.events)
    actors = {e.name: e.actor for e in events if e.subject == f"quote/{quote['id']}"}
    assert actors["quote.created"] == "alice" and actors["quote.priced"] == "alice"
    assert actors["quote.approved"] == "carol"


# ------------------------------------------------------------------ scoped reads


def test_listings_show_only_the_callers_accounts():
    with local_gateway() as client:
        mine = accepted_quote(client)  # alice's, on acct-0001
        client.post(f"{QUOTE}/{mine['id']}/convert", headers={"Idempotency-Key": "k"})

        for path in (QUOTE, ORDER):
            as_dave = client.get(path, headers=bearer(OTHER_SELLER))
            as_alice = client.get(path)
            as_carol = client.get(path, headers=bearer(FINANCE))
            assert as_dave.json() == [] and as_dave.headers["X-Total-Count"] == "0", path
            assert as_alice.headers["X-Total-Count"] == "1", path
            assert as_carol.headers["X-Total-Count"] == "1", path


def test_another_accounts_quote_or_order_reads_as_absent_and_cannot_be_touched(client):
    quote = accepted_quote(client)
    made = client.post(f"{QUOTE}/{quote['id']}/convert", headers={"Idempotency-Key": "k2"})
    order_id = made.json()["id"]
    dave = bearer(OTHER_SELLER)

    hidden = client.get(f"{QUOTE}/{quote['id']}", headers=dave)
    absent = client.get(f"{QUOTE}/Q-DOES-NOT-EXIST", headers=dave)
    assert hidden.status_code == absent.status_code == 404
    assert hidden.json()["code"] == absent.json()["code"] == "unknown_quote"
    for action in ("price", "accept", "cancel"):
        answer = client.post(f"{QUOTE}/{quote['id']}/{action}", headers=dave)
        assert answer.status_code == 404, action
    convert = client.post(
        f"{QUOTE}/{quote['id']}/convert", headers={**dave, "Idempotency-Key": "other"}
    )
    assert convert.status_code == 404
    assert client.get(f"{ORDER}/{order_id}", headers=dave).status_code == 404
    assert client.get(f"{ORDER}/{order_id}/timeline", headers=dave).status_code == 404
    cancel = client.post(
        "/tmf-api/productOrderingManagement/v4/cancelProductOrder",
        json={"productOrder": {"id": order_id}},
        headers=dave,
    )
    assert cancel.status_code == 404
    assert client.get(f"{ORDER}/{order_id}", headers=bearer(MANAGER)).status_code == 200


def test_views_over_every_account_are_for_unscoped_principals(client):
    verdict = client.get("/ops/verdict", params={"settleSeconds": 0})
    assert verdict.status_code == 403 and verdict.json()["code"] == "all_accounts_required"
    hub = client.post("/tmf-api/quoteManagement/v4/hub", json={"callback": "http://127.0.0.1:9/x"})
    assert hub.status_code == 403
    ops = client.get("/ops/verdict", params={"settleSeconds": 0}, headers=bearer(OPERATIONS))
    assert ops.status_code == 200


def test_a_seller_cannot_cancel_an_order_on_behalf_of_operations(client):
    quote = accepted_quote(client)
    made = client.post(f"{QUOTE}/{quote['id']}/convert", headers={"Idempotency-Key": "k3"})
    answer = client.post(
        "/tmf-api/productOrderingManagement/v4/cancelProductOrder",
        json={"productOrder": {"id": made.json()["id"]}, "requestedBy": "operations"},
    )
    assert answer.status_code == 403 and answer.json()["code"] == "role_required"


def test_the_demo_principals_cover_every_role_the_gateway_asks_for():
    roles = {role for d in DEMO_PRINCIPALS for role in d.principal.roles}
    assert {"seller", "sales_manager", "finance_director", "operations_lead"} <= roles
    assert len({d.token for d in DEMO_PRINCIPALS}) == len(DEMO_PRINCIPALS)


def test_a_role_named_in_another_case_is_the_callers_own_role():
    with local_gateway() as client:
        quote = pending_approval(client, {**COMPACT, "discountPct": "0.15"})
        assert quote["requiredApprovalRole"] == "sales_manager"
        approved = client.post(
            f"{QUOTE}/{quote['id']}/approve",
            json={"role": " Sales_Manager"},
            headers=bearer(MANAGER),
        )
        assert approved.status_code == 200, approved.text
        auth = approved.json()["authorization"]
        assert auth[0]["name"] == "approval by sales_manager"
