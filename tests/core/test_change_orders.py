"""Change orders, specified: given an installed base and an accepted change quote, when
the order runs, then only the delta tasks run and the asset moves to its next version.

Each action's tasks are data (``CHANGE_STEPS``); these specifications pin what a reader
of an order would expect from each: a modify never re-provisions, a disconnect takes the
add-ons with it, a renewal touches only billing, and an add-on goes under a live parent
without touching it. The lock an in-flight change holds is what refuses a second order
on the same asset, and a change quoted against an older version is refused.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from change_desk import INTERNET, SUITE, ChangeDesk, installed

from cpqsim.asset import AssetChangeReleased, AssetStatus
from cpqsim.configuration import QuoteLine
from cpqsim.decomposition import _TEMPLATES, decompose, order_items
from cpqsim.lifecycle import DomainError
from cpqsim.order_policy import OrderPolicy


def suite(**fields) -> list:
    return [installed("A1", "saas-suite@2", options=["saas-edition-standard@1"], **fields)]


def change(action: str, asset_id: str = "A1", version: int = 1, **line) -> QuoteLine:
    values = {**SUITE, "quantity": 10, **line}
    return QuoteLine(action=action, asset_id=asset_id, asset_version=version, **values)


def test_a_modify_of_quantity_changes_the_service_in_place_and_the_subscription(sample_catalog):
    desk = ChangeDesk(sample_catalog, suite())
    desk.order("O1", change("modify", quantity=15))
    desk.answer_all()

    assert desk.tasks("O1") == ["item1/saas-suite/modify", "item1/billing/modify_subscription"]
    assert desk.sent("O1") == [("provisioning", "modify"), ("billing", "modify_subscription")]
    assert "item_change_fulfilled" in desk.facts("O1")
    assert "asset_activated" not in desk.facts("O1")
    assert desk.status("O1") == "completed"
    billing = desk.payload("O1", "modify_subscription")
    assert billing["subscription_id"] == "sub-A1"
    assert billing["quantity"] == "15" and billing["recurring_monthly"] == "12.50"
    asset = desk.base.get("A1")
    assert (asset.quantity, asset.version, asset.status) == (15, 2, AssetStatus.ACTIVE)
    assert asset.last_order_id == "O1" and asset.locked_by is None


def test_a_modify_of_a_characteristic_only_touches_provisioning(sample_catalog):
    desk = ChangeDesk(sample_catalog, suite(characteristics={"data_residency": "US"}))
    desk.order("O1", change("modify", characteristics={"data_residency": "EU"}))
    desk.answer_all()

    assert desk.sent("O1") == [("provisioning", "modify")]
    assert desk.base.get("A1").characteristics == {"data_residency": "EU"}
    assert desk.base.get("A1").version == 2


def test_an_upgrade_moves_the_plan_and_the_charge_never_reprovisions(sample_catalog):
    desk = ChangeDesk(sample_catalog, suite())
    desk.order("O1", change("upgrade", options=["saas-edition-premium@1"]))
    desk.answer_all()

    assert desk.sent("O1") == [("provisioning", "change_plan"), ("billing", "modify_subscription")]
    asset = desk.base.get("A1")
    assert asset.options == ["saas-edition-premium@1"] and asset.version == 2
    # the accepted price of the upgraded line: 12.50 a seat + 8.00 for premium
    assert asset.recurring_monthly == Decimal("20.50")
    assert desk.payload("O1", "modify_subscription")["recurring_monthly"] == "20.50"


def test_a_downgrade_follows_the_catalogs_downgrade_path(sample_catalog):
    desk = ChangeDesk(
        sample_catalog,
        [installed("A1", "saas-suite@2", options=["saas-edition-premium@1"])],
    )
    desk.order("O1", change("downgrade", options=["saas-edition-standard@1"]))
    desk.answer_all()

    assert desk.sent("O1") == [("provisioning", "change_plan"), ("billing", "modify_subscription")]
    assert desk.base.get("A1").options == ["saas-edition-standard@1"]


def test_suspend_then_resume_each_touch_the_service_and_the_subscription(sample_catalog):
    desk = ChangeDesk(sample_catalog, suite())
    desk.order("O1", change("suspend"))
    desk.answer_all()
    assert desk.sent("O1") == [("provisioning", "suspend"), ("billing", "suspend_subscription")]
    assert desk.base.get("A1").status is AssetStatus.SUSPENDED

    desk.order("O2", change("resume", version=2))
    desk.answer_all()
    assert desk.sent("O2") == [("provisioning", "resume"), ("billing", "resume_subscription")]
    assert desk.base.get("A1").status is AssetStatus.ACTIVE
    assert desk.base.get("A1").version == 3


def test_a_suspension_takes_the_add_ons_along_and_a_resumption_brings_them_back(sample_catalog):
    # Given a suite with an extra-storage add-on
    desk = ChangeDesk(
        sample_catalog,
        [*suite(), installed("A1.1", "saas-extra-storage@1", role="add_on", parent_id="A1")],
    )
    # When the suite is suspended: the add-on is locked and stopped first, then the suite
    locks = desk.order("O1", change("suspend"))
    assert [(lock.asset_id, lock.action) for lock in locks] == [
        ("A1", "suspend"),
        ("A1.1", "suspend"),
    ]
    desk.answer_all()
    assert desk.sent("O1") == [
        ("provisioning", "suspend"),
        ("provisioning", "suspend"),
        ("billing", "suspend_subscription"),
        ("billing", "suspend_subscription"),
    ]
    suspended = [c for c in desk.calls if c.request.operation == "suspend"]
    assert [c.request.payload["asset_id"] for c in suspended] == ["A1.1", "A1"]
    assert desk.base.get("A1.1").status is AssetStatus.SUSPENDED  # never active on a stopped parent

    # When it is resumed: the suite first, then the add-on, each billed again
    desk.order("O2", change("resume", version=2))
    desk.answer_all()
    resumed = [c for c in desk.calls if c.request.operation == "resume"]
    assert [c.request.payload["asset_id"] for c in resumed] == ["A1", "A1.1"]
    assert {desk.base.get(a).status for a in ("A1", "A1.1")} == {AssetStatus.ACTIVE}


def test_a_disconnect_takes_the_add_ons_along_and_stops_every_subscription(sample_catalog):
    desk = ChangeDesk(
        sample_catalog,
        [
            *suite(),
            installed("A1.1", "saas-extra-storage@1", role="add_on", parent_id="A1"),
        ],
    )
    locks = desk.order("O1", change("disconnect"))
    assert [(lock.asset_id, lock.action) for lock in locks] == [
        ("A1", "disconnect"),
        ("A1.1", "disconnect"),
    ]
    desk.answer_all()

    # the add-on goes first; the suite gives back the licenses it reserved; billing last
    assert desk.sent("O1") == [
        ("provisioning", "deactivate"),
        ("provisioning", "deactivate"),
        ("inventory", "release"),
        ("billing", "stop_billing"),
        ("billing", "stop_billing"),
    ]
    stopped = sorted(
        c.request.payload["subscription_id"]
        for c in desk.calls
        if c.request.operation == "stop_billing"
    )
    assert stopped == ["sub-A1", "sub-A1.1"]
    assert desk.base.get("A1").status is AssetStatus.DISCONNECTED
    assert desk.base.get("A1.1").status is AssetStatus.DISCONNECTED


def test_a_renewal_touches_billing_only_and_extends_the_term(sample_catalog):
    desk = ChangeDesk(sample_catalog, suite())
    desk.order("O1", change("renew"))
    desk.answer_all()

    assert desk.sent("O1") == [("billing", "renew_subscription")]
    # a 12-month contract renews for 12 more months from its end
    assert desk.base.get("A1").term_end == date(2027, 6, 1)
    assert desk.status("O1") == "completed"


def test_an_add_on_under_a_live_parent_runs_only_its_own_tasks(sample_catalog):
    premium = installed("A1", "saas-suite@2", options=["saas-edition-premium@1"])
    desk = ChangeDesk(sample_catalog, [premium])
    sso = QuoteLine(offering="saas-sso@1", quantity=10, action="add", asset_id="A1")
    # quoting a line under a parent asset is the quote side's part: the order side alone
    desk.order("O1", sso, quoted_as=[QuoteLine(**SUITE, quantity=10)])
    desk.answer_all()

    assert desk.sent("O1") == [("provisioning", "enable_sso"), ("billing", "start_billing")]
    [created] = [f for f in desk.asset_facts if f.type_name == "created"]
    assert (created.role, created.parent_id) == ("add_on", "A1")
    assert desk.base.get("A1").version == 1  # the parent is not changed, only joined
    assert [a.asset_id for a in desk.base.children("A1")] == [created.asset_id]


def test_an_add_on_is_judged_against_what_the_parent_really_has(sample_catalog):
    desk = ChangeDesk(sample_catalog, suite())  # the standard edition: no single sign-on
    sso = QuoteLine(offering="saas-sso@1", quantity=10, action="add", asset_id="A1")
    desk.order("O1", sso, quoted_as=[QuoteLine(**SUITE, quantity=10)])

    assert desk.status("O1") == "rejected"
    [reason] = desk.rejection("O1")
    assert reason["kind"] == "asset" and "requires saas-edition-premium" in reason["message"]
    assert desk.base.children("A1") == []


def test_the_template_cache_tells_actions_apart(sample_catalog):
    base = ChangeDesk(sample_catalog, suite()).base
    modify = order_items("O1", [change("modify", quantity=15)], list(base))
    suspend = order_items("O2", [change("suspend")], list(base))
    first = sorted(decompose(sample_catalog, modify))
    assert sorted(decompose(sample_catalog, suspend)) != [t.replace("O1", "O2") for t in first]
    shapes = len(_TEMPLATES[id(sample_catalog)])
    again = order_items("O3", [change("modify", quantity=20)], list(base))
    assert sorted(decompose(sample_catalog, again)) == [t.replace("O1", "O3") for t in first]
    assert len(_TEMPLATES[id(sample_catalog)]) == shapes  # the same shape, built once


def test_cancelling_a_change_order_releases_the_lock_and_undoes_the_work(sample_catalog):
    desk = ChangeDesk(sample_catalog, suite())
    desk.order("O1", change("upgrade", options=["saas-edition-premium@1"]))
    assert desk.base.get("A1").status is AssetStatus.PENDING_CHANGE

    desk.cancel("O1")  # while the plan change is still with provisioning
    desk.answer_all()  # it happened after all: it is moved back
    assert desk.status("O1") == "cancelled"
    assert ("provisioning", "change_plan") in desk.sent("O1")  # undone: back to the old plan
    assert desk.sent("O1").count(("provisioning", "change_plan")) == 2
    released = [f for f in desk.asset_facts if isinstance(f, AssetChangeReleased)]
    assert [f.asset_id for f in released] == ["A1"]
    asset = desk.base.get("A1")
    assert (asset.status, asset.version, asset.options) == (
        AssetStatus.ACTIVE,
        1,
        ["saas-edition-standard@1"],
    )


def test_a_change_live_downstream_is_past_cancelling(sample_catalog):
    desk = ChangeDesk(sample_catalog, suite())
    desk.order("O1", change("upgrade", options=["saas-edition-premium@1"]))
    desk.answer_all(hold=("modify_subscription",))  # the plan moved; billing still out
    assert desk.base.get("A1").options == ["saas-edition-premium@1"]

    with pytest.raises(DomainError, match="point of no return"):
        desk.cancel("O1")
    desk.answer_all()
    assert desk.status("O1") == "completed"


def test_of_two_orders_racing_on_one_asset_the_second_is_rejected(sample_catalog):
    desk = ChangeDesk(sample_catalog, suite())
    # Both quoted while the asset was free (quoting refuses a change once one is in flight)
    early = desk.quote("O2", change("suspend"))
    desk.order("O1", change("modify", quantity=15))
    locks = desk.order("O2", quoted=early)

    assert locks == []
    assert desk.status("O2") == "rejected"
    [reason] = desk.rejection("O2")
    assert reason["kind"] == "asset" and "change in flight (order O1)" in reason["message"]
    assert desk.sent("O2") == []
    assert desk.base.get("A1").locked_by == "O1"  # the winner's lock is untouched

    desk.answer_all()
    assert desk.base.get("A1").quantity == 15 and desk.base.get("A1").status is AssetStatus.ACTIVE


def test_a_change_quoted_against_an_older_version_is_rejected(sample_catalog):
    desk = ChangeDesk(sample_catalog, suite())
    early = desk.quote("O2", change("modify", quantity=20, version=1))  # quoted on version 1
    desk.order("O1", change("modify", quantity=15))
    desk.answer_all()
    assert desk.base.get("A1").version == 2

    desk.order("O2", quoted=early)
    assert desk.status("O2") == "rejected"
    [reason] = desk.rejection("O2")
    assert reason["kind"] == "asset" and "version 1" in reason["message"]
    assert desk.base.get("A1").quantity == 15 and desk.base.get("A1").locked_by is None


@pytest.mark.parametrize(
    ("line", "code_words"),
    [
        (change("modify", asset_id="nope", quantity=15), "not installed"),
        (change("upgrade", options=["saas-edition-standard@1", "x"]), "upgrade"),
    ],
)
def test_a_bad_change_is_rejected_with_its_reason_and_nothing_changes(
    sample_catalog, line, code_words
):
    desk = ChangeDesk(sample_catalog, suite())
    before = desk.base.get("A1")
    try:
        desk.order("O1", line)
    except Exception as exc:  # refused already by quoting: nothing reached the order side
        assert code_words in str(exc) or "configuration" in str(exc)
        assert desk.base.get("A1") == before
        return
    assert desk.status("O1") == "rejected"
    assert any(r["kind"] == "asset" for r in desk.rejection("O1"))
    assert desk.base.get("A1") == before


def test_a_change_order_rejected_for_another_reason_gives_its_lock_back(sample_catalog):
    desk = ChangeDesk(
        sample_catalog, suite(), order_policy=OrderPolicy(credit_hold_accounts=["acct-1"])
    )
    locks = desk.order("O1", change("modify", quantity=15))

    assert [lock.asset_id for lock in locks] == ["A1"]
    assert desk.status("O1") == "rejected"
    assert [r["kind"] for r in desk.rejection("O1")] == ["credit"]
    released = [f for f in desk.asset_facts if isinstance(f, AssetChangeReleased)]
    assert [f.asset_id for f in released] == ["A1"]
    assert desk.base.get("A1").status is AssetStatus.ACTIVE


def test_new_sales_read_exactly_as_before_changes_existed(sample_catalog):
    desk = ChangeDesk(sample_catalog, [])
    desk.order("O1", QuoteLine(**INTERNET, add_ons=["static-ip@1"]))
    created = next(e for e in desk.events if e.name == "order.created")
    item = created.data["items"][0]
    assert not {"action", "asset_id", "asset_version", "delta", "children"} & set(item)
    decomposed = next(e for e in desk.events if e.name == "order.decomposed")
    assert all("child" not in t for t in decomposed.data["tasks"])
