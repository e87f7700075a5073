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

import asyncio
import time
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

import pytest

from cpqsim.asset import Asset, AssetCreated
from cpqsim.catalog import stable_id
from cpqsim.configuration import QuoteLine
from cpqsim.conversion import order_to_create
from cpqsim.quote import AcceptQuote, ConvertQuoteToOrder, CreateQuote, PriceQuote
from cpqsim_actors.handles import LocalBackend, RayBackend
from cpqsim_actors.platform import LivePlatform, PlatformConfig
from cpqsim_scenarios.sim.runtime import SimRuntime

from .conftest import variant

pytestmark = pytest.mark.slow

ACCOUNT = "acct-0001"
SELLER = "alice"
SETTLE_VIRTUAL_S = 6 * 3600.0  # long enough for any fulfilment of the happy path
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


def quote_commands(quote_id: str, change: QuoteLine) -> list:
    return [
        CreateQuote(quote_id=quote_id, account_id=ACCOUNT, requester=SELLER, lines=[change]),
        PriceQuote(quote_id=quote_id),
        AcceptQuote(quote_id=quote_id),
    ]


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


def loaded():
    return variant("happy_path")


# ------------------------------------------------------------------------------ sim


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

    def settle(version: int) -> None:
        deadline = sim.env.now + SETTLE_VIRTUAL_S
        while sim.installed_base.get("A-1").version < version and sim.env.now < deadline:
            sim.env.run(until=sim.env.now + 60)

    # both changes quoted against version 1 and accepted; the upgrade is ordered first
    accept("Q-UP", UPGRADE)
    accept("Q-RACE", MODIFY_RACING)
    order("Q-UP", "up")
    racing = order("Q-RACE", "race")  # while the upgrade holds A-1
    settle(2)
    accept("Q-PAUSE", SUSPEND)
    order("Q-PAUSE", "pause")
    settle(3)
    return Outcome(
        asset=sim.installed_base.get("A-1"),
        history=history_of(sim.log),
        racing_order_state=sim.orders.orders[racing].status.value,
        racing_reasons=[r["kind"] for r in _reasons(sim.log, racing)],
    )


def _reasons(events, order_id: str) -> list[dict]:
    for e in events:
        if e.name == "order.rejected" and e.data["order_id"] == order_id:
            return e.data["reasons"]
    return []


# ------------------------------------------------------------------------------ live


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

        async def settle(version: int) -> None:
            deadline = time.monotonic() + SETTLE_VIRTUAL_S * scenario.scenario.time_scale + 30
            while time.monotonic() < deadline:
                await platform.catch_up_installed_base()
                view = await platform.get_product("A-1")
                if view["asset"].version >= version:
                    return
                await asyncio.sleep(0.05)

        await accept("Q-UP", UPGRADE)
        await accept("Q-RACE", MODIFY_RACING)
        await order("Q-UP", "up")
        racing = await order("Q-RACE", "race")
        await settle(2)
        await accept("Q-PAUSE", SUSPEND)
        await order("Q-PAUSE", "pause")
        await settle(3)
        base = (await platform.installed_base()).installed_base
        events = await platform.events()
        rejected = await platform.get_order(racing)
        return Outcome(
            asset=base.get("A-1"),
            history=history_of(e for e in events if e.name.startswith("asset.")),
            racing_order_state=rejected.order.status.value,
            racing_reasons=[r["kind"] for r in _reasons(events, racing)],
        )
    finally:
        platform.shutdown()


def run_live(runtime: str) -> Outcome:
    backend = LocalBackend() if runtime == "inprocess" else RayBackend()
    return asyncio.run(_run_live(backend))


# ------------------------------------------------------------------------ the contract


def test_an_upgrade_then_a_suspension_move_the_asset_alike_on_every_runtime(runtime):
    outcome = run_on_sim() if runtime.name == "sim" else run_live(runtime.name)

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
