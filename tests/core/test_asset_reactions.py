"""How the installed base follows the orders, specified fact by fact.

Given an installed base and an order, when the order reaches a milestone, then these
asset facts: an activated item becomes a tree of assets (add-ons, then bundle
components, each on its own subscription, each with its accepted price per unit); a
lock is taken before the order and given back when it ends without the change.
"""

from __future__ import annotations

from decimal import Decimal

from change_desk import ACCOUNT, INTERNET, SUITE, TODAY, ChangeDesk, installed

from cpqsim.asset import AssetChangeLocked, AssetStatus, InstalledBase
from cpqsim.asset_reactions import REACTS_TO, lock_for_order, react
from cpqsim.configuration import QuoteLine
from cpqsim.decomposition import order_items
from cpqsim.order import ItemAbandoned


def created(desk: ChangeDesk) -> dict:
    return {f.asset_id: f for f in desk.asset_facts if f.type_name == "created"}


def test_an_activated_item_becomes_its_asset_with_add_ons_as_children(sample_catalog):
    desk = ChangeDesk(sample_catalog, [])
    desk.order("O1", QuoteLine(**INTERNET, quantity=2, add_ons=["static-ip@1"]))
    desk.answer_all()

    assets = created(desk)
    main, ip = assets["asset-000001"], assets["asset-000001.1"]
    assert (main.role, main.parent_id, main.quantity) == ("main", None, 2)
    assert main.options == ["bi-access-fiber@1", "bi-sla-standard@1"]
    # 299.00 the line + 100.00 fiber, a month per unit; the one-time installation apart
    assert main.recurring_monthly == Decimal("399.00") and main.currency == "USD"
    assert (main.subscription_id, main.order_id, main.item_id) == (
        "sub-asset-000001",
        "O1",
        "O1-item1",
    )
    assert main.term_start == TODAY
    assert (ip.role, ip.parent_id, ip.quantity) == ("add_on", "asset-000001", 2)
    assert (ip.subscription_id, ip.recurring_monthly) == ("sub-asset-000001.1", Decimal("15.00"))
    billing = desk.payload("O1", "start_billing")
    assert billing["subscription_id"] == "sub-asset-000001"
    assert billing["recurring_monthly"] == "399.00" and billing["one_time"] == "900.00"
    assert billing["child_subscriptions"] == "sub-asset-000001.1=15.00"


def test_a_bundle_becomes_its_components_numbered_after_its_add_ons(sample_catalog):
    desk = ChangeDesk(sample_catalog, [])
    firewall = QuoteLine(offering="managed-firewall@1", options=["mf-tier-basic@1"])
    bundle = QuoteLine(offering="secure-branch", contents=[QuoteLine(**INTERNET), firewall])
    desk.order("O1", bundle)
    desk.answer_all()

    assets = created(desk)
    assert sorted(assets) == ["asset-000001", "asset-000001.1", "asset-000001.2"]
    internet, fw = assets["asset-000001.1"], assets["asset-000001.2"]
    assert (internet.role, internet.offering, internet.parent_id) == (
        "component",
        "business-internet@1",
        "asset-000001",
    )
    assert (fw.role, fw.offering, fw.options) == (
        "component",
        "managed-firewall@1",
        ["mf-tier-basic@1"],
    )
    assert desk.base.children("asset-000001") == [desk.base.get(a) for a in sorted(assets)[1:]]


def test_react_reads_cloudevents_and_ignores_what_does_not_concern_assets(sample_catalog):
    desk = ChangeDesk(sample_catalog, [])
    desk.order("O1", QuoteLine(**SUITE, quantity=5))
    order = desk.orders.orders["O1"]
    quiet = [e for e in desk.events if e.type not in REACTS_TO]
    assert quiet and all(react(desk.base, order, e, sample_catalog) == [] for e in quiet)

    desk.answer_all()
    activated = next(e for e in desk.events if e.name == "order.asset_activated")
    # told again (a replayed feed): the asset exists already, nothing new
    assert react(desk.base, order, activated, sample_catalog) == []


