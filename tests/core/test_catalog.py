"""Catalog specifications: a catalog is published whole and valid, or refused with every
problem named at its field path."""

from __future__ import annotations

import copy
import json
import re
from decimal import Decimal
from pathlib import Path

import jsonschema
import networkx as nx
import pytest

from cpqsim.catalog import (
    Catalog,
    CatalogInvalid,
    parse_catalog,
    publish,
    to_tmf620_product_offering,
    validate_catalog,
)
from cpqsim_scenarios.files import read_catalog_document

REPO = Path(__file__).resolve().parents[2]
LIBRARY = REPO / "scenarios" / "library" / "catalog"
SAMPLE = LIBRARY / "enterprise.yaml"
TMF620 = REPO / "tests" / "data" / "tmf" / "TMF620_product_catalog_v4.1.0.swagger.json"


def load_catalog(path) -> Catalog:
    """The shell reads the file (exact numbers); the core publishes the document."""
    return parse_catalog(read_catalog_document(path), source=str(path))


def tiny() -> dict:
    """A valid two-offering catalog that each test breaks in one way."""
    return {
        "id": "tiny",
        "version": "1",
        "currency": "USD",
        "specifications": [{"id": "spec", "name": "Spec"}],
        "offerings": [
            {
                "id": "main",
                "name": "Main",
                "specification": "spec",
                "family": "f",
                "prices": [{"id": "main-monthly", "kind": "recurring", "amount": "10.00"}],
                "option_groups": [
                    {"id": "size", "name": "Size", "min": 1, "max": 1, "options": ["opt"]}
                ],
                "decomposition": [
                    {"task": "reserve", "system": "inventory", "operation": "reserve"},
                    {
                        "task": "activate",
                        "system": "provisioning",
                        "operation": "activate",
                        "depends_on": ["reserve"],
                    },
                ],
            },
            {
                "id": "opt",
                "name": "Option",
                "specification": "spec",
                "family": "f",
                "sellable": False,
            },
        ],
    }


def problems_of(data: dict) -> list:
    with pytest.raises(CatalogInvalid) as info:
        parse_catalog(data, source="tiny.yaml")
    return info.value.problems


@pytest.fixture(scope="module")
def sample() -> Catalog:
    return load_catalog(SAMPLE)


# ------------------------------------------------------------------------ sample


def test_sample_catalog_loads_and_validates_clean(sample: Catalog) -> None:
    # Given the shipped sample catalog, when it is loaded and re-validated,
    # then it has no problems and the identity the rest of the code relies on.
    assert validate_catalog(sample) == []
    assert (sample.id, sample.version, sample.currency) == ("enterprise-sample", "2026.11.1", "USD")
    assert [o.id for o in sample.sellable_offerings()] == [
        "business-internet",
        "managed-firewall",
        "saas-suite",
        "secure-branch",
    ]
    assert sample.offering_ids() == sorted(sample.offering_ids())


def test_sample_amounts_are_exact_decimals(sample: Catalog) -> None:
    seat = sample.offering("saas-suite").prices[0]
    assert seat.amount == Decimal("12.50") and isinstance(seat.amount, Decimal)
    assert seat.period == "month"
    onboarding = sample.offering("saas-suite").prices[1]
    assert (onboarding.kind, onboarding.period) == ("one_time", None)


def test_sample_decomposition_only_names_downstream_systems(sample: Catalog) -> None:
    systems = {s.system for o in sample.offerings for s in o.decomposition}
    assert systems <= {"inventory", "provisioning", "shipping"}
    steps = {s.task: s for s in sample.offering("business-internet").decomposition}
    assert steps["activate-line"].depends_on == ["ship-cpe"]
    assert [s.operation for s in sample.offering("static-ip").decomposition] == ["assign_ip"]


def test_unknown_offering_lookup_names_the_id_and_catalog(sample: Catalog) -> None:
    with pytest.raises(
        KeyError, match=re.escape("'nope' is not in catalog enterprise-sample 2026.11.1")
    ):
        sample.offering("nope")


