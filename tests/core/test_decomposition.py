"""Decomposition specifications: commercial items become a DAG of technical tasks."""

from __future__ import annotations

import networkx as nx

from cpqsim.configuration import QuoteLine, check_configuration, resolve_line_versions
from cpqsim.decomposition import decompose, order_items, plan_tasks

FIREWALL = QuoteLine(offering="managed-firewall", options=["mf-tier-basic"])
INTERNET = QuoteLine(offering="business-internet", options=["bi-access-fiber", "bi-sla-standard"])


def test_a_bundle_is_fulfilled_through_its_contents(sample_catalog):
    bundle = QuoteLine(offering="secure-branch", contents=[INTERNET, FIREWALL])
    assert check_configuration(sample_catalog, [bundle]) == []
    graph = decompose(sample_catalog, order_items("O1", [bundle]))
    systems = sorted({graph.nodes[n]["spec"].system for n in graph})
    assert systems == ["billing", "inventory", "provisioning", "shipping"]
    contained = [n for n in graph if "/contains" in n]
    assert any("business-internet/activate-line" in n for n in contained)
    assert any("managed-firewall/activate-firewall" in n for n in contained)
    assert nx.is_directed_acyclic_graph(graph)


def test_pinned_versions_still_wire_requirements_between_items(sample_catalog):
    lines = resolve_line_versions(sample_catalog, [INTERNET, FIREWALL], None)
    assert all("@" in line.offering for line in lines)
    tasks = {t.task_id: t for t in plan_tasks(decompose(sample_catalog, order_items("O1", lines)))}
    firewall_reserve = tasks["O1-item2/managed-firewall/reserve-appliance"]
    assert "O1-item1/business-internet/activate-line" in firewall_reserve.depends_on


def test_billing_closes_each_item_after_all_of_its_work(sample_catalog):
    tasks = plan_tasks(decompose(sample_catalog, order_items("O1", [INTERNET])))
    billing = [t for t in tasks if t.kind == "billing"]
    assert len(billing) == 1 and tasks[-1] == billing[0]
    fulfilment = {t.task_id for t in tasks if t.kind == "fulfillment"}
    assert set(billing[0].depends_on) == fulfilment
