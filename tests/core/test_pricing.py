"""Pricing specifications: hand-computed totals, explicit rounding, stable fingerprints,
approval triggers at their edges, and properties that must hold for any valid quote."""

from __future__ import annotations

import functools
import os
import subprocess
import sys
import textwrap
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

import cpqsim
from cpqsim.catalog import Catalog, load_catalog, parse_catalog
from cpqsim.configuration import QuoteLine, check_configuration
from cpqsim.pricing import (
    PriceRequest,
    PricingError,
    PricingPolicy,
    price_quote,
    reprice_matches,
    result_fingerprint,
)

REPO = Path(__file__).resolve().parents[2]
SAMPLE = REPO / "scenarios" / "library" / "catalog" / "enterprise.yaml"
D = Decimal


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return load_catalog(SAMPLE)


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
        from cpqsim.catalog import load_catalog
        from cpqsim.pricing import PriceRequest, price_quote
        catalog = load_catalog({str(SAMPLE)!r})
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
    return load_catalog(SAMPLE)


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
