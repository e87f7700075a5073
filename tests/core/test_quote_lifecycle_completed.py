"""The quote lifecycle completed: validity, presented, expired, superseded, clone; the
proposal and its hash; eligibility asked at creation and conversion; guarded conversion.

Given events, when a command, then facts (or a refusal with its own code).
"""

from __future__ import annotations

import copy
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from conftest import SAMPLE_CATALOG

from cpqsim.catalog import parse_catalog
from cpqsim.configuration import QuoteLine
from cpqsim.context import Context, IdSource, at, rng_stream
from cpqsim.eligibility import CustomerContext, EligibilityPolicy, EligibilityRule
from cpqsim.lifecycle import GuardFailed, IllegalTransition
from cpqsim.proposal import proposal_sha256, render_proposal
from cpqsim.quote import (
    QUOTE_LIFECYCLE,
    AcceptQuote,
    ApproveQuote,
    ConvertQuoteToOrder,
    CreateQuote,
    ExpireQuote,
    PresentQuote,
    PriceQuote,
    QuoteExpired,
    QuotePresented,
    QuoteStatus,
    QuoteSuperseded,
    ReviseQuote,
    SubmitQuoteForApproval,
    SupersedeQuote,
    clone_command,
    commercial_snapshot,
    execute,
)
from cpqsim.quote_guards import (
    ApprovalMismatch,
    NotEligible,
    NotOrderable,
    OfferLapsed,
    ProposalMismatch,
    StalePriceFingerprint,
)
from cpqsim.quote_policy import QuotePolicy
from cpqsim_scenarios.files import read_catalog_document

LINE = QuoteLine(offering="saas-suite", quantity=10, options=["saas-edition-standard"])
DAY = 24 * 3600.0


def ctx_at(seconds: float) -> Context:
    return Context(now=at(seconds), ids=IdSource(), rng=rng_stream(1, "test"))


def create(quote_id: str = "Q1", **fields) -> CreateQuote:
    values = {
        "quote_id": quote_id,
        "account_id": "acct-1",
        "requester": "seller-1",
        "lines": [LINE],
    }
    return CreateQuote(**{**values, **fields})


def run(services, state, *commands, t: float = 0.0):
    for command in commands:
        state, _ = execute(state, command, ctx_at(t), services)
    return state


def presented(services, t: float = 0.0):
    return run(
        services, None, create(), PriceQuote(quote_id="Q1"), PresentQuote(quote_id="Q1"), t=t
    )


# ------------------------------------------------------------------ presented, proposal


def test_presenting_records_the_proposal_hash_and_the_valid_until_from_policy(services):
    # given a priced quote, when presented on 2026-01-05 under a 30-day policy
    state = run(services, None, create(), PriceQuote(quote_id="Q1"))
    _, events = execute(state, PresentQuote(quote_id="Q1"), ctx_at(0), services)
    # then the fact carries the proposal's sha256 and the offer lapses 2026-02-05 00:00
    (fact,) = events
    assert isinstance(fact, QuotePresented)
    assert fact.valid_until == datetime(2026, 2, 5, tzinfo=UTC)
    document = render_proposal(commercial_snapshot(state), state.price, fact.valid_until)
    assert fact.proposal_sha256 == proposal_sha256(document)
    assert len(fact.proposal_sha256) == 64


def test_the_proposal_is_deterministic_and_shows_prices_and_validity(services):
    a, b = presented(services), presented(services)
    assert a.proposal_sha256 == b.proposal_sha256
    document = render_proposal(commercial_snapshot(a), a.price, a.valid_until)
    assert "Q1" in document and "saas-suite" in document
    assert "2026-02-05T00:00:00.000Z" in document
    assert str(a.price.net_total) in document
    lowered = document.lower()
    assert "cost" not in lowered and "margin" not in lowered


def test_a_quote_needing_approval_cannot_be_presented_before_it_is_approved(services):
    state = run(services, None, create(discount_pct=Decimal("0.25")), PriceQuote(quote_id="Q1"))
    assert state.approval_required
    with pytest.raises(GuardFailed, match="needs approval"):
        execute(state, PresentQuote(quote_id="Q1"), ctx_at(0), services)


