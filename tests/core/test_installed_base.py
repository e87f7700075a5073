"""The installed base and change lines, as specifications.

Given the facts an installed base was built from, when a change line is judged (or a fact
folded), then this is what the customer has and why a change may or may not go ahead.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest

from cpqsim.asset import (
    AssetChangeApplied,
    AssetChangeLocked,
    AssetChangeReleased,
    AssetCreated,
    AssetStatus,
    InstalledBase,
)
from cpqsim.change import check_change_lines, delta
from cpqsim.configuration import QuoteLine
from cpqsim.lifecycle import IllegalTransition
from cpqsim_scenarios.files import load_catalog_file

CATALOG = load_catalog_file(
    Path(__file__).resolve().parents[2] / "scenarios/library/catalog/enterprise.yaml"
)
TODAY = date(2026, 11, 1)
ACCOUNT = "acct-1"


def suite(asset_id: str = "A1", **changes) -> AssetCreated:
    fields = dict(
        asset_id=asset_id,
        account_id=ACCOUNT,
        offering="saas-suite@2",
        quantity=25,
        options=["saas-edition-standard"],
        characteristics={"data_residency": "US", "term_months": "12"},
        order_id="O1",
        item_id="O1-item1",
        subscription_id=f"sub-{asset_id}",
        recurring_monthly=Decimal("12.50"),
        currency="USD",
        term_start=date(2026, 1, 1),
        term_end=date(2027, 1, 1),
    )
    return AssetCreated(**{**fields, **changes})


def storage(parent: str = "A1") -> AssetCreated:
    return AssetCreated(
        asset_id=f"{parent}.1",
        account_id=ACCOUNT,
        offering="saas-extra-storage@1",
        role="add_on",
        parent_id=parent,
        quantity=25,
        subscription_id=f"sub-{parent}.1",
    )


def locked(asset_id: str = "A1", order: str = "O2", action: str = "upgrade", version: int = 1):
    return AssetChangeLocked(
        asset_id=asset_id, order_id=order, item_id=f"{order}-item1", action=action,
        asset_version=version,
    )  # fmt: skip


def codes(base: InstalledBase, *lines: QuoteLine, account: str = ACCOUNT) -> list[str]:
    return [r.code for r in check_change_lines(CATALOG, base, account, list(lines), TODAY)]


UPGRADE = QuoteLine(
    offering="saas-suite",
    quantity=25,
    options=["saas-edition-premium"],
    action="upgrade",
    asset_id="A1",
    asset_version=1,
)


# ------------------------------------------------------------------- the read model


def test_an_installed_base_answers_by_account_parent_and_subscription_and_keeps_history():
    base = InstalledBase([suite(), storage(), suite("B1", account_id="acct-2")])
    assert [a.asset_id for a in base.of_account(ACCOUNT)] == ["A1", "A1.1"]
    assert [a.asset_id for a in base.children("A1")] == ["A1.1"]
    assert [a.asset_id for a in base.for_subscription("sub-B1")] == ["B1"]
    assert base.accounts() == [ACCOUNT, "acct-2"]

    base.apply(locked())
    base.apply(
        AssetChangeApplied(
            asset_id="A1", order_id="O2", item_id="O2-item1", action="upgrade",
            asset_version=2, options=["saas-edition-premium"],
        )
    )  # fmt: skip
    a1 = base.get("A1")
    assert a1 is not None
    assert (a1.status, a1.version, a1.options, a1.last_order_id, a1.order_id) == (
        AssetStatus.ACTIVE, 2, ["saas-edition-premium"], "O2", "O1",
    )  # fmt: skip
    assert [e.type_name for e in base.history("A1")] == [
        "created",
        "change_locked",
        "change_applied",
    ]


def test_a_released_lock_gives_the_asset_back_in_the_status_it_had():
    base = InstalledBase([suite()])
    base.apply(locked(action="suspend"))
    base.apply(AssetChangeApplied(
        asset_id="A1", order_id="O2", item_id="O2-item1", action="suspend", asset_version=2,
    ))  # fmt: skip
    base.apply(locked(order="O3", action="disconnect", version=2))
    base.apply(AssetChangeReleased(asset_id="A1", order_id="O3", reason="order cancelled"))
    a1 = base.get("A1")
    assert a1 is not None and a1.status is AssetStatus.SUSPENDED and a1.locked_by is None


def test_a_disconnected_asset_can_never_be_locked_again():
    base = InstalledBase([suite(), locked(action="disconnect")])
    base.apply(AssetChangeApplied(
        asset_id="A1", order_id="O2", item_id="O2-item1", action="disconnect", asset_version=2,
    ))  # fmt: skip
    with pytest.raises(IllegalTransition, match="disconnected"):
        base.apply(locked(order="O3", version=2))


def test_asset_facts_leave_out_what_they_do_not_say():
    dumped = storage().model_dump(mode="json")
    assert "missing_metadata" not in dumped and "site" not in dumped
    assert dumped["parent_id"] == "A1" and dumped["role"] == "add_on"
    assert locked().subject() == "asset/A1"
    assert AssetCreated.cloudevent_type() == "cpqsim.asset.created.v1"


# --------------------------------------------------------------------- change lines


def test_an_upgrade_along_the_catalogs_path_is_allowed_and_its_delta_names_old_and_new():
    base = InstalledBase([suite()])
    assert codes(base, UPGRADE) == []
    change = delta(base.get("A1"), UPGRADE)
    assert (change.options_removed, change.options_added) == (
        ["saas-edition-standard"], ["saas-edition-premium"],
    )  # fmt: skip


def test_a_downgrade_the_catalog_does_not_offer_is_refused():
    base = InstalledBase([suite()])
    wrong_way = UPGRADE.model_copy(update={"action": "downgrade"})
    assert codes(base, wrong_way) == ["downgrade_not_allowed"]


def test_a_modify_changes_quantity_or_characteristics_only_to_allowed_values():
    base = InstalledBase([suite()])
    more_seats = QuoteLine(
        offering="saas-suite", quantity=40, options=["saas-edition-standard"], action="modify",
        asset_id="A1",
    )  # fmt: skip
    assert codes(base, more_seats) == []
    to_mars = more_seats.model_copy(update={"characteristics": {"data_residency": "MARS"}})
    assert codes(base, to_mars) == ["characteristic"]
    sneaky_upgrade = more_seats.model_copy(update={"options": ["saas-edition-premium"]})
    assert "options_change_needs_upgrade" in codes(base, sneaky_upgrade)
    same = more_seats.model_copy(update={"quantity": 25})
    assert codes(base, same) == ["nothing_to_change"]


def test_a_grandfathered_version_may_be_modified_though_it_cannot_be_sold_new():
    base = InstalledBase([suite(offering="saas-suite@1", quantity=5)])
    add_seats = QuoteLine(
        offering="saas-suite@1", quantity=8, options=["saas-edition-standard"], action="modify",
        asset_id="A1",
    )  # fmt: skip
    assert codes(base, add_seats) == []


@pytest.mark.parametrize(
    ("given", "line", "code"),
    [
        ([], UPGRADE, "unknown_asset"),
        ([suite(account_id="acct-2")], UPGRADE, "other_account"),
        ([suite(), locked()], UPGRADE, "asset_pending_change"),
        ([suite(missing_metadata=["term_end"])], UPGRADE, "incomplete_asset_metadata"),
        ([suite()], UPGRADE.model_copy(update={"asset_version": 3}), "stale_asset_version"),
        ([suite()], QuoteLine(offering="saas-suite", action="resume", asset_id="A1"),
         "not_allowed_in_status"),
        ([suite()], QuoteLine(offering="business-internet", action="suspend", asset_id="A1"),
         "offering_mismatch"),
        ([suite()], QuoteLine(offering="saas-suite", action="suspend"), "asset_required"),
    ],
)  # fmt: skip
def test_a_change_against_what_the_customer_does_not_really_have_is_refused(given, line, code):
    assert codes(InstalledBase(given), line) == [code]


def test_a_disconnected_asset_is_refused_for_every_action():
    base = InstalledBase([suite(), locked(action="disconnect")])
    base.apply(AssetChangeApplied(
        asset_id="A1", order_id="O2", item_id="O2-item1", action="disconnect", asset_version=2,
    ))  # fmt: skip
    for action in ("modify", "suspend", "resume", "renew", "disconnect"):
        line = QuoteLine(offering="saas-suite", action=action, asset_id="A1")
        assert codes(base, line) == ["asset_disconnected"]


def test_one_quote_changes_an_asset_once():
    base = InstalledBase([suite()])
    suspend = QuoteLine(offering="saas-suite", action="suspend", asset_id="A1")
    assert codes(base, suspend, suspend) == ["asset_pending_change"]


def test_an_add_on_goes_only_under_an_active_parent_that_meets_its_rules():
    base = InstalledBase([suite()])
    sso = QuoteLine(offering="saas-sso", asset_id="A1")
    # single sign-on requires the premium edition; the customer runs standard
    assert codes(base, sso) == ["configuration"]
    assert codes(base, QuoteLine(offering="saas-extra-storage", asset_id="A1")) == []
    assert codes(base, QuoteLine(offering="static-ip", asset_id="A1")) == [
        "not_an_add_on_of_parent"
    ]

    base.apply(locked(action="suspend"))
    base.apply(AssetChangeApplied(
        asset_id="A1", order_id="O2", item_id="O2-item1", action="suspend", asset_version=2,
    ))  # fmt: skip
    assert codes(base, QuoteLine(offering="saas-extra-storage", asset_id="A1")) == [
        "parent_not_active"
    ]


def test_an_add_on_cannot_be_resumed_while_its_parent_is_suspended():
    base = InstalledBase([suite(), storage()])
    for asset_id, order in (("A1.1", "O2"), ("A1", "O3")):
        base.apply(locked(asset_id=asset_id, order=order, action="suspend"))
        base.apply(AssetChangeApplied(
            asset_id=asset_id, order_id=order, item_id=f"{order}-item1", action="suspend",
            asset_version=2,
        ))  # fmt: skip
    resume_add_on = QuoteLine(offering="saas-extra-storage", action="resume", asset_id="A1.1")
    assert codes(base, resume_add_on) == ["parent_not_active"]


def test_new_sale_lines_pass_untouched_and_keep_their_json():
    line = QuoteLine(offering="saas-suite", options=["saas-edition-standard"])
    assert codes(InstalledBase(), line) == []
    assert set(line.model_dump(mode="json")) == {
        "offering", "quantity", "options", "add_ons", "characteristics", "contents",
    }  # fmt: skip
