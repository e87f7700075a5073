"""The installed base over HTTP: TMF637 products, and TMF648/TMF622 items that change them.

Runs over an in-process platform seeded with an installed base (no Ray: the HTTP contract
does not depend on where the actors live). Every product answer is checked against the
official TMF637 ``Product`` definition, every refusal against TMF ``Error``.
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from datetime import date
from decimal import Decimal

import pytest
from fastapi.testclient import TestClient

from cpqsim.asset import AssetChangeApplied, AssetChangeLocked, AssetCreated
from cpqsim.configuration import QuoteLine
from cpqsim.quote import AcceptQuote, CreateQuote, PriceQuote
from cpqsim_actors.gateway import create_app
from cpqsim_actors.handles import LocalBackend
from cpqsim_actors.platform import LivePlatform, PlatformConfig

from .conftest import shortened
from .local_gateway import (
    COMPACT,
    ORDER,
    ORDER_DOC,
    QUOTE,
    QUOTE_DOC,
    bearer,
    local_platform,
    test_directory,
    tmf_validator,
)

PRODUCT = "/tmf-api/productInventory/v4/product"
STANDARD = "saas-edition-standard"
INVENTORY_DOC = "TMF637_product_inventory_v4.0.0.swagger.json"


def created(asset_id: str, account: str = "acct-0001", **fields) -> AssetCreated:
    values = {
        "offering": "saas-suite@2",
        "quantity": 10,
        "options": ["saas-edition-standard"],
        "subscription_id": f"sub-{asset_id}",
        "recurring_monthly": Decimal("12.50"),
        "currency": "USD",
        "term_start": date(2026, 1, 1),
        "term_end": date(2027, 1, 1),
        "order_id": "ORD-SEED",
        "item_id": "1",
    }
    return AssetCreated(asset_id=asset_id, account_id=account, **(values | fields))


def changed(asset_id: str, action: str, version: int, order: str) -> list:
    """A change already made before the run: locked, then applied."""
    return [
        AssetChangeLocked(
            asset_id=asset_id, order_id=order, item_id="1", action=action, asset_version=version
        ),
        AssetChangeApplied(
            asset_id=asset_id, order_id=order, item_id="1", action=action, asset_version=version + 1
        ),
    ]


#: alice (acct-0001, acct-0002) has a standard suite with an add-on, a suspended suite, a
#: disconnected one, a premium one and one held by a disconnect in flight; dave's account
#: (acct-0003) has one suite.
INSTALLED = (
    created("A-1", characteristics={"data_residency": "EU"}),
    created(
        "A-1.1",
        offering="saas-extra-storage",
        role="add_on",
        parent_id="A-1",
        options=[],
        subscription_id="sub-A-1.1",
        recurring_monthly=Decimal("2.00"),
    ),
    created("A-2", account="acct-0002", quantity=5),
    *changed("A-2", "suspend", 1, "ORD-SUSPEND"),
    created("A-3"),
    *changed("A-3", "disconnect", 1, "ORD-STOP"),
    created("A-4", options=["saas-edition-premium"]),
    created("A-5"),
    AssetChangeLocked(
        asset_id="A-5", order_id="ORD-INFLIGHT", item_id="1", action="disconnect", asset_version=1
    ),
    created("D-1", account="acct-0003"),
)


@pytest.fixture(scope="module")
def client():
    platform = local_platform(installed_base=INSTALLED)
    app = create_app(platform, test_directory())
    try:
        with TestClient(app, raise_server_exceptions=False, headers=bearer("alice")) as c:
            yield c
    finally:
        platform.shutdown()


@pytest.fixture(scope="module")
def schemas():
    return {
        "Product": tmf_validator(INVENTORY_DOC, "Product"),
        "Error": tmf_validator(INVENTORY_DOC, "Error"),
        "Quote": tmf_validator(QUOTE_DOC, "Quote"),
        "Quote_Create": tmf_validator(QUOTE_DOC, "Quote_Create"),
        "ProductOrder": tmf_validator(ORDER_DOC, "ProductOrder"),
        "ProductOrder_Create": tmf_validator(ORDER_DOC, "ProductOrder_Create"),
    }


def conforms(validator, body) -> None:
    problems = [f"{list(e.path)}: {e.message}" for e in validator.iter_errors(body)]
    assert not problems, problems


def ids(response) -> list[str]:
    return [p["id"] for p in response.json()]


# ------------------------------------------------------------------------ TMF637 list/get


def test_the_list_shows_the_callers_accounts_products_oldest_first_as_tmf637(client, schemas):
    listed = client.get(PRODUCT)

    assert listed.status_code == 200, listed.text
    assert ids(listed) == ["A-1", "A-1.1", "A-2", "A-3", "A-4", "A-5"]  # not dave's D-1
    assert listed.headers["X-Total-Count"] == "6"
    for product in listed.json():
        conforms(schemas["Product"], product)


def test_filters_by_account_as_tmf637_spells_it_and_by_status(client):
    assert ids(client.get(PRODUCT, params={"relatedParty.id": "acct-0002"})) == ["A-2"]
    assert ids(client.get(PRODUCT, params={"billingAccount.id": "acct-0002"})) == ["A-2"]
    # another account's filter finds nothing for a caller who may not see it
    assert ids(client.get(PRODUCT, params={"relatedParty.id": "acct-0003"})) == []
    assert ids(client.get(PRODUCT, params={"status": "suspended"})) == ["A-2"]
    assert ids(client.get(PRODUCT, params={"status": "terminated"})) == ["A-3"]
    assert ids(client.get(PRODUCT, params={"status": "pendingTerminate"})) == ["A-5"]
    assert ids(client.get(PRODUCT, params={"status": "active,suspended"})) == [
        "A-1",
        "A-1.1",
        "A-2",
        "A-4",
    ]
    assert ids(client.get(PRODUCT, params={"productOffering.id": "saas-extra-storage"})) == [
        "A-1.1"
    ]


def test_pages_and_fields_like_the_other_tmf_lists(client):
    page = client.get(PRODUCT, params={"limit": 2, "offset": 1, "fields": "status,quantity"})

    assert page.status_code == 200
    assert page.headers["X-Total-Count"] == "6"
    assert page.headers["X-Result-Count"] == "2"
    assert page.json() == [
        {
            "id": "A-1.1",
            "href": page.json()[0]["href"],
            "@type": "Product",
            "status": "active",
            "quantity": 10,
        },
        {
            "id": "A-2",
            "href": page.json()[1]["href"],
            "@type": "Product",
            "status": "suspended",
            "quantity": 5,
        },
    ]


def test_an_unknown_status_or_parameter_is_a_400(client, schemas):
    refused = client.get(PRODUCT, params={"status": "pendingChange"})
    assert refused.status_code == 400
    conforms(schemas["Error"], refused.json())
    assert refused.json()["code"] == "invalid_status"
    assert client.get(PRODUCT, params={"account": "acct-0001"}).status_code == 400


def test_a_product_reads_as_the_asset_it_is(client, schemas):
    got = client.get(f"{PRODUCT}/A-1")

    assert got.status_code == 200, got.text
    product = got.json()
    conforms(schemas["Product"], product)
    assert product["status"] == "active"
    assert product["productOffering"]["id"] == "saas-suite"
    assert product["productOffering"]["href"].endswith("/productOffering/saas-suite@2")
    assert product["productCharacteristic"] == [
        {"name": "data_residency", "value": "EU", "valueType": "string"}
    ]
    (relationship,) = product["productRelationship"]
    assert relationship["product"]["href"].endswith(f"{PRODUCT}/A-1.1")
    assert product["productOrderItem"][0]["productOrderId"] == "ORD-SEED"
    assert product["productOrderItem"][0]["orderItemAction"] == "add"
    assert product["billingAccount"]["id"] == "acct-0001"
    assert {p["role"]: p["id"] for p in product["relatedParty"]} == {"Customer": "acct-0001"}
    assert product["billingSubscription"]["id"] == "sub-A-1"
    assert product["assetVersion"] == 1
    assert product["quantity"] == 10
    assert product["productPrice"][0]["price"]["dutyFreeAmount"] == {"unit": "USD", "value": 125.0}
    assert product["productTerm"][0]["validFor"] == {
        "startDateTime": "2026-01-01T00:00:00.000Z",
        "endDateTime": "2027-01-01T00:00:00.000Z",
    }


def test_an_add_on_relies_on_its_parent(client):
    child = client.get(f"{PRODUCT}/A-1.1").json()
    assert [(r["relationshipType"], r["product"]["id"]) for r in child["productRelationship"]] == [
        ("reliesOn", "A-1")
    ]
    parent = client.get(f"{PRODUCT}/A-1").json()
    assert [(r["relationshipType"], r["product"]["id"]) for r in parent["productRelationship"]] == [
        ("isReliedOnBy", "A-1.1")
    ]


def test_statuses_map_through_the_table_and_changes_are_listed_as_order_items(client):
    suspended = client.get(f"{PRODUCT}/A-2").json()
    assert (suspended["status"], suspended["cpqsimStatus"], suspended["assetVersion"]) == (
        "suspended",
        "suspended",
        2,
    )
    assert [(o["productOrderId"], o["orderItemAction"]) for o in suspended["productOrderItem"]] == [
        ("ORD-SEED", "add"),
        ("ORD-SUSPEND", "modify"),
    ]
    stopped = client.get(f"{PRODUCT}/A-3").json()
    assert stopped["status"] == "terminated"
    assert stopped["productOrderItem"][-1]["orderItemAction"] == "delete"
    assert "terminationDate" in stopped
    held = client.get(f"{PRODUCT}/A-5").json()
    assert (held["status"], held["cpqsimStatus"]) == ("pendingTerminate", "pending_change")
    assert held["pendingChange"]["productOrderId"] == "ORD-INFLIGHT"


def test_another_accounts_product_is_a_404_like_one_that_does_not_exist(client, schemas):
    for product_id in ("D-1", "NO-SUCH"):
        missing = client.get(f"{PRODUCT}/{product_id}")
        assert missing.status_code == 404, missing.text
        conforms(schemas["Error"], missing.json())
        assert missing.json()["code"] == "unknown_product"
    assert client.get(f"{PRODUCT}/D-1", headers=bearer("dave")).status_code == 200
    assert ids(client.get(PRODUCT, headers=bearer("carol"))) == [
        "A-1",
        "A-1.1",
        "A-2",
        "A-3",
        "A-4",
        "A-5",
        "D-1",
    ]


def test_a_product_answers_only_the_fields_asked_for(client):
    got = client.get(f"{PRODUCT}/A-1", params={"fields": "status"})
    assert set(got.json()) == {"id", "href", "@type", "status"}


# ------------------------------------------------------------------- TMF648 change items


ACCOUNT_OF = {"A-2": "acct-0002"}  # the others named in change items are acct-0001's


def change_quote(*items: dict, account: str | None = None) -> dict:
    named = [i["product"].get("id") for i in items if "product" in i]
    account = account or next((ACCOUNT_OF[n] for n in named if n in ACCOUNT_OF), "acct-0001")
    return {
        "quoteItem": list(items),
        "relatedParty": [
            {"id": account, "role": "Customer", "@referredType": "Organization"},
            {"id": "alice", "role": "Seller", "@referredType": "Individual"},
        ],
    }


def item(action: str, product: dict | None = None, **fields) -> dict:
    body = {"id": "1", "action": action, **fields}
    if product is not None:
        body["product"] = product
    return body


def created_lines(client, body: dict, schemas) -> list[dict]:
    conforms(schemas["Quote_Create"], body)
    answer = client.post(QUOTE, json=body)
    assert answer.status_code == 201, answer.text
    conforms(schemas["Quote"], answer.json())
    return answer.json()["quoteItem"]


@pytest.mark.parametrize(
    ("tmf_item", "action", "offering"),
    [
        (item("modify", {"id": "A-1"}, quantity=12), "modify", "saas-suite"),
        (
            item(
                "modify",
                {"id": "A-1"},
                quoteItem=[{"productOffering": {"id": "saas-edition-premium"}}],
            ),
            "upgrade",
            "saas-suite",
        ),
        (
            item(
                "modify",
                {"id": "A-1"},
                quoteItem=[{"productOffering": {"id": "saas-edition-premium"}}],
                cpqsimAction="upgrade",
            ),
            "upgrade",
            "saas-suite",
        ),
        (item("modify", {"id": "A-1", "status": "suspended"}), "suspend", "saas-suite"),
        (item("modify", {"id": "A-2", "status": "active"}), "resume", "saas-suite"),
        (item("modify", {"id": "A-1"}, cpqsimAction="renew"), "renew", "saas-suite"),
        (item("delete", {"id": "A-1"}), "disconnect", "saas-suite"),
    ],
    ids=["modify", "upgrade-by-catalog", "upgrade-named", "suspend", "resume", "renew", "delete"],
)
def test_a_tmf648_item_acting_on_a_product_quotes_that_change(
    client, schemas, tmf_item, action, offering
):
    (line,) = created_lines(client, change_quote(tmf_item), schemas)

    assert line["action"] == ("delete" if action == "disconnect" else "modify")
    assert line["cpqsimAction"] == action
    assert line["product"]["id"] == tmf_item["product"]["id"]
    assert line["assetVersion"] == (2 if tmf_item["product"]["id"] == "A-2" else 1)
    assert line["productOffering"]["id"] == offering


def test_upgrade_or_downgrade_is_told_from_the_catalog_relation(client, schemas):
    def moved(asset_id: str, edition: str) -> str:
        body = change_quote(
            item("modify", {"id": asset_id}, quoteItem=[{"productOffering": {"id": edition}}])
        )
        return created_lines(client, body, schemas)[0]["cpqsimAction"]

    assert moved("A-1", "saas-edition-premium") == "upgrade"  # standard upgradesTo premium
    assert moved("A-4", "saas-edition-standard") == "downgrade"  # premium downgradesTo standard


def test_an_add_item_relying_on_a_product_adds_an_add_on_under_it(client, schemas):
    # single sign-on needs the premium edition: A-4 has it
    body = change_quote(
        item(
            "add",
            {"productRelationship": [{"relationshipType": "reliesOn", "product": {"id": "A-4"}}]},
            productOffering={"id": "saas-sso"},
        )
    )
    (line,) = created_lines(client, body, schemas)
    assert line["action"] == "add"
    assert line["product"]["productRelationship"][0]["product"]["id"] == "A-4"


def test_the_compact_body_carries_the_change_too(client):
    answer = client.post(
        QUOTE,
        json={
            "accountId": "acct-0001",
            "lines": [
                {
                    "offering": "saas-suite@2",
                    "quantity": 15,
                    "options": ["saas-edition-standard"],
                    "action": "modify",
                    "assetId": "A-1",
                    "assetVersion": 1,
                }
            ],
        },
    )
    assert answer.status_code == 201, answer.text
    assert answer.json()["quoteItem"][0]["cpqsimAction"] == "modify"


@pytest.mark.parametrize(
    ("tmf_item", "status", "code", "rule"),
    [
        (item("modify", {"id": "NO-SUCH"}, quantity=3), 422, "invalid_quote", None),
        (item("modify", {"id": "D-1"}, quantity=3), 422, "invalid_quote", None),
        (item("delete", {"id": "A-3"}), 422, "change_refused", "asset_disconnected"),
        (
            item(
                "modify",
                {"id": "A-1"},
                quoteItem=[{"productOffering": {"id": "saas-edition-premium"}}],
                cpqsimAction="downgrade",
            ),
            422,
            "change_refused",
            "downgrade_not_allowed",
        ),
        (
            item(
                "modify",
                {
                    "id": "A-1",
                    "productCharacteristic": [{"name": "data_residency", "value": "MARS"}],
                },
            ),
            422,
            "change_refused",
            None,
        ),
        (
            item("modify", {"id": "A-5"}, quantity=3),
            409,
            "change_in_flight",
            "asset_pending_change",
        ),
        (item("modify", {"id": "A-1"}), 422, "change_refused", "nothing_to_change"),
        (item("modify", {"id": "A-2", "status": "suspended"}), 422, "change_refused", None),
    ],
    ids=[
        "unknown-product",
        "another-accounts-product",
        "disconnected",
        "not-allowed-by-catalog",
        "characteristic-value-not-allowed",
        "second-change-in-flight",
        "nothing-changes",
        "suspend-a-suspended",
    ],
)
def test_a_change_the_installed_base_refuses_is_a_4xx_naming_why_and_nothing_is_quoted(
    client, schemas, tmf_item, status, code, rule
):
    before = client.get(QUOTE, params={"limit": 1}).headers["X-Total-Count"]

    refused = client.post(QUOTE, json=change_quote(tmf_item))

    assert refused.status_code == status, refused.text
    conforms(schemas["Error"], refused.json())
    assert refused.json()["code"] == code
    violations = refused.json()["violations"]
    assert all(v["field"].startswith("quoteItem[0]") for v in violations), violations
    if rule is not None:
        assert rule in [v["rule"] for v in violations]
    assert client.get(QUOTE, params={"limit": 1}).headers["X-Total-Count"] == before


# ------------------------------------------------------------------- TMF622 change items


def accepted(client, body: dict) -> dict:
    created_ = client.post(QUOTE, json=body)
    assert created_.status_code == 201, created_.text
    qid = created_.json()["id"]
    assert client.post(f"{QUOTE}/{qid}/price").status_code == 200
    answer = client.post(f"{QUOTE}/{qid}/accept")
    assert answer.status_code == 200, answer.text
    return answer.json()


def order_body(quote: dict, **item_fields) -> dict:
    return {
        "productOrderItem": [
            {
                "id": "1",
                "quoteItem": {"id": "1", "quoteId": quote["id"]},
                **item_fields,
            }
        ],
        "quote": [{"id": quote["id"], "href": quote["href"]}],
        "relatedParty": [{"id": "acct-0001", "role": "Customer", "@referredType": "Organization"}],
    }


def test_a_tmf622_modify_item_orders_the_change_its_quote_item_made(fresh_client, schemas):
    client = fresh_client  # the order locks A-1: a platform of its own
    quote = accepted(client, change_quote(item("modify", {"id": "A-1"}, quantity=14)))
    body = order_body(quote, action="modify", product={"id": "A-1"})
    conforms(schemas["ProductOrder_Create"], body)

    ordered = client.post(ORDER, json=body, headers={"Idempotency-Key": "modify-A-1"})

    assert ordered.status_code == 201, ordered.text
    conforms(schemas["ProductOrder"], ordered.json())
    (ordered_item,) = ordered.json()["productOrderItem"]
    assert (ordered_item["action"], ordered_item["cpqsimAction"]) == ("modify", "modify")
    assert ordered_item["product"]["id"] == "A-1"
    assert ordered_item["product"]["href"].endswith(f"{PRODUCT}/A-1")


@pytest.mark.parametrize(
    ("item_fields", "field"),
    [
        ({"action": "add"}, "productOrderItem[0].action"),
        ({"action": "delete", "product": {"id": "A-1"}}, "productOrderItem[0].action"),
        ({"action": "modify", "product": {"id": "A-2"}}, "productOrderItem[0].product.id"),
        ({"action": "modify", "cpqsimAction": "renew"}, "productOrderItem[0].cpqsimAction"),
        ({"action": "noChange"}, "productOrderItem[0].action"),
    ],
    ids=["add-for-modify", "delete-for-modify", "other-product", "other-change", "no-action"],
)
def test_a_tmf622_item_that_does_not_do_what_its_quote_item_said_is_a_422(
    client, item_fields, field
):
    quote = accepted(client, change_quote(item("modify", {"id": "A-1"}, quantity=16)))

    refused = client.post(
        ORDER, json=order_body(quote, **item_fields), headers={"Idempotency-Key": "k-" + field}
    )

    assert refused.status_code == 422, refused.text
    assert field in [v["field"] for v in refused.json()["violations"]]


def test_a_revision_that_changes_an_asset_is_judged_against_the_installed_base_too(client):
    quote = client.post(QUOTE, json=change_quote(item("modify", {"id": "A-1"}, quantity=11)))
    assert quote.status_code == 201, quote.text
    line = {
        "offering": "saas-suite@2",
        "quantity": 11,
        "options": ["saas-edition-standard"],
        "action": "modify",
        "assetId": "A-5",  # held by a disconnect in flight
    }

    refused = client.post(f"{QUOTE}/{quote.json()['id']}/revise", json={"lines": [line]})

    assert refused.status_code == 409, refused.text
    assert refused.json()["violations"][0]["field"] == "lines[0]"


# ------------------------------------------------------------------- journal and restart


def journaled_platform(journal_dir, installed_base=INSTALLED):
    loaded = shortened("happy_path")
    return LivePlatform(
        PlatformConfig(
            catalog=loaded.catalog,
            downstream=dict(loaded.scenario.downstream),
            policy=loaded.scenario.resilience_policy(),
            time_scale=0.0005,
            journal_dir=journal_dir,
            installed_base=installed_base,
        ),
        backend=LocalBackend(),
    )


def test_the_installed_base_survives_an_inventory_restart_and_is_seeded_only_once(tmp_path):
    async def scenario():
        platform = journaled_platform(tmp_path)
        try:
            await platform.start()
            before = await platform.events()
            platform.restart("inventory")  # dies as a process dies; replays its journal
            after_restart = await platform.events()
            suspended = await platform.get_product("A-2")
        finally:
            platform.shutdown()
        again = journaled_platform(tmp_path, installed_base=(created("Z-1"),))
        try:
            await again.start()
            reopened = await again.events()
            missing = await again.get_product("Z-1")
        finally:
            again.shutdown()
        return before, after_restart, suspended, reopened, missing

    before, after_restart, suspended, reopened, missing = asyncio.run(scenario())

    assert len(before) == len(INSTALLED)  # every seeded fact journaled once, as a fact
    assert [e.id for e in after_restart] == [e.id for e in before]
    assert (suspended["asset"].status.value, suspended["asset"].version) == ("suspended", 2)
    assert [e.id for e in reopened] == [e.id for e in before]  # the journal wins: no reseed
    assert missing is None


# ------------------------------------------------------------ orders change the products


def eventually(read, done, timeout_s: float = 20.0):
    """Read until ``done(answer)`` (the order runs on its own) or the time is up."""
    deadline = time.monotonic() + timeout_s
    answer = read()
    while not done(answer) and time.monotonic() < deadline:
        time.sleep(0.05)
        answer = read()
    return answer


def order_change(client, tmf_item: dict, key: str) -> dict:
    quote = accepted(client, change_quote(tmf_item))
    action = tmf_item["action"]
    body = order_body(quote, action=action, product={"id": tmf_item["product"]["id"]})
    ordered = client.post(ORDER, json=body, headers={"Idempotency-Key": key})
    assert ordered.status_code == 201, ordered.text
    return ordered.json()


@pytest.fixture
def fresh_client():
    """A platform of its own: these specifications change the installed base."""
    platform = local_platform(installed_base=INSTALLED)
    app = create_app(platform, test_directory())
    try:
        with TestClient(app, raise_server_exceptions=False, headers=bearer("alice")) as c:
            yield c
    finally:
        platform.shutdown()


def test_a_modify_order_changes_the_product_once_fulfilled(fresh_client):
    client = fresh_client

    order = order_change(client, item("modify", {"id": "A-1"}, quantity=14), "grow-A-1")

    done = eventually(lambda: client.get(f"{PRODUCT}/A-1").json(), lambda p: p["assetVersion"] == 2)
    assert (done["quantity"], done["status"], done["cpqsimStatus"]) == (14, "active", "active")
    assert done["productOrderItem"][-1]["productOrderId"] == order["id"]
    assert done["productOrderItem"][-1]["orderItemAction"] == "modify"


def test_a_suspend_then_a_delete_move_the_product_through_its_statuses(fresh_client):
    client = fresh_client

    order_change(client, item("modify", {"id": "A-4", "status": "suspended"}), "pause-A-4")
    paused = eventually(
        lambda: client.get(f"{PRODUCT}/A-4").json(), lambda p: p["status"] == "suspended"
    )
    assert (paused["status"], paused["assetVersion"]) == ("suspended", 2)
    order_change(client, item("delete", {"id": "A-4"}), "stop-A-4")
    gone = eventually(
        lambda: client.get(f"{PRODUCT}/A-4").json(), lambda p: p["status"] == "terminated"
    )
    assert (gone["status"], gone["assetVersion"]) == ("terminated", 3)
    assert "terminationDate" in gone


def test_of_two_orders_racing_on_one_product_one_wins_and_the_other_is_rejected(fresh_client):
    client = fresh_client
    first = accepted(client, change_quote(item("modify", {"id": "A-1"}, quantity=30)))
    second = accepted(client, change_quote(item("modify", {"id": "A-1"}, quantity=40)))

    won = client.post(
        ORDER,
        json=order_body(first, action="modify", product={"id": "A-1"}),
        headers={"Idempotency-Key": "race-1"},
    )
    lost = client.post(
        ORDER,
        json=order_body(second, action="modify", product={"id": "A-1"}),
        headers={"Idempotency-Key": "race-2"},
    )

    assert won.status_code == lost.status_code == 201
    assert won.json()["state"] != "rejected"
    assert lost.json()["state"] == "rejected"
    timeline = client.get(f"{ORDER}/{lost.json()['id']}/timeline").json()
    (rejected,) = [e for e in timeline if e["type"].endswith(".rejected.v1")]
    assert any(r["kind"] == "asset" for r in rejected["data"]["reasons"]), rejected
    done = eventually(lambda: client.get(f"{PRODUCT}/A-1").json(), lambda p: p["assetVersion"] == 2)
    assert done["quantity"] == 30  # the winner's change, and only it


def test_a_retried_order_of_a_change_keeps_its_lock_and_gets_the_same_order(fresh_client):
    client = fresh_client
    quote = accepted(client, change_quote(item("modify", {"id": "A-1"}, quantity=18)))
    body = order_body(quote, action="modify", product={"id": "A-1"})

    first = client.post(ORDER, json=body, headers={"Idempotency-Key": "again"})
    again = client.post(ORDER, json=body, headers={"Idempotency-Key": "again"})

    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json()["id"] == first.json()["id"]
    assert again.json()["state"] != "rejected"
    done = eventually(lambda: client.get(f"{PRODUCT}/A-1").json(), lambda p: p["assetVersion"] == 2)
    assert done["quantity"] == 18


def test_a_new_sale_becomes_a_product_with_its_add_ons(fresh_client):
    client = fresh_client
    quote = accepted(client, COMPACT)  # saas-suite with the extra storage add-on
    converted = client.post(f"{QUOTE}/{quote['id']}/convert", headers={"Idempotency-Key": "new"})
    assert converted.status_code == 201, converted.text

    listed = eventually(
        lambda: client.get(PRODUCT, params={"relatedParty.id": "acct-0001"}).json(),
        lambda ps: len(ps) > 6,
    )

    fresh = [
        p for p in listed if p["productOrderItem"][0]["productOrderId"] == converted.json()["id"]
    ]
    assert [p["role"] for p in fresh] == ["main", "add_on"]
    main, add_on = fresh
    assert add_on["id"] == f"{main['id']}.1"
    assert add_on["productRelationship"][0] == {
        "relationshipType": "reliesOn",
        "product": {"id": main["id"], "href": main["href"], "@type": "ProductRef"},
    }


def test_facts_a_crash_kept_from_the_inventory_are_caught_up_once_and_survive_a_restart(
    tmp_path,
):
    async def scenario():
        platform = journaled_platform(tmp_path, installed_base=())
        try:
            await platform.start()
            for shard in platform.order_shards:
                shard.instance.inventory = None  # every push lost, as to a dead inventory
            accept = [
                CreateQuote(
                    quote_id="Q-NEW",
                    account_id="acct-0001",
                    requester="alice",
                    lines=[QuoteLine(offering="saas-suite", quantity=3, options=[STANDARD])],
                ),
                PriceQuote(quote_id="Q-NEW"),
                AcceptQuote(quote_id="Q-NEW"),
            ]
            for command in accept:
                assert (await platform.execute(command, "alice")).ok
            order = (await platform.convert("Q-NEW", "new", "alice")).order.order.order_id
            deadline = time.monotonic() + 20
            while (await platform.get_order(order)).order.status.value != "completed":
                assert time.monotonic() < deadline
                await asyncio.sleep(0.05)
            # the supervisor's round catches up too; this asks at once
            await platform.catch_up_installed_base()
            after = await platform.list_products(10, 0)
            again = await platform.catch_up_installed_base()  # nothing new: read already
            platform.restart("inventory")
            restarted = await platform.list_products(10, 0)
            return after, again, restarted
        finally:
            platform.shutdown()

    after, again, restarted = asyncio.run(scenario())

    views, total = after  # the activation reached the inventory, once, though no push did
    assert total == 1 and views[0]["asset"].offering == "saas-suite@2"
    assert again == 0
    assert [v["asset"] for v in restarted[0]] == [v["asset"] for v in views]


def test_an_inventory_whose_journal_is_refused_serves_503_and_the_rest_still_starts(tmp_path):
    async def first_life():
        platform = journaled_platform(tmp_path)
        try:
            await platform.start()
        finally:
            platform.shutdown()

    asyncio.run(first_life())
    db = sqlite3.connect(tmp_path / "inventory.sqlite")
    with db:
        db.execute("UPDATE events SET body = replace(body, 'acct-0001', 'acct-0009') WHERE seq = 1")
    db.close()

    platform = journaled_platform(tmp_path)
    app = create_app(platform, test_directory())
    try:
        with TestClient(app, raise_server_exceptions=False, headers=bearer("alice")) as client:
            refused = client.get(f"{PRODUCT}/A-1")
            listed = client.get(PRODUCT)
            quotes = client.get(QUOTE)
    finally:
        platform.shutdown()

    assert refused.status_code == listed.status_code == 503
    assert refused.json()["code"] == "journal_refused"
    assert "inventory.sqlite" in refused.json()["message"]
    assert quotes.status_code == 200  # the quote side is not held hostage