def test_acceptance_refers_to_the_presented_proposal(services):
    state = presented(services)
    accepted = run(
        services, state, AcceptQuote(quote_id="Q1", proposal_sha256=state.proposal_sha256)
    )
    assert accepted.status is QuoteStatus.ACCEPTED
    assert accepted.accepted_proposal_sha256 == state.proposal_sha256


def test_accepting_another_proposal_than_the_one_presented_is_refused(services):
    state = presented(services)
    with pytest.raises(ProposalMismatch, match="not the one presented"):
        run(services, state, AcceptQuote(quote_id="Q1", proposal_sha256="0" * 64))


def test_a_presented_proposal_that_no_longer_matches_the_content_is_refused(services):
    # given a presented quote whose stored hash no longer renders from its content
    state = presented(services).model_copy(update={"discount_pct": Decimal("0.05")})
    with pytest.raises(ProposalMismatch, match="no longer renders"):
        run(services, state, AcceptQuote(quote_id="Q1"))


def test_revising_a_presented_quote_drops_its_proposal(services):
    state = run(services, presented(services), ReviseQuote(quote_id="Q1", reason="more seats"))
    assert state.status is QuoteStatus.DRAFT
    assert state.proposal_sha256 is None and state.valid_until is None


# ------------------------------------------------------------------------- validity


def test_validity_days_come_from_the_channel_then_the_segment_then_the_default(services):
    policy = QuotePolicy(
        validity_days=30,
        validity_days_by_channel={"partner": 10},
        validity_days_by_segment={"smb": 14},
    )
    svc = replace(services, quote_policy=policy)
    for fields, lapses in (
        ({"channel": "partner", "segment": "smb"}, datetime(2026, 1, 16, tzinfo=UTC)),
        ({"segment": "smb"}, datetime(2026, 1, 20, tzinfo=UTC)),
        ({}, datetime(2026, 2, 5, tzinfo=UTC)),
    ):
        state = run(
            svc, None, create(**fields), PriceQuote(quote_id="Q1"), PresentQuote(quote_id="Q1")
        )
        assert state.valid_until == lapses, fields


def test_an_offer_is_not_expired_before_its_valid_until(services):
    state = presented(services)
    just_before = (state.valid_until - at(0)).total_seconds() - 0.001
    with pytest.raises(GuardFailed, match="still valid"):
        run(services, state, ExpireQuote(quote_id="Q1"), t=just_before)


def test_the_timer_at_valid_until_expires_the_offer(services):
    state = presented(services)
    due = (state.valid_until - at(0)).total_seconds()
    _, events = execute(state, ExpireQuote(quote_id="Q1"), ctx_at(due), services)
    assert [type(e) for e in events] == [QuoteExpired]
    assert run(services, state, ExpireQuote(quote_id="Q1"), t=due).status is QuoteStatus.EXPIRED


def test_accepting_after_valid_until_is_refused_even_before_the_timer_fires(services):
    state = presented(services)
    with pytest.raises(OfferLapsed):
        run(services, state, AcceptQuote(quote_id="Q1"), t=31 * DAY)


def test_an_expired_quote_cannot_be_accepted(services):
    state = run(services, presented(services), ExpireQuote(quote_id="Q1"), t=31 * DAY)
    with pytest.raises(IllegalTransition):
        run(services, state, AcceptQuote(quote_id="Q1"), t=31 * DAY)


# -------------------------------------------------------------- superseded and clone


def test_a_new_quote_for_the_same_opportunity_supersedes_the_old_one(services):
    old = run(services, None, create(opportunity_id="opp-7"), PriceQuote(quote_id="Q1"))
    _, events = execute(
        old,
        SupersedeQuote(quote_id="Q1", superseded_by="Q2", opportunity_id="opp-7"),
        ctx_at(0),
        services,
    )
    assert [type(e) for e in events] == [QuoteSuperseded]
    state = run(
        services, old, SupersedeQuote(quote_id="Q1", superseded_by="Q2", opportunity_id="opp-7")
    )
    assert state.status is QuoteStatus.SUPERSEDED and state.superseded_by == "Q2"
    with pytest.raises(IllegalTransition):
        run(services, state, ConvertQuoteToOrder(quote_id="Q1", idempotency_key="k"))


