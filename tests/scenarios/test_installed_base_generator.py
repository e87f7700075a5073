"""The generated installed base: deterministic, valid, and shaped as the profile says."""

from __future__ import annotations

import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
from cpqsim_host.change_lines import change_line
from cpqsim_host.installed_base_gen import (
    InstalledBaseError,
    generate_installed_base,
    installed_base,
)
from cpqsim_host.scenario import InstalledBaseProfile

from cpqsim.asset import AssetStatus
from cpqsim.change import check_change_lines
from cpqsim.configuration import QuoteLine, check_configuration
from cpqsim.context import EPOCH
from cpqsim_scenarios.model import load_scenario

LIBRARY = Path(__file__).resolve().parents[2] / "scenarios" / "library"
PROFILE = InstalledBaseProfile(
    assets=1500,
    accounts=200,
    migrated_fraction=0.3,
    incomplete_fraction=0.5,
    suspended_fraction=0.05,
)


@pytest.fixture(scope="module")
def catalog():
    return load_scenario(LIBRARY / "happy_path.yaml").catalog


@pytest.fixture(scope="module")
def base(catalog):
    return installed_base(PROFILE, catalog, seed=7)


def dumped(facts):
    return [f.model_dump_json() for f in facts]


def test_the_same_seed_gives_the_same_facts_byte_for_byte_and_another_seed_another_base(catalog):
    # Given one profile and catalog
    # When the base is generated twice with one seed, and once with another
    first = generate_installed_base(PROFILE, catalog, seed=7)
    again = generate_installed_base(PROFILE, catalog, seed=7)
    other = generate_installed_base(PROFILE, catalog, seed=8)
    # Then the first two are identical and the third differs
    assert dumped(first) == dumped(again)
    assert dumped(first) != dumped(other)


