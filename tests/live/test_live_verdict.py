"""The verdict after a load run judges the installed base the inventory will hold.

An order can settle while its last facts still wait in an executor's push batch for the
inventory (the supervisor catches up once a round). Judged then, billing would charge
subscriptions "no asset of the platform names": a false violation seen in a step run.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from cpqsim_actors.verdict import live_verdict
from cpqsim_scenarios.files import load_catalog_file

CATALOG_PATH = (
    Path(__file__).resolve().parents[2] / "scenarios" / "library" / "catalog" / "enterprise.yaml"
)


class _PlatformWithUnreadFacts:
    """Every order settled; the inventory absorbs what it was not pushed only when asked."""

    def __init__(self) -> None:
        self.catalog = load_catalog_file(CATALOG_PATH)
        self.calls: list[str] = []

    async def unsettled_orders(self) -> int:
        self.calls.append("unsettled_orders")
        return 0

    async def catch_up_installed_base(self) -> int:
        self.calls.append("catch_up_installed_base")
        return 3

    async def events(self):
        self.calls.append("events")
        return []

    async def ledgers(self):
        self.calls.append("ledgers")
        return {}

    async def order_status_counts(self):
        return {}


def test_given_settled_orders_when_the_verdict_is_asked_then_the_inventory_catches_up_first():
    platform = _PlatformWithUnreadFacts()

    verdict = asyncio.run(live_verdict(platform, settle_s=0.0))

    assert verdict.holds
    reads = [platform.calls.index("events"), platform.calls.index("ledgers")]
    assert platform.calls.index("catch_up_installed_base") < min(reads)