def test_a_quote_for_another_opportunity_does_not_supersede(services):
    old = run(services, None, create(opportunity_id="opp-7"))
    with pytest.raises(GuardFailed, match="opportunity"):
        run(
            services, old, SupersedeQuote(quote_id="Q1", superseded_by="Q2", opportunity_id="opp-8")
        )


def test_an_accepted_quote_is_never_superseded(services):
    accepted = run(services, presented(services), AcceptQuote(quote_id="Q1"))
    assert not QUOTE_LIFECYCLE.allows(accepted.status, "superseded")


def test_a_clone_is_a_new_quote_with_the_same_content_priced_afresh(services):
    source = run(services, presented(services), ExpireQuote(quote_id="Q1"), t=31 * DAY)
    command = clone_command(source, "Q2", requester="seller-2")
    clone = run(services, None, command, PriceQuote(quote_id="Q2"), t=40 * DAY)
    assert clone.quote_id == "Q2" and clone.revision == 1 and clone.cloned_from == "Q1"
    assert clone.lines == source.lines and clone.discount_pct == source.discount_pct
    assert clone.price_request.business_date == at(40 * DAY).date()
    assert clone.proposal_sha256 is None


# ---------------------------------------------------------------------- eligibility


def _with_customers(services, **policy):
    return replace(services, quote_policy=QuotePolicy(**policy))


KNOWN = CustomerContext(
    region="US", segment="enterprise", channel="direct", installed_assets=[], credit_standing="good"
)


def test_a_customer_outside_the_offerings_segments_is_refused_with_the_reason(services):
    svc = _with_customers(
        services, accounts={"acct-1": KNOWN.model_copy(update={"segment": "consumer"})}
    )
    with pytest.raises(NotEligible, match="segment consumer is not one of enterprise, smb"):
        run(svc, None, create())


def test_conditional_eligibility_adds_the_required_actions_to_the_quote(services):
    rule = EligibilityRule(
        id="credit",
        kind="credit",
        min_credit="good",
        when_failed="conditional",
        action="credit check",
    )
    svc = _with_customers(
        services,
        accounts={"acct-1": KNOWN.model_copy(update={"credit_standing": "watch"})},
        eligibility=EligibilityPolicy(rules=[rule]),
    )
    state = run(svc, None, create())
    assert state.eligibility == "CONDITIONALLY_ELIGIBLE"
    assert state.required_actions == ["credit check"]


def test_unknown_eligibility_follows_the_policy(services):
    proceed = run(_with_customers(services), None, create())
    assert proceed.eligibility == "UNKNOWN" and proceed.required_actions == ["provide segment"]
    with pytest.raises(NotEligible, match="unknown"):
        run(_with_customers(services, unknown_eligibility="refuse"), None, create())


def test_a_known_eligible_customer_gets_no_actions(services):
    state = run(_with_customers(services, default_customer=KNOWN), None, create())
    assert state.eligibility == "ELIGIBLE" and state.required_actions == []


# --------------------------------------------------------------- guarded conversion


def accepted(services, t: float = 0.0):
    return run(services, presented(services, t), AcceptQuote(quote_id="Q1"), t=t)


def test_conversion_within_validity_passes_every_guard(services):
    state = run(
        services, accepted(services), ConvertQuoteToOrder(quote_id="Q1", idempotency_key="k"), t=DAY
    )
    assert state.status is QuoteStatus.CONVERTED


def test_conversion_after_valid_until_is_refused_as_expired(services):
    with pytest.raises(OfferLapsed) as refused:
        run(
            services,
            accepted(services),
            ConvertQuoteToOrder(quote_id="Q1", idempotency_key="k"),
            t=31 * DAY,
        )
    assert refused.value.code == "quote_expired"


def test_conversion_of_an_expired_quote_is_refused_as_expired(services):
    state = run(services, accepted(services), ExpireQuote(quote_id="Q1"), t=31 * DAY)
    with pytest.raises(OfferLapsed):
        run(services, state, ConvertQuoteToOrder(quote_id="Q1", idempotency_key="k"), t=31 * DAY)


def _catalog_document():
    return read_catalog_document(SAMPLE_CATALOG)


