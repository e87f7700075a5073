"""Golden change cases: hand-worked delta prices against an installed base.

Each file in ``tests/golden/changes/`` holds a small catalog, the account's installed
base (assets as they stand), a price request whose lines change those assets, and either
the expected delta prices or the expected refusals, with the arithmetic done by hand
(``working``). The asset terms are read from the installed base the way the quote side
reads them (:func:`cpqsim.pricing_change_basis.assets_priced`), so a case also proves
what the quote side copies into the request (co-termination date included). Amounts
compare as exact text.
"""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from cpqsim.asset import (
    Asset,
    AssetChangeApplied,
    AssetChangeLocked,
    AssetCreated,
    InstalledBase,
)
from cpqsim.catalog import parse_catalog
from cpqsim.change import check_change_lines
from cpqsim.pricing import PriceRequest, PriceResult, price_quote, result_fingerprint
from cpqsim.pricing_change_basis import assets_priced

GOLDEN = Path(__file__).resolve().parents[1] / "golden" / "changes"
CASES = sorted(GOLDEN.glob("*.json"))
REQUIRED = {
    "downgrade_credit",
    "renewal_cotermination",
    "asset_based_upgrade",
    "amendment_proration",
    "suspend_resume_billing",
    "disconnect_early_termination",
    "upgrade_not_allowed",
}


def installed_base(assets: list[dict[str, Any]]) -> InstalledBase:
    """The base as its facts would have built it (a suspended asset went through an
    order that suspended it)."""
    base = InstalledBase()
    for doc in assets:
        status = doc.get("status", "active")
        fields = {k: v for k, v in doc.items() if k != "status"}
        base.apply(AssetCreated(**fields))
        if status == "suspended":
            aid = doc["asset_id"]
            base.apply(
                AssetChangeLocked(
                    asset_id=aid, order_id="o-0", item_id="i-0", action="suspend", asset_version=1
                )
            )
            base.apply(
                AssetChangeApplied(
                    asset_id=aid, order_id="o-0", item_id="i-0", action="suspend", asset_version=2
                )
            )
    return base


def _text(value: Any) -> Any:
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, bool | int | list | str) or value is None:
        return value
    return format(value, "f")


def _compare(result: PriceResult, expected: dict[str, Any]) -> list[str]:
    problems: list[str] = []
    want_changes = expected.get("changes", [])
    if len(want_changes) != len(result.changes):
        problems.append(f"changes: expected {len(want_changes)}, got {len(result.changes)}")
    for k, (want, got) in enumerate(zip(want_changes, result.changes, strict=False)):
        for name, value in want.items():
            if _text(getattr(got, name)) != value:
                problems.append(
                    f"changes[{k}].{name}: expected {value!r}, got {_text(getattr(got, name))!r}"
                )
    for name, value in expected.get("totals", {}).items():
        if _text(getattr(result, name)) != value:
            problems.append(f"{name}: expected {value!r}, got {_text(getattr(result, name))!r}")
    return problems


def test_the_golden_folder_covers_the_required_cases() -> None:
    assert {p.stem for p in CASES} >= REQUIRED, sorted(REQUIRED - {p.stem for p in CASES})


@pytest.mark.parametrize("path", CASES, ids=[p.stem for p in CASES])
def test_golden_change_case(path: Path) -> None:
    # Given the case's catalog, installed base and change lines
    case = json.loads(path.read_text(encoding="utf-8"))
    assert case["name"] == path.stem and case["working"], "the hand arithmetic is part of it"
    catalog = parse_catalog(case["catalog"])
    base = installed_base(case["installed_base"])
    request = PriceRequest.model_validate(case["request"])
    account = case["account_id"]
    expected = case["expected"]
    # When the change lines are judged against the installed base
    refusals = check_change_lines(catalog, base, account, request.lines, request.business_date)
    if "refusals" in expected:
        # Then they are refused with every reason, and nothing is priced
        got = [(r.path, r.code) for r in refusals]
        assert got == [(r["path"], r["code"]) for r in expected["refusals"]], refusals
        for want, r in zip(expected["refusals"], refusals, strict=True):
            assert want["message_contains"] in r.message, r.message
        return
    assert not refusals, refusals
    # ... and priced from the terms the quote side copies out of the base
    request = request.model_copy(update={"assets": assets_priced(base, account, request.lines)})
    result = price_quote(catalog, request)
    # Then the delta prices are the hand-worked ones, and the result fingerprints true
    problems = _compare(result, expected)
    assert not problems, f"{path.name}:\n  " + "\n  ".join(problems)
    assert result_fingerprint(result) == result.fingerprint


def test_a_suspended_asset_in_a_case_is_really_suspended() -> None:
    base = installed_base(
        [
            {
                "asset_id": "x",
                "account_id": "a",
                "offering": "o@1",
                "quantity": 1,
                "status": "suspended",
            }
        ]
    )
    asset = base.get("x")
    assert isinstance(asset, Asset) and asset.status.value == "suspended" and asset.version == 2
