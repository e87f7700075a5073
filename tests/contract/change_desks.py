"""Drive change orders on one runtime through its own port: quote and accept a change,
convert it to an order, and run until the installed base shows what a test waits for.

Shared by the installed-base contracts, so each states only its story: the sim's
``PlatformPort`` under virtual time, the live platform's calls under the scaled wall
clock. No scenario traffic runs: only the orders a test places.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Sequence

from cpqsim.asset import AssetCreated
from cpqsim.configuration import QuoteLine
from cpqsim.conversion import order_to_create
from cpqsim.quote import AcceptQuote, ConvertQuoteToOrder, CreateQuote, PriceQuote
from cpqsim_actors.handles import LocalBackend, RayBackend
from cpqsim_actors.platform import LivePlatform, PlatformConfig
from cpqsim_scenarios.sim.runtime import SimRuntime

from .conftest import variant

ACCOUNT = "acct-0001"
SELLER = "alice"
SETTLE_VIRTUAL_S = 6 * 3600.0  # long enough for any fulfilment of the happy path


def loaded():
    return variant("happy_path")


def quote_commands(quote_id: str, change: QuoteLine) -> list:
    return [
        CreateQuote(quote_id=quote_id, account_id=ACCOUNT, requester=SELLER, lines=[change]),
        PriceQuote(quote_id=quote_id),
        AcceptQuote(quote_id=quote_id),
    ]


def rejection_kinds(events, order_id: str) -> list[str]:
    """The kinds of reason the order was rejected for (none: it was not rejected)."""
    for e in events:
        if e.name == "order.rejected" and e.data["order_id"] == order_id:
            return [r["kind"] for r in e.data["reasons"]]
    return []


class SimChangeDesk:
    def __init__(self, installed: Sequence[AssetCreated]) -> None:
        self.sim = SimRuntime(loaded(), installed_base=tuple(installed))
        self.answers: list = []

    def accept(self, quote_id: str, change: QuoteLine) -> None:
        self.sim.execute(
            [(c, SELLER) for c in quote_commands(quote_id, change)], self.answers.extend
        )
        assert all(a.ok for a in self.answers), [(a.code, a.message) for a in self.answers]

    def order(self, quote_id: str, key: str) -> str:
        convert = ConvertQuoteToOrder(quote_id=quote_id, idempotency_key=key)
        self.sim.execute([(convert, SELLER)], self.answers.extend)
        last = self.answers[-1]
        create = order_to_create(last.quote, SELLER, last.last_event_id)
        assert create is not None, (last.code, last.message)
        self.sim.start_orders([create], lambda started: None)
        return create.order_id

    def run_until(self, done: Callable[[], bool]) -> None:
        """Virtual time moves on, a minute at a time, until ``done`` or the settle bound."""
        env = self.sim.env
        deadline = env.now + SETTLE_VIRTUAL_S
        while not done() and env.now < deadline:
            env.run(until=env.now + 60)


class LiveChangeDesk:
    """The live platform (``inprocess`` or ``ray``) with the installed base, no journal."""

    def __init__(self, runtime: str, installed: Sequence[AssetCreated]) -> None:
        scenario = loaded()
        self.time_scale = scenario.scenario.time_scale
        self.platform = LivePlatform(
            PlatformConfig(
                catalog=scenario.catalog,
                downstream=dict(scenario.scenario.downstream),
                policy=scenario.scenario.resilience_policy(),
                time_scale=self.time_scale,
                journal=False,
                installed_base=tuple(installed),
            ),
            backend=LocalBackend() if runtime == "inprocess" else RayBackend(),
        )

    async def accept(self, quote_id: str, change: QuoteLine) -> None:
        for command in quote_commands(quote_id, change):
            result = await self.platform.execute(command, SELLER)
            assert result.ok, (result.code, result.message)

    async def order(self, quote_id: str, key: str) -> str:
        converted = await self.platform.convert(quote_id, key, SELLER)
        assert converted.order is not None, converted.result
        return converted.order.order.order_id

    async def product_when(self, asset_id: str, done: Callable[[dict], bool]) -> dict:
        """The product view of ``asset_id`` once ``done`` holds for it (the inventory
        caught up first), or as it is when the scaled settle bound runs out."""
        deadline = time.monotonic() + SETTLE_VIRTUAL_S * self.time_scale + 30
        while True:
            await self.platform.catch_up_installed_base()
            view = await self.platform.get_product(asset_id)
            if done(view) or time.monotonic() >= deadline:
                return view
            await asyncio.sleep(0.05)


def run_live(
    runtime: str, installed: Sequence[AssetCreated], story: Callable[[LiveChangeDesk], Awaitable]
):
    """Start the live platform, play ``story`` on it, shut it down whatever happened."""

    async def play():
        desk = LiveChangeDesk(runtime, installed)
        try:
            await desk.platform.start()
            return await story(desk)
        finally:
            desk.platform.shutdown()

    return asyncio.run(play())
