"""Pricing specifications: hand-computed totals, explicit rounding, stable fingerprints,
approval triggers at their edges, and properties that must hold for any valid quote."""

from __future__ import annotations

import functools
import gc
import json
import os
import subprocess
import sys
import textwrap
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

import cpqsim
from cpqsim import canonical
from cpqsim.approval import ApprovalPolicy
from cpqsim.canonical import to_plain
from cpqsim.catalog import Catalog, CatalogInvalid, parse_catalog
from cpqsim.configuration import QuoteLine, check_configuration
from cpqsim.pricebook import PricingRules
from cpqsim.pricing import (
    PricedLine,
    PriceRequest,
    PriceResult,
    PricingError,
    PricingPolicy,
    UsageEstimate,
    _input_plain,
    input_fingerprint,
    price_quote,
    reprice_matches,
    result_fingerprint,
)
from cpqsim_scenarios.files import read_catalog_document

REPO = Path(__file__).resolve().parents[2]
SAMPLE = REPO / "scenarios" / "library" / "catalog" / "enterprise.yaml"
D = Decimal


def load_catalog(path) -> Catalog:
    """The shell reads the file (exact numbers); the core publishes the document."""
    return parse_catalog(read_catalog_document(path), source=str(path))


def offering_prices_only(catalog: Catalog) -> Catalog:
    """The sample without its price books: these specifications are about the fallback to
    offerings' own list prices (price books are specified by the golden cases)."""
    return catalog.model_copy(update={"pricing": PricingRules()})


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return offering_prices_only(load_catalog(SAMPLE))


def saas_premium_sso(quantity: int = 10) -> QuoteLine:
    return QuoteLine(
        offering="saas-suite",
        quantity=quantity,
        options=["saas-edition-premium"],
        add_ons=["saas-sso"],
    )


def penny_catalog(amount: str) -> Catalog:
    """One sellable offering with a single one-time price of ``amount``."""
    return parse_catalog(
        {
            "id": "penny",
            "version": "1",
            "currency": "USD",
            "specifications": [{"id": "s", "name": "S"}],
            "offerings": [
                {
                    "id": "thing",
                    "name": "Thing",
                    "specification": "s",
                    "family": "f",
                    "prices": [{"id": "thing-fee", "kind": "one_time", "amount": amount}],
                }
            ],
        }
    )


# ------------------------------------------------------------- hand-computed totals


def test_saas_suite_without_discount(catalog: Catalog) -> None:
    # 10 seats, premium edition, SSO:
    #   seat        12.50 x 10 = 125.00 recurring
    #   onboarding   5.00 x 10 =  50.00 one-time
    #   premium      8.00 x 10 =  80.00 recurring
    #   sso          2.00 x 10 =  20.00 recurring
    # recurring = 125 + 80 + 20 = 225.00; one-time = 50.00; list = 275.00
    result = price_quote(catalog, PriceRequest(lines=[saas_premium_sso()]))
    assert result.recurring_total == D("225.00")
    assert result.one_time_total == D("50.00")
    assert result.list_total == D("275.00")
    assert result.discount_total == D("0.00")
    assert [(c.item, c.price_id, c.list_amount) for c in result.charges] == [
        ("saas-suite", "saas-seat-monthly", D("125.00")),
        ("saas-suite", "saas-onboarding", D("50.00")),
        ("saas-edition-premium", "saas-premium-monthly", D("80.00")),
        ("saas-sso", "saas-sso-monthly", D("20.00")),
    ]
    assert result.approval_triggers == []
    assert (result.currency, result.catalog_version, result.pricing_version) == (
        "USD",
        "2026.11.1",
        "pricing-v1",
    )
    assert result.rounding == {
        "mode": "ROUND_HALF_EVEN",
        "places": 2,
        "applies": "line",
        "currency": "USD",
        "source": "rules pricing-rules-v1",
    }


def test_saas_suite_with_twelve_percent_discount(catalog: Catalog) -> None:
    # discounts: 125.00 x 0.12 = 15.00; 50.00 x 0.12 = 6.00; 80.00 x 0.12 = 9.60;
    #            20.00 x 0.12 = 2.40  -> total 33.00
    # recurring = 225.00 - (15.00 + 9.60 + 2.40) = 198.00; one-time = 50.00 - 6.00 = 44.00
    result = price_quote(catalog, PriceRequest(lines=[saas_premium_sso()], discount_pct=D("0.12")))
    assert (result.recurring_total, result.one_time_total) == (D("198.00"), D("44.00"))
    assert result.discount_total == D("33.00")
    assert [t.required_role for t in result.approval_triggers] == ["sales_manager"]


def test_internet_and_firewall_with_discount_that_needs_rounding(catalog: Catalog) -> None:
    # 2 sites of business internet (fiber, premium SLA, static IP) + 1 advanced firewall,
    # 7.5 % discount, each discount rounded half-even to cents:
    #   bi-monthly      299 x 2 = 598.00  disc  44.85   recurring
    #   bi-installation 450 x 2 = 900.00  disc  67.50   one-time
    #   fiber           100 x 2 = 200.00  disc  15.00   recurring
    #   premium SLA      75 x 2 = 150.00  disc  11.25   recurring
    #   static IP        15 x 2 =  30.00  disc   2.25   recurring
    #   mf-monthly      189 x 1 = 189.00  disc  14.175 -> 14.18 (half-even: 7 is odd)
    #   mf-installation 250 x 1 = 250.00  disc  18.75   one-time
    #   advanced tier    90 x 1 =  90.00  disc   6.75   recurring
    # recurring list 1257.00 - disc 94.28 = 1162.72
    # one-time  list 1150.00 - disc 86.25 = 1063.75
    lines = [
        QuoteLine(
            offering="business-internet",
            quantity=2,
            options=["bi-access-fiber", "bi-sla-premium"],
            add_ons=["static-ip"],
        ),
        QuoteLine(offering="managed-firewall", options=["mf-tier-advanced"]),
    ]
    result = price_quote(catalog, PriceRequest(lines=lines, discount_pct=D("0.075")))
    assert result.recurring_total == D("1162.72")
    assert result.one_time_total == D("1063.75")
    assert result.discount_total == D("180.53")
    assert result.list_total == D("2407.00")
    mf = next(c for c in result.charges if c.price_id == "mf-monthly")
    assert (mf.discount_amount, mf.net_amount) == (D("14.18"), D("174.82"))
    rounding = [t for t in result.trace if t.rule == "rounding"]
    assert [(t.subject, t.before, t.after) for t in rounding] == [
        ("lines[1]/managed-firewall/mf-monthly", D("14.17500"), D("14.18"))
    ]


