"""Commercial order items -> a DAG of technical fulfillment tasks.

Each catalog element (offering, selected option, add-on) contributes its decomposition
steps. Dependencies come from three places: the steps' own ``depends_on``; add-on work
waits for its parent offering's work; and an item whose offering *requires* another
item's offering waits for that item (a firewall is activated on a live line). One
``start_billing`` task per item closes the item and depends on all of its fulfillment
work, so billing can only start after activation.

The DAG depends only on the *shape* of an order (each item's offering, options,
add-ons and bundle contents) and the catalog, never on the order: it is worked out once
per shape as a template (built, checked for unknown dependencies and cycles, and put in
its deterministic order once) and instantiated for each order by naming the tasks after
its items. A day of 50,000 orders with a handful of configurations builds a handful of
templates.
"""

from __future__ import annotations

import weakref
from typing import Any, Literal, NamedTuple

import networkx as nx
from pydantic import BaseModel, ConfigDict, model_serializer

from cpqsim.catalog import Catalog, stable_id
from cpqsim.configuration import QuoteLine
from cpqsim.lifecycle import DomainError

BILLING_SYSTEM = "billing"
BILLING_OPERATION = "start_billing"
BILLING_COMPENSATION = "stop_billing"  # void the subscription or credit the account


def compensation_of(spec: TaskSpec) -> str | None:
    """The operation that undoes ``spec`` (billing is always undone by stopping it)."""
    if spec.kind == "billing":
        return BILLING_COMPENSATION
    return spec.compensation


