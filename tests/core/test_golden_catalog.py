"""Golden catalog cases: small hand-checked catalogs with the answer worked out in the
file (``working``), run through publication, the configurator and eligibility.

Each ``tests/golden/catalog/*.json`` holds ``name``, ``description``, ``input`` (a
catalog document, and where relevant configurations with a business date and intent,
or customer contexts with a policy) and ``expected``:

* ``problems`` — publication is refused with exactly these (code, elements, location);
* ``checks`` — publication succeeds and each configuration gives exactly these
  violations (rule, path, elements; and, where the case states them, the relation's
  scope and fragments of the message), in order;
* ``eligibility`` — publication succeeds and each assessment gives these answers.
"""

from __future__ import annotations

import json
from datetime import date, datetime
from pathlib import Path

import pytest

from cpqsim.catalog import CatalogInvalid, publish
from cpqsim.configuration import QuoteLine, check_configuration
from cpqsim.eligibility import CustomerContext, EligibilityPolicy, assess_order

GOLDEN = Path(__file__).resolve().parents[1] / "golden" / "catalog"
CASES = sorted(GOLDEN.glob("*.json"))
REQUIRED = {"name", "description", "input", "expected", "working"}
MUST_COVER = {
    "expired_catalog_version",
    "retired_product",
    "overlapping_effective_dates",
    "incompatible_options",
    "missing_price_entry",
    "duplicate_sku_mapping",
    "circular_dependency",
    "deeply_nested_bundle",
    "grandfathered_offering",
    "requirement_on_a_retired_offering",
    "offering_excludes_itself",
    "duplicate_sku_differing_only_in_case",
    "line_scoped_requirement_not_met_by_another_line",
    "quote_scoped_requirement_met_by_another_line",
    "requirement_in_force_from_mid_year",
}


def test_the_golden_set_covers_the_ugly_catalog() -> None:
    assert {p.stem for p in CASES} >= MUST_COVER


def _lines(raw: list[dict]) -> list[QuoteLine]:
    return [QuoteLine.model_validate(line) for line in raw]


@pytest.mark.parametrize("path", CASES, ids=[p.stem for p in CASES])
def test_golden_case(path: Path) -> None:
    case = json.loads(path.read_text(encoding="utf-8"))
    assert set(case) >= REQUIRED, f"{path.name} lacks {sorted(REQUIRED - set(case))}"
    assert case["name"] == path.stem and case["working"]
    given, expected = case["input"], case["expected"]

    if "problems" in expected:
        with pytest.raises(CatalogInvalid) as info:
            publish(given["catalog"], source=path.name)
        found = [
            {"code": p.code, "elements": p.elements, "location": p.location}
            for p in info.value.problems
        ]
        assert found == expected["problems"]
        return

    catalog = publish(given["catalog"], source=path.name).catalog
    for check, want in zip(given.get("checks", []), expected.get("checks", []), strict=True):
        violations = check_configuration(
            catalog,
            _lines(check["lines"]),
            date.fromisoformat(check["business_date"]),
            intent=check.get("intent", "new_quote"),
        )
        messages = [v.message for v in violations]
        # A case may also state the scope a violation came from and message fragments.
        got = [
            {"rule": v.rule, "path": v.path, "elements": v.elements}
            | ({"scope": v.scope} if "scope" in w else {})
            | ({"message_contains": w["message_contains"]} if "message_contains" in w else {})
            for v, w in zip(violations, want, strict=False)
        ]
        assert got == want and len(violations) == len(want), messages
        for v, w in zip(violations, want, strict=True):
            for fragment in w.get("message_contains", []):
                assert fragment in v.message, (fragment, v.message)

    policy = EligibilityPolicy.model_validate(given.get("policy", {}))
    for ask, want in zip(
        given.get("eligibility", []), expected.get("eligibility", []), strict=True
    ):
        evaluated_at = datetime.fromisoformat(ask["evaluated_at"])
        answer = assess_order(
            catalog,
            _lines(ask["lines"]),
            CustomerContext.model_validate(ask["context"]),
            policy,
            business_date=date.fromisoformat(ask["business_date"]),
            evaluated_at=evaluated_at,
        )
        got = {
            "configurable": answer.configurable,
            "orderable": answer.orderable,
            "status": answer.status.value,
            "required_actions": answer.required_actions,
            "missing_facts": sorted({m for r in answer.eligibility for m in r.missing_facts}),
            "rule_version": answer.eligibility[0].rule_version,
        }
        assert got == want
        assert all(r.evaluated_at == evaluated_at for r in answer.eligibility)
