"""An add-on being added holds its parent the same way on every runtime.

Given a standard-edition suite for one account, when extra storage is ordered under it
and a disconnect of the suite (quoted before) is ordered while the add is in flight,
then on ``sim``, ``inprocess`` and ``ray`` the disconnect is rejected with the asset
reason, the add completes, the parent is given back (no order holds it) and has the new
add-on as its active child; the parent's history is the same facts everywhere.

The live path is the whole wiring: the inventory actor takes the hold when the order is
admitted, and the executor feeds it the add order's completion, which gives it back.
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from cpqsim.configuration import QuoteLine

from .change_desks import LiveChangeDesk, SimChangeDesk, rejection_kinds, run_live
from .test_installed_base_contract import INSTALLED, STANDARD

pytestmark = pytest.mark.slow

STORAGE = QuoteLine(offering="saas-extra-storage@1", quantity=10, action="add", asset_id="A-1")
DISCONNECT = QuoteLine(
    offering="saas-suite@2",
    quantity=10,
    options=[STANDARD],
    action="disconnect",
    asset_id="A-1",
    asset_version=1,
)


@dataclass
class Outcome:
    parent_history: list[tuple]  # (fact, action) of every fact of A-1
    held_by: list[str]
    children: list[tuple[str, str]]  # (offering, status) of A-1's children
    racing_state: str
    racing_reasons: list[str]


def history_of(events) -> list[tuple]:
    return [(e.name, e.data.get("action")) for e in events if e.subject == "asset/A-1"]


def run_on_sim() -> Outcome:
    desk = SimChangeDesk(INSTALLED)
    base = desk.sim.installed_base
    desk.accept("Q-OFF", DISCONNECT)  # quoted while nothing was in flight
    desk.accept("Q-ADD", STORAGE)
    desk.order("Q-ADD", "add")
    racing = desk.order("Q-OFF", "off")  # while the add holds A-1
    desk.run_until(lambda: not base.get("A-1").held_by and bool(base.children("A-1")))
    return Outcome(
        parent_history=history_of(desk.sim.log),
        held_by=list(base.get("A-1").held_by),
        children=[(c.offering, c.status.value) for c in base.children("A-1")],
        racing_state=desk.sim.orders.orders[racing].status.value,
        racing_reasons=rejection_kinds(desk.sim.log, racing),
    )


async def live_story(desk: LiveChangeDesk) -> Outcome:
    await desk.accept("Q-OFF", DISCONNECT)
    await desk.accept("Q-ADD", STORAGE)
    await desk.order("Q-ADD", "add")
    racing = await desk.order("Q-OFF", "off")
    view = await desk.product_when(
        "A-1", lambda view: not view["asset"].held_by and bool(view["children"])
    )
    events = await desk.platform.events()
    rejected = await desk.platform.get_order(racing)
    return Outcome(
        parent_history=history_of(e for e in events if e.name.startswith("asset.")),
        held_by=list(view["asset"].held_by),
        children=[(c.offering, c.status.value) for c in view["children"]],
        racing_state=rejected.order.status.value,
        racing_reasons=rejection_kinds(events, racing),
    )


def test_an_add_on_in_flight_holds_its_parent_alike_on_every_runtime(runtime):
    outcome = (
        run_on_sim() if runtime.name == "sim" else run_live(runtime.name, INSTALLED, live_story)
    )

    assert outcome.racing_state == "rejected" and "asset" in outcome.racing_reasons
    assert outcome.held_by == []
    assert outcome.children == [("saas-extra-storage@1", "active")]
    assert outcome.parent_history == [
        ("asset.created", None),
        ("asset.held_as_parent", None),
        ("asset.parent_hold_released", None),
    ]
    if runtime.name != "sim":
        sim = run_on_sim()
        assert (outcome.parent_history, outcome.children) == (sim.parent_history, sim.children)