def test_unpriced_options_are_free_and_flagged(catalog: Catalog) -> None:
    line = QuoteLine(offering="saas-suite", quantity=3, options=["saas-edition-standard"])
    result = price_quote(catalog, PriceRequest(lines=[line]))
    # 12.50 x 3 = 37.50 recurring; 5.00 x 3 = 15.00 one-time; standard edition is free.
    assert (result.recurring_total, result.one_time_total) == (D("37.50"), D("15.00"))
    assert result.warnings == [
        "lines[0].options[0]: saas-edition-standard has no price; included at no charge"
    ]


def test_empty_quote_prices_to_zero(catalog: Catalog) -> None:
    result = price_quote(catalog, PriceRequest(lines=[]))
    assert (result.recurring_total, result.one_time_total, result.list_total) == (
        D("0.00"),
        D("0.00"),
        D("0.00"),
    )


# ------------------------------------------------------------------------ rounding


def test_half_even_rounds_a_half_cent_to_the_even_neighbour() -> None:
    # 0.125 lies exactly between 0.12 and 0.13; half-even picks the even 0.12,
    # half-up would pick 0.13. 0.135 goes up to the even 0.14.
    result = price_quote(penny_catalog("0.125"), PriceRequest(lines=[QuoteLine(offering="thing")]))
    assert result.one_time_total == D("0.12")
    [step] = [t for t in result.trace if t.rule == "rounding"]
    assert (step.before, step.after) == (D("0.125"), D("0.12"))
    assert "ROUND_HALF_EVEN" in step.detail

    up = price_quote(
        penny_catalog("0.125"),
        PriceRequest(lines=[QuoteLine(offering="thing")]),
        PricingPolicy(rounding_mode="ROUND_HALF_UP"),
    )
    assert up.one_time_total == D("0.13")
    assert up.rounding["mode"] == "ROUND_HALF_UP"

    odd = price_quote(penny_catalog("0.135"), PriceRequest(lines=[QuoteLine(offering="thing")]))
    assert odd.one_time_total == D("0.14")


def test_half_even_on_a_discount() -> None:
    # 1.25 x 10 % = 0.125 discount -> 0.12 (half-even), net 1.25 - 0.12 = 1.13
    result = price_quote(
        penny_catalog("1.25"),
        PriceRequest(lines=[QuoteLine(offering="thing")], discount_pct=D("0.1")),
    )
    [charge] = result.charges
    assert (charge.discount_amount, charge.net_amount) == (D("0.12"), D("1.13"))


def test_the_callers_decimal_context_does_not_leak_in(catalog: Catalog) -> None:
    import decimal

    request = PriceRequest(lines=[saas_premium_sso(7)], discount_pct=D("0.0733"))
    expected = price_quote(catalog, request)
    with decimal.localcontext(decimal.Context(prec=3, rounding=decimal.ROUND_UP)):
        assert price_quote(catalog, request).fingerprint == expected.fingerprint


# ---------------------------------------------------------------------------- trace


def test_trace_is_ordered_and_covers_every_applied_rule(catalog: Catalog) -> None:
    result = price_quote(catalog, PriceRequest(lines=[saas_premium_sso()], discount_pct=D("0.12")))
    assert [t.step for t in result.trace] == list(range(1, len(result.trace) + 1))
    assert [t.rule for t in result.trace] == ["list_price", "discount"] * 4
    first = result.trace[0]
    assert (first.subject, first.before, first.after) == (
        "lines[0]/saas-suite/saas-seat-monthly",
        D("0"),
        D("125.00"),
    )
    assert first.detail == "recurring 12.50 x 10"
    # A catalog list price is versioned by the catalog; the manual discount by the policy.
    assert {(t.rule, t.rule_id, t.rule_version) for t in result.trace} == {
        ("list_price", "catalog", "2026.11.1"),
        ("discount", "manual-discount", "pricing-v1"),
    }
    assert all(t.applied for t in result.trace)


# ---------------------------------------------------------------------- fingerprints


def test_fingerprint_is_stable_across_calls_and_covers_the_result(catalog: Catalog) -> None:
    request = PriceRequest(lines=[saas_premium_sso()], discount_pct=D("0.05"))
    first, second = price_quote(catalog, request), price_quote(catalog, request)
    assert first == second
    assert first.fingerprint.startswith("sha256:")
    assert result_fingerprint(first) == first.fingerprint
    assert first.input_fingerprint != first.fingerprint


def test_fingerprint_is_independent_of_dict_ordering(catalog: Catalog) -> None:
    ordered = {
        "lines": [
            {
                "offering": "saas-suite",
                "quantity": 10,
                "options": ["saas-edition-premium"],
                "add_ons": ["saas-sso"],
            }
        ],
        "discount_pct": "0.05",
        "region": "EU",
    }
    shuffled = {
        "region": "EU",
        "discount_pct": "0.050",  # same value, other spelling
        "lines": [
            {
                "add_ons": ["saas-sso"],
                "options": ["saas-edition-premium"],
                "quantity": 10,
                "offering": "saas-suite",
            }
        ],
    }
    a = price_quote(catalog, PriceRequest.model_validate(ordered))
    b = price_quote(catalog, PriceRequest.model_validate(shuffled))
    assert (a.fingerprint, a.input_fingerprint) == (b.fingerprint, b.input_fingerprint)


def test_fingerprint_is_the_same_in_another_process_with_another_hash_seed(
    catalog: Catalog,
) -> None:
    request = PriceRequest(lines=[saas_premium_sso(3)], discount_pct=D("0.2"))
    here = price_quote(catalog, request).fingerprint
    script = textwrap.dedent(
        f"""
        from cpqsim_scenarios.files import load_catalog_file as load_catalog
        from cpqsim.pricebook import PricingRules
        from cpqsim.pricing import PriceRequest, price_quote
        catalog = load_catalog({str(SAMPLE)!r}).model_copy(update={{"pricing": PricingRules()}})
        request = PriceRequest.model_validate_json({request.model_dump_json()!r})
        print(price_quote(catalog, request).fingerprint)
        """
    )
    package_root = str(Path(cpqsim.__file__).resolve().parents[1])
    env = {**os.environ, "PYTHONHASHSEED": "12345"}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [package_root, env.get("PYTHONPATH")]))
    out = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == here