def test_the_base_has_the_asked_main_assets_over_the_asked_accounts(base):
    mains = [a for a in base if a.role == "main"]
    assert len(mains) == PROFILE.assets
    assert base.accounts() == [f"acct-{n:04d}" for n in range(1, PROFILE.accounts + 1)]
    # A few big accounts, many small ones
    sizes = sorted((len(base.of_account(a)) for a in base.accounts()), reverse=True)
    assert sizes[0] > 3 * sizes[len(sizes) // 2]


def test_children_hang_under_their_parent_with_their_own_subscription(base):
    children = [a for a in base if a.role != "main"]
    assert {a.role for a in children} == {"add_on", "component"}
    for child in children:
        parent = base.get(child.parent_id)
        assert parent is not None and child.asset_id.startswith(parent.asset_id + ".")
        assert child.account_id == parent.account_id
        assert child in base.children(parent.asset_id)
    for asset in base:
        assert asset.subscription_id == f"sub-{asset.asset_id}"
        assert base.for_subscription(asset.subscription_id) == [asset]


def test_every_complete_main_asset_is_a_configuration_the_catalog_keeps(catalog, base):
    # Given the complete, non-bundle main assets (a bundle's contents are its children)
    for asset in base:
        if asset.role != "main" or asset.missing_metadata:
            continue
        if any(c.role == "component" for c in base.children(asset.asset_id)):
            continue
        add_ons = [c.offering for c in base.children(asset.asset_id) if c.role == "add_on"]
        line = QuoteLine(
            offering=asset.offering,
            quantity=asset.quantity,
            options=asset.options,
            add_ons=add_ons,
            characteristics=asset.characteristics,
        )
        # Then the configurator accepts it as a kept asset (a quote-scoped requirement
        # such as a firewall's internet line is met by the account's other assets)
        internet = [
            QuoteLine(offering="business-internet", options=["bi-access-fiber", "bi-sla-standard"])
        ]
        found = check_configuration(catalog, [line, *internet], intent="keep_asset")
        assert found == [], (asset, found)


def test_a_firewall_is_only_installed_where_the_account_has_an_internet_line(base):
    for asset in base:
        if asset.offering.startswith("managed-firewall") and asset.role == "main":
            held = {a.offering.split("@")[0] for a in base.of_account(asset.account_id)}
            assert "business-internet" in held


def test_only_migrated_assets_have_gaps_and_each_gap_is_really_missing(base):
    mains = [a for a in base if a.role == "main"]
    migrated = [a for a in mains if a.order_id is None]
    incomplete = [a for a in mains if a.missing_metadata]
    assert 0.2 < len(migrated) / len(mains) < 0.4  # profile: 0.3
    assert 0.35 < len(incomplete) / len(migrated) < 0.65  # profile: 0.5 of them
    assert all(a.order_id is None for a in base if a.missing_metadata)
    kinds = Counter(k for a in incomplete for k in a.missing_metadata)
    assert set(kinds) == {"offering_version", "characteristics", "term"}
    for asset in incomplete:
        if "offering_version" in asset.missing_metadata:
            assert "@" not in asset.offering
        if "term" in asset.missing_metadata:
            assert asset.term_start is None and asset.term_end is None


def test_a_suspended_asset_comes_with_the_history_of_its_suspension_and_children_follow(base):
    suspended = [a for a in base if a.status is AssetStatus.SUSPENDED and a.role == "main"]
    assert 0.02 < len(suspended) / PROFILE.assets < 0.08
    for asset in suspended:
        history = [type(e).__name__ for e in base.history(asset.asset_id)]
        assert history == ["AssetCreated", "AssetChangeLocked", "AssetChangeApplied"]
        assert asset.version == 2
        assert all(c.status is AssetStatus.SUSPENDED for c in base.children(asset.asset_id))


def test_terms_end_all_through_the_year_after_the_start(base):
    ends = [a.term_end for a in base if a.term_end is not None]
    start = EPOCH.date()
    assert min(ends) >= start and (max(ends) - start).days < PROFILE.terms_end_within_days
    months = Counter(d.month for d in ends)
    assert len(months) == 12


def test_a_gap_is_refused_by_the_change_check_never_guessed(catalog, base):
    # Given a migrated asset with gaps, and a renewal quoted against it
    asset = next(a for a in base if a.missing_metadata and a.status is AssetStatus.ACTIVE)
    line = change_line(catalog, asset, "renew", rng=__import__("random").Random(1))
    # When the change is judged
    refusals = check_change_lines(catalog, base, asset.account_id, [line], EPOCH.date())
    # Then it is refused for the missing metadata
    assert [r.code for r in refusals] == ["incomplete_asset_metadata"]


def test_an_offering_the_catalog_cannot_install_is_refused_by_name(catalog):
    profile = PROFILE.model_copy(update={"offerings": {"legacy-firewall": 1}})
    with pytest.raises(InstalledBaseError, match="legacy-firewall"):
        generate_installed_base(profile, catalog, seed=7)


# ------------------------------------------------------------------------ bad input


@pytest.mark.parametrize(
    ("edit", "place", "says"),
    [
        (
            ("offering: saas-suite, weight: 1}", "offering: saas-suit, weight: 1}"),
            "traffic.changes.mix[1].offering",
            "did you mean 'saas-suite'",
        ),
        (
            (
                "installed_base:\n  assets: 2000",
                "installed_base:\n  offerings: {legacy-firewall: 1}\n  assets: 2000",
            ),
            "installed_base",
            "legacy-firewall",
        ),
        (("migrated_fraction: 0.1", "migrated_fraction: 1.5"), "migrated_fraction", "1"),
        (("action: renew,", "action: renw,"), "action", "renew"),
    ],
    ids=["unknown offering", "offering never installed", "fraction above one", "no such action"],
)
def test_a_bad_installed_base_or_change_traffic_exits_2_naming_the_place(
    tmp_path, edit, place, says
):
    # Given renewal_season with one mistake in its installed base or change traffic
    text = (LIBRARY / "renewal_season.yaml").read_text()
    assert edit[0] in text
    text = text.replace(edit[0], edit[1]).replace(
        "catalog: catalog/enterprise.yaml", f"catalog: {LIBRARY / 'catalog' / 'enterprise.yaml'}"
    )
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    # When it is run
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "cpqsim_scenarios",
            "run",
            str(path),
            "--out",
            str(tmp_path / "out"),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    # Then it is refused before anything runs, with the place and the reason
    output = done.stdout + done.stderr
    assert done.returncode == 2, output
    assert "Traceback" not in output
    assert place in output and says in output, output
    assert not (tmp_path / "out").exists()


def test_change_traffic_without_an_installed_base_is_refused(catalog):
    from cpqsim_host.scenario import Scenario

    raw = load_scenario(LIBRARY / "renewal_season.yaml").scenario.model_dump()
    raw["installed_base"] = None
    with pytest.raises(ValueError, match="needs installed_base"):
        Scenario.model_validate(raw)
