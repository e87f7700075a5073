"""The proposal of a quote that changes installed products shows what the change costs.

Given an installed base (account ``acme``: 20 standard seats of the collaboration suite
at 12.50 a month, term 2026-01-01..2027-01-01, and a business-internet line), when a
quote changes those assets and is presented on 2026-04-15, then the proposal shows per
change line the action, the asset, the asset before and after (offering and plan,
quantity, status, monthly charge) and the change's charges (billing month, credit,
charge, early-termination charge, due now, term after the change), deterministically,
and nothing internal. A quote without changes keeps its exact bytes.
"""

from __future__ import annotations

import hashlib
import re
from datetime import date, timedelta
from decimal import Decimal

import pytest

from cpqsim.asset import AssetCreated, InstalledBase
from cpqsim.configuration import QuoteLine
from cpqsim.context import Context, IdSource, at, rng_stream
from cpqsim.pricing_change_terms import ContractBook, ContractTerms, EarlyTermination
from cpqsim.proposal import proposal_sha256, render_proposal
from cpqsim.quote import (
    CreateQuote,
    PresentQuote,
    PriceQuote,
    QuoteServices,
    commercial_snapshot,
    execute,
)

SUITE = "saas-suite@2"
STANDARD = "saas-edition-standard@1"
PREMIUM = "saas-edition-premium@1"
INTERNET = "business-internet@1"
LINE_OPTIONS = ["bi-access-fiber@1", "bi-sla-standard@1"]

# Same words as the customer-facing resources test: a cost or a margin, named.
SECRET_WORDS = re.compile(r"\bmargin|\b(unit[ _]?)?cost\b", re.IGNORECASE)


def seats() -> AssetCreated:
    return AssetCreated(
        asset_id="a-1",
        account_id="acme",
        offering=SUITE,
        quantity=20,
        options=[STANDARD],
        characteristics={"data_residency": "US", "term_months": "12"},
        order_id="o-0",
        subscription_id="sub-a-1",
        recurring_monthly=Decimal("12.50"),
        currency="USD",
        term_start=date(2026, 1, 1),
        term_end=date(2027, 1, 1),
    )


def internet_line() -> AssetCreated:
    return AssetCreated(
        asset_id="a-2",
        account_id="acme",
        offering=INTERNET,
        quantity=1,
        options=LINE_OPTIONS,
        characteristics={"bandwidth": "1G"},
        order_id="o-0",
        subscription_id="sub-a-2",
        recurring_monthly=Decimal("399.00"),
        currency="USD",
        term_start=date(2026, 2, 1),
        term_end=date(2027, 2, 1),
    )


@pytest.fixture
def change_services(sample_catalog) -> QuoteServices:
    terms = ContractTerms(
        early_termination=[
            EarlyTermination(
                id="et-connectivity",
                applies_to=["family:connectivity"],
                kind="remaining_pct",
                pct=Decimal("0.5"),
            )
        ]
    )
    return QuoteServices(
        catalog=sample_catalog,
        installed_base=InstalledBase([seats(), internet_line()]),
        contract_terms=ContractBook(default=terms),
    )


def day() -> Context:
    # 2026-01-05 + 100 days = 2026-04-15
    return Context(now=at(0) + timedelta(days=100), ids=IdSource(), rng=rng_stream(1, "t"))


def presented_proposal(services: QuoteServices, lines: list[QuoteLine]) -> tuple[str, object]:
    ctx = day()
    create = CreateQuote(quote_id="q-1", account_id="acme", requester="rep", lines=lines)
    state, _ = execute(None, create, ctx, services)
    state, _ = execute(state, PriceQuote(quote_id="q-1"), ctx, services)
    state, events = execute(state, PresentQuote(quote_id="q-1"), ctx, services)
    document = render_proposal(commercial_snapshot(state), state.price, state.valid_until)
    assert events[0].proposal_sha256 == proposal_sha256(document)
    return document, state


def upgrade() -> QuoteLine:
    return QuoteLine(
        offering=SUITE, quantity=20, options=[PREMIUM], action="upgrade", asset_id="a-1"
    )


def disconnect() -> QuoteLine:
    return QuoteLine(offering=INTERNET, options=LINE_OPTIONS, action="disconnect", asset_id="a-2")


def test_an_upgrade_proposal_shows_the_asset_before_and_after_and_the_prorated_charges(
    change_services,
):
    # Given 20 standard seats at 12.50, when an upgrade to premium is presented mid-April
    document, state = presented_proposal(change_services, [upgrade()])
    # Then the change section names the action, the asset and both configurations
    assert "Changes to installed products:" in document
    assert (
        "  1. upgrade of asset a-1 (version 1), effective 2026-04-15\n"
        "     before: saas-suite@2 with saas-edition-standard@1, quantity 20, active: "
        "250.00 per month\n"
        "     after:  saas-suite@2 with saas-edition-premium@1, quantity 20, active: "
        "410.00 per month\n"
        "     billing month 2026-04-01..2026-05-01: 16 of 30 days from the change "
        "(actual days of the billing month)\n"
        "     credit 133.33, charge 218.67, one-time 0.00; due now 85.34\n"
        "     term after the change: 2026-01-01..2027-01-01\n"
    ) in document
    # ... the line of the new configuration points at it, and the change totals are shown
    assert (
        "  1. net 510.00 (list 510.00): upgrade of asset a-1, priced as its configuration "
        "after the change; what it bills is under Changes\n"
        "     - saas-suite@2 recurring/month: 20 x 12.50 = 250.00\n"
        "     - saas-suite@2 one_time: 20 x 5.00 = 100.00 (not charged for a change)\n"
    ) in document
    assert "Totals (changes at the price of their configuration after the change):" in document
    assert "  due now: 85.34 (a negative amount is a credit)\n" in document
    assert "  monthly charges change by: +160.00\n" in document
    assert "the unused part of the billing month it falls in is credited" in document
    # ... and the amounts are the priced change's, not worked out again
    change = state.price.changes[0]
    assert (change.credit, change.charge, change.due) == (
        Decimal("133.33"),
        Decimal("218.67"),
        Decimal("85.34"),
    )