def test_fingerprints_change_when_what_was_priced_changes(catalog: Catalog) -> None:
    base = price_quote(catalog, PriceRequest(lines=[saas_premium_sso()]))
    more = price_quote(catalog, PriceRequest(lines=[saas_premium_sso(11)]))
    other_catalog = price_quote(
        catalog.model_copy(update={"version": "2026.12.1"}),
        PriceRequest(lines=[saas_premium_sso()]),
    )
    assert len({base.fingerprint, more.fingerprint, other_catalog.fingerprint}) == 3
    assert base.input_fingerprint != other_catalog.input_fingerprint


def test_reprice_matches(catalog: Catalog) -> None:
    request = PriceRequest(lines=[saas_premium_sso()], discount_pct=D("0.12"))
    fingerprint = price_quote(catalog, request).fingerprint
    assert reprice_matches(catalog, request, fingerprint)
    assert not reprice_matches(catalog, request, "sha256:" + "0" * 64)
    # A catalog in which the configuration is no longer valid cannot reproduce it.
    shrunk = catalog.model_copy(
        update={"offerings": [o for o in catalog.offerings if o.id != "saas-sso"]}
    )
    assert not reprice_matches(shrunk, request, fingerprint)


# ----------------------------------------------------------------- approval triggers


@pytest.mark.parametrize(
    ("discount", "roles"),
    [
        ("0", []),
        ("0.10", []),
        ("0.1001", ["sales_manager"]),
        ("0.25", ["sales_manager"]),
        ("0.2501", ["sales_manager", "finance_director"]),
        ("0.5", ["sales_manager", "finance_director"]),
    ],
)
def test_approval_triggers_at_threshold_edges(
    catalog: Catalog, discount: str, roles: list[str]
) -> None:
    result = price_quote(
        catalog, PriceRequest(lines=[saas_premium_sso()], discount_pct=D(discount))
    )
    assert [t.required_role for t in result.approval_triggers] == roles
    assert all(t.rule_version == "approval-policy-v1" for t in result.approval_triggers)


@pytest.mark.parametrize("discount", ["-0.01", "0.5001", "1"])
def test_discount_outside_policy_is_refused(catalog: Catalog, discount: str) -> None:
    request = PriceRequest(lines=[saas_premium_sso()], discount_pct=D(discount))
    with pytest.raises(PricingError, match="discount_pct") as info:
        price_quote(catalog, request)
    assert info.value.violations == []


def test_float_discount_is_refused() -> None:
    with pytest.raises(ValidationError, match="floats are not allowed"):
        PriceRequest(lines=[], discount_pct=0.1)


def test_invalid_configuration_is_refused_with_every_violation(catalog: Catalog) -> None:
    lines = [
        QuoteLine(offering="managed-firewall"),
        QuoteLine(offering="saas-suite", add_ons=["saas-sso"]),
    ]
    with pytest.raises(PricingError) as info:
        price_quote(catalog, PriceRequest(lines=lines))
    assert isinstance(info.value, ValueError)
    assert [(v.rule, v.path) for v in info.value.violations] == [
        ("requires", "lines[0].offering"),
        ("cardinality", "lines[0].options"),
        ("cardinality", "lines[1].options"),
        ("requires", "lines[1].add_ons[0]"),
    ]
    assert "lines[1].add_ons[0]: [requires]" in str(info.value)


# ----------------------------------------------------------------------- properties

TEMPLATES = [
    ("saas-suite", ["saas-edition-standard"], []),
    ("saas-suite", ["saas-edition-premium"], ["saas-sso"]),
    ("saas-suite", ["saas-edition-premium"], ["saas-extra-storage", "saas-sso"]),
    ("business-internet", ["bi-access-fiber", "bi-sla-premium"], ["static-ip"]),
    ("business-internet", ["bi-access-copper", "bi-sla-standard"], []),
    ("managed-firewall", ["mf-tier-advanced"], []),
    ("managed-firewall", ["mf-tier-basic"], []),
]

line_strategy = st.builds(
    lambda template, quantity: QuoteLine(
        offering=template[0], quantity=quantity, options=template[1], add_ons=template[2]
    ),
    st.sampled_from(TEMPLATES),
    st.integers(min_value=1, max_value=100),
)
discount_strategy = st.decimals(
    min_value=D("0"), max_value=D("0.5"), places=4, allow_nan=False, allow_infinity=False
)
PROPERTY = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@functools.cache
def sample_catalog() -> Catalog:
    return offering_prices_only(load_catalog(SAMPLE))


def _valid(catalog: Catalog, lines: list[QuoteLine]) -> bool:
    return check_configuration(catalog, lines) == []


@PROPERTY
@given(lines=st.lists(line_strategy, min_size=1, max_size=5), discount=discount_strategy)
def test_property_pricing_is_repeatable(lines, discount) -> None:
    catalog = sample_catalog()
    assume(_valid(catalog, lines))
    request = PriceRequest(lines=lines, discount_pct=discount)
    assert price_quote(catalog, request) == price_quote(catalog, request)


@PROPERTY
@given(
    lines=st.lists(line_strategy, min_size=1, max_size=5),
    discount=discount_strategy,
    data=st.data(),
)
def test_property_line_order_does_not_change_totals(lines, discount, data) -> None:
    catalog = sample_catalog()
    assume(_valid(catalog, lines))
    shuffled = data.draw(st.permutations(lines))
    a = price_quote(catalog, PriceRequest(lines=lines, discount_pct=discount))
    b = price_quote(catalog, PriceRequest(lines=shuffled, discount_pct=discount))

    def totals(r):
        return (r.recurring_total, r.one_time_total, r.discount_total, r.list_total)

    def charges(r):
        return sorted((c.item, c.price_id, c.quantity, c.net_amount) for c in r.charges)

    assert totals(a) == totals(b)
    assert charges(a) == charges(b)
    assert a.approval_triggers == b.approval_triggers


