"""The sim keeps one installed base per run, specified.

Given a short business day that starts from a few installed assets, when new sales and
change orders run, then: the starting assets are logged first; every activated item
becomes assets; a change order locks its asset before it exists, and a second order
racing on the same asset is rejected with the asset reason; the asset facts follow the
order facts that caused them; and the same seed gives the same bytes.
"""

from __future__ import annotations

import json
from datetime import date
from decimal import Decimal
from pathlib import Path

from cpqsim.asset import AssetCreated, AssetStatus
from cpqsim.configuration import QuoteLine
from cpqsim.conversion import order_to_create
from cpqsim.quote import AcceptQuote, ConvertQuoteToOrder, CreateQuote, PriceQuote
from cpqsim_scenarios.model import load_scenario
from cpqsim_scenarios.sim.runtime import SimRuntime

LIBRARY = Path(__file__).resolve().parents[2] / "scenarios" / "library"
SUITE = {"offering": "saas-suite@2", "options": ["saas-edition-standard@1"]}


def short_day():
    loaded = load_scenario(LIBRARY / "happy_path.yaml")
    scenario = loaded.scenario
    traffic = scenario.traffic.model_copy(update={"arrivals_per_hour": 6})
    quick = scenario.model_copy(update={"duration_s": 3600, "drain_s": 7200, "traffic": traffic})
    return loaded.model_copy(update={"scenario": quick})


def starting_base() -> list[AssetCreated]:
    common = {
        "account_id": "acct-9",
        "currency": "USD",
        "term_start": date(2025, 6, 1),
        "term_end": date(2026, 6, 1),
    }
    return [
        AssetCreated(
            asset_id="mig-1",
            offering="saas-suite@2",
            options=["saas-edition-standard@1"],
            quantity=10,
            subscription_id="sub-mig-1",
            recurring_monthly=Decimal("12.50"),
            **common,
        ),
        AssetCreated(
            asset_id="mig-1.1",
            offering="saas-extra-storage@1",
            role="add_on",
            parent_id="mig-1",
            quantity=10,
            subscription_id="sub-mig-1.1",
            **common,
        ),
    ]


def change_at(sim: SimRuntime, quoted_s: float, at_s: float, order_id: str, line: QuoteLine):
    """A seller quotes ``line`` for acct-9 at ``quoted_s`` and the customer accepts; it
    converts at ``at_s``. Quoting refuses a change while another is in flight, so a race
    starts from quotes accepted before either order exists."""
    qid = f"Q-{order_id}"
    accepted: list = []

    def quote() -> None:
        commands = [
            CreateQuote(quote_id=qid, account_id="acct-9", requester="seller-9", lines=[line]),
            PriceQuote(quote_id=qid),
            AcceptQuote(quote_id=qid),
        ]
        sim.execute([(c, "seller-9") for c in commands], accepted.extend)
        assert all(a.ok for a in accepted), [a.message for a in accepted]

    def convert() -> None:
        command = ConvertQuoteToOrder(
            quote_id=qid, idempotency_key=f"k-{order_id}", order_id=order_id
        )
        answers: list = []
        sim.execute([(command, "seller-9")], answers.extend)
        assert all(a.ok for a in answers), [a.message for a in answers]
        create = order_to_create(answers[-1].quote, "seller-9")
        sim.start_orders([create], lambda started: None)

    sim.schedule(quoted_s, quote)
    sim.schedule(at_s, convert)


def run_day(seed: int = 7) -> SimRuntime:
    sim = SimRuntime(short_day(), seed, installed_base=starting_base())
    modify = QuoteLine(**SUITE, quantity=15, action="modify", asset_id="mig-1", asset_version=1)
    suspend = QuoteLine(**SUITE, quantity=10, action="suspend", asset_id="mig-1", asset_version=1)
    stale = QuoteLine(**SUITE, quantity=20, action="modify", asset_id="mig-1", asset_version=1)
    change_at(sim, 590, 600, "chg-1", modify)
    change_at(sim, 591, 601, "chg-2", suspend)  # races chg-1 on the same asset
    change_at(sim, 592, 9000, "chg-3", stale)  # quoted against version 1; it is at 2 by then
    sim.run()
    return sim


def test_a_day_keeps_one_installed_base_and_logs_every_asset_fact():
    sim = run_day()
    log = list(sim.log)
    assert [e.name for e in log[:2]] == ["asset.created", "asset.created"]
    assert [e.subject for e in log[:2]] == ["asset/mig-1", "asset/mig-1.1"]

    activated = [e for e in log if e.name == "order.asset_activated"]
    assert activated, "the short day sold something"
    for event in activated:
        asset = sim.installed_base.get(event.data["asset_id"])
        assert asset is not None and asset.order_id == event.data["order_id"]
        assert asset.subscription_id == f"sub-{asset.asset_id}"

    output = sim.output()
    assert output.installed_base is sim.installed_base
    assert len(sim.installed_base) > 2


def test_a_change_order_locks_first_and_the_racing_one_is_rejected():
    sim = run_day()
    log = list(sim.log)
    names = [(e.name, e.subject) for e in log]

    lock = names.index(("asset.change_locked", "asset/mig-1"))
    assert names[lock + 1] == ("order.created", "order/chg-1")  # locked before it exists
    rejected = next(e for e in log if e.name == "order.rejected" and e.subject == "order/chg-2")
    [reason] = rejected.data["reasons"]
    assert reason["kind"] == "asset" and "change in flight (order chg-1)" in reason["message"]

    fulfilled = next(e for e in log if e.name == "order.item_change_fulfilled")
    applied = next(e for e in log if e.name == "asset.change_applied")
    assert log.index(applied) == log.index(fulfilled) + 1  # right after its cause
    assert applied.causationid == fulfilled.id
    assert applied.id.startswith("evt-assets-")

    stale = next(e for e in log if e.name == "order.rejected" and e.subject == "order/chg-3")
    assert "version 1" in stale.data["reasons"][0]["message"]

    asset = sim.installed_base.get("mig-1")
    assert (asset.quantity, asset.version, asset.status) == (15, 2, AssetStatus.ACTIVE)
    assert [type(e).__name__ for e in sim.installed_base.history("mig-1")] == [
        "AssetCreated",
        "AssetChangeLocked",
        "AssetChangeApplied",
    ]
    assert sim.tally.status["chg-1"] == "completed"


def test_the_same_seed_gives_the_same_bytes():
    first = [json.dumps(e.model_dump(mode="json"), sort_keys=True) for e in run_day(11).log]
    again = [json.dumps(e.model_dump(mode="json"), sort_keys=True) for e in run_day(11).log]
    assert first == again