def test_graph_has_the_expected_typed_edges(sample: Catalog) -> None:
    g = sample.graph()

    def relations(u: str, v: str) -> set[str]:
        return {d["relation"] for d in g.get_edge_data(u, v, default={}).values()}

    assert g.nodes["saas-suite"]["kind"] == "offering"
    assert g.nodes["internet-access-spec"]["kind"] == "specification"
    assert relations("business-internet", "internet-access-spec") == {"specified_by"}
    assert relations("business-internet", "bi-access-fiber") == {"option"}
    edge = next(iter(g.get_edge_data("business-internet", "bi-sla-premium").values()))
    assert edge["group"] == "sla"
    assert relations("business-internet", "static-ip") == {"add_on"}
    assert relations("managed-firewall", "business-internet") == {"requires"}
    assert relations("saas-sso", "saas-edition-premium") == {"requires"}
    assert relations("bi-sla-premium", "bi-access-wireless") == {"excludes"}
    # Cached and read-only: a catalog version is immutable.
    assert sample.graph() is g
    with pytest.raises(nx.NetworkXError, match=r"[Ff]rozen"):
        g.add_node("sneaky")


# ---------------------------------------------------------------------- problems


def test_requires_cycle_is_refused_naming_every_offering_on_it() -> None:
    # Given the broken sample where widget-a requires b requires c requires a,
    # when it is loaded, then the error names the file and the whole cycle.
    with pytest.raises(CatalogInvalid) as info:
        load_catalog(LIBRARY / "broken_requires_cycle.yaml")
    [problem] = info.value.problems
    assert problem.code == "requires_cycle"
    assert "widget-a -> widget-b -> widget-c -> widget-a" in problem.message
    assert problem.elements == ["widget-a", "widget-b", "widget-c"]
    assert problem.location == "offerings[0].relations[0]"
    assert "broken_requires_cycle.yaml" in str(info.value)


def test_cycle_is_named_from_its_smallest_member_whatever_the_file_order() -> None:
    data = tiny()
    data["offerings"][1]["relations"] = [{"kind": "requires", "target": "main"}]
    data["offerings"][0]["relations"] = [{"kind": "requires", "target": "opt"}]
    data["offerings"].reverse()
    [problem] = problems_of(data)
    assert "main -> opt -> main" in problem.message


def test_self_requirement_is_a_cycle() -> None:
    data = tiny()
    data["offerings"][0]["relations"] = [{"kind": "requires", "target": "main"}]
    [problem] = problems_of(data)
    assert (problem.code, problem.location) == ("requires_cycle", "offerings[0].relations[0]")
    assert "main -> main" in problem.message


def test_dangling_references_are_named_with_their_location() -> None:
    with pytest.raises(CatalogInvalid) as info:
        load_catalog(LIBRARY / "broken_dangling_ref.yaml")
    found = {(p.code, p.location, tuple(p.elements)) for p in info.value.problems}
    assert found == {
        ("dangling_reference", "offerings[0].add_ons[0]", ("business-internet", "static-ipv6")),
        (
            "dangling_reference",
            "offerings[0].decomposition[0].depends_on[0]",
            ("business-internet", "activate-line", "reserve-port"),
        ),
    }
    text = str(info.value)
    assert "offerings[0].add_ons[0]" in text and "static-ipv6" in text


def test_every_kind_of_dangling_reference_is_reported_at_once() -> None:
    data = tiny()
    main = data["offerings"][0]
    main["specification"] = "ghost-spec"
    main["option_groups"][0]["options"].append("ghost-option")
    main["relations"] = [{"kind": "excludes", "target": "ghost-offering"}]
    locations = [p.location for p in problems_of(data)]
    assert locations == [
        "offerings[0].specification",
        "offerings[0].option_groups[0].options[1]",
        "offerings[0].relations[0].target",
    ]


def test_decomposition_cycle_is_refused() -> None:
    data = tiny()
    data["offerings"][0]["decomposition"][0]["depends_on"] = ["activate"]
    [problem] = problems_of(data)
    assert problem.code == "decomposition_cycle"
    assert "activate -> reserve -> activate" in problem.message


@pytest.mark.parametrize(
    ("minimum", "maximum", "options", "reason"),
    [
        (2, 1, ["opt"], "min greater than max"),
        (2, 2, ["opt"], "needs at least 2 of only 1 options"),
        (-1, 1, ["opt"], "negative"),
    ],
)
def test_impossible_cardinality_is_refused(
    minimum: int, maximum: int, options: list[str], reason: str
) -> None:
    data = tiny()
    group = data["offerings"][0]["option_groups"][0]
    group.update(min=minimum, max=maximum, options=options)
    [problem] = problems_of(data)
    assert (problem.code, problem.location) == ("cardinality", "offerings[0].option_groups[0].min")
    assert reason in problem.message and "'size'" in problem.message