@PROPERTY
@given(lines=st.lists(line_strategy, min_size=1, max_size=5), discount=discount_strategy)
def test_property_totals_are_never_negative_and_add_up(lines, discount) -> None:
    catalog = sample_catalog()
    assume(_valid(catalog, lines))
    r = price_quote(catalog, PriceRequest(lines=lines, discount_pct=discount))
    for amount in (r.recurring_total, r.one_time_total, r.discount_total, r.list_total):
        assert amount >= 0
        assert amount == amount.quantize(D("0.01"))
    assert r.discount_total <= r.list_total
    assert r.list_total - r.discount_total == r.recurring_total + r.one_time_total
    assert all(c.net_amount >= 0 for c in r.charges)


# ------------------------------------------------------- pricing rules (issue 3)


GOLDEN = REPO / "tests" / "golden" / "pricing"
DAY = date(2026, 3, 1)


def golden_catalog(name: str) -> Catalog:
    return parse_catalog(json.loads((GOLDEN / "catalogs" / name).read_text()))


def rules_catalog(pricing: dict, offerings: list[dict] | None = None) -> Catalog:
    """A one-offering catalog ('seat', catalog price 20.00/month) with ``pricing`` rules."""
    return parse_catalog(
        {
            "id": "rules",
            "version": "1",
            "currency": "USD",
            "specifications": [{"id": "s", "name": "S"}],
            "offerings": offerings
            or [
                {
                    "id": "seat",
                    "name": "Seat",
                    "specification": "s",
                    "family": "f",
                    "quantity_max": 10000,
                    "prices": [{"id": "seat-monthly", "kind": "recurring", "amount": "20.00"}],
                }
            ],
            "pricing": {"version": "r1", **pricing},
        }
    )


def seat_book(book_id: str, amount: str, **scope) -> dict:
    return {
        "id": book_id,
        "version": "1",
        "currency": scope.pop("currency", "USD"),
        **scope,
        "entries": [
            {
                "id": f"{book_id}-seat",
                "offering": "seat",
                "kind": "recurring",
                "period": "month",
                "amount": amount,
            }
        ],
    }


def test_rules_need_an_explicit_business_date() -> None:
    catalog = rules_catalog({"price_books": [seat_book("usd", "20.00")]})
    with pytest.raises(PricingError, match="business_date is required"):
        price_quote(catalog, PriceRequest(lines=[QuoteLine(offering="seat")]))


def test_book_priority_beats_scope_and_scope_breaks_priority_ties() -> None:
    books = [
        seat_book("generic", "20.00"),
        seat_book("eu", "19.00", region="EU"),
        seat_book("eu-web", "18.00", region="EU", channel="web"),
        seat_book("promo-book", "15.00", priority=1),
    ]
    catalog = rules_catalog({"price_books": books})

    def unit(**request) -> Decimal:
        r = price_quote(
            catalog, PriceRequest(lines=[QuoteLine(offering="seat")], business_date=DAY, **request)
        )
        return r.charges[0].unit_amount

    assert unit(region="EU", channel="web") == D("15.00")  # priority 1 wins over scope
    no_promo = rules_catalog({"price_books": books[:3]})
    one = PriceRequest(lines=[QuoteLine(offering="seat")], business_date=DAY, region="EU")
    assert price_quote(no_promo, one).charges[0].price_source == "eu"
    web = one.model_copy(update={"channel": "web"})
    assert price_quote(no_promo, web).charges[0].price_source == "eu-web"
    assert price_quote(no_promo, one.model_copy(update={"region": "US"})).charges[
        0
    ].price_source == ("generic")


def test_equal_books_tie_is_broken_by_id_and_warned() -> None:
    catalog = rules_catalog({"price_books": [seat_book("b", "21.00"), seat_book("a", "22.00")]})
    r = price_quote(catalog, PriceRequest(lines=[QuoteLine(offering="seat")], business_date=DAY))
    assert r.charges[0].price_source == "a"
    assert any("tie" in w for w in r.warnings)


def test_a_request_currency_without_price_names_offering_currency_scope_and_date() -> None:
    catalog = rules_catalog({"price_books": [seat_book("usd", "20.00")]})
    request = PriceRequest(
        lines=[QuoteLine(offering="seat")],
        business_date=DAY,
        currency="EUR",
        region="EU",
        channel="web",
    )
    with pytest.raises(PricingError) as info:
        price_quote(catalog, request)
    for fragment in ("seat", "EUR", "region EU", "channel web", "2026-03-01"):
        assert fragment in str(info.value)


def test_amount_off_never_makes_a_charge_negative() -> None:
    catalog = rules_catalog(
        {"promotions": [{"id": "big", "applies_to": ["seat"], "amount_off": "25.00"}]}
    )
    r = price_quote(
        catalog, PriceRequest(lines=[QuoteLine(offering="seat", quantity=2)], business_date=DAY)
    )
    # 2 x 25.00 = 50.00 off a 40.00 charge: capped at 40.00, net 0.00, and said so.
    assert (r.charges[0].discount_amount, r.charges[0].net_amount) == (D("40.00"), D("0.00"))
    assert r.recurring_total == D("0.00")
    assert any("capped" in w for w in r.warnings)


@pytest.mark.parametrize(
    ("units", "graduated", "volume"),
    [
        # tiers: 1-1000 @0.10, 1001-10000 @0.05, 10001+ @0.01 + flat 20.00
        ("0", "0.00", "0.00"),
        ("1000", "100.00", "100.00"),  # the boundary belongs to the first tier
        ("1001", "100.05", "50.05"),
        ("10001", "570.01", "120.01"),
    ],
)
def test_usage_tier_boundaries(units: str, graduated: str, volume: str) -> None:
    for mode, want in (("graduated", graduated), ("volume", volume)):
        case = json.loads((GOLDEN / f"tiered_usage_{mode}.json").read_text())
        catalog = parse_catalog(case["catalog"])
        request = PriceRequest(
            lines=[QuoteLine(offering="api")],
            business_date=DAY,
            usage=[UsageEstimate(line=0, price_entry="api-calls", units=D(units))],
        )
        assert price_quote(catalog, request).usage_total == D(want), (mode, units)


