"""``cpqsim assets``: a run's installed base and an asset's history, read from the log."""

from __future__ import annotations

import json
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cpqsim.asset import AssetChangeApplied, AssetChangeLocked, AssetCreated
from cpqsim.context import Context, IdSource, at
from cpqsim.events import envelope
from cpqsim_scenarios.cli import app

runner = CliRunner()


def _run_folder(tmp_path: Path, facts, extra_lines: list[str] = ()) -> Path:
    ctx = Context(now=at(0), ids=IdSource())
    lines = [envelope(f, ctx).to_json() for f in facts] + list(extra_lines)
    folder = tmp_path / "run"
    folder.mkdir()
    (folder / "events.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return folder


FACTS = [
    AssetCreated(
        asset_id="asset-000001", account_id="acct-1", offering="saas-suite@2", quantity=25,
        options=["saas-edition-standard"], order_id="O1", item_id="O1-item1",
        subscription_id="sub-asset-000001", recurring_monthly=Decimal("12.50"), currency="USD",
        term_start=date(2026, 1, 5), term_end=date(2027, 1, 5),
    ),
    AssetCreated(
        asset_id="asset-000001.1", account_id="acct-1", offering="saas-extra-storage@1",
        role="add_on", parent_id="asset-000001", quantity=25,
    ),
    AssetCreated(asset_id="asset-000002", account_id="acct-2", offering="business-internet@1",
                 quantity=1),
    AssetChangeLocked(asset_id="asset-000001", order_id="O2", item_id="O2-item1",
                      action="upgrade", asset_version=1),
    AssetChangeApplied(asset_id="asset-000001", order_id="O2", item_id="O2-item1",
                       action="upgrade", asset_version=2, options=["saas-edition-premium"]),
]  # fmt: skip


def test_the_installed_base_of_a_run_is_listed_and_filtered_by_account(tmp_path):
    folder = _run_folder(tmp_path, FACTS)
    shown = runner.invoke(app, ["assets", "--run", str(folder), "--account", "acct-1", "--json"])
    assert shown.exit_code == 0, shown.output
    assets = json.loads(shown.output)
    assert [a["asset_id"] for a in assets] == ["asset-000001", "asset-000001.1"]
    assert assets[0]["version"] == 2 and assets[0]["options"] == ["saas-edition-premium"]

    table = runner.invoke(app, ["assets", "--run", str(folder)], env={"COLUMNS": "200"})
    assert table.exit_code == 0 and "3 of 3 assets" in table.output


def test_an_assets_history_is_read_back_fact_by_fact(tmp_path):
    folder = _run_folder(tmp_path, FACTS)
    shown = runner.invoke(
        app, ["assets", "--run", str(folder), "--history", "asset-000001", "--json"]
    )
    assert shown.exit_code == 0, shown.output
    assert [f["type"] for f in json.loads(shown.output)] == [
        "cpqsim.asset.created.v1",
        "cpqsim.asset.change_locked.v1",
        "cpqsim.asset.change_applied.v1",
    ]


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda tmp: tmp / "missing", "is not a folder"),
        (lambda tmp: _file(tmp), "is not a folder"),
        (lambda tmp: _run_folder(tmp, FACTS, ['{"subject":"asset/x","type":"nope"}']),
         "not an asset fact"),
        (lambda tmp: _run_folder(tmp, [FACTS[3]]), "asset-000001 is unknown"),
    ],
)  # fmt: skip
def test_a_bad_run_folder_is_refused_with_exit_2_and_the_reason(tmp_path, make, message):
    shown = runner.invoke(app, ["assets", "--run", str(make(tmp_path))])
    assert shown.exit_code == 2
    assert message in " ".join(shown.output.split())


def test_an_unknown_asset_gets_a_guess(tmp_path):
    folder = _run_folder(tmp_path, FACTS)
    shown = runner.invoke(app, ["assets", "--run", str(folder), "--history", "asset-00001"])
    assert shown.exit_code == 2 and "did you mean" in shown.output


def test_non_utf8_bytes_in_the_log_are_refused(tmp_path):
    folder = _run_folder(tmp_path, FACTS)
    with open(folder / "events.jsonl", "ab") as f:
        f.write(b'{"subject":"asset/\xff"}\n')
    shown = runner.invoke(app, ["assets", "--run", str(folder)])
    assert shown.exit_code == 2 and "UTF-8" in shown.output


def _file(tmp: Path) -> Path:
    path = tmp / "a-file"
    path.write_text("x")
    return path