def test_impossible_quantity_range_is_refused() -> None:
    data = tiny()
    data["offerings"][0].update(quantity_min=5, quantity_max=2)
    [problem] = problems_of(data)
    assert problem.code == "quantity_range"


def test_duplicate_ids_are_refused() -> None:
    data = tiny()
    data["offerings"].append(copy.deepcopy(data["offerings"][1]))
    data["specifications"].append({"id": "main", "name": "clashes with an offering id"})
    problems = problems_of(data)
    # Specifications come first in the file, so the offering reusing "main" is the repeat.
    assert [(p.code, p.location, p.elements) for p in problems] == [
        ("duplicate_id", "offerings[0].id", ["main"]),
        ("duplicate_id", "offerings[2].id", ["opt@1"]),
    ]
    assert "already used at specifications[1].id" in problems[0].message
    assert "already used at offerings[1].id" in problems[1].message


def test_sellable_offering_without_price_is_refused() -> None:
    data = tiny()
    data["offerings"][0]["prices"] = []
    [problem] = problems_of(data)
    assert (problem.code, problem.location, problem.elements) == (
        "missing_price",
        "offerings[0].prices",
        ["main"],
    )


def test_all_problems_are_reported_together_in_document_order() -> None:
    data = tiny()
    for n in range(11):
        data["offerings"].append(
            {"id": f"x{n}", "name": "X", "specification": "spec", "family": "f"}
        )
    problems = problems_of(data)
    # Eleven unpriced sellable offerings: offerings[10] sorts after offerings[9].
    assert [p.location for p in problems] == [f"offerings[{n}].prices" for n in range(2, 13)]


def test_schema_error_names_the_field() -> None:
    data = tiny()
    data["offerings"][0]["prices"][0]["kind"] = "weekly"
    data["offerings"][1]["colour"] = "red"
    del data["offerings"][1]["family"]
    problems = problems_of(data)
    assert {(p.code, p.location) for p in problems} == {
        ("schema", "offerings[0].prices[0].kind"),
        ("schema", "offerings[1].colour"),
        ("schema", "offerings[1].family"),
    }
    by_location = {p.location: p.message for p in problems}
    assert by_location["offerings[1].family"] == "Field required"
    assert by_location["offerings[1].colour"] == "Extra inputs are not permitted"


def test_float_amount_in_code_is_refused_but_yaml_float_is_exact(tmp_path: Path) -> None:
    data = tiny()
    data["offerings"][0]["prices"][0]["amount"] = 19.99
    [problem] = problems_of(data)
    assert problem.location == "offerings[0].prices[0].amount"
    assert "floats are not allowed" in problem.message

    # In YAML an unquoted 19.99 is read from its text, so it is exactly 19.99.
    text = SAMPLE.read_text().replace('amount: "12.50"', "amount: 19.99")
    path = tmp_path / "floaty.yaml"
    path.write_text(text)
    assert load_catalog(path).offering("saas-suite").prices[0].amount == Decimal("19.99")


def test_unreadable_file_and_bad_yaml_name_the_file(tmp_path: Path) -> None:
    """Reading is the shell's job: it names the file, the line and the column."""
    from cpqsim_scenarios.errors import InputInvalid

    missing = tmp_path / "missing.yaml"
    with pytest.raises(InputInvalid, match=r"missing\.yaml") as info:
        load_catalog(missing)
    assert "no such file" in info.value.problems[0].message

    bad = tmp_path / "bad.yaml"
    bad.write_text("id: x\nofferings: [\n")
    with pytest.raises(InputInvalid, match=r"bad\.yaml") as info:
        load_catalog(bad)
    [problem] = info.value.problems
    assert problem.code == "yaml_syntax" and problem.line is not None

    listy = tmp_path / "list.yaml"
    listy.write_text("- 1\n- 2\n")
    with pytest.raises(CatalogInvalid, match="a catalog is a mapping"):
        load_catalog(listy)