def test_usage_tiers_out_of_order_are_refused_when_the_catalog_is_read() -> None:
    case = json.loads((GOLDEN / "tiered_usage_graduated.json").read_text())
    entry = case["catalog"]["pricing"]["price_books"][0]["entries"][0]
    entry["tiers"][0], entry["tiers"][1] = entry["tiers"][1], entry["tiers"][0]
    with pytest.raises(CatalogInvalid) as info:
        parse_catalog(case["catalog"], source="tiers.yaml")
    text = str(info.value)
    assert "pricing.price_books[0].entries[0]" in text
    assert "tier 2 upper bound 1000 is not above 10000" in text


def test_a_missing_usage_estimate_prices_zero_units_and_warns() -> None:
    case = json.loads((GOLDEN / "tiered_usage_graduated.json").read_text())
    r = price_quote(
        parse_catalog(case["catalog"]),
        PriceRequest(lines=[QuoteLine(offering="api")], business_date=DAY),
    )
    assert r.usage_total == D("0.00")
    assert any("no usage estimate" in w for w in r.warnings)


def test_proration_by_period_end_and_no_proration_on_the_cycle_day() -> None:
    seats = golden_catalog("seats.json")
    line = [QuoteLine(offering="seat")]
    # Start 2026-02-10, first period ends 2026-03-01 (exclusive): 19 of 28 February days.
    # 20.00 x 19 / 28 = 13.5714... -> 13.57
    r = price_quote(
        seats,
        PriceRequest(lines=line, service_start=date(2026, 2, 10), period_end=date(2026, 3, 1)),
    )
    assert r.prorated_first_period_total == D("13.57")
    assert r.proration == {
        "service_start": "2026-02-10",
        "period_start": "2026-02-01",
        "period_end": "2026-03-01",
        "days": 19,
        "period_days": 28,
    }
    on_cycle = price_quote(
        seats, PriceRequest(lines=line, service_start=date(2026, 3, 1), billing_cycle_day=1)
    )
    assert on_cycle.prorated_first_period_total is None
    assert not [t for t in on_cycle.trace if t.rule == "proration"]


def test_the_fast_fingerprints_equal_the_canonical_ones() -> None:
    catalog = golden_catalog("contracts.json")
    request = PriceRequest(
        lines=[QuoteLine(offering="seat", quantity=7)],
        business_date=DAY,
        account_id="acme",
        discount_pct=D("0.0333"),
    )
    r = price_quote(catalog, request)
    assert r.fingerprint == _tree_fingerprint(r)
    assert r.input_fingerprint == input_fingerprint(
        catalog, request, PricingPolicy(), ApprovalPolicy()
    )
    assert r.input_fingerprint == canonical.fingerprint(
        {
            "request": request,
            "catalog": {"id": catalog.id, "version": catalog.version},
            "pricing_rules_version": "r1",
            "pricing_policy": PricingPolicy(),
            "approval_policy_version": "approval-policy-v1",
        }
    )


def _line_fingerprint(line: PricedLine) -> str:
    return canonical.fingerprint(line.model_dump(exclude={"fingerprint"}))


def _tree_fingerprint(r: PriceResult) -> str:
    """The result's fingerprint by its definition: every field but the fingerprint, each
    line standing as the fingerprint of its own canonical JSON."""
    plain = r.model_dump(exclude={"fingerprint"})
    plain["lines"] = [_line_fingerprint(line) for line in r.lines]
    return canonical.fingerprint(plain)


def test_the_fingerprint_covers_every_line_through_its_line_fingerprint() -> None:
    """Given a priced quote, when one amount of one line changes, then that line's
    fingerprint no longer matches its content and the quote fingerprint changes."""
    r = _mixed_result()
    line = r.lines[7]
    charge = line.charges[0].model_copy(update={"net_amount": line.charges[0].net_amount + 1})
    tampered_line = line.model_copy(update={"charges": [charge, *line.charges[1:]]})
    tampered = r.model_copy(update={"lines": [*r.lines[:7], tampered_line, *r.lines[8:]]})
    assert _line_fingerprint(tampered_line) != line.fingerprint
    assert result_fingerprint(tampered) != r.fingerprint
    assert result_fingerprint(r) == r.fingerprint


def test_applied_rules_are_the_applied_steps_of_the_trace_in_order() -> None:
    """``applied_rules`` is gathered from the charges; it must say what the trace says:
    every rule that changed a price (price book, contract, volume, promotion, bundle,
    manual discount), once, in the order the trace first applies it."""
    kinds = {
        "list_price",
        "contract_price",
        "volume_discount",
        "promotion",
        "bundle_discount",
        "discount",
    }
    for name, r in [*_golden_results(), ("mixed", _mixed_result())]:
        from_trace: list[str] = []
        for t in r.trace:
            counts = t.applied and t.rule in kinds and t.rule_id != "catalog"
            if counts and t.rule_id not in from_trace:
                from_trace.append(t.rule_id)
        assert r.applied_rules == from_trace, name


def _golden_results() -> list[tuple[str, PriceResult]]:
    out = []
    for path in sorted(GOLDEN.glob("*.json")):
        case = json.loads(path.read_text())
        doc = case["catalog"]
        if isinstance(doc, str):
            doc = json.loads((GOLDEN / doc).read_text())
        try:
            result = price_quote(parse_catalog(doc), PriceRequest.model_validate(case["request"]))
        except PricingError:
            continue
        out.append((path.stem, result))
    return out


def _bench() -> Any:
    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
    try:
        import bench_pricing
    finally:
        sys.path.pop(0)
    return bench_pricing


def _mixed_catalog() -> Catalog:
    return _bench().build_catalog()


def _mixed_request() -> PriceRequest:
    return _bench().build_request(120)


def _mixed_result() -> PriceResult:
    """A large quote touching every kind of step (books, tiers, volume, promotions won and
    lost, manual discount, line rounding), repeating 50 configurations over 120 lines."""
    return price_quote(_mixed_catalog(), _mixed_request())