class OrderItem(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    item_id: str
    line_index: int
    offering: str
    quantity: int
    options: list[str] = []
    add_ons: list[str] = []
    characteristics: dict[str, str] = {}
    contents: list[QuoteLine] = []  # nested bundle contents, fulfilled as part of the item


Cutoff = Literal["on_dispatch", "on_completion"]
# Fields a task spec leaves out of its JSON when unset, so facts about orders whose
# catalog states no compensation or cutoff read exactly as they did before these existed.
_OPTIONAL = ("compensation", "cutoff", "compensates")


class TaskSpec(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    task_id: str
    item_id: str
    element: str
    system: str
    operation: str
    depends_on: list[str]
    kind: str = "fulfillment"  # or "billing", or "compensation"
    compensation: str | None = None  # the operation that undoes it (same system)
    cutoff: Cutoff | None = None  # its point of no return for a cancellation
    compensates: str | None = None  # for a compensation task: the task it undoes

    @model_serializer(mode="wrap")
    def _without_unset_options(self, handler):
        data = handler(self)
        for name in _OPTIONAL:
            if data.get(name) is None:
                data.pop(name, None)
        return data


class DecompositionError(DomainError):
    code = "decomposition_failed"


def order_items(order_id: str, lines: list[QuoteLine]) -> list[OrderItem]:
    return [
        OrderItem(
            item_id=f"{order_id}-item{i + 1}",
            line_index=i,
            offering=line.offering,
            quantity=line.quantity,
            options=list(line.options),
            add_ons=list(line.add_ons),
            characteristics=dict(line.characteristics),
            contents=list(line.contents),
        )
        for i, line in enumerate(lines)
    ]


def _element_tasks(catalog: Catalog, item_id: str, element: str, path: str) -> list[TaskSpec]:
    """Tasks of one catalog element; ids use stable ids (readable), specs the version."""
    steps = catalog.offering(element).decomposition
    prefix = f"{item_id}/{path}"
    return [
        TaskSpec(
            task_id=f"{prefix}/{step.task}",
            item_id=item_id,
            element=element,
            system=step.system,
            operation=step.operation,
            depends_on=sorted(f"{prefix}/{d}" for d in step.depends_on),
            compensation=step.compensation,
            cutoff=step.cutoff,
        )
        for step in steps
    ]


def _sinks(tasks: list[TaskSpec]) -> list[str]:
    depended = {d for t in tasks for d in t.depends_on}
    return sorted(t.task_id for t in tasks if t.task_id not in depended)


def _with_extra_deps(tasks: list[TaskSpec], extra: list[str]) -> list[TaskSpec]:
    """Make the roots of ``tasks`` also wait for ``extra``."""
    if not extra:
        return tasks
    return [
        t.model_copy(update={"depends_on": sorted(set(t.depends_on) | set(extra))})
        if not t.depends_on
        else t
        for t in tasks
    ]


def _line_tasks(
    catalog: Catalog, item_id: str, line: QuoteLine | OrderItem, path: str
) -> tuple[list[TaskSpec], list[str]]:
    """Tasks of a configured line (offering, options, add-ons, nested contents).

    Returns the tasks and the sinks of the line's own offering, which add-ons wait for.
    """
    main = _element_tasks(catalog, item_id, line.offering, path)
    tasks = list(main)
    sinks = _sinks(main)
    for option in line.options:
        tasks += _element_tasks(catalog, item_id, option, f"{path}/{stable_id(option)}")
    for add_on in line.add_ons:
        own = _element_tasks(catalog, item_id, add_on, f"{path}/{stable_id(add_on)}")
        tasks += _with_extra_deps(own, sinks)
    for i, content in enumerate(line.contents):
        inner, _ = _line_tasks(
            catalog, item_id, content, f"{path}/contains{i}/{stable_id(content.offering)}"
        )
        tasks += inner
    return tasks, sinks


# ----------------------------------------------------------------------- templates

#: Shapes remembered per catalog (oldest forgotten first beyond this).
MAX_TEMPLATES = 4096
_PLAN = "cpqsim.plan"  # the deterministic order, kept in the graph's networkx cache


class _Template(NamedTuple):
    """One shape's tasks in plan order, named relative to the items' common prefix."""

    specs: list[tuple[dict[str, Any], set[str]]]  # a TaskSpec's values and fields set
    edges: list[tuple[int, int]]  # (dependency, dependant) as positions in ``specs``


_TEMPLATES: dict[int, dict[tuple, _Template]] = {}  # id(catalog) -> shape -> template


def decompose(catalog: Catalog, items: list[OrderItem]) -> nx.DiGraph:
    """The fulfillment DAG: nodes are task ids with a ``spec`` attribute.

    Instantiated from the template of the items' shape (see the module docstring); the
    graph remembers its plan order until it is changed (:func:`plan_tasks`).
    """
    if not items:
        return _build(catalog, items)
    prefix = _common_prefix([item.item_id for item in items])
    template = _template(catalog, items, prefix)
    specs = []
    for values, fields_set in template.specs:
        spec = _new(TaskSpec)
        _set_dict(
            spec,
            {
                **values,
                "task_id": prefix + values["task_id"],
                "item_id": prefix + values["item_id"],
                "depends_on": [prefix + d for d in values["depends_on"]],
            },
        )
        _set_fields(spec, set(fields_set))
        _set_extra(spec, None)
        _set_private(spec, None)
        specs.append(spec)
    graph = nx.DiGraph()
    graph.add_nodes_from((spec.task_id, {"spec": spec}) for spec in specs)
    graph.add_edges_from((specs[a].task_id, specs[b].task_id) for a, b in template.edges)
    graph.__networkx_cache__[_PLAN] = [spec.task_id for spec in specs]
    return graph


def _common_prefix(texts: list[str]) -> str:
    """The longest string every text starts with (character by character: ``ord-1-item``
    for ``ord-1-item1`` and ``ord-1-item2``)."""
    first, last = min(texts), max(texts)
    n = 0
    while n < len(first) and first[n] == last[n]:
        n += 1
    return first[:n]


def _shape(line: QuoteLine | OrderItem) -> tuple:
    return (
        line.offering,
        tuple(line.options),
        tuple(line.add_ons),
        tuple(_shape(c) for c in line.contents),
    )


def _template(catalog: Catalog, items: list[OrderItem], prefix: str) -> _Template:
    key = tuple((item.item_id[len(prefix) :], _shape(item)) for item in items)
    templates = _TEMPLATES.get(id(catalog))
    if templates is None:
        templates = _TEMPLATES[id(catalog)] = {}
        weakref.finalize(catalog, _TEMPLATES.pop, id(catalog), None)
    found = templates.get(key)
    if found is None:
        relative = [
            item.model_copy(update={"item_id": item.item_id[len(prefix) :]}) for item in items
        ]
        try:
            graph = _build(catalog, relative)
        except DecompositionError:
            _build(catalog, items)  # the same problem, named with the order's own task ids
            raise
        specs = [graph.nodes[n]["spec"] for n in nx.lexicographical_topological_sort(graph)]
        position = {spec.task_id: i for i, spec in enumerate(specs)}
        found = _Template(
            specs=[(dict(spec.__dict__), set(spec.model_fields_set)) for spec in specs],
            edges=sorted(
                (position[dep], position[spec.task_id]) for spec in specs for dep in spec.depends_on
            ),
        )
        if len(templates) >= MAX_TEMPLATES:
            del templates[next(iter(templates))]
        templates[key] = found
    return found


_new = object.__new__
_set_dict = BaseModel.__dict__["__dict__"].__set__
_set_fields = BaseModel.__dict__["__pydantic_fields_set__"].__set__
_set_extra = BaseModel.__dict__["__pydantic_extra__"].__set__
_set_private = BaseModel.__dict__["__pydantic_private__"].__set__


def _build(catalog: Catalog, items: list[OrderItem]) -> nx.DiGraph:
    """The fulfillment DAG of ``items``, worked out from the catalog and checked."""
    per_item: dict[str, list[TaskSpec]] = {}
    main_sinks: dict[str, list[str]] = {}
    for item in items:
        tasks, sinks = _line_tasks(catalog, item.item_id, item, stable_id(item.offering))
        per_item[item.item_id] = tasks
        main_sinks[item.item_id] = sinks

    offering_items: dict[str, list[str]] = {}
    for item in items:
        offering_items.setdefault(stable_id(item.offering), []).append(item.item_id)
    for item in items:
        required = [
            stable_id(r.target)
            for r in catalog.offering(item.offering).relations
            if r.kind in ("requires", "dependsOnAsset")
        ]
        waits = sorted(
            sink
            for target in required
            for other in offering_items.get(target, [])
            if other != item.item_id
            for sink in main_sinks[other]
        )
        per_item[item.item_id] = _with_extra_deps(per_item[item.item_id], waits)

    graph = nx.DiGraph()
    for item in items:
        tasks = per_item[item.item_id]
        billing = TaskSpec(
            task_id=f"{item.item_id}/billing/{BILLING_OPERATION}",
            item_id=item.item_id,
            element=item.offering,
            system=BILLING_SYSTEM,
            operation=BILLING_OPERATION,
            depends_on=sorted(t.task_id for t in tasks),
            kind="billing",
        )
        for task in [*tasks, billing]:
            graph.add_node(task.task_id, spec=task)
    for node, data in list(graph.nodes(data=True)):
        for dep in data["spec"].depends_on:
            if dep not in graph:
                raise DecompositionError(f"task {node} depends on unknown task {dep}")
            graph.add_edge(dep, node)
    if not nx.is_directed_acyclic_graph(graph):
        cycle = " -> ".join(u for u, _ in nx.find_cycle(graph))
        raise DecompositionError(f"fulfillment plan has a cycle: {cycle}")
    return graph


def plan_tasks(graph: nx.DiGraph) -> list[TaskSpec]:
    """Tasks in a deterministic topological order (lexicographic among peers).

    A graph from :func:`decompose` carries that order from its template; networkx clears
    it on any change to the graph, and the order is then worked out again.
    """
    cache = getattr(graph, "__networkx_cache__", None) or {}
    order = cache.get(_PLAN)
    if order is None:
        order = nx.lexicographical_topological_sort(graph)
    return [graph.nodes[n]["spec"] for n in order]
