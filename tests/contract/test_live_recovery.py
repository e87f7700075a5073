"""Recovery that needs nobody's help, on every runtime with real actors.

Given a live platform (in-process objects, or Ray actors killed for real), when an actor
dies at the worst moment, then the platform heals itself: no client retry, no new
request to wake it, however often it happens. (The sim runs the same faults through its
scenario; see ``test_runtime_contract.py``.)
"""

from __future__ import annotations

import asyncio
import time
from decimal import Decimal

import pytest

from cpqsim.configuration import QuoteLine
from cpqsim.quote import AcceptQuote, ConvertQuoteToOrder, CreateQuote, PriceQuote
from cpqsim_actors.handles import ActorUnavailable, Backend, LocalBackend
from cpqsim_actors.platform import LivePlatform, PlatformConfig

from .conftest import variant

pytestmark = pytest.mark.slow

LINE = QuoteLine(offering="saas-suite", quantity=25, options=["saas-edition-standard"], add_ons=[])


def backend_for(runtime: str) -> Backend | None:
    return LocalBackend() if runtime == "inprocess" else None  # None: Ray


def platform_for(runtime: str, journal_dir=None, **downstream) -> LivePlatform:
    loaded = variant("provisioning_timeouts", downstream=downstream or None)
    return LivePlatform(
        PlatformConfig(
            catalog=loaded.catalog,
            downstream=dict(loaded.scenario.downstream),
            policy=loaded.scenario.resilience_policy(),
            time_scale=0.001,
            quote_shards=2,
            order_shards=2,
            journal_dir=journal_dir,
        ),
        backend=backend_for(runtime),
    )


async def accepted(platform: LivePlatform, ids: list[str]) -> None:
    for command in (
        lambda q: CreateQuote(quote_id=q, account_id="acct-1", requester="seller-1", lines=[LINE]),
        lambda q: PriceQuote(quote_id=q),
        lambda q: AcceptQuote(quote_id=q),
    ):
        results = await platform.execute_many([(command(q), "seller-1") for q in ids])
        assert all(r.ok for r in results), [r.message for r in results if not r.ok]


async def eventually(check, within_s: float = 30.0, every_s: float = 0.2):
    deadline = time.monotonic() + within_s
    while True:
        try:
            if await check():
                return
        except Exception:  # an actor restarting: ask again
            pass
        if time.monotonic() > deadline:
            raise AssertionError(f"not true within {within_s} s")
        await asyncio.sleep(every_s)


def test_a_restarted_executor_resumes_its_orders_by_itself(live_runtime):
    """Provisioning stalls past the caller timeout: orders are mid-flight at the kill."""
    platform = platform_for(live_runtime, provisioning={"faults": {"timeout_rate": 0.5}})

    async def go():
        await platform.start()
        ids = [f"Q-R{i:03d}" for i in range(12)]
        await accepted(platform, ids)
        outcomes = await platform.convert_many([(q, f"k-{q}", "seller-1") for q in ids])
        assert all(o.created for o in outcomes)
        await asyncio.sleep(0.05)
        assert await platform.unsettled_orders() > 0  # work is in flight...
        platform.restart("orders")  # ...when every executor dies
        # No conversion, no request: the executors resume by themselves and settle.
        await eventually(lambda: _all_settled(platform))
        events = await platform.events()
        assert any((e.causationid or "").startswith("restart-") for e in events)

    try:
        asyncio.run(go())
    finally:
        platform.shutdown()


async def _all_settled(platform: LivePlatform) -> bool:
    return await platform.unsettled_orders() == 0


def test_a_conversion_cut_in_half_by_a_crash_is_completed_without_a_client_retry(live_runtime):
    platform = platform_for(live_runtime)

    async def go():
        await platform.start()
        ids = [f"Q-C{i:03d}" for i in range(10)]
        await accepted(platform, ids)
        # The quote side converts (and journals the promised order)...
        results = await platform.execute_many(
            [(ConvertQuoteToOrder(quote_id=q, idempotency_key=f"k-{q}"), "seller-1") for q in ids]
        )
        order_ids = [r.view.quote.order_id for r in results]
        # ...and the quote shards die before anybody tells the order side.
        platform.restart("quotes")
        await eventually(lambda: _orders_exist(platform, order_ids))
        # A client that does retry now gets the same order, not a second one.
        again = await platform.convert(ids[0], f"k-{ids[0]}", "seller-1")
        assert again.order is not None and again.order.order.order_id == order_ids[0]
        assert not again.created

    try:
        asyncio.run(go())
    finally:
        platform.shutdown()