def test_invalid_error_lists_every_problem_with_its_location() -> None:
    data = tiny()
    data["offerings"][0]["prices"] = []
    data["offerings"][0]["add_ons"] = ["ghost"]
    with pytest.raises(CatalogInvalid) as info:
        parse_catalog(data, source="my/catalog.yaml")
    text = str(info.value)
    assert text.startswith("catalog my/catalog.yaml is invalid (2 problems):")
    assert "offerings[0].add_ons[0]: [dangling_reference]" in text
    assert "offerings[0].prices: [missing_price]" in text
    assert info.value.path == "my/catalog.yaml"


# ------------------------------------------------------------------------ TMF620


@pytest.fixture(scope="module")
def product_offering_validator() -> jsonschema.Draft4Validator:
    doc = json.loads(TMF620.read_text())
    schema = {"$ref": "#/definitions/ProductOffering", "definitions": doc["definitions"]}
    return jsonschema.Draft4Validator(schema)


@pytest.mark.parametrize(
    "offering_id", ["saas-suite", "business-internet", "managed-firewall", "static-ip"]
)
def test_tmf620_export_validates_against_the_official_schema(
    sample: Catalog, product_offering_validator: jsonschema.Draft4Validator, offering_id: str
) -> None:
    doc = to_tmf620_product_offering(sample, offering_id)
    errors = [e.message for e in product_offering_validator.iter_errors(doc)]
    assert errors == []
    json.dumps(doc)  # JSON-native: no Decimals, no floats hiding in it


def test_tmf620_export_carries_references(sample: Catalog) -> None:
    doc = to_tmf620_product_offering(sample, "business-internet", base_url="http://h:1/")
    assert doc["@type"] == "ProductOffering"
    assert (
        doc["href"]
        == "http://h:1/tmf-api/productCatalogManagement/v4/productOffering/business-internet@1"
    )  # the href names the exact version, so it resolves to what was exported
    assert (doc["isSellable"], doc["isBundle"], doc["version"]) == (True, True, "1")
    assert doc["lifecycleStatus"] == "Active"
    assert doc["validFor"] == {"startDateTime": "2025-01-01T00:00:00Z"}
    assert doc["productSpecification"]["id"] == "internet-access-spec"
    assert [p["priceType"] for p in doc["productOfferingPrice"]] == ["recurring", "oneTime"]
    assert [b["id"] for b in doc["bundledProductOffering"]] == [
        "bi-access-fiber",
        "bi-access-copper",
        "bi-access-wireless",
        "bi-sla-standard",
        "bi-sla-premium",
        "static-ip",
    ]
    firewall = to_tmf620_product_offering(sample, "managed-firewall")
    assert firewall["productOfferingRelationship"][0]["relationshipType"] == "requires"


def test_the_schema_check_can_fail(
    sample: Catalog, product_offering_validator: jsonschema.Draft4Validator
) -> None:
    # A validator that accepts everything proves nothing: a wrong type must be caught.
    doc = to_tmf620_product_offering(sample, "saas-suite")
    doc["isSellable"] = "yes"
    doc["productSpecification"] = {"name": "no id"}
    assert len(list(product_offering_validator.iter_errors(doc))) == 2


def test_named_cycle_does_not_depend_on_relation_order() -> None:
    # main -> opt -> main and main -> opt -> third -> main share one component;
    # whichever order the relations are written in, the same cycle is named.
    def build(reverse: bool) -> str:
        data = tiny()
        data["offerings"].append(
            {
                "id": "third",
                "name": "T",
                "specification": "spec",
                "family": "f",
                "sellable": False,
                "relations": [{"kind": "requires", "target": "main"}],
            }
        )
        data["offerings"][0]["relations"] = [{"kind": "requires", "target": "opt"}]
        rels = [{"kind": "requires", "target": "main"}, {"kind": "requires", "target": "third"}]
        data["offerings"][1]["relations"] = rels[::-1] if reverse else rels
        [problem] = problems_of(data)
        return problem.message

    assert build(reverse=False) == build(reverse=True)


def test_updated_copy_never_serves_stale_lookups(sample: Catalog) -> None:
    sample.offering_ids()
    sample.graph()
    smaller = sample.model_copy(update={"offerings": sample.offerings[:1]})
    assert smaller.offering_ids() == ["saas-suite"]
    assert "business-internet" not in smaller.graph()
    assert len(sample.offering_ids()) == 17


