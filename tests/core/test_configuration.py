"""Configuration specifications: a quote is checked against the catalog and every
violation comes back at once, located and explained."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from cpqsim.catalog import Catalog, CatalogInvalid, parse_catalog
from cpqsim.configuration import (
    RULES,
    QuoteLine,
    check_configuration,
    explain_exclusion,
    explain_requirement,
    recommendations,
    resolve_line_versions,
)
from cpqsim_scenarios.files import read_catalog_document

SAMPLE = (
    Path(__file__).resolve().parents[2] / "scenarios" / "library" / "catalog" / "enterprise.yaml"
)
JUNE_2025 = date(2025, 6, 1)
JUNE_2026 = date(2026, 6, 1)


def load_catalog(path) -> Catalog:
    """The shell reads the file (exact numbers); the core publishes the document."""
    return parse_catalog(read_catalog_document(path), source=str(path))


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
    # This undated quote exercises every rule that does not need dates, bundles,
    # characteristics or asset conflicts; the dated quote below covers the rest.
    assert {rule for rule, _ in summary(catalog, lines)} | DATED_RULES == set(RULES)


DATED_RULES = {"not_effective", "lifecycle", "characteristic", "bundle_contents", "conflicts"}


def test_dated_checks_report_every_violation_at_once(catalog: Catalog) -> None:
    # Given a quote dated 2026-06-01 that names the 2025 edition (window closed and
    # grandfathered), a bad characteristic, an empty bundle and two conflicting firewalls,
    # when checked, then each problem is reported at its path.
    lines = [
        QuoteLine(offering="saas-suite@1", options=["saas-edition-standard"]),
        internet(characteristics={"bandwidth": "2G", "colour": "red"}),
        QuoteLine(offering="secure-branch"),
        firewall(),
        QuoteLine(offering="legacy-firewall@1"),  # pinned: resolves though out of window
    ]
    found = [(v.rule, v.path) for v in check_configuration(catalog, lines, JUNE_2026)]
    assert found == [
        ("lifecycle", "lines[0].offering"),
        ("not_effective", "lines[0].offering"),
        ("characteristic", "lines[1].characteristics.bandwidth"),
        ("characteristic", "lines[1].characteristics.colour"),
        ("bundle_contents", "lines[2].contents"),
        ("bundle_contents", "lines[2].contents"),
        ("conflicts", "lines[3].offering"),
        ("lifecycle", "lines[4].offering"),
        ("not_effective", "lines[4].offering"),
    ]
    assert {rule for rule, _ in found} == DATED_RULES


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


# ------------------------------------------------------------------- versions & lifecycle


def test_stable_ids_resolve_to_the_version_in_force_on_the_business_date(
    catalog: Catalog,
) -> None:
    # Given saas-suite@1 (2025, grandfathered) and @2 (from 2026-01-01, active),
    # when a 2026 line is pinned, then every element names a version id.
    line = saas(add_ons=["saas-extra-storage"], characteristics={"data_residency": "EU"})
    [pinned] = resolve_line_versions(catalog, [line], JUNE_2026)
    assert (pinned.offering, pinned.options, pinned.add_ons) == (
        "saas-suite@2",
        ["saas-edition-standard@1"],
        ["saas-extra-storage@1"],
    )
    assert pinned.characteristics == {"data_residency": "EU"}
    assert check_configuration(catalog, [pinned], JUNE_2026) == []
    # In 2025 the same stable id resolves to the 2025 edition.
    assert resolve_line_versions(catalog, [line], JUNE_2025)[0].offering == "saas-suite@1"


def test_unresolvable_keys_stay_as_given_so_the_check_reports_them(catalog: Catalog) -> None:
    [pinned] = resolve_line_versions(catalog, [QuoteLine(offering="teleporter")], JUNE_2026)
    assert pinned.offering == "teleporter"


def test_a_pinned_version_outside_its_window_is_not_effective(catalog: Catalog) -> None:
    [pinned] = resolve_line_versions(catalog, [saas()], JUNE_2026)
    found = check_configuration(catalog, [pinned], date(2025, 12, 31))
    assert [(v.rule, v.path) for v in found] == [("not_effective", "lines[0].offering")]
    assert "saas-suite@2 [2026-01-01, open)" in found[0].message


def test_grandfathered_version_is_refused_for_new_quotes_but_may_change_existing_assets(
    catalog: Catalog,
) -> None:
    # Given the grandfathered 2025 edition, in force on 2025-06-01:
    line = QuoteLine(offering="saas-suite@1", quantity=40, options=["saas-edition-standard"])
    # when quoted new, then the lifecycle refuses it with the reason;
    [v] = check_configuration(catalog, [line], JUNE_2025)
    assert (v.rule, v.elements) == ("lifecycle", ["saas-suite@1"])
    assert "grandfathered" in v.message and "does not allow new quotes" in v.message
    # when it amends an existing asset (more seats), then it is valid.
    assert check_configuration(catalog, [line], JUNE_2025, intent="change_asset") == []


def test_retired_product_is_refused_even_for_changes(catalog: Catalog) -> None:
    line = QuoteLine(offering="legacy-firewall@1")
    for intent in ("new_quote", "new_order", "change_asset"):
        rules = [
            v.rule for v in check_configuration(catalog, [line], date(2024, 6, 1), intent=intent)
        ]
        assert rules == ["lifecycle"], intent


# ------------------------------------------------------------------- characteristics


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        ({"data_residency": "EU", "term_months": "36"}, []),
        ({"term_months": 24}, []),  # a YAML/JSON integer is read as its text
        (
            {"data_residency": "APAC"},
            ["data_residency of saas-suite is 'APAC' but must be one of US, EU"],
        ),
        ({"term_months": "6"}, ["term_months of saas-suite is '6' but must be at least 12"]),
        ({"term_months": "1.5"}, ["term_months of saas-suite is '1.5' but must be an integer"]),
    ],
)
def test_characteristic_values_are_checked_against_the_specification(
    catalog: Catalog, values: dict, expected: list[str]
) -> None:
    found = check_configuration(catalog, [saas(characteristics=values)])
    assert [v.message for v in found] == expected
    assert all(v.rule == "characteristic" for v in found)


def test_a_required_characteristic_without_default_must_be_given() -> None:
    from cpqsim.catalog import parse_catalog

    spec = {
        "id": "s",
        "name": "S",
        "characteristics": [
            {"name": "site_id", "type": "string", "required": True},
            {"name": "ha", "type": "boolean", "default": False},
        ],
    }
    offering = {
        "id": "o",
        "name": "O",
        "specification": "s",
        "family": "f",
        "prices": [{"id": "p", "kind": "one_time", "amount": 1}],
    }
    cat = parse_catalog(
        {
            "id": "c",
            "version": "1",
            "currency": "USD",
            "specifications": [spec],
            "offerings": [offering],
        }
    )
    [v] = check_configuration(cat, [QuoteLine(offering="o")])
    assert (v.rule, v.path) == ("characteristic", "lines[0].characteristics")
    assert "needs a value for 'site_id'" in v.message
    ok = QuoteLine(offering="o", characteristics={"site_id": "SG-1", "ha": True})
    assert check_configuration(cat, [ok]) == []
    bad = QuoteLine(offering="o", characteristics={"site_id": "SG-1", "ha": "maybe"})
    assert [v.message for v in check_configuration(cat, [bad])] == [
        "ha of o is 'maybe' but must be true or false"
    ]


# ------------------------------------------------------------------- bundles


def branch(*contents: QuoteLine, quantity: int = 1) -> QuoteLine:
    return QuoteLine(offering="secure-branch", quantity=quantity, contents=list(contents))


def test_a_complete_bundle_is_valid_and_satisfies_requirements_inside_it(
    catalog: Catalog,
) -> None:
    # managed-firewall requires business-internet: the bundle's own line satisfies it.
    lines = [branch(internet(), firewall(quantity=2))]
    assert check_configuration(catalog, lines, JUNE_2026) == []


def test_bundle_contents_are_checked_for_membership_counts_and_their_own_rules(
    catalog: Catalog,
) -> None:
    lines = [branch(internet(options=["bi-access-fiber"]), firewall(quantity=3), saas())]
    assert summary(catalog, lines) == [
        ("bundle_contents", "lines[0].contents"),
        ("cardinality", "lines[0].contents[0].options"),
        ("bundle_contents", "lines[0].contents[2].offering"),
    ]
    messages = [v.message for v in check_configuration(catalog, lines)]
    assert "each secure-branch holds 1..2 of managed-firewall; the configuration has 3" in messages


def test_explain_requirement_follows_contains(catalog: Catalog) -> None:
    assert explain_requirement(catalog, "secure-branch", "business-internet") == [
        "secure-branch",
        "business-internet",
    ]


# ------------------------------------------------------------------- exclusion, hints


def test_explain_exclusion_direct_and_through_requirements(catalog: Catalog) -> None:
    assert explain_exclusion(catalog, "bi-sla-premium", "bi-access-wireless") == [
        "bi-sla-premium",
        "bi-access-wireless",
    ]
    assert explain_exclusion(catalog, "bi-access-wireless", "bi-sla-premium") == [
        "bi-access-wireless",
        "bi-sla-premium",
    ]
    # A bundle holding a managed firewall conflicts with the legacy firewall it replaces
    # (on a date when both were in force; the date-less view leaves retired ones out).
    both = date(2024, 6, 1)
    bundle = catalog.model_copy(
        update={
            "offerings": [
                o.model_copy(update={"effective_from": None})
                if o.id in ("secure-branch", "managed-firewall")
                else o
                for o in catalog.offerings
            ]
        }
    )
    assert explain_exclusion(bundle, "secure-branch", "legacy-firewall", both) == [
        "secure-branch",
        "managed-firewall",
        "legacy-firewall",
    ]
    assert "legacy-firewall" not in catalog.graph()
    assert explain_exclusion(catalog, "saas-suite", "business-internet") is None


def test_recommendations_are_hints_not_violations(catalog: Catalog) -> None:
    lines = [saas(options=["saas-edition-premium"])]
    assert check_configuration(catalog, lines) == []
    [(item, target, reason)] = recommendations(catalog, lines)
    assert (item, target) == ("saas-edition-premium", "saas-sso")
    assert "identity provider" in reason


# ------------------------------------------------------------------- property


ACCESS = ["bi-access-fiber", "bi-access-copper", "bi-access-wireless"]
SLAS = ["bi-sla-standard", "bi-sla-premium"]


@settings(max_examples=150, deadline=None)
@given(
    options=st.lists(st.sampled_from(ACCESS + SLAS), unique=True, max_size=5),
    static_ip=st.booleans(),
    quantity=st.integers(min_value=-2, max_value=120),
)
def test_internet_configurations_match_a_hand_written_oracle(
    catalog: Catalog, options: list[str], static_ip: bool, quantity: int
) -> None:
    # The oracle restates the catalog's rules for business-internet in plain Python.
    access = [o for o in options if o in ACCESS]
    sla = [o for o in options if o in SLAS]
    expected = set()
    if len(access) != 1 or len(sla) != 1:
        expected.add("cardinality")
    if "bi-access-wireless" in options and "bi-sla-premium" in options:
        expected.add("excludes")
    if not 1 <= quantity <= 100:
        expected.add("quantity")
    line = internet(options=options, quantity=quantity, add_ons=["static-ip"] if static_ip else [])
    found = check_configuration(catalog, [line], JUNE_2026)
    assert {v.rule for v in found} == expected
    # Reordering the options never changes the verdict.
    again = check_configuration(
        catalog, [line.model_copy(update={"options": options[::-1]})], JUNE_2026
    )
    assert {v.rule for v in again} == expected


def test_repeated_lines_report_each_violation_at_its_own_line(catalog: Catalog) -> None:
    """Given a quote repeating one invalid line and one line missing a requirement, when
    it is checked (each distinct line content once), then every line's violation is
    reported at that line's own path, as if each line were checked on its own."""
    bad = saas(quantity=0)
    lines = [bad, internet(), bad, firewall(), bad, firewall()]
    found = [(v.rule, v.path) for v in check_configuration(catalog, lines)]
    assert found == [
        ("quantity", "lines[0].quantity"),
        ("quantity", "lines[2].quantity"),
        ("quantity", "lines[4].quantity"),
    ]
    without_internet = [bad, firewall(), bad, firewall()]
    found = [(v.rule, v.path) for v in check_configuration(catalog, without_internet)]
    assert found == [
        ("quantity", "lines[0].quantity"),
        ("requires", "lines[1].offering"),
        ("quantity", "lines[2].quantity"),
        ("requires", "lines[3].offering"),
    ]