def test_a_disconnect_proposal_shows_the_credit_and_the_early_termination_charge(
    change_services,
):
    # Given a line at 399.00 a month until 2027-02-01 and a contract charging half of
    # what is left in the term, when its disconnection is presented on 2026-04-15
    document, state = presented_proposal(change_services, [disconnect()])
    change = state.price.changes[0]
    # Then the customer sees the credit, the early-termination charge and the service end
    assert "  1. net 0 (list 0): disconnection of asset a-2; what it bills is under Changes\n" in (
        document
    )
    assert "  1. disconnection of asset a-2 (version 1), effective 2026-04-15\n" in document
    assert ", disconnected: 0.00 per month\n" in document
    assert (
        f"     credit {change.credit}, charge 0.00, early termination {change.one_time}; "
        f"due now {change.due}\n"
    ) in document
    assert change.one_time > 0 and change.due == change.one_time - change.credit
    assert "     service ends 2026-04-15\n" in document
    assert "  monthly charges change by: -399.00\n" in document


def test_characteristics_the_change_moves_are_shown_old_to_new(change_services):
    # Given US data residency, when a modify to EU residency is presented
    modify = QuoteLine(
        offering=SUITE,
        quantity=25,
        options=[STANDARD],
        characteristics={"data_residency": "EU"},
        action="modify",
        asset_id="a-1",
    )
    document, _ = presented_proposal(change_services, [modify])
    # Then the moved characteristic is shown, the unchanged ones are not
    assert "  1. modification of asset a-1" in document
    assert "     data_residency: US -> EU\n" in document
    assert "term_months:" not in document
    assert "quantity 20, active" in document and "quantity 25, active" in document


def test_the_change_proposal_is_deterministic_and_shows_no_cost_or_margin(change_services):
    # Given the same change quote presented twice
    first, _ = presented_proposal(change_services, [upgrade(), disconnect()])
    second, _ = presented_proposal(change_services, [upgrade(), disconnect()])
    # Then the bytes are the same, every change is listed in line order, nothing internal
    assert first == second
    assert first.index("  1. upgrade of asset a-1") < first.index("  2. disconnection of a")
    assert not SECRET_WORDS.search(first)


def test_a_new_sale_proposal_keeps_its_exact_bytes(services, ctx):
    # Given a new sale (no installed base), when it is presented
    line = QuoteLine(offering="saas-suite", quantity=25, options=["saas-edition-standard"])
    create = CreateQuote(quote_id="Q1", account_id="acct-1", requester="rep", lines=[line])
    state, _ = execute(None, create, ctx, services)
    state, _ = execute(state, PriceQuote(quote_id="Q1"), ctx, services)
    state, _ = execute(state, PresentQuote(quote_id="Q1"), ctx, services)
    document = render_proposal(commercial_snapshot(state), state.price, state.valid_until)
    # Then it renders the bytes it rendered before change lines existed (sha256 pinned)
    assert "Changes" not in document and "change" not in document.lower()
    assert hashlib.sha256(document.encode()).hexdigest() == NEW_SALE_SHA256


# Rendered by main's proposal.py before change sections existed (git show main:...).
NEW_SALE_SHA256 = "7e988443fb53ad9a0381bccc78684776fd3a1c3d2b0891f7572c0b3c9face38f"


def test_a_renewal_proposal_shows_the_new_term_co_terminated_and_nothing_due_now(
    change_services,
):
    # Given seats whose term ends 2027-01-01 and an internet line ending 2027-02-01,
    # when the seats' renewal is presented
    renew = QuoteLine(
        offering=SUITE, quantity=20, options=[STANDARD], action="renew", asset_id="a-1"
    )
    document, state = presented_proposal(change_services, [renew])
    change = state.price.changes[0]
    # Then the renewal runs to the line's term end (co-terminated), valued at the charge
    assert change.coterminated and change.term_end == date(2027, 2, 1)
    assert "  1. renewal of asset a-1 (version 1), effective 2027-01-01\n" in document
    assert (
        "     renewal term 2027-01-01..2027-02-01, co-terminated with the account's other "
        f"subscriptions: {change.term_amount} at 250.00 per month\n"
    ) in document
    assert "     credit 0.00, charge 0.00, one-time 0.00; due now 0.00\n" in document
    assert "term after the change" not in document  # the renewal term says it
    assert "\nTotals:\n" in document  # nothing is priced as a new configuration