def test_sample_publishes_with_its_price_books() -> None:
    # Given the sample catalog with its `pricing:` section, when published, then every
    # price entry names a known offering, and the EUR book is scoped to the EU region;
    # without the section the catalog is a different publication.
    from cpqsim.catalog import publish

    document = read_catalog_document(SAMPLE)
    published = publish(document, source="enterprise")
    books = {b.id: b for b in published.catalog.pricing.price_books}
    assert (books["list-usd"].currency, books["list-eur"].currency) == ("USD", "EUR")
    assert books["list-eur"].region == "EU"
    del document["pricing"]
    assert publish(document, source="no pricing").fingerprint != published.fingerprint


# ------------------------------------------------------------------ versions & publish


def versioned() -> dict:
    """tiny() with a second, older version of main that was superseded on 2026-01-01."""
    data = tiny()
    old = copy.deepcopy(data["offerings"][0])
    old.update(version="1", status="superseded", effective_to="2026-01-01")
    data["offerings"][0].update(version="2", effective_from="2026-01-01")
    data["offerings"].insert(0, old)
    return data


def test_versions_of_one_offering_coexist_and_resolve_by_date() -> None:
    from datetime import date

    catalog = parse_catalog(versioned())
    assert catalog.offering_ids() == ["main", "opt"]
    assert catalog.version_ids() == ["main@1", "main@2", "opt@1"]
    assert catalog.offering("main@1").status == "superseded"
    assert catalog.offering("main", date(2025, 12, 31)).version_id == "main@1"
    assert catalog.offering("main", date(2026, 1, 1)).version_id == "main@2"  # end exclusive
    # Without a date: the newest version open to new quotes.
    assert catalog.offering("main").version_id == "main@2"
    assert catalog.has_offering("main@2") and not catalog.has_offering("main@3")
    newest_only = catalog.model_copy(update={"offerings": catalog.offerings[1:]})
    with pytest.raises(KeyError, match="no version of offering 'main' is in force on 1999-01-01"):
        newest_only.offering("main", date(1999, 1, 1))


def test_overlapping_windows_of_one_offering_are_refused() -> None:
    data = versioned()
    data["offerings"][0]["effective_to"] = "2026-02-01"  # one month of overlap
    [problem] = problems_of(data)
    assert (problem.code, problem.elements, problem.location) == (
        "overlapping_versions",
        ["main@1", "main@2"],
        "offerings[1].effective_from",
    )
    assert "[open, 2026-02-01)" in problem.message and "[2026-01-01, open)" in problem.message


def test_a_draft_may_overlap_because_it_is_not_published() -> None:
    data = versioned()
    draft = copy.deepcopy(data["offerings"][1])
    draft.update(version="3", status="draft", effective_from="2026-03-01")
    data["offerings"].append(draft)
    catalog = parse_catalog(data)
    assert catalog.offering("main").version_id == "main@2"


def test_duplicate_sku_across_offerings_is_refused_but_shared_across_versions() -> None:
    data = versioned()
    for o in data["offerings"][:2]:
        o["sku"] = "MAIN"  # two versions of one offering: fine
    assert parse_catalog(data)
    data["offerings"][2]["sku"] = "MAIN"
    [problem] = problems_of(data)
    assert (problem.code, problem.elements, problem.location) == (
        "duplicate_sku",
        ["MAIN", "main", "opt"],
        "offerings[2].sku",
    )


def test_duplicate_downstream_mapping_is_refused() -> None:
    data = tiny()
    data["offerings"][0]["decomposition"].append(
        {"task": "reserve", "system": "inventory", "operation": "reserve"}
    )
    [problem] = problems_of(data)
    assert (problem.code, problem.location) == (
        "duplicate_mapping",
        "offerings[0].decomposition[2]",
    )
    assert problem.elements == ["main", "inventory", "reserve", "reserve"]


def test_cycle_through_contains_is_a_hard_requirement_cycle() -> None:
    data = tiny()
    data["offerings"][0]["relations"] = [{"kind": "contains", "target": "opt"}]
    data["offerings"][1]["relations"] = [{"kind": "dependsOnAsset", "target": "main"}]
    [problem] = problems_of(data)
    assert problem.code == "requires_cycle"
    assert "main contains opt, opt dependsOnAsset main" in problem.message


