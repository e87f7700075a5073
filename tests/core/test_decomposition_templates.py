"""Decomposition templates: worked out once per order shape, the same DAG for every order."""

from __future__ import annotations

import networkx as nx
import pytest

from cpqsim.configuration import QuoteLine, resolve_line_versions
from cpqsim.decomposition import (
    _TEMPLATES,
    DecompositionError,
    _build,
    decompose,
    order_items,
    plan_tasks,
)

FIREWALL = QuoteLine(offering="managed-firewall", options=["mf-tier-basic"])
INTERNET = QuoteLine(offering="business-internet", options=["bi-access-fiber", "bi-sla-standard"])
BUNDLE = QuoteLine(offering="secure-branch", contents=[INTERNET, FIREWALL])


def worked_out_directly(catalog, items):
    """The DAG as it is worked out from the catalog without a template, in its order."""
    graph = _build(catalog, items)
    return [graph.nodes[n]["spec"] for n in nx.lexicographical_topological_sort(graph)], graph


@pytest.mark.parametrize(
    "lines",
    [[INTERNET], [INTERNET, FIREWALL], [BUNDLE], [FIREWALL, INTERNET, BUNDLE] + [INTERNET] * 9],
    ids=["one item", "requires across items", "bundle", "twelve items"],
)
def test_every_order_of_a_shape_gets_the_dag_worked_out_for_it(sample_catalog, lines):
    lines = resolve_line_versions(sample_catalog, lines, None)
    for order_id in ("ord-000001", "ord-000002", "O9"):
        items = order_items(order_id, lines)
        expected, expected_graph = worked_out_directly(sample_catalog, items)

        graph = decompose(sample_catalog, items)

        assert plan_tasks(graph) == expected
        assert [s.model_fields_set for s in plan_tasks(graph)] == [
            s.model_fields_set for s in expected
        ]
        assert set(graph.edges) == set(expected_graph.edges)
        assert all(t.task_id.startswith(f"{order_id}-item") for t in plan_tasks(graph))


def test_a_shape_is_worked_out_once_whatever_the_order(sample_catalog):
    lines = resolve_line_versions(sample_catalog, [INTERNET, FIREWALL], None)
    decompose(sample_catalog, order_items("first", lines))
    templates = dict(_TEMPLATES[id(sample_catalog)])

    for n in range(50):
        decompose(sample_catalog, order_items(f"ord-{n:06d}", lines))

    assert _TEMPLATES[id(sample_catalog)] == templates


def test_a_changed_graph_is_planned_from_what_it_now_holds(sample_catalog):
    graph = decompose(sample_catalog, order_items("O1", [INTERNET]))
    first, last = plan_tasks(graph)[0], plan_tasks(graph)[-1]

    graph.remove_node(last.task_id)

    assert last not in plan_tasks(graph)
    assert plan_tasks(graph)[0] == first


def test_a_broken_plan_is_reported_with_the_orders_own_task_ids(sample_catalog):
    broken = sample_catalog.model_copy(deep=True)
    offering = broken.offering("business-internet")
    step = offering.decomposition[0].model_copy(update={"depends_on": ["no-such-task"]})
    object.__setattr__(offering, "decomposition", [step, *offering.decomposition[1:]])

    with pytest.raises(DecompositionError, match="ord-77-item1/business-internet/"):
        decompose(broken, order_items("ord-77", [INTERNET]))