def test_the_pricer_writes_exactly_the_canonical_result_and_valid_models() -> None:
    """The result is built without re-validating thousands of rows and its canonical JSON is
    written straight from plain data; both must be indistinguishable from the slow path."""
    results = [*_golden_results(), ("mixed", _mixed_result())]
    assert len(results) > 20
    for name, r in results:
        for line in r.lines:
            assert line.fingerprint == _line_fingerprint(line), name
        assert r.fingerprint == _tree_fingerprint(r), name
        assert r.fingerprint == result_fingerprint(r), name
        again = PriceResult.model_validate(r.model_dump())
        assert again == r, name
        assert again.model_dump() == r.model_dump(), name
        assert PriceResult.model_validate_json(r.model_dump_json()) == r, name
        assert [t.step for t in r.trace] == list(range(1, len(r.trace) + 1)), name
        assert r.model_fields_set == set(PriceResult.model_fields), name


def test_canonical_fast_writer_escapes_text_like_json_dumps() -> None:
    from cpqsim.pricing_canonical import Escapes, fixed, step_json

    odd = 'quote "x" \\ \n tab\t é ✓ \u2028 \x00'
    step = {
        "rule": "rule",
        "rule_version": 'v"1',
        "subject": odd,
        "before": D("1E+2"),
        "after": D("0E-10"),
        "detail": odd,
        "rule_id": odd,
        "applied": False,
    }
    plain = {**step, "before": "100", "after": "0.0000000000"}
    assert step_json(step, Escapes()) == canonical.canonical_json(plain)
    for text in ("1E+2", "0E-10", "-0", "1.2E-7", "123.4500", "NaN"):
        assert fixed(D(text)) == format(D(text), "f")


def test_lines_with_equal_content_share_one_price_and_flat_views_say_which_line() -> None:
    """Given a 120-line quote that repeats 50 configurations (usage estimates differ per
    line), when it is priced, then equal lines hold the very same PricedLine, and the flat
    views give each charge and step its own line index and absolute path."""
    r = _mixed_result()
    request = _mixed_request()
    usage_lines = {u.line for u in request.usage}
    for i, j in [(1, 51), (2, 102), (3, 103)]:
        assert request.lines[i] == request.lines[j]
        assert i not in usage_lines and j not in usage_lines
        assert r.lines[i] is r.lines[j]
    assert r.lines[0] is not r.lines[1]
    # Line 5 and 55: equal content, different usage estimates -> different prices.
    assert request.lines[5] == request.lines[55] and {5, 55} <= usage_lines
    assert r.lines[5] is not r.lines[55]
    flat = r.charges
    assert len(flat) == sum(len(line.charges) for line in r.lines)
    assert [c.line_index for c in flat] == sorted(c.line_index for c in flat)
    for c in flat:
        assert c.line_path == f"lines[{c.line_index}]" + c.path
    lines_with_steps = {i for i, line in enumerate(r.lines) if line.trace}
    assert all(t.subject.startswith(("lines[", "total")) for t in r.trace)
    assert {int(t.subject[6 : t.subject.index("]")]) for t in r.trace if t.subject[0] == "l"} == (
        lines_with_steps
    )
    for line in r.lines:
        assert line.net_amount == sum((c.net_amount for c in line.charges), D(0))
    assert r.net_total == sum((line.net_amount for line in r.lines), D(0))


def test_a_requested_line_is_written_as_its_canonical_json() -> None:
    from cpqsim.pricing_canonical import Escapes, quote_line_json

    odd = 'é "q" \\ ✓'
    line = QuoteLine(
        offering="bundle",
        quantity=3,
        options=["b", "a"],
        add_ons=[odd],
        characteristics={"zeta": "1", "alpha": odd, "Mid": "x"},
        contents=[
            QuoteLine(offering="c1", contents=[QuoteLine(offering="c2", quantity=2)]),
            QuoteLine(offering="c3", characteristics={"k": "v"}),
        ],
    )
    changes = [
        QuoteLine(offering="a", action="modify", asset_id="x", asset_version=3, contents=[line]),
        QuoteLine(offering="a", asset_id="parent"),
        QuoteLine(offering="a", action="renew"),
    ]
    for one in (line, QuoteLine(offering="plain"), *changes):
        assert quote_line_json(one, Escapes()) == canonical.canonical_json(
            one.model_dump(mode="json")
        )


def test_the_fast_input_fingerprint_is_the_canonical_one_on_a_quote_that_repeats_lines() -> None:
    catalog, request = _mixed_catalog(), _mixed_request()
    generic = canonical.fingerprint(
        _input_plain(catalog, request, PricingPolicy(), ApprovalPolicy())
    )
    assert price_quote(catalog, request).input_fingerprint == generic


def test_pricing_leaves_the_garbage_collector_as_it_found_it() -> None:
    catalog = golden_catalog("contracts.json")
    good = PriceRequest(lines=[QuoteLine(offering="seat", quantity=2)], business_date=DAY)
    bad = good.model_copy(update={"business_date": None})
    was = gc.isenabled()
    try:
        for enabled in (True, False):
            (gc.enable if enabled else gc.disable)()
            price_quote(catalog, good)
            assert gc.isenabled() is enabled
            with pytest.raises(PricingError):
                price_quote(catalog, bad)
            assert gc.isenabled() is enabled
    finally:
        (gc.enable if was else gc.disable)()


def test_a_stored_result_round_trips_through_plain_data() -> None:
    catalog = golden_catalog("contracts.json")
    r = price_quote(
        catalog,
        PriceRequest(lines=[QuoteLine(offering="seat", quantity=7)], business_date=DAY),
    )
    again = PriceResult.model_validate(to_plain(r.model_dump()))
    assert again == r
    assert result_fingerprint(again) == r.fingerprint


RULES_REQUEST = dict(business_date=DAY, account_id="acme", region="EU", channel="web")


@pytest.mark.parametrize(
    "change",
    [
        {"business_date": date(2025, 6, 1)},
        {"account_id": "globex"},
        {"region": "US"},
        {"channel": "partner"},
        {"segment": "smb"},
        {"currency": "USD"},
        {"discount_pct": D("0.01")},
        {"service_start": DAY},
    ],
)
def test_input_fingerprint_changes_with_every_input_that_matters(change: dict) -> None:
    catalog = golden_catalog("contracts.json")
    base = PriceRequest(lines=[QuoteLine(offering="seat", quantity=3)], **RULES_REQUEST)
    changed = base.model_copy(update=change)
    assert (
        price_quote(catalog, base).input_fingerprint
        != price_quote(catalog, changed).input_fingerprint
    )


