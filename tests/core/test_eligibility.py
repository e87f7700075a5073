"""Eligibility specifications: rules as data give one of four answers, with reasons,
required actions, the rule version and the injected evaluation time; and a valid
configuration is not the same thing as an orderable one."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from cpqsim.catalog import Catalog
from cpqsim.configuration import QuoteLine
from cpqsim.eligibility import (
    CustomerContext,
    Eligibility,
    EligibilityPolicy,
    EligibilityRule,
    assess_order,
    evaluate_eligibility,
)

DAY = date(2026, 6, 1)
AT = datetime(2026, 6, 1, 9, 30, tzinfo=UTC)

POLICY = EligibilityPolicy(
    id="enterprise-eligibility",
    version="2026.2",
    rules=[
        EligibilityRule(
            id="fw-credit",
            version="3",
            kind="credit",
            applies_to=["managed-firewall"],
            min_credit="good",
            when_failed="conditional",
            action="credit check",
            reason="appliances are shipped on credit",
        ),
        EligibilityRule(
            id="sso-needs-directory",
            kind="installed_asset",
            applies_to=["saas-sso"],
            asset="saas-suite",
        ),
        EligibilityRule(id="no-embargo", kind="region", allowed=["US", "EU", "SG"]),
    ],
)

KNOWN = CustomerContext(
    account_id="acme",
    region="US",
    segment="enterprise",
    channel="direct",
    installed_assets=[],
    credit_standing="good",
)


def judge(catalog: Catalog, offering: str, **changes) -> object:
    context = KNOWN.model_copy(update=changes)
    return evaluate_eligibility(
        catalog, offering, context, POLICY, business_date=DAY, evaluated_at=AT
    )


def test_eligible_customer_gets_eligible_with_rule_version_and_injected_time(
    sample_catalog: Catalog,
) -> None:
    result = judge(sample_catalog, "managed-firewall")
    assert result.status == Eligibility.ELIGIBLE
    assert (result.rule_version, result.policy, result.evaluated_at) == (
        "2026.2",
        "enterprise-eligibility",
        AT,
    )
    assert result.offering == "managed-firewall@1"
    assert result.catalog_version == "2026.11.1"
    assert result.required_actions == [] and result.reasons == []
    assert {f.rule_id for f in result.findings} >= {"catalog:segment", "fw-credit", "no-embargo"}


def test_catalog_scope_refuses_a_customer_outside_the_market(sample_catalog: Catalog) -> None:
    # business-internet is offered in US and EU only.
    result = judge(sample_catalog, "business-internet", region="SG")
    assert result.status == Eligibility.NOT_ELIGIBLE
    assert result.reasons == ["business-internet@1: region SG is not one of US, EU"]


def test_weak_credit_makes_it_conditional_with_a_required_action(sample_catalog: Catalog) -> None:
    result = judge(sample_catalog, "managed-firewall", credit_standing="watch")
    assert result.status == Eligibility.CONDITIONALLY_ELIGIBLE
    assert result.required_actions == ["credit check"]
    [finding] = [f for f in result.findings if f.rule_id == "fw-credit"]
    assert (finding.rule_version, finding.action) == ("3", "credit check")
    assert "credit watch is below good" in finding.message


@pytest.mark.parametrize(
    ("missing", "fact"),
    [("credit_standing", "credit_standing"), ("segment", "segment"), ("region", "region")],
)
def test_a_missing_fact_gives_unknown_never_a_guess(
    sample_catalog: Catalog, missing: str, fact: str
) -> None:
    result = judge(sample_catalog, "managed-firewall", **{missing: None})
    assert result.status == Eligibility.UNKNOWN
    assert result.missing_facts == [fact]


def test_not_eligible_wins_over_unknown_and_conditional(sample_catalog: Catalog) -> None:
    result = judge(
        sample_catalog, "managed-firewall", segment="smb", credit_standing=None, region="KP"
    )
    assert result.status == Eligibility.NOT_ELIGIBLE
    assert result.missing_facts == ["credit_standing"]


def test_required_installed_asset(sample_catalog: Catalog) -> None:
    assert judge(sample_catalog, "saas-sso").status == Eligibility.NOT_ELIGIBLE
    owner = judge(sample_catalog, "saas-sso", installed_assets=["saas-suite@1"])
    assert owner.status == Eligibility.ELIGIBLE
    unknown = judge(sample_catalog, "saas-sso", installed_assets=None)
    assert (unknown.status, unknown.missing_facts) == (Eligibility.UNKNOWN, ["installed_assets"])


def test_owning_a_conflicting_asset_asks_for_migration(sample_catalog: Catalog) -> None:
    result = judge(sample_catalog, "managed-firewall", installed_assets=["legacy-firewall@1"])
    assert result.status == Eligibility.CONDITIONALLY_ELIGIBLE
    assert result.required_actions == ["migrate or terminate legacy-firewall"]


def test_a_valid_configuration_can_be_not_orderable_for_this_customer(
    sample_catalog: Catalog,
) -> None:
    # Given a firewall and the internet line it needs: a valid configuration.
    lines = [
        QuoteLine(offering="business-internet", options=["bi-access-fiber", "bi-sla-standard"]),
        QuoteLine(offering="managed-firewall", options=["mf-tier-basic"]),
    ]
    smb = KNOWN.model_copy(update={"segment": "smb"})
    # When an SMB customer asks, then it is configurable but not orderable.
    answer = assess_order(sample_catalog, lines, smb, POLICY, business_date=DAY, evaluated_at=AT)
    assert answer.configurable and answer.violations == []
    assert answer.status == Eligibility.NOT_ELIGIBLE and not answer.orderable
    # And for the enterprise customer it is both.
    ok = assess_order(sample_catalog, lines, KNOWN, POLICY, business_date=DAY, evaluated_at=AT)
    assert ok.configurable and ok.orderable
    # While an invalid configuration is not orderable even for an eligible customer.
    broken = assess_order(
        sample_catalog, lines[1:], KNOWN, POLICY, business_date=DAY, evaluated_at=AT
    )
    assert broken.status == Eligibility.ELIGIBLE
    assert not broken.configurable and not broken.orderable
    assert [v.rule for v in broken.violations] == ["requires"]


def test_evaluation_is_deterministic(sample_catalog: Catalog) -> None:
    assert judge(sample_catalog, "managed-firewall") == judge(sample_catalog, "managed-firewall")