def test_soft_relations_may_loop() -> None:
    data = tiny()
    data["offerings"][0]["relations"] = [{"kind": "recommends", "target": "opt"}]
    data["offerings"][1]["relations"] = [{"kind": "upgradesTo", "target": "main"}]
    assert parse_catalog(data)


def test_impossible_bundle_quantity_is_refused() -> None:
    data = tiny()
    data["offerings"][0]["relations"] = [{"kind": "contains", "target": "opt", "min": 3, "max": 2}]
    [problem] = problems_of(data)
    assert (problem.code, problem.location) == ("cardinality", "offerings[0].relations[0].min")


def test_quantities_belong_only_to_contains() -> None:
    data = tiny()
    data["offerings"][0]["relations"] = [{"kind": "requires", "target": "opt", "min": 1}]
    [problem] = problems_of(data)
    assert problem.code == "schema" and "only a contains relation" in problem.message


def test_a_price_book_entry_counts_as_a_price_and_pricing_refs_must_resolve() -> None:
    data = tiny()
    data["offerings"][0]["prices"] = []
    entry = {"id": "e1", "offering": "main", "kind": "one_time", "amount": "5"}
    data["pricing"] = {
        "price_books": [{"id": "b", "version": "1", "currency": "USD", "entries": [entry]}]
    }
    assert parse_catalog(data)
    data["pricing"]["promotions"] = [
        {"id": "p", "applies_to": ["ghost"], "pct_off": "0.1", "excludes": ["nope"]}
    ]
    data["pricing"]["contract_prices"] = [
        {
            "id": "c",
            "account_id": "a",
            "offering": "main",
            "price_entry": "zz",
            "currency": "USD",
            "amount": "1",
        }
    ]
    found = [(p.code, p.location) for p in problems_of(data)]
    assert found == [
        ("dangling_reference", "pricing.contract_prices[0].price_entry"),
        ("dangling_reference", "pricing.promotions[0].applies_to[0]"),
        ("dangling_reference", "pricing.promotions[0].excludes[0]"),
    ]


@pytest.mark.parametrize(
    ("characteristic", "fragment"),
    [
        ({"name": "c", "type": "enum"}, "lists no allowed values"),
        ({"name": "c", "type": "integer", "min": 5, "max": 1}, "min 5 greater than max 1"),
        ({"name": "c", "type": "string", "min": 1}, "cannot have a min/max range"),
        ({"name": "c", "type": "integer", "values": ["x"]}, "allows 'x', which must be an integer"),
        ({"name": "c", "type": "enum", "values": ["a"], "default": "b"}, "default 'b'"),
    ],
)
def test_impossible_characteristics_are_refused(characteristic: dict, fragment: str) -> None:
    data = tiny()
    data["specifications"][0]["characteristics"] = [characteristic]
    [problem] = problems_of(data)
    assert problem.code == "characteristic" and fragment in problem.message
    assert problem.location.startswith("specifications[0].characteristics[0]")


def test_publish_is_atomic_and_fingerprints_the_content_not_the_layout() -> None:
    from cpqsim.catalog import publish

    first = publish(tiny())
    reordered = {k: tiny()[k] for k in reversed(list(tiny()))}
    second = publish(reordered)
    assert first.fingerprint == second.fingerprint and first.fingerprint.startswith("sha256:")
    assert first.version_id == "tiny@1"
    changed = tiny()
    changed["offerings"][0]["prices"][0]["amount"] = "10.01"
    assert publish(changed).fingerprint != first.fingerprint
    # Refused: nothing is produced, and the error carries every problem.
    broken = tiny()
    broken["offerings"][0]["prices"] = []
    with pytest.raises(CatalogInvalid):
        publish(broken)
    with pytest.raises(Exception, match="frozen"):
        first.catalog.offerings[0].name = "renamed"  # type: ignore[misc]


def test_lifecycle_table_is_data_with_a_reason_per_status() -> None:
    from cpqsim.catalog_lifecycle import STATUSES, allows, status_table

    rows = {r["status"]: r for r in status_table()}
    assert list(rows) == list(STATUSES)
    assert [s for s in STATUSES if allows(s, "new_quote")] == ["active"]
    assert [s for s in STATUSES if allows(s, "new_order")] == ["active", "superseded"]
    assert [s for s in STATUSES if allows(s, "change_asset")] == [
        "active",
        "grandfathered",
        "superseded",
    ]
    assert [s for s in STATUSES if not allows(s, "keep_asset")] == ["draft", "approved", "retired"]
    assert all(row["why"] for row in rows.values())