# ----------------------------------------------------------- relation scope and dates


def scoped_catalog(scope: str | None, **window: str) -> Catalog:
    """A box whose 'lock' add-on excludes the 'key' add-on (with ``scope``), and a
    'kit' bundle containing a box."""
    relation = {"kind": "excludes", "target": "key", **window}
    if scope is not None:
        relation["scope"] = scope
    return parse_catalog(
        {
            "id": "scoped",
            "version": "1",
            "currency": "USD",
            "specifications": [{"id": "s", "name": "S"}],
            "offerings": [
                {
                    "id": "box",
                    "name": "Box",
                    "specification": "s",
                    "family": "f",
                    "add_ons": ["lock", "key"],
                    "prices": [{"id": "box-m", "kind": "recurring", "amount": "1.00"}],
                },
                {
                    "id": "kit",
                    "name": "Kit",
                    "specification": "s",
                    "family": "f",
                    "add_ons": ["key"],
                    "prices": [{"id": "kit-m", "kind": "recurring", "amount": "5.00"}],
                    "relations": [{"kind": "contains", "target": "box"}],
                },
                {
                    "id": "lock",
                    "name": "Lock",
                    "specification": "s",
                    "family": "f",
                    "sellable": False,
                    "relations": [relation],
                },
                {
                    "id": "key",
                    "name": "Key",
                    "specification": "s",
                    "family": "f",
                    "sellable": False,
                },
            ],
        }
    )


