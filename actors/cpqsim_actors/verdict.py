"""The verdict after a load run: the sim's invariant checker over the live platform.

The same ``cpqsim.invariants.check_invariants`` that judges a simulated run judges the
live one, from the same two inputs: every shard's event log and every downstream
ledger (plus the catalog, so accepted prices are re-derived). A load run usually ends
with orders still in flight, so the verdict first waits (bounded) until none is
unsettled; an order still moving when the wait ends is reported as such, and the
``orders_terminal_or_in_fallout`` invariant then names it. Before reading, the
inventory is brought every order fact it has not absorbed yet, so billing is never
compared with an installed base a supervisor round behind.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from cpqsim.invariants import all_hold, check_invariants
from cpqsim_actors.api_models import Verdict

POLL_S = 0.2


async def wait_until_settled(platform: Any, settle_s: float) -> tuple[int, float | None]:
    """Unsettled orders left after waiting up to ``settle_s``, and how long it took."""
    start = time.monotonic()
    while True:
        unsettled = await platform.unsettled_orders()
        waited = time.monotonic() - start
        if unsettled == 0:
            return 0, round(waited, 3)
        if waited >= settle_s:
            return unsettled, None
        await asyncio.sleep(min(POLL_S, settle_s - waited))


async def live_verdict(platform: Any, settle_s: float = 30.0) -> Verdict:
    unsettled, settled_in = await wait_until_settled(platform, settle_s)
    # An order can settle before the inventory has read its last facts (pushes are
    # batched, the supervisor catches up every round): judge the installed base only
    # once every fed order fact is absorbed, as a scenario run's collection does.
    await platform.catch_up_installed_base()
    events, ledgers, counts = await asyncio.gather(
        platform.events(), platform.ledgers(), platform.order_status_counts()
    )
    # Re-pricing every accepted snapshot is CPU work: keep the event loop answering.
    results = await asyncio.to_thread(check_invariants, events, ledgers, platform.catalog)
    return Verdict(
        holds=all_hold(results),
        violations=sum(r.violations for r in results),
        unsettled_orders=unsettled,
        settled_within_s=settled_in,
        orders_by_state=counts,
        events=len(events),
        invariants=results,
    )