async def _orders_exist(platform: LivePlatform, order_ids: list[str]) -> bool:
    views = await asyncio.gather(*(platform.get_order(o) for o in order_ids))
    return all(v is not None for v in views)


def test_a_platform_started_again_on_the_same_journal_serves_the_same_quotes_and_orders(
    live_runtime, tmp_path
):
    first = platform_for(live_runtime, journal_dir=tmp_path)

    async def before() -> tuple[str, str]:
        await first.start()
        await accepted(first, ["Q-J001"])
        outcome = await first.convert("Q-J001", "k-J001", "seller-1")
        assert outcome.order is not None
        return "Q-J001", outcome.order.order.order_id

    try:
        quote_id, order_id = asyncio.run(before())
    finally:
        first.shutdown()
    assert list(tmp_path.glob("*.sqlite")), "the journal stays where it was asked to be"

    second = platform_for(live_runtime, journal_dir=tmp_path)

    async def after() -> None:
        await second.start()
        quote = await second.get_quote(quote_id)
        order = await second.get_order(order_id)
        assert quote is not None and quote.quote.order_id == order_id
        assert order is not None and order.order.quote_id == quote_id
        assert quote.quote.discount_pct == Decimal("0")

    try:
        asyncio.run(after())
    finally:
        second.shutdown()


def _tamper_with_the_quote(journal_dir, quote_id: str) -> tuple[str, int]:
    """The attack tried on the issue: in the journal holding ``quote_id``, its
    ``quote.created`` row gets another account and a discount, and its
    ``converted_to_order`` row is deleted. Returns the journal's name and the 0-based row
    of the edited ``quote.created``."""
    import sqlite3

    for path in sorted(journal_dir.glob("quote-*.sqlite")):
        db = sqlite3.connect(path)
        rows = db.execute("SELECT seq, body FROM events ORDER BY seq").fetchall()
        mine = [(i, seq, body) for i, (seq, body) in enumerate(rows) if quote_id in body]
        if not mine:
            db.close()
            continue
        created = next(r for r in mine if "quote.created" in r[2])
        converted = next(r for r in mine if "quote.converted_to_order" in r[2])
        edited = (
            created[2]
            .replace('"acct-1"', '"acct-666"')
            .replace('"discount_pct":"0"', '"discount_pct":"0.5"')
        )
        assert edited != created[2]
        with db:
            db.execute("UPDATE events SET body = ? WHERE seq = ?", (edited, created[1]))
            db.execute("DELETE FROM events WHERE seq = ?", (converted[1],))
        db.close()
        return path.stem, created[0]
    raise AssertionError(f"no journal holds {quote_id}")


def test_a_journal_edited_on_disk_is_refused_on_replay_and_no_second_order_is_made(
    live_runtime, tmp_path
):
    """Tried on the issue: a converted quote's journal rows edited and deleted on disk,
    then the shard killed. The restarted shard must refuse its journal, naming the row,
    and must never let the quote convert into a second order."""
    platform = platform_for(live_runtime, journal_dir=tmp_path)

    async def go():
        # Given a quote converted into its order, on a journaled platform
        await platform.start()
        await accepted(platform, ["Q-X001"])
        outcome = await platform.convert("Q-X001", "k-X001", "seller-1")
        assert outcome.order is not None
        order_id = outcome.order.order.order_id
        orders_before = await platform.orders_final()  # order id -> its state

        # When the journal is tampered with on disk and the quote shards are killed
        shard, row = _tamper_with_the_quote(tmp_path, "Q-X001")
        platform.restart("quotes")

        # Then the shard refuses its journal on replay, naming the file and the row
        async def refused() -> bool:
            try:
                await platform.get_quote("Q-X001")
            except ActorUnavailable as exc:
                reason = str(getattr(exc, "cause", None) or exc)
                return f"{shard}.sqlite refused: row {row} " in reason
            return False

        await eventually(refused)
        # ...and converting again makes no second order: the conversion is refused too
        with pytest.raises(ActorUnavailable, match="refused"):
            await platform.convert("Q-X001", "k-X001-again", "seller-1")
        assert set(await platform.orders_final()) == set(orders_before) == {order_id}

    try:
        asyncio.run(go())
    finally:
        platform.shutdown()
