"""Golden approval cases: approval-policy verdicts worked out by hand.

Each file in ``tests/golden/approval/`` names a small catalog, an approval policy (a
file in ``policies/``, optionally with overrides), a quote, the business date, the
price and approval chain expected, then a list of decisions (submit, approve by whom in
which role, escalate, accept) each with the fact it must establish. The ``working``
field holds the hand arithmetic and rule reading: the expected values were never copied
from the engine's output, so a failure means the engine or the working is wrong.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from cpqsim.approval import ApprovalPolicy
from cpqsim.catalog import publish
from cpqsim.configuration import QuoteLine
from cpqsim.context import Context, IdSource, rng_stream
from cpqsim.lifecycle import DomainError
from cpqsim.quote import (
    AcceptQuote,
    ApproveQuote,
    CreateQuote,
    EscalateApproval,
    PriceQuote,
    QuoteServices,
    SubmitQuoteForApproval,
    execute,
)

GOLDEN = Path(__file__).resolve().parents[1] / "golden" / "approval"
CASES = sorted(GOLDEN.glob("*.json"))
REQUIRED_KEYS = {"name", "description", "catalog", "policy", "quote", "expected", "working"}


def _load(case: dict[str, Any]) -> tuple[QuoteServices, Context]:
    catalog_doc = json.loads((GOLDEN / case["catalog"]).read_text(encoding="utf-8"))
    policy_doc = json.loads((GOLDEN / case["policy"]).read_text(encoding="utf-8"))
    policy_doc.update(case.get("policy_overrides", {}))
    services = QuoteServices(
        catalog=publish(catalog_doc).catalog,
        approval_policy=ApprovalPolicy.model_validate(policy_doc),
    )
    day = datetime.fromisoformat(case["business_date"]).replace(hour=9, tzinfo=UTC)
    return services, Context(now=day, ids=IdSource(), rng=rng_stream(1, "golden"))


def _command(quote_id: str, step: dict[str, Any]):
    kind = step["do"]
    if kind == "submit":
        return SubmitQuoteForApproval(quote_id=quote_id)
    if kind == "approve":
        return ApproveQuote(
            quote_id=quote_id,
            approver=step["approver"],
            role=step["role"],
            on_behalf_of=step.get("on_behalf_of"),
        )
    if kind == "escalate":
        return EscalateApproval(quote_id=quote_id, owner=step["owner"], reason="overdue")
    if kind == "accept":
        return AcceptQuote(quote_id=quote_id)
    raise AssertionError(f"unknown decision {kind!r}")


def test_every_case_is_complete():
    assert len(CASES) >= 12
    for path in CASES:
        case = json.loads(path.read_text(encoding="utf-8"))
        assert set(case) >= REQUIRED_KEYS, f"{path.name}: missing {REQUIRED_KEYS - set(case)}"
        assert case["name"] == path.stem
        assert case["working"], f"{path.name}: no hand working"


@pytest.mark.parametrize("path", CASES, ids=[p.stem for p in CASES])
def test_golden_approval_case(path: Path):
    # Given the policy, the catalog and the business date of the case
    case = json.loads(path.read_text(encoding="utf-8"))
    services, ctx = _load(case)
    quote, expected = case["quote"], case["expected"]
    create = CreateQuote(
        quote_id="Q1",
        account_id="acct-1",
        requester=quote["requester"],
        requester_role=quote.get("requester_role"),
        lines=[QuoteLine.model_validate(line) for line in quote["lines"]],
        discount_pct=Decimal(quote["discount_pct"]),
        region=quote.get("region"),
    )
    # When the quote is created (or refused) and priced
    if "create_refused" in expected:
        with pytest.raises(DomainError) as refused:
            execute(None, create, ctx, services)
        assert expected["create_refused"] in str(refused.value)
        return
    state, _ = execute(None, create, ctx, services)
    state, _ = execute(state, PriceQuote(quote_id="Q1"), ctx, services)
    # Then the price, the triggers and the chain are the hand-worked ones
    assert state.price is not None
    assert format(state.price.net_total, "f") == expected["net_total"]
    assert [t.rule_id for t in state.approval_triggers] == expected["triggers"]
    assert state.approval_chain == expected["chain"]
    assert state.approval_required == bool(expected["chain"])
    # And every decision establishes the fact the case expects, in order
    for i, step in enumerate(case["decisions"]):
        where = f"{path.name} decisions[{i}]"
        command = _command("Q1", step)
        if step["expect"] == "refused":
            with pytest.raises(DomainError) as refused:
                execute(state, command, ctx, services)
            assert step["reason_contains"] in str(refused.value), where
            continue
        state, events = execute(state, command, ctx, services)
        assert [e.type_name for e in events] == [step["expect"]], where
        fact = events[0]
        if "reason_contains" in step:
            assert step["reason_contains"] in fact.reason, f"{where}: {fact.reason}"
        if "escalated_to" in step:
            assert fact.escalated_to == step["escalated_to"], where
        if "expect_owner" in step:
            assert fact.owner == step["expect_owner"], where
        if step["expect"] in ("approved", "approval_step_approved"):
            assert fact.policy_version == services.approval_policy.version, where
            assert fact.on_behalf_of == step.get("on_behalf_of"), where
        if "status" in step:
            assert state.status == step["status"], where
    assert state.status == case["expected_status"]