def test_a_line_scoped_exclusion_is_reported_on_each_line_that_breaks_it_and_only_there() -> None:
    """Given lock excludes key within a line, when one line has both and another line
    has only a key, then the first line is reported and the mix across lines is fine."""
    catalog = scoped_catalog("line")
    lines = [
        QuoteLine(offering="box", add_ons=["lock"]),
        QuoteLine(offering="box", add_ons=["key"]),
        QuoteLine(offering="box", add_ons=["lock", "key"]),
    ]
    [v] = check_configuration(catalog, lines)
    assert (v.rule, v.path, v.scope) == ("excludes", "lines[2].add_ons[0]", "line")
    assert "both are on lines[2]" in v.message
    assert check_configuration(scoped_catalog("quote"), lines)[0].path == "lines[0].add_ons[0]"
    assert check_configuration(scoped_catalog(None), lines)[0].scope == "quote"  # the default


def test_a_line_includes_its_bundle_contents() -> None:
    """A key on the kit and a lock on the box inside that kit are on one line."""
    kit = QuoteLine(
        offering="kit", add_ons=["key"], contents=[QuoteLine(offering="box", add_ons=["lock"])]
    )
    [v] = check_configuration(scoped_catalog("line"), [kit])
    assert (v.rule, v.path) == ("excludes", "lines[0].add_ons[0]")
    assert "lines[0].contents[0].add_ons[0]" in v.message


