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

A *change* item (modify, upgrade, downgrade, suspend, resume, disconnect, renew an
installed asset) is not provisioned again: it gets only the delta tasks its action calls
for (:data:`CHANGE_STEPS`, data), each with the operation that undoes it. A disconnect
takes the asset's add-ons and bundle components with it (``OrderItem.children``). An
``add`` under an existing parent asset is an ordinary new item: the parent is live.
"""

from __future__ import annotations

import weakref
from collections.abc import Iterable
from typing import Any, ClassVar, Literal, NamedTuple

import networkx as nx
from pydantic import BaseModel, ConfigDict, model_serializer

from cpqsim.asset import Asset, AssetRole
from cpqsim.catalog import Catalog, stable_id
from cpqsim.change import CHILDREN_FIRST, TAKES_CHILDREN, AssetDelta, delta, standing
from cpqsim.configuration import LineAction, QuoteLine
from cpqsim.lifecycle import DomainError
from cpqsim.omit_defaults import OmitsDefaults

BILLING_SYSTEM = "billing"
BILLING_OPERATION = "start_billing"
BILLING_COMPENSATION = "stop_billing"  # void the subscription or credit the account
PROVISIONING_SYSTEM = "provisioning"
INVENTORY_SYSTEM = "inventory"


def compensation_of(spec: TaskSpec) -> str | None:
    """The operation that undoes ``spec``: a started billing is undone by stopping it;
    every other task names its own undo (a change's billing step included)."""
    if spec.kind == "billing" and spec.compensation is None:
        return BILLING_COMPENSATION
    return spec.compensation


class AssetRef(BaseModel):
    """An installed asset an order item takes along (a disconnected parent's children)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    asset_id: str
    offering: str  # the version it runs
    role: AssetRole


class OrderItem(OmitsDefaults):
    """One commercial item of an order, as the accepted quote line stated it.

    A change item also names the asset it acts on and the version it was quoted against;
    ``delta`` is what the change moves on the asset (old and new, worked out when the
    order was created, against the asset as the installed base held it), and
    ``children`` the assets a disconnect takes along. All four are left out of the JSON
    of new-sale items, which read exactly as before changes existed.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    item_id: str
    line_index: int
    offering: str
    quantity: int
    options: list[str] = []
    add_ons: list[str] = []
    characteristics: dict[str, str] = {}
    contents: list[QuoteLine] = []  # nested bundle contents, fulfilled as part of the item
    action: LineAction = "add"
    asset_id: str | None = None  # the asset acted on (for ``add``: the parent, if any)
    asset_version: int | None = None
    delta: AssetDelta | None = None
    children: list[AssetRef] = []

    omit_when_default: ClassVar[frozenset[str]] = frozenset(
        {"action", "asset_id", "asset_version", "delta", "children"}
    )

    @property
    def is_change(self) -> bool:
        """Does the item change an installed asset (rather than make a new one)?"""
        return self.action != "add"

    def as_line(self) -> QuoteLine:
        """The quote line the item was made from (what change checks judge)."""
        return QuoteLine(
            offering=self.offering,
            quantity=self.quantity,
            options=list(self.options),
            add_ons=list(self.add_ons),
            characteristics=dict(self.characteristics),
            contents=list(self.contents),
            action=self.action,
            asset_id=self.asset_id,
            asset_version=self.asset_version,
        )


Cutoff = Literal["on_dispatch", "on_completion"]
# Fields a task spec leaves out of its JSON when unset, so facts about orders whose
# catalog states no compensation or cutoff read exactly as they did before these existed.
_OPTIONAL = ("compensation", "cutoff", "compensates", "child")


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
    child: int | None = None  # the task acts on the item's ``children[child]`` asset

    @model_serializer(mode="wrap")
    def _without_unset_options(self, handler):
        data = handler(self)
        for name in _OPTIONAL:
            if data.get(name) is None:
                data.pop(name, None)
        return data


class DecompositionError(DomainError):
    code = "decomposition_failed"


def order_items(
    order_id: str, lines: list[QuoteLine], assets: Iterable[Asset] = ()
) -> list[OrderItem]:
    """The order's items, one per quote line.

    ``assets`` are the installed assets the lines act on and their descendants, as the
    installed base held them when the order was admitted: a change item records its
    delta against them, a disconnect the children it takes along.
    """
    known = {a.asset_id: a for a in assets}
    kids: dict[str, list[Asset]] = {}
    for asset in known.values():
        if asset.parent_id is not None:
            kids.setdefault(asset.parent_id, []).append(asset)
    items = []
    for i, line in enumerate(lines):
        change: dict[str, Any] = {}
        if line.changes_asset:
            change = {
                "action": line.action,
                "asset_id": line.asset_id,
                "asset_version": line.asset_version,
            }
            asset = known.get(line.asset_id or "")
            if asset is not None and line.action in ("modify", "upgrade", "downgrade"):
                change["delta"] = delta(asset, line)
            taken = TAKES_CHILDREN.get(line.action)
            if asset is not None and taken is not None:
                children = [
                    AssetRef(asset_id=c.asset_id, offering=c.offering, role=c.role)
                    for c in _descendants(asset.asset_id, kids)
                    if standing(c) in taken
                ]
                if children:
                    change["children"] = children
        items.append(
            OrderItem(
                item_id=f"{order_id}-item{i + 1}",
                line_index=i,
                offering=line.offering,
                quantity=line.quantity,
                options=list(line.options),
                add_ons=list(line.add_ons),
                characteristics=dict(line.characteristics),
                contents=list(line.contents),
                **change,
            )
        )
    return items


def _descendants(asset_id: str, kids: dict[str, list[Asset]]) -> list[Asset]:
    """Children in the order their ids were given (``a.1``, ``a.2``, ``a.2.1``...)."""
    out: list[Asset] = []
    for child in kids.get(asset_id, ()):
        out.append(child)
        out += _descendants(child.asset_id, kids)
    return out


# ------------------------------------------------------------------ change items


class ChangeStep(NamedTuple):
    """One delta task of a change action: where it runs, what undoes it, and when it is
    past cancelling (see :data:`CHANGE_CUTOFF`)."""

    system: str
    operation: str
    compensation: str | None
    kind: Literal["fulfillment", "billing"]
    cutoff: Cutoff | None = None


#: Once the downstream has changed the customer's service, the change is live and the
#: asset records it: it is no longer cancelled but reversed by another change order
#: (the customer orders the opposite change). Billing steps follow and can be undone.
CHANGE_CUTOFF: Cutoff = "on_completion"


P, B = PROVISIONING_SYSTEM, BILLING_SYSTEM
C = CHANGE_CUTOFF
_PLAN_MOVE = ChangeStep(P, "change_plan", "change_plan", "fulfillment", C)  # back to the old plan
_BILL_MODIFY = ChangeStep(B, "modify_subscription", "modify_subscription", "billing")
#: The delta tasks of each change action on the asset itself, in dependency order
#: (billing last, after the fulfilment work, as for a new item). A modify never
#: re-provisions: it changes the service in place, and bills only when the quantity
#: or the accepted monthly charge moves (:data:`MODIFY_BILLING`). Undoing a change
#: applies the opposite change.
CHANGE_STEPS: dict[str, tuple[ChangeStep, ...]] = {
    "modify": (ChangeStep(P, "modify", "modify", "fulfillment", C),),
    "upgrade": (_PLAN_MOVE, _BILL_MODIFY),
    "downgrade": (_PLAN_MOVE, _BILL_MODIFY),
    "suspend": (
        ChangeStep(P, "suspend", "resume", "fulfillment", C),
        ChangeStep(B, "suspend_subscription", "resume_subscription", "billing"),
    ),
    "resume": (
        ChangeStep(P, "resume", "suspend", "fulfillment", C),
        ChangeStep(B, "resume_subscription", "suspend_subscription", "billing"),
    ),
    "disconnect": (
        ChangeStep(P, "deactivate", "activate", "fulfillment", C),
        ChangeStep(B, BILLING_COMPENSATION, BILLING_OPERATION, "billing"),
    ),
    "renew": (ChangeStep(B, "renew_subscription", "renew_subscription", "billing"),),
}
#: A modify that moves the quantity changes the subscription too, and so does one whose
#: accepted change price moved the monthly charge (a priced characteristic: the order
#: records it in the item's delta, ``AssetDelta.recurring_monthly``).
MODIFY_BILLING = _BILL_MODIFY
#: A disconnect gives back what the offering reserved in inventory.
RELEASE = ChangeStep(INVENTORY_SYSTEM, "release", "reserve", "fulfillment", C)


def _reserves(catalog: Catalog, element: str) -> bool:
    return any(
        s.system == INVENTORY_SYSTEM and s.operation == "reserve"
        for s in catalog.offering(element).decomposition
    )


def _provisioned(catalog: Catalog, element: str) -> bool:
    return any(s.system == PROVISIONING_SYSTEM for s in catalog.offering(element).decomposition)


def _bills_modify(item: OrderItem) -> bool:
    change = item.delta
    return change is not None and (
        change.quantity is not None or change.recurring_monthly is not None
    )


def _change_tasks(catalog: Catalog, item: OrderItem) -> list[TaskSpec]:
    """The delta tasks of a change item (billing included), named after the item."""
    steps = list(CHANGE_STEPS[item.action])
    if item.action == "modify" and _bills_modify(item):
        steps.append(MODIFY_BILLING)
    sid = stable_id(item.offering)
    work = [s for s in steps if s.kind == "fulfillment"]
    bills = [s for s in steps if s.kind == "billing"]

    def task(
        step: ChangeStep, where: str, element: str, deps: list[str], child: int | None = None
    ) -> TaskSpec:
        return TaskSpec(
            task_id=f"{item.item_id}/{where}/{step.operation}",
            item_id=item.item_id,
            element=element,
            system=step.system,
            operation=step.operation,
            depends_on=sorted(deps),
            kind=step.kind,
            compensation=step.compensation,
            cutoff=step.cutoff,
            child=child,
        )

    along = item.action in TAKES_CHILDREN
    first = item.action in CHILDREN_FIRST

    def child_work(after: list[str]) -> list[TaskSpec]:
        """The children's own work: each stops (or restarts) its service, and a
        disconnected child gives back its own inventory."""
        out: list[TaskSpec] = []
        for k, child in enumerate(item.children):
            where = f"{sid}/child{k + 1}/{stable_id(child.offering)}"
            off = None
            if _provisioned(catalog, child.offering):
                off = task(work[0], where, child.offering, after, k)
                out.append(off)
            if item.action == "disconnect" and _reserves(catalog, child.offering):
                out.append(task(RELEASE, where, child.offering, [off.task_id] if off else [], k))
        return out

    tasks: list[TaskSpec] = []
    # Stopping, the children go first (an add-on is never live on a stopped parent);
    # resuming, the parent goes first.
    before_main = child_work([]) if along and first else []
    tasks += before_main
    main_work: list[TaskSpec] = []
    for step in work:
        if along and not _provisioned(catalog, item.offering):
            continue  # a bundle runs nothing itself: its components are its service
        deps = [main_work[-1].task_id] if main_work else [t.task_id for t in before_main]
        main_work.append(task(step, sid, item.offering, deps))
    if item.action == "disconnect" and _reserves(catalog, item.offering):
        deps = [main_work[-1].task_id] if main_work else [t.task_id for t in before_main]
        main_work.append(task(RELEASE, sid, item.offering, deps))
    tasks += main_work
    if along and not first:
        tasks += child_work([main_work[-1].task_id] if main_work else [])
    fulfilment = [t.task_id for t in tasks]
    for step in bills:
        tasks.append(task(step, "billing", item.offering, fulfilment))
        if along:
            for k, child in enumerate(item.children):
                where = f"billing/child{k + 1}"
                tasks.append(task(step, where, child.offering, fulfilment, k))
    return tasks


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
    shape = (
        line.offering,
        tuple(line.options),
        tuple(line.add_ons),
        tuple(_shape(c) for c in line.contents),
    )
    if isinstance(line, OrderItem) and line.is_change:
        # A change's tasks depend on its action, what a disconnect takes along, and
        # whether a modify bills: never on which asset (that is the payload's business).
        children = tuple(c.offering for c in line.children)
        return (*shape, line.action, children, _bills_modify(line))
    return shape


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
    new_items = [item for item in items if not item.is_change]
    for item in new_items:
        tasks, sinks = _line_tasks(catalog, item.item_id, item, stable_id(item.offering))
        per_item[item.item_id] = tasks
        main_sinks[item.item_id] = sinks

    # Only new items wait for one another: a change acts on something already live.
    offering_items: dict[str, list[str]] = {}
    for item in new_items:
        offering_items.setdefault(stable_id(item.offering), []).append(item.item_id)
    for item in new_items:
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
        if item.is_change:
            for task in _change_tasks(catalog, item):
                graph.add_node(task.task_id, spec=task)
            continue
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