def promo_catalog() -> Catalog:
    offerings = [
        {
            "id": oid,
            "name": oid,
            "specification": "s",
            "family": "f",
            "quantity_max": 10000,
            "prices": [
                {"id": f"{oid}-m", "kind": "recurring", "amount": amount},
                {"id": f"{oid}-s", "kind": "one_time", "amount": "9.99"},
            ],
        }
        for oid, amount in (("seat", "20.00"), ("firewall", "40.05"), ("internet", "99.95"))
    ]
    return rules_catalog(
        {
            "volume_discounts": [
                {"id": "vd", "offering": "seat", "min_quantity": 30, "pct": "0.075"}
            ],
            "promotions": [
                {
                    "id": "p1",
                    "applies_to": ["seat", "firewall"],
                    "pct_off": "0.1",
                    "stacking_group": "g",
                    "priority": 3,
                },
                {"id": "p2", "applies_to": ["seat"], "pct_off": "0.15", "stacking_group": "g"},
                {
                    "id": "p3",
                    "applies_to": ["firewall"],
                    "amount_off": "45.00",
                    "excludes": ["p1"],
                    "priority": 4,
                    "eligibility": {"min_quantity": 5},
                },
                {
                    "id": "p4",
                    "applies_to": ["internet"],
                    "pct_off": "0.3",
                    "exclusive": True,
                    "charge_kinds": ["recurring", "one_time"],
                },
            ],
            "bundle_discounts": [
                {"id": "b", "when_all": ["seat", "internet"], "applies_to": ["seat"], "pct": "0.05"}
            ],
        },
        offerings,
    )


PROMO_CATALOG = promo_catalog()
rule_line = st.builds(
    lambda offering, quantity: QuoteLine(offering=offering, quantity=quantity),
    st.sampled_from(["seat", "firewall", "internet"]),
    st.integers(min_value=1, max_value=60),
)


@PROPERTY
@given(
    lines=st.lists(rule_line, min_size=1, max_size=6), discount=discount_strategy, data=st.data()
)
def test_property_with_rules_order_repeatability_and_no_negative_totals(
    lines, discount, data
) -> None:
    request = PriceRequest(lines=lines, discount_pct=discount, business_date=DAY)
    a = price_quote(PROMO_CATALOG, request)
    assert a == price_quote(PROMO_CATALOG, request)
    shuffled = request.model_copy(update={"lines": data.draw(st.permutations(lines))})
    b = price_quote(PROMO_CATALOG, shuffled)
    for name in ("subtotal", "discount_total", "net_total", "recurring_total", "one_time_total"):
        assert getattr(a, name) == getattr(b, name), name
        assert getattr(a, name) >= 0
    assert sorted(a.applied_rules) == sorted(b.applied_rules)
    assert a.net_total == a.one_time_total + sum(a.recurring_by_period.values()) + a.usage_total
    assert all(c.net_amount >= 0 for c in a.charges)


# ------------------------------------------------------- numbers pricing cannot carry

LONG = "0." + "3" * 55  # 55 significant digits: more than pricing's 50-digit arithmetic


def test_a_request_with_a_discount_of_too_many_digits_is_refused_when_it_is_read() -> None:
    """Given a discount_pct with 55 significant digits, when the request is validated,
    then it is refused naming the field and the limit (not a decimal.Inexact later)."""
    with pytest.raises(ValidationError) as info:
        PriceRequest.model_validate({"lines": [], "discount_pct": LONG})
    text = str(info.value)
    assert "discount_pct" in text and "55 significant digits" in text and "at most 28" in text


def test_a_usage_estimate_of_too_many_digits_is_refused_when_it_is_read() -> None:
    with pytest.raises(ValidationError) as info:
        UsageEstimate.model_validate(
            {"line": 0, "price_entry": "api-calls", "units": "1." + "1" * 39}
        )
    assert "units" in str(info.value) and "40 significant digits" in str(info.value)


def test_a_quote_line_quantity_beyond_the_bound_is_refused_when_it_is_read() -> None:
    """Quantities multiply amounts; a line cannot state more than a billion units."""
    with pytest.raises(ValidationError) as info:
        QuoteLine.model_validate({"offering": "seat", "quantity": 10**60})
    assert "quantity" in str(info.value)
    with pytest.raises(ValidationError):
        QuoteLine.model_validate(
            {"offering": "b", "contents": [{"offering": "seat", "quantity": 10**60}]}
        )


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"discount_pct": D(LONG)}, "discount_pct"),
        (
            {"usage": [UsageEstimate.model_construct(line=0, price_entry="x", units=D(LONG))]},
            "usage[0].units",
        ),
        ({"discount_pct": D("NaN")}, "discount_pct"),
    ],
)
def test_price_quote_refuses_decimals_it_cannot_carry_naming_the_field(
    change: dict, field: str
) -> None:
    """Given a request built without validation (model_copy does not validate), when it
    is priced, then a PricingError names the field; decimal.Inexact never escapes."""
    request = PriceRequest(lines=[QuoteLine(offering="thing")]).model_copy(update=change)
    with pytest.raises(PricingError) as info:
        price_quote(penny_catalog("1.25"), request)
    assert str(info.value).startswith(field)


def test_an_amount_too_long_for_exact_arithmetic_is_a_pricing_error_naming_the_charge() -> None:
    """Given a catalog price of 28 digits and a quote line of a billion units at 0.3333
    discount under total rounding, the exact products need more than 50 digits: pricing
    says which charge and step, instead of raising decimal.Inexact."""
    catalog = rules_catalog(
        {},
        [
            {
                "id": "seat",
                "name": "Seat",
                "specification": "s",
                "family": "f",
                "quantity_max": 10**9,
                "prices": [{"id": "seat-monthly", "kind": "recurring", "amount": "1." + "7" * 27}],
            }
        ],
    )
    request = PriceRequest(
        lines=[QuoteLine(offering="seat", quantity=987654321)],
        discount_pct=D("0.33333333333333333333333"),
        business_date=DAY,
    )
    with pytest.raises(PricingError) as info:
        price_quote(catalog, request, PricingPolicy(rounding_applies="total"))
    text = str(info.value)
    assert "/seat/seat-monthly" in text and "significant digits" in text