def test_a_lock_is_idempotent_for_the_order_that_holds_it(sample_catalog):
    base = InstalledBase([installed("A1", "saas-suite@2", options=["saas-edition-standard@1"])])
    line = QuoteLine(**SUITE, quantity=12, action="modify", asset_id="A1", asset_version=1)
    items = order_items("O1", [line])
    locks, refusals = lock_for_order(base, sample_catalog, "O1", ACCOUNT, items, TODAY)
    assert refusals == [] and [type(lock) for lock in locks] == [AssetChangeLocked]
    base.apply(locks[0])

    assert lock_for_order(base, sample_catalog, "O1", ACCOUNT, items, TODAY) == ([], [])
    again, refused = lock_for_order(base, sample_catalog, "O2", ACCOUNT, items, TODAY)
    assert again == [] and [r.code for r in refused] == ["asset_pending_change"]


def test_a_disconnect_is_refused_while_a_child_it_takes_along_is_held(sample_catalog):
    base = InstalledBase(
        [
            installed("A1", "saas-suite@2", options=["saas-edition-standard@1"]),
            installed("A1.1", "saas-extra-storage@1", role="add_on", parent_id="A1"),
        ]
    )
    base.apply(
        AssetChangeLocked(
            asset_id="A1.1", order_id="O0", item_id="O0-item1", action="modify", asset_version=1
        )
    )
    line = QuoteLine(**SUITE, quantity=10, action="disconnect", asset_id="A1", asset_version=1)
    locks, refused = lock_for_order(
        base, sample_catalog, "O1", ACCOUNT, order_items("O1", [line]), TODAY
    )
    assert locks == []
    assert [(r.code, r.asset_id) for r in refused] == [("asset_pending_change", "A1.1")]
    assert base.get("A1").status is AssetStatus.ACTIVE  # nothing was locked


def test_an_abandoned_item_gives_back_only_its_own_locks(sample_catalog):
    desk = ChangeDesk(
        sample_catalog,
        [
            installed("A1", "saas-suite@2", options=["saas-edition-standard@1"]),
            installed("A2", "saas-suite@2", options=["saas-edition-standard@1"]),
        ],
    )
    desk.order(
        "O1",
        QuoteLine(**SUITE, quantity=11, action="modify", asset_id="A1", asset_version=1),
        QuoteLine(**SUITE, quantity=12, action="modify", asset_id="A2", asset_version=1),
    )
    order = desk.orders.orders["O1"]
    abandoned = ItemAbandoned(order_id="O1", item_id="O1-item2", reason="ops", dropped=[])
    [released] = react(desk.base, order, abandoned, sample_catalog)
    assert (released.asset_id, released.order_id) == ("A2", "O1")


def test_an_asset_made_for_an_item_later_given_up_is_taken_back(sample_catalog):
    desk = ChangeDesk(sample_catalog, [])
    desk.order("O1", QuoteLine(**INTERNET, add_ons=["static-ip@1"]))
    desk.answer_all(hold=("start_billing",))  # activated; billing never answers
    order = desk.orders.orders["O1"]
    assert desk.base.get("asset-000001").status is AssetStatus.ACTIVE

    abandoned = ItemAbandoned(
        order_id="O1", item_id="O1-item1", reason="billing refused", dropped=[]
    )
    facts = react(desk.base, order, abandoned, sample_catalog)
    for fact in facts:
        desk.base.apply(fact)
    assert [(f.type_name, f.asset_id) for f in facts] == [
        ("change_locked", "asset-000001"),
        ("change_applied", "asset-000001"),
        ("change_locked", "asset-000001.1"),
        ("change_applied", "asset-000001.1"),
    ]
    for asset_id in ("asset-000001", "asset-000001.1"):
        asset = desk.base.get(asset_id)
        assert (asset.status, asset.last_order_id) == (AssetStatus.DISCONNECTED, "O1")
