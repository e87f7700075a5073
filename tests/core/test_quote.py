"""Quote lifecycle specifications: given events, when a command, then events (or refusal)."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest

from cpqsim.configuration import QuoteLine
from cpqsim.context import Context
from cpqsim.lifecycle import GuardFailed, IllegalTransition
from cpqsim.quote import (
    COMMAND_FACTS,
    QUOTE_COMMANDS,
    QUOTE_LIFECYCLE,
    AcceptQuote,
    AlreadyConverted,
    ApproveQuote,
    CancelQuote,
    ConvertQuoteToOrder,
    CreateQuote,
    PriceQuote,
    QuoteAccepted,
    QuoteApprovalRefused,
    QuoteApproved,
    QuoteConvertedToOrder,
    QuotePriced,
    QuoteRevised,
    QuoteStatus,
    RejectQuote,
    ReviseQuote,
    SubmitQuoteForApproval,
    decide,
    evolve,
    execute,
    price_request_for,
)

LINE = QuoteLine(offering="saas-suite", quantity=10, options=["saas-edition-standard"])


def given(services, ctx, *commands, discount="0"):
    """Fold a history of commands into a state (the 'given events' of a specification)."""
    state, _ = execute(
        None,
        CreateQuote(
            quote_id="Q1",
            account_id="acct-1",
            requester="seller-1",
            lines=[LINE],
            discount_pct=Decimal(discount),
        ),
        ctx,
        services,
    )
    for command in commands:
        state, _ = execute(state, command, ctx, services)
    return state


def test_pricing_a_draft_records_the_price_and_its_fingerprint(services, ctx):
    state = given(services, ctx)
    events = decide(state, PriceQuote(quote_id="Q1"), ctx, services)
    assert [type(e) for e in events] == [QuotePriced]
    assert events[0].price_fingerprint.startswith("sha256:")
    assert events[0].approval_required is False


def test_a_quote_within_policy_is_accepted_without_approval(services, ctx):
    state = given(services, ctx, PriceQuote(quote_id="Q1"))
    [accepted] = decide(state, AcceptQuote(quote_id="Q1"), ctx, services)
    assert isinstance(accepted, QuoteAccepted)
    assert accepted.snapshot.price_fingerprint == state.price_fingerprint
    assert accepted.approval_required is False


def test_a_deep_discount_cannot_be_accepted_before_approval(services, ctx):
    state = given(services, ctx, PriceQuote(quote_id="Q1"), discount="0.15")
    assert state.approval_required and state.required_role == "sales_manager"
    with pytest.raises(GuardFailed, match="needs approval"):
        decide(state, AcceptQuote(quote_id="Q1"), ctx, services)


def test_the_requester_can_never_approve_their_own_quote(services, ctx):
    state = given(
        services,
        ctx,
        PriceQuote(quote_id="Q1"),
        SubmitQuoteForApproval(quote_id="Q1"),
        discount="0.15",
    )
    after, [refused] = execute(
        state,
        ApproveQuote(quote_id="Q1", approver="seller-1", role="finance_director"),
        ctx,
        services,
    )
    assert isinstance(refused, QuoteApprovalRefused)
    assert "segregation of duties" in refused.reason
    assert after.status is QuoteStatus.PENDING_APPROVAL and after.approval is None


def test_an_approver_below_the_required_role_is_refused(services, ctx):
    state = given(
        services,
        ctx,
        PriceQuote(quote_id="Q1"),
        SubmitQuoteForApproval(quote_id="Q1"),
        discount="0.30",
    )
    assert state.required_role == "finance_director"
    after, [refused] = execute(
        state,
        ApproveQuote(quote_id="Q1", approver="mgr-1", role="sales_manager"),
        ctx,
        services,
    )
    assert isinstance(refused, QuoteApprovalRefused)
    assert "below the required role" in refused.reason
    assert (refused.approver, refused.role, refused.step) == ("mgr-1", "sales_manager", 1)
    assert after.status is QuoteStatus.PENDING_APPROVAL and after.approval is None


def test_approval_binds_to_the_snapshot_that_is_then_accepted(services, ctx):
    state = given(
        services,
        ctx,
        PriceQuote(quote_id="Q1"),
        SubmitQuoteForApproval(quote_id="Q1"),
        ApproveQuote(quote_id="Q1", approver="mgr-1", role="sales_manager"),
        discount="0.15",
    )
    assert state.status is QuoteStatus.APPROVED
    [accepted] = decide(state, AcceptQuote(quote_id="Q1"), ctx, services)
    assert accepted.approval_snapshot_fingerprint == accepted.snapshot_fingerprint


def test_a_change_after_approval_opens_a_new_revision_and_voids_the_approval(services, ctx):
    state = given(
        services,
        ctx,
        PriceQuote(quote_id="Q1"),
        SubmitQuoteForApproval(quote_id="Q1"),
        ApproveQuote(quote_id="Q1", approver="mgr-1", role="sales_manager"),
        discount="0.15",
    )
    [revised] = decide(
        state, ReviseQuote(quote_id="Q1", discount_pct=Decimal("0.2")), ctx, services
    )
    assert isinstance(revised, QuoteRevised)
    assert (revised.revision, revised.invalidated_approval) == (2, True)
    state = evolve(state, revised)
    assert state.status is QuoteStatus.DRAFT and state.approval is None and state.price is None


def test_a_rejected_quote_can_be_revised_within_policy_and_accepted(services, ctx):
    state = given(
        services,
        ctx,
        PriceQuote(quote_id="Q1"),
        SubmitQuoteForApproval(quote_id="Q1"),
        RejectQuote(quote_id="Q1", approver="mgr-1", role="sales_manager", reason="too deep"),
        ReviseQuote(quote_id="Q1", discount_pct=Decimal("0.05")),
        PriceQuote(quote_id="Q1"),
        discount="0.15",
    )
    assert (state.revision, state.approval_required) == (2, False)
    [accepted] = decide(state, AcceptQuote(quote_id="Q1", revision=2), ctx, services)
    assert accepted.revision == 2


def test_an_accepted_quote_cannot_change(services, ctx):
    state = given(services, ctx, PriceQuote(quote_id="Q1"), AcceptQuote(quote_id="Q1"))
    for command in (
        ReviseQuote(quote_id="Q1", discount_pct=Decimal("0.01")),
        PriceQuote(quote_id="Q1"),
        CancelQuote(quote_id="Q1"),
    ):
        with pytest.raises(IllegalTransition):
            decide(state, command, ctx, services)


def test_conversion_is_idempotent_per_key_and_refused_for_a_second_key(services, ctx):
    state = given(services, ctx, PriceQuote(quote_id="Q1"), AcceptQuote(quote_id="Q1"))
    state, [converted] = execute(
        state, ConvertQuoteToOrder(quote_id="Q1", idempotency_key="k1"), ctx, services
    )
    assert isinstance(converted, QuoteConvertedToOrder)
    replay = decide(state, ConvertQuoteToOrder(quote_id="Q1", idempotency_key="k1"), ctx, services)
    assert replay == []  # same key: same order, no new fact
    assert state.order_id == converted.order_id
    with pytest.raises(AlreadyConverted):
        decide(state, ConvertQuoteToOrder(quote_id="Q1", idempotency_key="k2"), ctx, services)


def test_every_command_outside_the_table_is_an_illegal_transition(services, ctx):
    """Exhaustive over statuses x commands: the table is the only source of legality."""
    for status in QuoteStatus:
        for name in QUOTE_COMMANDS:
            fact = COMMAND_FACTS.get(name)
            if fact is None or QUOTE_LIFECYCLE.allows(status, fact):
                continue
            if status is QuoteStatus.CONVERTED and name == "ConvertQuoteToOrder":
                continue
            with pytest.raises(IllegalTransition):
                QUOTE_LIFECYCLE.next_state(status, fact, action=name)


def test_the_lifecycle_diagram_is_generated_from_the_table():
    mermaid = QUOTE_LIFECYCLE.to_mermaid()
    assert mermaid.startswith("stateDiagram-v2")
    assert "approved --> accepted: accepted" in mermaid
    assert len(mermaid.strip().splitlines()) == 1 + len(QUOTE_LIFECYCLE.edges())


def test_approved_event_names_approver_requester_and_policy(services, ctx):
    state = given(
        services,
        ctx,
        PriceQuote(quote_id="Q1"),
        SubmitQuoteForApproval(quote_id="Q1"),
        discount="0.15",
    )
    [approved] = decide(
        state, ApproveQuote(quote_id="Q1", approver="mgr-1", role="sales_manager"), ctx, services
    )
    assert isinstance(approved, QuoteApproved)
    assert (approved.approver, approved.requester, approved.policy_version) == (
        "mgr-1",
        "seller-1",
        "approval-policy-v1",
    )


def test_a_quote_pins_the_versions_in_force_on_its_business_date(services, ctx):
    state = given(services, ctx)
    assert state.lines[0].offering == "saas-suite@2"
    assert state.lines[0].options == ["saas-edition-standard@1"]


def test_a_version_closed_to_new_quotes_is_refused_at_the_door(services, ctx):
    from cpqsim.pricing import PricingError

    grandfathered = QuoteLine(
        offering="saas-suite@1", quantity=10, options=["saas-edition-standard"]
    )
    with pytest.raises(PricingError) as refused:
        decide(
            None,
            CreateQuote(quote_id="Q2", account_id="a", requester="s", lines=[grandfathered]),
            ctx,
            services,
        )
    assert {v.rule for v in refused.value.violations} & {"lifecycle", "not_effective"}


def _counting_prices(monkeypatch) -> list[str]:
    """Record every request the catalog is actually priced for (by business date)."""
    import cpqsim.quote as quote_module

    priced: list[str] = []
    real = quote_module.price_quote

    def counting(catalog, request, *args):
        priced.append(str(request.business_date))
        return real(catalog, request, *args)

    monkeypatch.setattr(quote_module, "price_quote", counting)
    return priced


def test_creating_a_quote_checks_its_configuration_without_pricing_it(services, ctx, monkeypatch):
    priced = _counting_prices(monkeypatch)
    state = given(services, ctx)
    assert priced == []  # the door checks configuration and discount, it does not price
    [event] = decide(state, PriceQuote(quote_id="Q1"), ctx, services)
    assert priced == [str(ctx.now.date())]  # a quote is priced once, when asked
    assert event.price_fingerprint == services.price(price_request_for(state, ctx)).fingerprint


def test_a_discount_beyond_policy_is_refused_at_the_door(services, ctx):
    from cpqsim.pricing import PricingError

    with pytest.raises(PricingError, match="discount_pct"):
        decide(
            None,
            CreateQuote(
                quote_id="Q9",
                account_id="a",
                requester="s",
                lines=[LINE],
                discount_pct=Decimal("0.95"),
            ),
            ctx,
            services,
        )


def test_pricing_on_a_later_business_date_prices_for_that_date(services, ctx, monkeypatch):
    priced = _counting_prices(monkeypatch)
    state = given(services, ctx)
    later = Context(now=ctx.now + timedelta(days=1), ids=ctx.ids, rng=ctx.rng)
    decide(state, PriceQuote(quote_id="Q1"), later, services)
    assert priced == [str(later.now.date())]


def test_the_state_keeps_typed_snapshots_so_decisions_never_reparse(services, ctx):
    from cpqsim.pricing import PriceResult
    from cpqsim.quote import CommercialSnapshot

    state = given(
        services,
        ctx,
        PriceQuote(quote_id="Q1"),
        SubmitQuoteForApproval(quote_id="Q1"),
        ApproveQuote(quote_id="Q1", approver="mgr-1", role="sales_manager"),
        AcceptQuote(quote_id="Q1"),
        discount="0.15",
    )
    assert isinstance(state.price, PriceResult)
    assert isinstance(state.approval, QuoteApproved)
    assert isinstance(state.accepted_snapshot, CommercialSnapshot)
    assert state.accepted_snapshot.fingerprint() == state.accepted_snapshot_fingerprint


def test_evolve_reads_every_target_status_from_the_lifecycle_table(services, ctx):
    """Each fact moves the quote exactly as QUOTE_LIFECYCLE says (the table is the truth)."""
    state = given(services, ctx)
    for command in (
        PriceQuote(quote_id="Q1"),
        ReviseQuote(quote_id="Q1", discount_pct=Decimal("0.01")),
        PriceQuote(quote_id="Q1"),
        AcceptQuote(quote_id="Q1"),
        ConvertQuoteToOrder(quote_id="Q1", idempotency_key="k"),
    ):
        before = state.status
        state, [event] = execute(state, command, ctx, services)
        assert state.status is QUOTE_LIFECYCLE.next_state(before, event.type_name)
