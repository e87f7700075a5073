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

import asyncio
import time
from dataclasses import dataclass

import pytest

from cpqsim.configuration import QuoteLine
from cpqsim.conversion import order_to_create
from cpqsim.quote import ConvertQuoteToOrder
from cpqsim_actors.handles import LocalBackend, RayBackend
from cpqsim_actors.platform import LivePlatform, PlatformConfig
from cpqsim_scenarios.sim.runtime import SimRuntime

from .test_installed_base_contract import (
    INSTALLED,
    SELLER,
    SETTLE_VIRTUAL_S,
    STANDARD,
    _reasons,
    loaded,
    quote_commands,
)

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
    sim = SimRuntime(loaded(), installed_base=INSTALLED)
    answers: list = []

    def accept(quote_id: str, change: QuoteLine) -> None:
        sim.execute([(c, SELLER) for c in quote_commands(quote_id, change)], answers.extend)
        assert all(a.ok for a in answers), [(a.code, a.message) for a in answers]

    def order(quote_id: str, key: str) -> str:
        convert = ConvertQuoteToOrder(quote_id=quote_id, idempotency_key=key)
        sim.execute([(convert, SELLER)], answers.extend)
        create = order_to_create(answers[-1].quote, SELLER, answers[-1].last_event_id)
        assert create is not None, (answers[-1].code, answers[-1].message)
        sim.start_orders([create], lambda started: None)
        return create.order_id

    accept("Q-OFF", DISCONNECT)  # quoted while nothing was in flight
    accept("Q-ADD", STORAGE)
    order("Q-ADD", "add")
    racing = order("Q-OFF", "off")  # while the add holds A-1
    deadline = sim.env.now + SETTLE_VIRTUAL_S
    base = sim.installed_base
    while (base.get("A-1").held_by or not base.children("A-1")) and sim.env.now < deadline:
        sim.env.run(until=sim.env.now + 60)
    return Outcome(
        parent_history=history_of(sim.log),
        held_by=list(base.get("A-1").held_by),
        children=[(c.offering, c.status.value) for c in base.children("A-1")],
        racing_state=sim.orders.orders[racing].status.value,
        racing_reasons=[r["kind"] for r in _reasons(sim.log, racing)],
    )


async def _run_live(backend) -> Outcome:
    scenario = loaded()
    platform = LivePlatform(
        PlatformConfig(
            catalog=scenario.catalog,
            downstream=dict(scenario.scenario.downstream),
            policy=scenario.scenario.resilience_policy(),
            time_scale=scenario.scenario.time_scale,
            journal=False,
            installed_base=INSTALLED,
        ),
        backend=backend,
    )
    try:
        await platform.start()

        async def accept(quote_id: str, change: QuoteLine) -> None:
            for command in quote_commands(quote_id, change):
                result = await platform.execute(command, SELLER)
                assert result.ok, (result.code, result.message)

        async def order(quote_id: str, key: str) -> str:
            converted = await platform.convert(quote_id, key, SELLER)
            assert converted.order is not None, converted.result
            return converted.order.order.order_id

        await accept("Q-OFF", DISCONNECT)
        await accept("Q-ADD", STORAGE)
        await order("Q-ADD", "add")
        racing = await order("Q-OFF", "off")
        deadline = time.monotonic() + SETTLE_VIRTUAL_S * scenario.scenario.time_scale + 30
        while time.monotonic() < deadline:
            await platform.catch_up_installed_base()
            view = await platform.get_product("A-1")
            if not view["asset"].held_by and view["children"]:
                break
            await asyncio.sleep(0.05)
        events = await platform.events()
        rejected = await platform.get_order(racing)
        return Outcome(
            parent_history=history_of(e for e in events if e.name.startswith("asset.")),
            held_by=list(view["asset"].held_by),
            children=[(c.offering, c.status.value) for c in view["children"]],
            racing_state=rejected.order.status.value,
            racing_reasons=[r["kind"] for r in _reasons(events, racing)],
        )
    finally:
        platform.shutdown()


def run_live(runtime: str) -> Outcome:
    backend = LocalBackend() if runtime == "inprocess" else RayBackend()
    return asyncio.run(_run_live(backend))


def test_an_add_on_in_flight_holds_its_parent_alike_on_every_runtime(runtime):
    outcome = run_on_sim() if runtime.name == "sim" else run_live(runtime.name)

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