def test_without_a_business_date_only_relations_without_an_end_apply() -> None:
    """The date-less check judges the catalog as it is from now on: a relation that has
    ended does not apply, one that starts some day does."""
    both = [QuoteLine(offering="box", add_ons=["lock", "key"])]
    assert check_configuration(scoped_catalog("line", effective_to="2026-01-01"), both) == []
    assert check_configuration(scoped_catalog("line", effective_from="2030-01-01"), both) != []
    dated = scoped_catalog("line", effective_from="2030-01-01")
    assert check_configuration(dated, both, date(2029, 12, 31)) == []


@pytest.mark.parametrize(
    ("relation", "fragment"),
    [
        ({"kind": "contains", "target": "key", "scope": "line"}, "only requires, excludes"),
        ({"kind": "recommends", "target": "key", "effective_from": "2026-01-01"}, "window"),
        (
            {
                "kind": "requires",
                "target": "key",
                "effective_from": "2026-02-01",
                "effective_to": "2026-01-01",
            },
            "effective_to must be after",
        ),
        ({"kind": "requires", "target": "key", "scope": "account"}, "scope"),
    ],
)
def test_scope_and_window_are_refused_where_they_mean_nothing(
    relation: dict, fragment: str
) -> None:
    doc = scoped_catalog(None).model_dump(mode="json")
    doc["offerings"][2]["relations"] = [relation]
    with pytest.raises(CatalogInvalid) as info:
        parse_catalog(doc)
    assert fragment in str(info.value)
    assert "offerings[2].relations[0]" in str(info.value)


def test_the_dated_graph_and_explanations_follow_relation_windows() -> None:
    """A requirement in force from 2026-07-01 is an edge of the graph on that date and
    explains why the item is needed then, not the day before."""
    catalog = parse_catalog(
        {
            "id": "dated",
            "version": "1",
            "currency": "USD",
            "specifications": [{"id": "s", "name": "S"}],
            "offerings": [
                {
                    "id": "ip",
                    "name": "IP",
                    "specification": "s",
                    "family": "f",
                    "prices": [{"id": "ip-m", "kind": "recurring", "amount": "1.00"}],
                    "relations": [
                        {"kind": "requires", "target": "plan", "effective_from": "2026-07-01"}
                    ],
                },
                {
                    "id": "plan",
                    "name": "Plan",
                    "specification": "s",
                    "family": "f",
                    "prices": [{"id": "plan-m", "kind": "recurring", "amount": "1.00"}],
                },
            ],
        }
    )
    before, after = date(2026, 6, 30), date(2026, 7, 1)
    assert not catalog.graph(before).has_edge("ip", "plan")
    assert catalog.graph(after).has_edge("ip", "plan")
    assert explain_requirement(catalog, "ip", "plan", before) is None
    assert explain_requirement(catalog, "ip", "plan", after) == ["ip", "plan"]
