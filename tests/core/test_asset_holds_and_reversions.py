"""What the platform believes is installed stays what the customer has, specified.

Given an installed base and orders run against it, when the orders race, wait on billing
or are undone by operations, then the asset facts follow what the downstream systems
really did:

* an add-on being added holds its parent: a racing disconnect, suspension, upgrade or
  downgrade of the parent is refused (``asset_held_as_parent``) until the add settles,
  while a modify or a renewal of the parent may go ahead;
* a renewal moves the term only once billing confirmed it;
* a change that went live and was then undone downstream (its item abandoned, its order
  rolled back) is reverted: the asset is back as it was, at the next version.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from change_desk import ACCOUNT, SUITE, TODAY, ChangeDesk, installed

from cpqsim.asset import (
    AssetChangeReverted,
    AssetHeldAsParent,
    AssetParentHoldReleased,
    AssetStatus,
    InstalledBase,
)
from cpqsim.asset_reactions import lock_for_order, reacts_to
from cpqsim.change import REFUSAL_CODES, check_change_lines
from cpqsim.configuration import QuoteLine
from cpqsim.decomposition import order_items
from cpqsim.invariants import check_invariants
from cpqsim.order import OrderCompleted
from cpqsim.order_policy import OrderPolicy

STORAGE = "saas-extra-storage@1"  # an add-on of the suite


def suite(asset_id: str = "A1", **fields) -> list:
    return [installed(asset_id, "saas-suite@2", options=["saas-edition-standard@1"], **fields)]


def change(action: str, asset_id: str = "A1", version: int = 1, **line) -> QuoteLine:
    values = {**SUITE, "quantity": 10, **line}
    return QuoteLine(action=action, asset_id=asset_id, asset_version=version, **values)


def add_storage(desk: ChangeDesk, order_id: str, parent: str = "A1") -> None:
    """Order extra storage under ``parent`` (quoting a line under a parent asset is the
    quote side's part: the order side alone, as the add-on specifications do)."""
    line = QuoteLine(offering=STORAGE, quantity=10, action="add", asset_id=parent)
    desk.order(order_id, line, quoted_as=[QuoteLine(**SUITE, quantity=10)])


def holds(desk: ChangeDesk) -> list[tuple[str, str, str]]:
    return [
        (type(f).__name__, f.asset_id, f.order_id)
        for f in desk.asset_facts
        if isinstance(f, (AssetHeldAsParent, AssetParentHoldReleased))
    ]


def try_lock(desk: ChangeDesk, order_id: str, line: QuoteLine):
    items = order_items(order_id, [line])
    return lock_for_order(desk.base, desk.catalog, order_id, ACCOUNT, items, TODAY)


# ------------------------------------------------------------ an add-on holds its parent


def test_an_add_on_in_flight_holds_its_parent_against_a_racing_disconnect(sample_catalog):
    desk = ChangeDesk(sample_catalog, suite())
    early = desk.quote("O2", change("disconnect"))  # quoted while nothing was in flight
    add_storage(desk, "O1")

    assert holds(desk) == [("AssetHeldAsParent", "A1", "O1")]
    parent = desk.base.get("A1")
    assert (parent.status, parent.version, parent.held_by) == (AssetStatus.ACTIVE, 1, ["O1"])

    desk.order("O2", quoted=early)  # the disconnect races the add
    assert desk.status("O2") == "rejected"
    [reason] = desk.rejection("O2")
    assert reason["kind"] == "asset" and "parent of an add-on being added" in reason["message"]
    assert desk.base.get("A1").locked_by is None  # nothing locked for the loser

    desk.answer_all()
    assert desk.status("O1") == "completed"
    assert holds(desk)[-1] == ("AssetParentHoldReleased", "A1", "O1")
    assert desk.base.get("A1").held_by == []
    # settled: a disconnect may go ahead now, and takes the new add-on along
    locks, refused = try_lock(desk, "O3", change("disconnect"))
    assert refused == [] and [lock.asset_id for lock in locks] == ["A1", "asset-000001"]


@pytest.mark.parametrize("action", ["disconnect", "suspend", "upgrade", "downgrade"])
def test_a_held_parent_refuses_what_would_move_it_from_under_the_add_on(sample_catalog, action):
    base = InstalledBase(suite())
    base.apply(AssetHeldAsParent(asset_id="A1", order_id="O1", item_id="O1-item1"))
    options = {"upgrade": ["saas-edition-premium@1"]}.get(action, ["saas-edition-standard@1"])
    line = change(action, options=options)

    refusals = check_change_lines(sample_catalog, base, ACCOUNT, [line], TODAY)

    assert [(r.code, r.asset_id) for r in refusals] == [("asset_held_as_parent", "A1")]
    assert "asset_held_as_parent" in REFUSAL_CODES  # a stable code clients may rely on


@pytest.mark.parametrize("line", [change("modify", quantity=12), change("renew")])
def test_a_held_parent_may_still_be_modified_or_renewed(sample_catalog, line):
    desk = ChangeDesk(sample_catalog, suite())
    add_storage(desk, "O1")

    locks, refused = try_lock(desk, "O2", line)

    assert refused == [] and [lock.asset_id for lock in locks] == ["A1"]


def test_two_orders_may_add_under_one_parent_at_once(sample_catalog):
    desk = ChangeDesk(sample_catalog, suite())
    add_storage(desk, "O1")
    add_storage(desk, "O2")

    assert desk.base.get("A1").held_by == ["O1", "O2"]
    desk.answer_all()
    assert desk.base.get("A1").held_by == []
    assert [a.status for a in desk.base.children("A1")] == [AssetStatus.ACTIVE] * 2


def test_a_disconnect_taking_a_held_asset_along_is_refused(sample_catalog):
    base = InstalledBase([*suite(), installed("A1.1", STORAGE, role="add_on", parent_id="A1")])
    base.apply(AssetHeldAsParent(asset_id="A1.1", order_id="O0", item_id="O0-item1"))

    locks, refused = lock_for_order(
        base, sample_catalog, "O1", ACCOUNT, order_items("O1", [change("disconnect")]), TODAY
    )

    assert locks == [] and [(r.code, r.asset_id) for r in refused] == [
        ("asset_held_as_parent", "A1.1")
    ]


def test_the_hold_is_given_back_when_the_add_is_abandoned(sample_catalog):
    desk = ChangeDesk(sample_catalog, suite())
    add_storage(desk, "O1")
    desk.fail("extend-quota")  # provisioning refuses the quota
    desk.repair("O1", "abandon_item")
    desk.answer_all()

    assert holds(desk) == [
        ("AssetHeldAsParent", "A1", "O1"),
        ("AssetParentHoldReleased", "A1", "O1"),
    ]
    assert desk.base.get("A1").held_by == [] and desk.base.children("A1") == []


def test_the_hold_is_given_back_when_the_order_is_cancelled(sample_catalog):
    desk = ChangeDesk(sample_catalog, suite())
    add_storage(desk, "O1")
    desk.cancel("O1")
    desk.answer_all()

    assert desk.status("O1") == "cancelled"
    assert desk.base.get("A1").held_by == []


def test_the_hold_is_given_back_when_the_order_is_rejected(sample_catalog):
    desk = ChangeDesk(
        sample_catalog, suite(), order_policy=OrderPolicy(credit_hold_accounts=[ACCOUNT])
    )
    add_storage(desk, "O1")

    assert desk.status("O1") == "rejected"
    assert holds(desk) == [
        ("AssetHeldAsParent", "A1", "O1"),
        ("AssetParentHoldReleased", "A1", "O1"),
    ]


def test_only_orders_naming_an_asset_feed_their_completion_to_the_installed_base(
    sample_catalog,
):
    desk = ChangeDesk(sample_catalog, suite())
    desk.order("O1", QuoteLine(**SUITE, quantity=3))  # a new sale
    add_storage(desk, "O2")
    completed = OrderCompleted.cloudevent_type()
    sale, add = desk.orders.orders["O1"], desk.orders.orders["O2"]
    assert not reacts_to(sale, completed) and reacts_to(add, completed)


# ---------------------------------------------------------- a renewal waits for billing


def test_a_renewal_moves_the_term_only_once_billing_confirmed_it(sample_catalog):
    desk = ChangeDesk(sample_catalog, suite())
    desk.order("O1", change("renew"))
    desk.answer_all(hold=("renew_subscription",))  # billing has not answered yet

    asset = desk.base.get("A1")
    assert (asset.term_end, asset.status, asset.locked_by) == (
        date(2026, 6, 1),
        AssetStatus.PENDING_CHANGE,
        "O1",
    )
    assert "item_change_fulfilled" not in desk.facts("O1")

    desk.answer_all()
    assert desk.facts("O1")[-3:] == ["task_completed", "item_change_fulfilled", "completed"]
    asset = desk.base.get("A1")
    assert (asset.term_end, asset.status, asset.version) == (
        date(2027, 6, 1),
        AssetStatus.ACTIVE,
        2,
    )


def test_a_renewal_billed_before_it_is_live_is_not_billing_before_activation(sample_catalog):
    # Given a renewal, whose billing step is the change itself
    desk = ChangeDesk(sample_catalog, suite())
    desk.order("O1", change("renew"))
    desk.answer_all()

    # When the run is judged, then billing came after nothing it should have waited for
    verdict = {r.name: r for r in check_invariants(desk.events, {})}
    assert verdict["billing_not_before_activation"].holds


def test_a_renewal_billing_refused_leaves_the_term_as_it_was(sample_catalog):
    desk = ChangeDesk(sample_catalog, suite())
    desk.order("O1", change("renew"))
    desk.fail("renew_subscription")
    desk.repair("O1", "abandon_item")
    desk.answer_all()

    asset = desk.base.get("A1")
    assert (asset.term_end, asset.status, asset.version) == (
        date(2026, 6, 1),
        AssetStatus.ACTIVE,
        1,
    )


# ------------------------------------------------ a live change undone is reverted


def reverted(desk: ChangeDesk) -> list[tuple[str, str, str, int]]:
    return [
        (f.asset_id, f.action, f.status.value, f.asset_version)
        for f in desk.asset_facts
        if isinstance(f, AssetChangeReverted)
    ]


def test_an_upgrade_undone_after_it_went_live_puts_the_asset_back(sample_catalog):
    desk = ChangeDesk(sample_catalog, suite())
    desk.order("O1", change("upgrade", options=["saas-edition-premium@1"]))
    desk.answer_all(hold=("modify_subscription",))  # the plan moved; billing still out
    assert desk.base.get("A1").options == ["saas-edition-premium@1"]

    desk.fail("modify_subscription")  # billing refuses the new charge
    desk.repair("O1", "abandon_item")  # operations give the change up
    desk.answer_all()  # provisioning moves the plan back

    assert desk.sent("O1").count(("provisioning", "change_plan")) == 2
    assert desk.status("O1") == "failed"
    assert reverted(desk) == [("A1", "upgrade", "active", 3)]
    asset = desk.base.get("A1")
    assert (asset.options, asset.status, asset.version, asset.recurring_monthly) == (
        ["saas-edition-standard@1"],
        AssetStatus.ACTIVE,
        3,
        installed("A1", "x").recurring_monthly,
    )
    history = [type(f).__name__ for f in desk.base.history("A1")]
    assert history[-3:] == ["AssetChangeLocked", "AssetChangeApplied", "AssetChangeReverted"]


def test_the_asset_is_not_reverted_before_the_undoing_is_done(sample_catalog):
    desk = ChangeDesk(sample_catalog, suite())
    desk.order("O1", change("upgrade", options=["saas-edition-premium@1"]))
    desk.answer_all(hold=("modify_subscription",))
    desk.fail("modify_subscription")
    desk.repair("O1", "abandon_item")  # the plan's undo is in flight

    assert reverted(desk) == []
    assert desk.base.get("A1").options == ["saas-edition-premium@1"]


def test_a_disconnect_undone_revives_the_asset_and_the_add_ons_it_took_along(sample_catalog):
    base = [*suite(), installed("A1.1", STORAGE, role="add_on", parent_id="A1")]
    desk = ChangeDesk(sample_catalog, base)
    desk.order("O1", change("disconnect"))
    desk.answer_all(hold=("stop_billing",))
    assert desk.base.get("A1").status is AssetStatus.DISCONNECTED

    desk.fail("billing/stop_billing")  # the parent's billing refuses to stop
    desk.repair("O1", "abandon_item")
    desk.answer_all()

    assert sorted(reverted(desk)) == [
        ("A1", "disconnect", "active", 3),
        ("A1.1", "disconnect", "active", 3),
    ]
    assert desk.base.get("A1").status is AssetStatus.ACTIVE
    assert desk.base.get("A1.1").status is AssetStatus.ACTIVE


def test_an_abandoned_change_is_reverted_and_the_rest_of_the_order_kept(sample_catalog):
    desk = ChangeDesk(sample_catalog, [*suite("A1"), *suite("A2")])
    desk.order(
        "O1",
        change("modify", "A1", quantity=15),
        change("suspend", "A2"),
    )
    desk.answer_all(hold=("suspend_subscription",))
    assert desk.base.get("A2").status is AssetStatus.SUSPENDED

    desk.fail("suspend_subscription")
    desk.repair("O1", "abandon_item")
    desk.answer_all()

    assert desk.status("O1") == "partial"
    assert reverted(desk) == [("A2", "suspend", "active", 3)]
    assert desk.base.get("A2").status is AssetStatus.ACTIVE
    a1 = desk.base.get("A1")
    assert (a1.quantity, a1.version) == (15, 2)  # the kept item's change stays


# ------------------------------------ a modify whose accepted charge moved is billed


def test_a_modify_whose_accepted_price_moves_the_monthly_charge_bills_it(sample_catalog):
    # Given seats contracted at 99.00 and a price book at 12.50 today: changing only the
    # data residency is priced 10 x 12.50 (the accepted change price says the charge moves)
    desk = ChangeDesk(
        sample_catalog,
        suite(characteristics={"data_residency": "US"}, recurring_monthly="99.00"),
    )
    quote = desk.quote("O1", change("modify", characteristics={"data_residency": "EU"}))
    [priced] = quote.price.changes
    assert (priced.old_monthly, priced.new_monthly) == (Decimal("990.00"), Decimal("125.00"))

    desk.order("O1", quoted=quote)
    desk.answer_all()

    assert desk.sent("O1") == [("provisioning", "modify"), ("billing", "modify_subscription")]
    billing = desk.payload("O1", "modify_subscription")
    assert (billing["subscription_id"], billing["quantity"], billing["recurring_monthly"]) == (
        "sub-A1",
        "10",
        "12.50",
    )
    asset = desk.base.get("A1")
    assert (asset.characteristics, asset.recurring_monthly) == (
        {"data_residency": "EU"},
        Decimal("12.50"),
    )


def test_a_modify_whose_accepted_price_keeps_the_charge_bills_nothing(sample_catalog):
    desk = ChangeDesk(sample_catalog, suite(characteristics={"data_residency": "US"}))
    desk.order("O1", change("modify", characteristics={"data_residency": "EU"}))
    desk.answer_all()

    assert desk.sent("O1") == [("provisioning", "modify")]
    created = next(e for e in desk.events if e.name == "order.created")
    assert "recurring_monthly" not in created.data["items"][0]["delta"]