def test_the_template_writers_give_the_canonical_json_of_charges_and_steps() -> None:
    """StepTexts and ChargeTexts write each row's constant part once, as a %-template;
    text holding '%', quotes or unicode must still come out as the canonical bytes."""
    from cpqsim.pricing_canonical import ChargeTexts, Escapes, StepTexts, charge_json

    odd = '100% "off" é \\ \n'
    esc = Escapes()
    step = {
        "rule": "promotion",
        "rule_version": "v%d",
        "subject": f"/{odd}/x",
        "before": D("1E+2"),
        "after": D("12.50"),
        "detail": odd,
        "rule_id": "p%s",
        "applied": False,
    }
    plain = {**step, "before": "100", "after": "12.50"}
    steps = StepTexts(esc)
    assert steps(step) == steps(step) == canonical.canonical_json(plain)
    charge = {
        "item": odd,
        "price_id": "x%",
        "kind": "recurring",
        "unit_amount": D("1.5"),
        "quantity": 3,
        "list_amount": D("4.50"),
        "discount_amount": D("0E-2"),
        "net_amount": D("4.50"),
        "period": "month",
        "term_months": 12,
        "monthly_equivalent": D("4.50"),
        "term_amount": D("54.00"),
        "usage_unit": None,
        "usage_units": None,
        "prorated_amount": None,
        "price_source": "book%",
        "price_source_version": "1",
        "included_in": None,
        "applied_rules": ["book%", "p%s"],
        "path": ".contents[0]",
    }
    charges = ChargeTexts(esc)
    assert charges(charge) == charges(charge) == charge_json(charge, esc)
    assert charge_json(charge, esc) == canonical.canonical_json(charge)


def test_plans_are_kept_per_scope_by_content_and_bounded() -> None:
    """Given one catalog, when quotes are priced in more scopes than the view keeps, then
    equal scopes share a plan (equal by content, not identity) and the oldest go first."""
    from cpqsim.pricing_plan import Scope

    catalog = golden_catalog("contracts.json")
    view = catalog.pricing_view

    def scope(day: date) -> Scope:
        return Scope("USD", None, None, None, "acme", day, PricingPolicy())

    first = view.plan(scope(DAY))
    assert view.plan(scope(DAY)) is first  # a new, equal Scope finds the same plan
    for k in range(view.PLANS_KEPT + 5):
        view.plan(scope(date(2027, 1, 1 + k % 28).replace(month=1 + k // 28)))
    assert len(view._plans) == view.PLANS_KEPT
    assert view.plan(scope(DAY)) is not first  # evicted, made again
    request = PriceRequest(
        lines=[QuoteLine(offering="seat", quantity=3)], business_date=DAY, account_id="acme"
    )
    assert price_quote(catalog, request) == price_quote(catalog.model_copy(), request)


# Fingerprints of the benchmark's quotes as the engine before the two-stage rule steps
# (prepare once per kind of charge, apply per charge) priced them: a speed change must
# leave every result byte the same. Keyed by (every line distinct?, policy).
_ENGINE_BEFORE = {
    (False, "rules"): (
        "sha256:f7196cb3b84665b0b8f2c7b32ab80e92cd2cc72ba96a46b7ff8f6bc349ac6bfe",
        "sha256:8399c58bc6482140a73a8b786b30d55b8a5c4a0a0a8a8a530867d611865f679f",
    ),
    (False, "total"): (
        "sha256:0bcb2569bd21298fc7246d7c37fa322bda52000e02ddba8dcd971ae5a250d025",
        "sha256:25ec0af546c788942e765c8d2af3b91fe4a9cf67e44e07b7b66e77537cacff53",
    ),
    (False, "half-up-3"): (
        "sha256:5f38f55e3e77a53dff46930b5c548e5a898f388f386ff1ebaa7f50ed8bdd5b8a",
        "sha256:afb026530441139c3b0e3143d372e53ee853aa1929c7c6995d24bede28b14941",
    ),
    (True, "rules"): (
        "sha256:6fb1fb1d3580c662181c63a7fbbc40402ab0925e4a4c6564bdd8a30ae04343c2",
        "sha256:878093f256949e2d85a823880925cde9f1f7ae1a89b7d46cba0bc00544eba309",
    ),
    (True, "total"): (
        "sha256:3343ddcbc682c5106fecace8da0fbd0d363e02b6834bc74e3153562bb3c38c0c",
        "sha256:60f5e6d33d2d856499d3f6612afe46c8bfde06ede6c51280b5bc4c1a9c75ee3f",
    ),
    (True, "half-up-3"): (
        "sha256:c8d8e19e388b70aa8feb8168380da6b788a85f014779c0551f7f05449681760e",
        "sha256:4b664a936c24a848eac92cd1dbb95cea35e1e1f587fbd47e0de934712e02744e",
    ),
}


@pytest.mark.parametrize(("distinct", "policy"), sorted(_ENGINE_BEFORE))
def test_the_benchmark_quotes_price_to_the_bytes_the_engine_before_gave(
    distinct: bool, policy: str
) -> None:
    """Given the benchmark's catalog (tiers, volume discounts, conflicting promotions) and
    a 300-line quote, when it is priced under a policy, then the output and input
    fingerprints are the ones the previous engine gave, and the output fingerprint is
    what the result's content hashes to (the fast writers wrote the canonical bytes)."""
    import importlib.util

    path = Path(__file__).resolve().parents[2] / "benchmarks" / "bench_pricing.py"
    spec = importlib.util.spec_from_file_location("bench_pricing_for_test", path)
    assert spec is not None and spec.loader is not None
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    policies = {
        "rules": None,
        "total": PricingPolicy(rounding_applies="total"),
        "half-up-3": PricingPolicy(currency_places=3, rounding_mode="ROUND_HALF_UP"),
    }
    request = bench.build_request(300, all_distinct=distinct)
    result = price_quote(bench.build_catalog(), request, policies[policy])
    assert (result.fingerprint, result.input_fingerprint) == _ENGINE_BEFORE[(distinct, policy)]
    assert result_fingerprint(result) == result.fingerprint