def test_tmf620_export_of_a_versioned_bundle_validates(
    sample: Catalog, product_offering_validator: jsonschema.Draft4Validator
) -> None:
    for key in ["secure-branch", "saas-suite@1", "legacy-firewall", "saas-sso"]:
        doc = to_tmf620_product_offering(sample, key)
        assert [e.message for e in product_offering_validator.iter_errors(doc)] == []
    old = to_tmf620_product_offering(sample, "saas-suite@1")
    assert (old["version"], old["lifecycleStatus"]) == ("1", "Grandfathered")
    assert old["validFor"] == {
        "startDateTime": "2025-01-01T00:00:00Z",
        "endDateTime": "2026-01-01T00:00:00Z",
    }
    bundle = to_tmf620_product_offering(sample, "secure-branch")
    limits = {
        b["id"]: b["bundledProductOfferingOption"]["numberRelOfferUpperLimit"]
        for b in bundle["bundledProductOffering"]
    }
    assert limits == {"business-internet": 1, "managed-firewall": 2}
    assert bundle["marketSegment"] == [
        {"id": "enterprise", "name": "enterprise", "@referredType": "MarketSegment"}
    ]
    chars = to_tmf620_product_offering(sample, "business-internet")["prodSpecCharValueUse"]
    assert [c["name"] for c in chars] == ["bandwidth", "service_address"]


def test_graph_at_a_date_shows_the_versions_in_force(sample: Catalog) -> None:
    from datetime import date

    then = sample.graph(date(2025, 6, 1))
    assert then.nodes["saas-suite"]["version_id"] == "saas-suite@1"
    assert "saas-sso" not in then  # launched in 2026
    assert sample.graph().nodes["saas-suite"]["version_id"] == "saas-suite@2"
    edge = next(iter(sample.graph().get_edge_data("secure-branch", "managed-firewall").values()))
    assert (edge["relation"], edge["min"], edge["max"]) == ("contains", 1, 2)


def test_an_amount_with_more_digits_than_pricing_carries_is_refused_at_its_location() -> None:
    """Given a price of 40 significant digits, when the catalog is published, then it is
    refused where the amount is written (pricing carries 50 digits exactly; amounts and
    rates keep to 28 so their products fit)."""
    doc = {
        "id": "c",
        "version": "1",
        "currency": "USD",
        "specifications": [{"id": "s", "name": "S"}],
        "offerings": [
            {
                "id": "a",
                "name": "A",
                "specification": "s",
                "family": "f",
                "prices": [{"id": "a-m", "kind": "recurring", "amount": "1." + "3" * 39}],
            }
        ],
    }
    with pytest.raises(CatalogInvalid) as info:
        publish(doc)
    [problem] = info.value.problems
    assert problem.location == "offerings[0].prices[0].amount"
    assert "40 significant digits" in problem.message


def test_the_fingerprint_is_the_canonical_json_of_the_content_whatever_its_size() -> None:
    """The fingerprint is hashed in pieces (long lists item by item); it must equal the
    canonical fingerprint of the whole dump, for small catalogs and for ones whose
    offerings and price book entries are long enough to be streamed."""
    import sys

    from cpqsim import canonical

    sys.path.insert(0, str(REPO / "benchmarks"))
    try:
        import bench_catalog_publish
    finally:
        sys.path.pop(0)
    for catalog in (load_catalog(SAMPLE), publish(bench_catalog_publish.generate(300)).catalog):
        assert catalog.fingerprint == canonical.fingerprint(catalog.model_dump(mode="json"))


def test_a_published_catalog_pickles_and_copies_without_its_pricing_view() -> None:
    """Ray actors receive catalogs pickled. The pricing view reaches back to its own
    catalog, so it is left behind and each copy builds its own when it prices."""
    import copy
    import pickle

    published = publish(tiny()).catalog
    assert "pricing_view" in published.__dict__  # built at publication
    for again in (
        pickle.loads(pickle.dumps(published)),
        copy.copy(published),
        copy.deepcopy(published),
        published.model_copy(),
    ):
        assert again == published
        assert "pricing_view" not in again.__dict__
        assert again.pricing_view is not published.pricing_view
        assert again.pricing_view.plan  # usable