def test_conversion_after_a_price_book_change_is_refused_when_policy_says_requote(services):
    document = copy.deepcopy(_catalog_document())
    document["version"] = "2026.11.2"
    book = document["pricing"]["price_books"][0]
    book["entries"][0]["amount"] = "13.50"
    repriced = parse_catalog(document, source="changed")
    state = accepted(services)
    later = replace(services, catalog=repriced)
    with pytest.raises(StalePriceFingerprint) as refused:
        run(later, state, ConvertQuoteToOrder(quote_id="Q1", idempotency_key="k"), t=DAY)
    assert refused.value.code == "stale_price_fingerprint"
    # a policy that honours accepted prices converts without re-pricing
    honour = replace(later, quote_policy=QuotePolicy(requote_on_price_change=False))
    converted = run(honour, state, ConvertQuoteToOrder(quote_id="Q1", idempotency_key="k"), t=DAY)
    assert converted.accepted_snapshot.price_fingerprint == state.price_fingerprint


def test_a_new_catalog_version_with_the_same_price_book_is_not_stale(services):
    document = copy.deepcopy(_catalog_document())
    document["version"] = "2026.11.2"
    same_prices = parse_catalog(document, source="same prices")
    state = accepted(services)
    converted = run(
        replace(services, catalog=same_prices),
        state,
        ConvertQuoteToOrder(quote_id="Q1", idempotency_key="k"),
        t=DAY,
    )
    assert converted.status is QuoteStatus.CONVERTED


def test_conversion_of_an_offering_no_longer_orderable_is_refused(services):
    document = copy.deepcopy(_catalog_document())
    document["version"] = "2026.11.2"
    for offering in document["offerings"]:
        if offering["id"] == "saas-suite" and str(offering["version"]) == "2":
            offering["effective_to"] = "2026-01-10"
    retired = parse_catalog(document, source="retired")
    state = accepted(services)
    honour = replace(
        services, catalog=retired, quote_policy=QuotePolicy(requote_on_price_change=False)
    )
    with pytest.raises(NotOrderable) as refused:
        run(honour, state, ConvertQuoteToOrder(quote_id="Q1", idempotency_key="k"), t=7 * DAY)
    assert refused.value.code == "not_orderable"


def test_conversion_with_an_approval_not_matching_the_accepted_snapshot_is_refused(services):
    state = run(
        services,
        None,
        create(discount_pct=Decimal("0.25")),
        PriceQuote(quote_id="Q1"),
        SubmitQuoteForApproval(quote_id="Q1"),
    )
    state = run(
        services, state, ApproveQuote(quote_id="Q1", approver="manager-1", role=state.required_role)
    )
    state = run(services, state, PresentQuote(quote_id="Q1"), AcceptQuote(quote_id="Q1"))
    tampered = state.model_copy(
        update={
            "approval": state.approval.model_copy(update={"snapshot_fingerprint": "sha256:other"})
        }
    )
    with pytest.raises(ApprovalMismatch) as refused:
        run(services, tampered, ConvertQuoteToOrder(quote_id="Q1", idempotency_key="k"))
    assert refused.value.code == "approval_mismatch"


def test_conversion_for_a_customer_no_longer_eligible_is_refused(services):
    state = accepted(_with_customers(services, default_customer=KNOWN))
    moved = _with_customers(
        services, default_customer=KNOWN.model_copy(update={"segment": "consumer"})
    )
    with pytest.raises(NotEligible):
        run(moved, state, ConvertQuoteToOrder(quote_id="Q1", idempotency_key="k"), t=DAY)


def test_the_guard_codes_are_distinct():
    codes = [
        c.code
        for c in (
            OfferLapsed,
            StalePriceFingerprint,
            ApprovalMismatch,
            NotOrderable,
            NotEligible,
            ProposalMismatch,
        )
    ]
    assert len(set(codes)) == len(codes)


def test_the_valid_until_is_computed_from_the_business_date_not_the_time_of_day(services):
    # presented at 23:59 on 2026-01-05 or 08:00 the same day: the same last day
    late = presented(services, t=(timedelta(hours=15, minutes=59)).total_seconds())
    early = presented(services)
    assert late.valid_until == early.valid_until == datetime(2026, 2, 5, tzinfo=UTC)
