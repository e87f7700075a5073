"""Delta pricing of changes to installed assets: the rules one by one.

Given an asset's subscription terms in the price request, when a change line is priced,
then old and new monthly charges, the billing month's days, credits, charges, contract
charges and renewal terms follow the stated rules; a request that cannot be priced says
which line and why.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from pydantic import ValidationError

from cpqsim.configuration import QuoteLine
from cpqsim.pricing import PriceRequest, PricingError, price_quote, result_fingerprint
from cpqsim.pricing_change_periods import add_months, billing_month, term_span
from cpqsim.pricing_change_terms import (
    AssetTerms,
    ContractTerms,
    EarlyTermination,
    RenewalTerms,
)

SUITE = "saas-suite@2"
STANDARD = "saas-edition-standard@1"
PREMIUM = "saas-edition-premium@1"


def terms(**extra) -> AssetTerms:
    fields = {
        "asset_id": "a-1",
        "version": 1,
        "offering": SUITE,
        "status": "active",
        "quantity": 20,
        "options": [STANDARD],
        "recurring_monthly": Decimal("12.50"),
        "currency": "USD",
        "term_start": date(2026, 1, 1),
        "term_end": date(2027, 1, 1),
    }
    return AssetTerms(**{**fields, **extra})


def request(line: QuoteLine, asset: AssetTerms | None = None, **extra) -> PriceRequest:
    return PriceRequest(
        lines=[line],
        business_date=extra.pop("business_date", date(2026, 4, 15)),
        assets=[asset or terms()],
        **extra,
    )


def action(name: str, **extra) -> QuoteLine:
    return QuoteLine(offering=SUITE, action=name, asset_id="a-1", **extra)


# ----------------------------------------------------------------------- billing months


def test_cycle_dates_clamp_to_short_months_from_the_anchor_not_from_each_other():
    anchor = date(2026, 1, 31)
    assert [add_months(anchor, k) for k in range(4)] == [
        date(2026, 1, 31),
        date(2026, 2, 28),
        date(2026, 3, 31),
        date(2026, 4, 30),
    ]


def test_the_billing_month_a_change_falls_in_counts_its_actual_days():
    month = billing_month(date(2026, 1, 15), date(2026, 3, 1))
    assert (month.start, month.end, month.days, month.period_days) == (
        date(2026, 2, 15),
        date(2026, 3, 15),
        14,
        28,
    )
    on_cycle_day = billing_month(date(2026, 1, 15), date(2026, 3, 15))
    assert on_cycle_day.days == on_cycle_day.period_days == 31


def test_a_change_before_the_term_starts_cannot_be_placed():
    with pytest.raises(ValueError, match="before the term starts"):
        billing_month(date(2026, 5, 1), date(2026, 4, 30))


def test_a_term_is_whole_months_then_a_partial_month_by_its_days():
    span = term_span(date(2026, 7, 1), date(2026, 12, 15))
    assert (span.months, span.stub_start, span.stub_days, span.stub_period_days) == (
        5,
        date(2026, 12, 1),
        14,
        31,
    )
    assert term_span(date(2026, 1, 1), date(2027, 1, 1)).whole


# ------------------------------------------------------------------------ the changes


def test_a_mid_month_downgrade_is_a_credit(sample_catalog):
    # Given 20 premium seats (20.50 a seat), when they are downgraded on 15 April
    premium = terms(options=[PREMIUM], recurring_monthly=Decimal("20.50"))
    line = action("downgrade", quantity=20, options=[STANDARD])
    result = price_quote(sample_catalog, request(line, premium))
    change = result.changes[0]
    # Then 410.00 -> 250.00: credit 410 x 16/30, charge 250 x 16/30, due negative
    assert (change.credit, change.charge) == (Decimal("218.67"), Decimal("133.33"))
    assert change.due == Decimal("-85.34") and change.monthly_delta == Decimal("-160.00")
    assert result_fingerprint(result) == result.fingerprint


def test_the_trace_shows_old_and_new_side_by_side(sample_catalog):
    line = action("upgrade", quantity=20, options=[PREMIUM])
    change = price_quote(sample_catalog, request(line)).changes[0]
    steps = {s.rule: s for s in change.trace}
    assert (steps["change_new_charge"].before, steps["change_new_charge"].after) == (
        Decimal("250.00"),
        Decimal("410.00"),
    )
    assert "16 of the 30 days" in steps["change_credit"].detail
    assert "actual days of the billing month" in steps["change_credit"].detail
    assert steps["change_due"].after == change.due


def test_a_suspended_asset_bills_the_hold_share_and_resuming_charges_the_rest(sample_catalog):
    hold = ContractTerms(suspension={"hold_pct": Decimal("0.2")})
    suspended = terms(status="suspended")
    result = price_quote(sample_catalog, request(action("resume"), suspended, contract_terms=hold))
    change = result.changes[0]
    # 250.00 x 0.2 = 50.00 billed while suspended; resumed: 250.00 again
    assert (change.old_monthly, change.new_monthly) == (Decimal("50.00"), Decimal("250.00"))
    assert change.due == Decimal("106.66")  # 250 x 16/30 - 50 x 16/30 = 133.33 - 26.67


def test_disconnect_without_a_contract_rule_has_no_termination_charge(sample_catalog):
    change = price_quote(sample_catalog, request(action("disconnect"))).changes[0]
    assert change.one_time == Decimal("0.00") and change.due == -change.credit
    not_applied = [s for s in change.trace if not s.applied]
    assert [s.rule for s in not_applied] == ["early_termination"]
    assert "names no early-termination charge" in not_applied[0].detail


def test_disconnect_after_the_term_ended_pays_no_termination_charge(sample_catalog):
    etf = ContractTerms(
        early_termination=[
            EarlyTermination(id="etf", applies_to=["*"], kind="fixed", amount=Decimal("9"))
        ]
    )
    ended = terms(term_end=date(2026, 4, 1))
    change = price_quote(
        sample_catalog, request(action("disconnect"), ended, contract_terms=etf)
    ).changes[0]
    assert change.one_time == Decimal("0.00") and change.applied_rules == []


def test_the_most_specific_termination_rule_applies():
    rules = ContractTerms(
        early_termination=[
            EarlyTermination(id="any", applies_to=["*"], kind="fixed", amount=Decimal("1")),
            EarlyTermination(
                id="fam", applies_to=["family:collab"], kind="fixed", amount=Decimal(2)
            ),
            EarlyTermination(id="one", applies_to=["suite"], kind="fixed", amount=Decimal("3")),
        ]
    )
    assert rules.early_termination_for("suite", "collab").id == "one"
    assert rules.early_termination_for("other", "collab").id == "fam"
    assert rules.early_termination_for("other", "x").id == "any"


def test_a_termination_rule_states_exactly_one_measure():
    with pytest.raises(ValidationError, match="remaining_pct needs pct"):
        EarlyTermination(id="x", applies_to=["*"], kind="remaining_pct", amount=Decimal(1))


@pytest.mark.parametrize(
    ("coterm", "renewal", "term_end", "months", "cotermed"),
    [
        (None, RenewalTerms(), date(2028, 1, 1), 12, False),  # no co-term date: a full term
        (date(2027, 3, 1), RenewalTerms(), date(2027, 3, 1), 2, True),
        (date(2028, 6, 1), RenewalTerms(), date(2028, 1, 1), 12, False),  # beyond one term
        (date(2027, 3, 1), RenewalTerms(coterminate=False), date(2028, 1, 1), 12, False),
        (None, RenewalTerms(term_months=24), date(2029, 1, 1), 24, False),
    ],
)
def test_a_renewal_runs_to_the_coterm_date_only_within_one_term(
    sample_catalog, coterm, renewal, term_end, months, cotermed
):
    asset = terms(coterm_date=coterm)
    req = request(action("renew"), asset, contract_terms=ContractTerms(renewal=renewal))
    change = price_quote(sample_catalog, req).changes[0]
    assert (change.term_start, change.term_end, change.term_months) == (
        date(2027, 1, 1),
        term_end,
        months,
    )
    assert change.coterminated is cotermed
    assert change.due == Decimal("0.00")


def test_a_renewal_uplift_raises_the_monthly_charge(sample_catalog):
    uplift = ContractTerms(renewal=RenewalTerms(uplift_pct=Decimal("0.05")))
    change = price_quote(sample_catalog, request(action("renew"), contract_terms=uplift)).changes[0]
    assert change.new_monthly == Decimal("262.50")
    assert change.term_amount == Decimal("3150.00")  # 12 x 262.50


def test_a_new_sale_beside_a_change_is_priced_as_before(sample_catalog):
    new_sale = QuoteLine(offering=SUITE, quantity=3, options=[STANDARD])
    mixed = PriceRequest(
        lines=[new_sale, action("suspend")],
        business_date=date(2026, 4, 15),
        assets=[terms()],
    )
    alone = PriceRequest(lines=[new_sale], business_date=date(2026, 4, 15))
    both, one = price_quote(sample_catalog, mixed), price_quote(sample_catalog, alone)
    assert both.lines[0] == one.lines[0]
    assert both.net_total == one.net_total
    assert both.lines[1].charges == []
    assert result_fingerprint(both) == both.fingerprint


def test_the_same_change_request_gives_the_same_fingerprint_and_other_terms_another(
    sample_catalog,
):
    line = action("upgrade", quantity=20, options=[PREMIUM])
    first = price_quote(sample_catalog, request(line))
    again = price_quote(sample_catalog, request(line))
    moved = price_quote(sample_catalog, request(line, terms(recurring_monthly=Decimal("12"))))
    assert first.fingerprint == again.fingerprint
    assert first.input_fingerprint != moved.input_fingerprint
    assert first.fingerprint != moved.fingerprint


# ------------------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    ("req", "message"),
    [
        (
            PriceRequest(lines=[action("suspend")], business_date=date(2026, 4, 15)),
            "lines[0]: suspend of asset a-1: the request does not state the asset's terms",
        ),
        (
            request(action("suspend"), terms(currency="EUR")),
            "asset a-1 is billed in EUR; the quote is in USD",
        ),
        (request(action("renew"), terms(term_end=None)), "runs month to month"),
        (
            request(action("suspend"), business_date=date(2025, 12, 1)),
            "before the term starts",
        ),
        (
            request(
                action("suspend"),
                usage=[{"line": 0, "price_entry": "x", "units": "1"}],
            ),
            "a suspend line configures nothing",
        ),
    ],
)
def test_a_change_that_cannot_be_priced_says_which_line_and_why(sample_catalog, req, message):
    with pytest.raises(PricingError, match=None) as refused:
        price_quote(sample_catalog, req)
    assert message in str(refused.value)


def test_a_modify_to_a_value_not_allowed_is_a_configuration_error(sample_catalog):
    line = action("modify", quantity=20, options=[STANDARD], characteristics={"term_months": "6"})
    with pytest.raises(PricingError) as refused:
        price_quote(sample_catalog, request(line))
    assert [(v.path, v.rule) for v in refused.value.violations] == [
        ("lines[0].characteristics.term_months", "characteristic")
    ]


def test_a_missing_price_beside_a_change_names_the_quote_line(sample_catalog):
    # Given a suspend line first and a new sale second, in a currency with no price book
    new_sale = QuoteLine(offering=SUITE, quantity=3, options=[STANDARD])
    req = PriceRequest(
        lines=[action("suspend"), new_sale],
        business_date=date(2026, 4, 15),
        currency="JPY",
        assets=[terms(currency="JPY")],
    )
    # When priced, then the error names the new sale's place in the quote
    with pytest.raises(PricingError) as refused:
        price_quote(sample_catalog, req)
    assert str(refused.value).startswith("lines[1]")


def test_the_quote_trace_lists_each_change_after_its_line(sample_catalog):
    line = action("upgrade", quantity=20, options=[PREMIUM])
    result = price_quote(sample_catalog, request(line))
    subjects = [t.subject for t in result.trace]
    first_change = subjects.index("lines[0]/change")
    assert all(s.startswith("lines[0]/") or s == "lines[0]" for s in subjects[:first_change])
    assert [t.rule for t in result.trace[first_change:]][:2] == [
        "change_old_charge",
        "change_new_charge",
    ]
    assert [t.step for t in result.trace] == list(range(1, len(result.trace) + 1))


def test_a_suspended_asset_renewed_stays_billed_at_the_hold_share(sample_catalog):
    hold = ContractTerms(suspension={"hold_pct": Decimal("0.2")})
    req = request(action("renew"), terms(status="suspended"), contract_terms=hold)
    change = price_quote(sample_catalog, req).changes[0]
    # 250.00 x 0.2 = 50.00 before and after; the term is valued at the full charge
    assert (change.old_monthly, change.new_monthly) == (Decimal("50.00"), Decimal("50.00"))
    assert change.term_amount == Decimal("3000.00")  # 12 x 250.00
