"""A change order moves an installed asset the same way on every runtime.

Given the same installed base (a standard-edition suite for one account), when an
upgrade to the premium edition is quoted, accepted and ordered, and then a suspension,
then on ``sim`` (the SimPy port), ``inprocess`` and ``ray`` (the live platform, whose
one inventory actor holds the installed base) the asset ends suspended at version 3 with
the premium edition, and its history is the same facts in the same order. A second
change ordered while the first is in flight is rejected with the asset reason
everywhere, and leaves the asset as the winner made it.

Each runtime is driven through its own port, as the journeys drive it: the sim's
``PlatformPort`` under virtual time, the live platform's calls under the scaled wall
clock. No scenario traffic runs: only these orders.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal

import pytest

from cpqsim.asset import Asset, AssetCreated
from cpqsim.catalog import stable_id
from cpqsim.configuration import QuoteLine

from .change_desks import (
    ACCOUNT,
    LiveChangeDesk,
    SimChangeDesk,
    rejection_kinds,
    run_live,
)

pytestmark = pytest.mark.slow

STANDARD, PREMIUM = "saas-edition-standard", "saas-edition-premium"

INSTALLED = (
    AssetCreated(
        asset_id="A-1",
        account_id=ACCOUNT,
        offering="saas-suite@2",
        quantity=10,
        options=[STANDARD],
        subscription_id="sub-A-1",
        recurring_monthly=Decimal("12.50"),
        currency="USD",
        term_start=date(2026, 1, 1),
        term_end=date(2027, 1, 1),
    ),
)


def line(action: str, version: int, options: list[str], quantity: int = 10) -> QuoteLine:
    return QuoteLine(
        offering="saas-suite@2",
        quantity=quantity,
        options=options,
        action=action,
        asset_id="A-1",
        asset_version=version,
    )


UPGRADE = line("upgrade", 1, [PREMIUM])
SUSPEND = line("suspend", 2, [PREMIUM])
MODIFY_RACING = line("modify", 1, [STANDARD], quantity=20)  # quoted before the upgrade ran


@dataclass
class Outcome:
    asset: Asset
    history: list[tuple]  # (fact, action, version) of every asset fact of A-1
    racing_order_state: str
    racing_reasons: list[str]


def history_of(events) -> list[tuple]:
    return [
        (e.name, e.data.get("action"), e.data.get("asset_version"))
        for e in events
        if e.subject == "asset/A-1"
    ]


# ------------------------------------------------------------------------------ sim


def run_on_sim() -> Outcome:
    desk = SimChangeDesk(INSTALLED)
    base = desk.sim.installed_base
    # both changes quoted against version 1 and accepted; the upgrade is ordered first
    desk.accept("Q-UP", UPGRADE)
    desk.accept("Q-RACE", MODIFY_RACING)
    desk.order("Q-UP", "up")
    racing = desk.order("Q-RACE", "race")  # while the upgrade holds A-1
    desk.run_until(lambda: base.get("A-1").version >= 2)
    desk.accept("Q-PAUSE", SUSPEND)
    desk.order("Q-PAUSE", "pause")
    desk.run_until(lambda: base.get("A-1").version >= 3)
    return Outcome(
        asset=base.get("A-1"),
        history=history_of(desk.sim.log),
        racing_order_state=desk.sim.orders.orders[racing].status.value,
        racing_reasons=rejection_kinds(desk.sim.log, racing),
    )


# ------------------------------------------------------------------------------ live


async def live_story(desk: LiveChangeDesk) -> Outcome:
    await desk.accept("Q-UP", UPGRADE)
    await desk.accept("Q-RACE", MODIFY_RACING)
    await desk.order("Q-UP", "up")
    racing = await desk.order("Q-RACE", "race")
    await desk.product_when("A-1", lambda view: view["asset"].version >= 2)
    await desk.accept("Q-PAUSE", SUSPEND)
    await desk.order("Q-PAUSE", "pause")
    await desk.product_when("A-1", lambda view: view["asset"].version >= 3)
    platform = desk.platform
    base = (await platform.installed_base()).installed_base
    events = await platform.events()
    rejected = await platform.get_order(racing)
    return Outcome(
        asset=base.get("A-1"),
        history=history_of(e for e in events if e.name.startswith("asset.")),
        racing_order_state=rejected.order.status.value,
        racing_reasons=rejection_kinds(events, racing),
    )


# ------------------------------------------------------------------------ the contract


def test_an_upgrade_then_a_suspension_move_the_asset_alike_on_every_runtime(runtime):
    outcome = (
        run_on_sim() if runtime.name == "sim" else run_live(runtime.name, INSTALLED, live_story)
    )

    asset = outcome.asset
    assert (asset.status.value, asset.version) == ("suspended", 3)
    assert (asset.offering, asset.quantity) == ("saas-suite@2", 10)
    assert [stable_id(o) for o in asset.options] == [PREMIUM]
    assert asset.locked_by is None
    assert outcome.history == [
        ("asset.created", None, None),
        ("asset.change_locked", "upgrade", 1),
        ("asset.change_applied", "upgrade", 2),
        ("asset.change_locked", "suspend", 2),
        ("asset.change_applied", "suspend", 3),
    ]
    # the modify racing the upgrade lost: rejected for the asset, nothing of it applied
    assert outcome.racing_order_state == "rejected"
    assert "asset" in outcome.racing_reasons
    if runtime.name != "sim":  # the same asset and history as the sim (order ids aside)
        sim = run_on_sim()
        assert same(outcome.asset) == same(sim.asset)
        assert (outcome.history, outcome.racing_reasons) == (sim.history, sim.racing_reasons)


def same(asset: Asset) -> dict:
    """What must agree across runtimes: all but the ids each runtime mints for orders."""
    return asset.model_dump(exclude={"last_order_id"})
