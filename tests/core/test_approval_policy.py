"""Approval policy specifications: what a policy refuses, how rules combine, what is logged."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest
from pydantic import ValidationError

from cpqsim.approval import (
    ApprovalPolicy,
    approval_chain,
    policy_problems,
    required_approvals,
)
from cpqsim.quote import CreateQuote, PriceQuote, QuotePriced, execute

D = Decimal


def policy(**fields) -> ApprovalPolicy:
    base = {"version": "t-1", "role_rank": ["sales_manager", "sales_director", "finance_director"]}
    return ApprovalPolicy.model_validate({**base, **fields}, context={"shape_only": True})


def messages(p: ApprovalPolicy) -> list[str]:
    return [message for _, message in policy_problems(p)]


def test_the_embedded_default_is_consistent_and_unchanged():
    default = ApprovalPolicy()
    assert default.version == "approval-policy-v1"
    assert policy_problems(default) == []
    assert approval_chain(default, required_approvals(default, D("0.30"), ["x"])) == [
        "finance_director"
    ]
    assert approval_chain(default, required_approvals(default, D("0.15"), ["x"])) == [
        "sales_manager"
    ]


def test_two_rules_with_the_same_scope_and_conflicting_chains_are_refused_by_name():
    # Given two rules that match exactly the same quotes but name different chains
    p = policy(
        rules=[
            {"id": "a", "discount_above": "0.10", "role": "sales_manager"},
            {"id": "b", "discount_above": "0.10", "chain": ["sales_manager", "finance_director"]},
        ]
    )
    # Then the policy is refused, naming both rules
    [problem] = messages(p)
    assert "'a'" in problem and "'b'" in problem and "match exactly the same quotes" in problem


def test_a_rule_made_unreachable_by_a_wider_more_demanding_rule_is_refused():
    # A finance rule above 10 % everywhere makes "above 20 % in EMEA -> sales manager" moot
    p = policy(
        rules=[
            {"id": "wide", "discount_above": "0.10", "role": "finance_director"},
            {"id": "emea", "discount_above": "0.20", "regions": ["EMEA"], "role": "sales_manager"},
        ]
    )
    [(where, problem)] = policy_problems(p)
    assert where == ("rules", 1)
    assert "'emea'" in problem and "'wide'" in problem


def test_a_ladder_of_thresholds_with_rising_chains_is_accepted():
    p = policy(
        rules=[
            {"id": "ten", "discount_above": "0.10", "role": "sales_manager"},
            {"id": "twenty", "discount_above": "0.20", "role": "sales_director"},
            {"id": "big", "deal_size_above": "100000", "role": "finance_director"},
        ]
    )
    assert messages(p) == []


def test_a_role_without_approval_authority_is_refused():
    p = policy(rules=[{"id": "x", "discount_above": "0.1", "chain": ["sales_manager", "cfo"]}])
    [(where, problem)] = policy_problems(p)
    assert where == ("rules", 0, "chain", 1)
    assert "'cfo' has no approval authority" in problem


def test_a_higher_role_with_less_discount_authority_is_contradictory():
    p = policy(
        discount_authority={"seller": "0.1", "sales_manager": "0.3", "sales_director": "0.2"}
    )
    assert any("ranks above 'sales_manager' but may give less" in m for m in messages(p))


def test_delegations_and_escalation_must_name_known_roles_and_sane_windows():
    p = policy(
        delegations=[
            {
                "delegator": "fin-1",
                "delegate": "FIN-1",
                "role": "ceo",
                "valid_from": "2026-02-01",
                "valid_until": "2026-01-01",
            }
        ],
        escalation={"after_hours": "8", "to_role": "nobody"},
    )
    found = messages(p)
    assert any("ends before it starts" in m for m in found)
    assert any("'ceo' is not in role_rank" in m for m in found)
    assert any("cannot delegate to itself" in m for m in found)
    assert any("'nobody' is not in role_rank" in m for m in found)


def test_validating_without_the_file_reader_refuses_the_whole_policy():
    with pytest.raises(ValidationError, match="match exactly the same quotes"):
        ApprovalPolicy.model_validate(
            {
                "version": "t",
                "rules": [
                    {"id": "a", "discount_above": "0.1", "role": "sales_manager"},
                    {"id": "b", "discount_above": "0.1", "role": "sales_manager"},
                ],
            }
        )


def test_a_rule_needs_a_threshold_and_exactly_one_chain():
    with pytest.raises(ValidationError, match="needs a threshold"):
        policy(rules=[{"id": "a", "role": "sales_manager"}])
    with pytest.raises(ValidationError, match="exactly one"):
        policy(rules=[{"id": "a", "discount_above": "0.1"}])


def test_an_unknown_margin_counts_as_below_the_threshold():
    # Pricing carries no costs, so a margin rule asks for the approval (fail safe)
    p = policy(rules=[{"id": "thin", "margin_below": "0.2", "role": "finance_director"}])
    [trigger] = required_approvals(p, D("0"), ["f"])
    assert "margin unknown" in trigger.reason
    assert required_approvals(p, D("0"), ["f"], margin_pct=D("0.25")) == []
    assert required_approvals(p, D("0"), ["f"], margin_pct=D("0.19"))


def test_a_deal_in_another_currency_than_the_threshold_asks_for_approval():
    p = policy(
        currency="USD", rules=[{"id": "big", "deal_size_above": "1000", "role": "sales_manager"}]
    )
    assert required_approvals(p, D("0"), ["f"], deal_size=D("10"), currency="USD") == []
    [trigger] = required_approvals(p, D("0"), ["f"], deal_size=D("10"), currency="EUR")
    assert "not comparable" in trigger.reason


def test_the_family_condition_matches_any_family_of_the_quote():
    p = policy(
        rules=[
            {
                "id": "sec",
                "discount_above": "0.05",
                "families": ["security"],
                "role": "sales_manager",
            }
        ]
    )
    assert required_approvals(p, D("0.06"), ["connectivity"]) == []
    assert [t.rule_id for t in required_approvals(p, D("0.06"), ["connectivity", "security"])] == [
        "sec"
    ]


def test_a_one_step_price_is_logged_exactly_as_before_chains_existed(services, ctx, sample_catalog):
    # Given the embedded default policy, when a 15 % quote is priced
    state, _ = execute(
        None,
        CreateQuote(
            quote_id="Q1",
            account_id="a",
            requester="s",
            lines=[
                {"offering": "saas-suite", "quantity": 10, "options": ["saas-edition-standard"]}
            ],
            discount_pct=D("0.15"),
        ),
        ctx,
        services,
    )
    _, [priced] = execute(state, PriceQuote(quote_id="Q1"), ctx, services)
    assert isinstance(priced, QuotePriced) and priced.chain == ["sales_manager"]
    # Then the fact's JSON carries none of the new fields
    data = json.loads(priced.model_dump_json())
    assert "approval_chain" not in data and "authority_trigger" not in data
    assert all("chain" not in t for t in data["price"]["approval_triggers"])
    # And reading it back gives the same fact
    assert QuotePriced.model_validate(data) == priced


def test_a_revision_beyond_the_sellers_authority_is_refused_when_the_policy_refuses(
    sample_catalog, ctx
):
    from cpqsim.lifecycle import GuardFailed
    from cpqsim.quote import QuoteServices, ReviseQuote

    # Given a policy that refuses discounts beyond the requester's own authority
    refusing = policy(
        rules=[{"id": "ten", "discount_above": "0.10", "role": "sales_manager"}],
        discount_authority={"seller": "0.10", "sales_manager": "0.20"},
        beyond_authority="refuse",
    )
    services = QuoteServices(catalog=sample_catalog, approval_policy=refusing)
    state, _ = execute(
        None,
        CreateQuote(
            quote_id="Q1",
            account_id="a",
            requester="s",
            lines=[
                {"offering": "saas-suite", "quantity": 10, "options": ["saas-edition-standard"]}
            ],
            discount_pct=D("0.10"),
        ),
        ctx,
        services,
    )
    # When the seller revises to 12 %, then the revision is refused with the authority
    with pytest.raises(GuardFailed, match="a seller may give up to 10% discount"):
        execute(state, ReviseQuote(quote_id="Q1", discount_pct=D("0.12")), ctx, services)
    # And a sales manager's own quote at 12 % is within their authority
    state, _ = execute(
        None,
        CreateQuote(
            quote_id="Q2",
            account_id="a",
            requester="m",
            requester_role="sales_manager",
            lines=[
                {"offering": "saas-suite", "quantity": 10, "options": ["saas-edition-standard"]}
            ],
            discount_pct=D("0.12"),
        ),
        ctx,
        services,
    )
    assert state.requester_role == "sales_manager"
