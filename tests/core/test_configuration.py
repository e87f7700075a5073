"""Configuration specifications: a quote is checked against the catalog and every
violation comes back at once, located and explained."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from cpqsim.catalog import Catalog, load_catalog
from cpqsim.configuration import (
    RULES,
    QuoteLine,
    check_configuration,
    explain_requirement,
)

SAMPLE = (
    Path(__file__).resolve().parents[2] / "scenarios" / "library" / "catalog" / "enterprise.yaml"
)


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return load_catalog(SAMPLE)


def saas(**kw) -> QuoteLine:
    base = {"offering": "saas-suite", "quantity": 10, "options": ["saas-edition-standard"]}
    return QuoteLine(**{**base, **kw})


def internet(**kw) -> QuoteLine:
    base = {"offering": "business-internet", "options": ["bi-access-fiber", "bi-sla-standard"]}
    return QuoteLine(**{**base, **kw})


def firewall(**kw) -> QuoteLine:
    return QuoteLine(**{"offering": "managed-firewall", "options": ["mf-tier-basic"], **kw})


def summary(catalog: Catalog, lines: list[QuoteLine]) -> list[tuple[str, str]]:
    return [(v.rule, v.path) for v in check_configuration(catalog, lines)]


@pytest.mark.parametrize(
    "lines",
    [
        [saas()],
        [saas(options=["saas-edition-premium"], add_ons=["saas-sso", "saas-extra-storage"])],
        [internet(add_ons=["static-ip"])],
        [internet(options=["bi-access-copper", "bi-sla-premium"])],
        [internet(options=["bi-access-wireless", "bi-sla-standard"])],
        [internet(quantity=3), firewall(options=["mf-tier-advanced"])],
        # Requirements are satisfied anywhere in the quote, not only on the same line.
        [firewall(), internet()],
        [],
    ],
)
def test_valid_configurations_pass(catalog: Catalog, lines: list[QuoteLine]) -> None:
    assert check_configuration(catalog, lines) == []


def test_unknown_offering(catalog: Catalog) -> None:
    [v] = check_configuration(catalog, [QuoteLine(offering="teleporter")])
    assert (v.rule, v.path, v.elements) == ("unknown_offering", "lines[0].offering", ["teleporter"])
    assert "teleporter is not in catalog enterprise-sample 2026.11.1" in v.message


def test_not_sellable_on_its_own(catalog: Catalog) -> None:
    [v] = check_configuration(catalog, [internet(), QuoteLine(offering="static-ip")])
    assert (v.rule, v.path) == ("not_sellable", "lines[1].offering")
    assert "static-ip cannot be ordered on its own" in v.message


@pytest.mark.parametrize("quantity", [0, -1, 10_001])
def test_quantity_outside_the_offering_range(catalog: Catalog, quantity: int) -> None:
    [v] = check_configuration(catalog, [saas(quantity=quantity)])
    assert (v.rule, v.path) == ("quantity", "lines[0].quantity")
    assert f"between 1 and 10000, got {quantity}" in v.message


def test_cardinality_too_few_and_too_many(catalog: Catalog) -> None:
    too_few = check_configuration(catalog, [internet(options=["bi-access-fiber"])])
    assert [(v.rule, v.path) for v in too_few] == [("cardinality", "lines[0].options")]
    assert "'sla' of business-internet needs exactly 1" in too_few[0].message
    assert "0 selected" in too_few[0].message

    too_many = check_configuration(
        catalog, [internet(options=["bi-access-fiber", "bi-access-copper", "bi-sla-standard"])]
    )
    [v] = too_many
    assert v.rule == "cardinality"
    assert "2 selected (bi-access-fiber, bi-access-copper)" in v.message


def test_option_not_in_offering(catalog: Catalog) -> None:
    lines = [saas(options=["saas-edition-standard", "bi-access-fiber"])]
    [v] = check_configuration(catalog, lines)
    assert (v.rule, v.path, v.elements) == (
        "option_not_in_offering",
        "lines[0].options[1]",
        ["saas-suite", "bi-access-fiber"],
    )
    assert v.message == "bi-access-fiber is not an option of saas-suite"


def test_add_on_parentage(catalog: Catalog) -> None:
    # static-ip belongs to business internet, not to the SaaS suite: even with an
    # internet line elsewhere in the quote, it may not hang off the wrong parent.
    [v] = check_configuration(catalog, [saas(add_ons=["static-ip"]), internet()])
    assert (v.rule, v.path) == ("add_on_not_allowed", "lines[0].add_ons[0]")
    assert "static-ip is not an add-on of saas-suite" in v.message


def test_requires_names_both_sides(catalog: Catalog) -> None:
    [v] = check_configuration(catalog, [firewall()])
    assert (v.rule, v.path, v.elements) == (
        "requires",
        "lines[0].offering",
        ["managed-firewall", "business-internet"],
    )
    assert v.message.startswith(
        "managed-firewall requires business-internet, which is not in the quote"
    )


def test_requires_applies_to_add_ons(catalog: Catalog) -> None:
    [v] = check_configuration(catalog, [saas(add_ons=["saas-sso"])])
    assert (v.rule, v.path) == ("requires", "lines[0].add_ons[0]")
    assert "saas-sso requires saas-edition-premium" in v.message
    assert "premium edition" in v.message  # the catalog's reason is passed on


def test_excludes_is_symmetric_and_reported_once(catalog: Catalog) -> None:
    # bi-sla-premium declares the exclusion; listing wireless first must not hide it.
    lines = [internet(options=["bi-access-wireless", "bi-sla-premium"])]
    [v] = check_configuration(catalog, lines)
    assert (v.rule, v.path, v.elements) == (
        "excludes",
        "lines[0].options[0]",
        ["bi-access-wireless", "bi-sla-premium"],
    )
    assert "lines[0].options[1]" in v.message


def test_excludes_across_lines(catalog: Catalog) -> None:
    lines = [
        internet(options=["bi-access-wireless", "bi-sla-standard"]),
        internet(options=["bi-access-fiber", "bi-sla-premium"]),
    ]
    assert summary(catalog, lines) == [("excludes", "lines[0].options[0]")]


def test_all_violations_are_reported_at_once(catalog: Catalog) -> None:
    lines = [
        saas(quantity=0, options=["bi-access-fiber"], add_ons=["saas-sso", "static-ip"]),
        QuoteLine(offering="bi-sla-premium"),
        internet(options=["bi-access-wireless", "bi-sla-standard"]),
        QuoteLine(offering="teleporter"),
        firewall(options=[]),
    ]
    assert summary(catalog, lines) == [
        ("quantity", "lines[0].quantity"),
        ("cardinality", "lines[0].options"),
        ("option_not_in_offering", "lines[0].options[0]"),
        ("requires", "lines[0].add_ons[0]"),
        ("add_on_not_allowed", "lines[0].add_ons[1]"),
        ("excludes", "lines[1].offering"),
        ("not_sellable", "lines[1].offering"),
        ("unknown_offering", "lines[3].offering"),
        ("cardinality", "lines[4].options"),
    ]
    # One broken quote exercises every rule of the contract.
    assert {rule for rule, _ in summary(catalog, lines)} == set(RULES)


def test_duplicate_selection_counts_once_and_is_reported(catalog: Catalog) -> None:
    lines = [saas(options=["saas-edition-premium", "saas-edition-premium"])]
    assert summary(catalog, lines) == [("cardinality", "lines[0].options[1]")]


def test_check_is_deterministic(catalog: Catalog) -> None:
    lines = [firewall(options=[]), saas(add_ons=["saas-sso", "static-ip"])]
    assert check_configuration(catalog, lines) == check_configuration(catalog, lines)


def test_quote_line_is_a_strict_frozen_shape() -> None:
    with pytest.raises(ValidationError, match="Extra inputs"):
        QuoteLine(offering="saas-suite", colour="red")
    line = QuoteLine(offering="saas-suite")
    with pytest.raises(ValidationError):
        line.quantity = 5


def test_explain_requirement(catalog: Catalog) -> None:
    assert explain_requirement(catalog, "saas-sso", "saas-edition-premium") == [
        "saas-sso",
        "saas-edition-premium",
    ]
    assert explain_requirement(catalog, "managed-firewall", "business-internet") == [
        "managed-firewall",
        "business-internet",
    ]
    assert explain_requirement(catalog, "business-internet", "managed-firewall") is None
    assert explain_requirement(catalog, "saas-suite", "saas-suite") is None
    with pytest.raises(KeyError):
        explain_requirement(catalog, "teleporter", "saas-suite")


def test_explain_requirement_follows_a_chain() -> None:
    from cpqsim.catalog import parse_catalog

    def offering(oid: str, requires: str | None = None) -> dict:
        rel = [{"kind": "requires", "target": requires}] if requires else []
        return {
            "id": oid,
            "name": oid,
            "specification": "s",
            "family": "f",
            "prices": [{"id": f"{oid}-p", "kind": "one_time", "amount": 1}],
            "relations": rel,
        }

    chain = parse_catalog(
        {
            "id": "chain",
            "version": "1",
            "currency": "USD",
            "specifications": [{"id": "s", "name": "S"}],
            "offerings": [offering("a", "b"), offering("b", "c"), offering("c")],
        }
    )
    assert explain_requirement(chain, "a", "c") == ["a", "b", "c"]
