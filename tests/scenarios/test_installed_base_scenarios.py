"""The installed-base library scenarios on the sim: what an architect would check.

* renewal season: the renewal desk's worklist is worked and every renewal it quotes is
  fulfilled, each renewed asset moving to a later term end;
* upgrade campaign: a campaign and the customers' own changes race on the same assets;
  the lock and the version refuse every loser, visibly, and no asset is ever changed
  twice from one version;
* migration with incomplete metadata: every change to an asset with gaps is refused for
  that reason and the asset stays as it was; complete assets change as usual.
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import pytest
from cpqsim_host.journeys import plan_journeys

from cpqsim.asset import InstalledBase
from cpqsim.catalog import stable_id
from cpqsim_scenarios.model import load_scenario
from cpqsim_scenarios.runner import run_scenario

LIBRARY = Path(__file__).resolve().parents[2] / "scenarios" / "library"


def scenario_run(name: str):
    loaded = load_scenario(LIBRARY / f"{name}.yaml")
    return loaded, run_scenario(loaded)


def asset_facts(run, kind: str) -> list[dict]:
    return [e.data for e in run.output.events if e.name == f"asset.{kind}"]


def asset_rejections(run) -> list[dict]:
    return [
        r
        for e in run.output.events
        if e.name == "order.rejected"
        for r in e.data["reasons"]
        if r["kind"] == "asset"
    ]


def holds_everything(run) -> None:
    assert run.exit_code == 0, [i for i in run.result["invariants"] if not i["holds"]]


@pytest.fixture(scope="module")
def renewal_season():
    return scenario_run("renewal_season")


@pytest.fixture(scope="module")
def upgrade_campaign():
    return scenario_run("upgrade_campaign")


@pytest.fixture(scope="module")
def migration():
    return scenario_run("migration_incomplete_metadata")


# ------------------------------------------------------------------ renewal season


def test_renewal_season_holds_every_invariant_and_fulfils_what_it_quotes(renewal_season):
    loaded, run = renewal_season
    holds_everything(run)
    renewals = [p for p in plan_journeys(loaded) if p.mix == "renewal"]
    renewed = [f for f in asset_facts(run, "change_applied") if f["action"] == "renew"]
    # Given hundreds of renewals on the desk's worklist
    assert len(renewals) > 200
    # Then nearly every one is fulfilled (a few lose a race with a customer's own change)
    assert len(renewed) >= 0.9 * len(renewals)
    assert run.result["orders"]["by_state"].get("completed", 0) >= len(renewed)


def test_each_renewed_asset_moves_to_a_later_term_end(renewal_season):
    loaded, run = renewal_season
    before = InstalledBase(loaded.installed_base)
    for fact in asset_facts(run, "change_applied"):
        if fact["action"] != "renew":
            continue
        old, new = before.get(fact["asset_id"]), run.installed_base.get(fact["asset_id"])
        assert new.term_end > old.term_end, (old, new)
        assert new.version > old.version


def test_renewals_are_worked_soonest_term_end_first(renewal_season):
    loaded, _ = renewal_season
    base = InstalledBase(loaded.installed_base)
    ends = [
        base.get(p.lines[0].asset_id).term_end for p in plan_journeys(loaded) if p.mix == "renewal"
    ]
    assert ends == sorted(ends)


# ---------------------------------------------------------------- upgrade campaign


def test_upgrade_campaign_refuses_every_loser_of_a_race_visibly(upgrade_campaign):
    _, run = upgrade_campaign
    holds_everything(run)
    journeys = run.result["journeys"]
    # Quotes for an asset that moved on (or that another order holds) are refused...
    assert journeys["changes_refused_stale"] + journeys["changes_refused_in_flight"] > 10
    # ...and an order converted from a quote that lost the race is rejected, naming the
    # asset and why: it moved to another version, or another change left it suspended
    rejected = asset_rejections(run)
    assert rejected
    for reason in rejected:
        assert "asset ib-" in reason["message"], reason
        assert "version" in reason["message"] or "it is suspended" in reason["message"], reason
    # While the campaign itself goes through
    upgraded = [f for f in asset_facts(run, "change_applied") if f["action"] == "upgrade"]
    assert len(upgraded) > 100
    for fact in upgraded:
        options = run.installed_base.get(fact["asset_id"]).options
        assert "saas-edition-premium" in {stable_id(o) for o in options}


def test_no_asset_is_locked_twice_or_changed_twice_from_one_version(upgrade_campaign):
    loaded, run = upgrade_campaign
    version = {a.asset_id: a.version for a in InstalledBase(loaded.installed_base)}
    holder: dict[str, str | None] = defaultdict(lambda: None)
    for e in run.output.events:
        if not e.name.startswith("asset.change_") or e.data["order_id"].startswith("hist-"):
            continue
        asset = e.data["asset_id"]
        if e.name == "asset.change_locked":
            assert holder[asset] is None, f"{asset} locked by {holder[asset]} and {e.data}"
            assert e.data["asset_version"] == version[asset]
            holder[asset] = e.data["order_id"]
        else:
            assert holder[asset] == e.data["order_id"], (asset, e.data)
            holder[asset] = None
            if e.name == "asset.change_applied":
                assert e.data["asset_version"] == version[asset] + 1
                version[asset] += 1


# ------------------------------------------------------------------------ migration


def test_every_change_to_an_asset_with_gaps_is_refused_for_them(migration):
    loaded, run = migration
    holds_everything(run)
    before = InstalledBase(loaded.installed_base)
    with_gaps = {a.asset_id for a in before if a.missing_metadata}
    aimed = [p for p in plan_journeys(loaded) if p.lines[0].asset_id in with_gaps]
    # Given a base where many migrated assets have gaps, and changes aimed at them
    assert len(with_gaps) > 100 and len(aimed) > 30
    # Then each such change was refused for the gaps (none went further)
    assert run.result["journeys"]["changes_refused_incomplete"] == len(aimed)
    locked = {f["asset_id"] for f in asset_facts(run, "change_locked")}
    assert not locked & with_gaps - {
        a
        for a in with_gaps
        if len(before.history(a)) > 1  # suspended before the run
    }
    # And every asset with gaps is exactly as it came from the migration
    for asset_id in with_gaps:
        assert run.installed_base.get(asset_id) == before.get(asset_id)


def test_complete_assets_change_as_usual_during_the_migration(migration):
    _, run = migration
    applied = asset_facts(run, "change_applied")
    actions = {f["action"] for f in applied}
    assert {"renew", "modify", "suspend", "disconnect"} <= actions
    assert run.result["orders"]["by_state"] == {"completed": run.result["orders"]["total"]}
