"""How the installed base follows the orders: locks before, facts after.

Before an order that changes assets is created, :func:`lock_for_order` judges its change
items against the assets as they are now and, when every one may go ahead, locks each
asset it acts on (a disconnect locks the children it takes along too), so no other
order can race on them; an item adding an add-on under an installed asset *holds* that
parent (a shared hold: see :class:`cpqsim.asset.AssetHeldAsParent`), so it is not
disconnected, suspended, upgraded or downgraded under the add-on in flight. A refused
lock means the order is rejected with the reasons, and nothing is locked or held.

While the order runs, :func:`react` turns its facts into asset facts:

* an item activated -> the asset is created, with its add-ons and bundle components as
  child assets (``<asset>.1``, ``<asset>.2``... in the line's add-on order, then bundle
  contents), each with its own subscription ``sub-<asset id>`` and its recurring charge
  per unit from the accepted price;
* a change item fulfilled -> the change is applied: the next version, and the fields
  :func:`cpqsim.change.delta` says moved (a disconnect takes the children along);
* the order rejected, cancelled or failed, or an item abandoned -> every lock it still
  holds is given back, the assets unchanged; and an asset it had created for an item
  it then gave up (its work is being compensated) is taken back: locked and disconnected
  by that same order, so the base never shows a service nobody runs;
* the order settled (completed, partially completed, cancelled, failed, rejected) or an
  item abandoned -> the parents it held for its add-ons are given back;
* the order settled after undoing a change that had gone live (an abandoned item, an
  order cancelled or rolled back: its compensations are done by then) -> the change is
  reverted, the asset back as it was before it, as the downstream systems are.

Pure: the caller holds the one :class:`InstalledBase`, applies the facts, and logs them.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import Any

from cpqsim.asset import (
    CHANGED_FIELDS,
    Asset,
    AssetChangeApplied,
    AssetChangeLocked,
    AssetChangeReleased,
    AssetChangeReverted,
    AssetCreated,
    AssetEvent,
    AssetHeldAsParent,
    AssetParentHoldReleased,
    AssetRole,
    AssetStatus,
    InstalledBase,
    evolve,
)
from cpqsim.catalog import Catalog
from cpqsim.change import (
    HOLD_REFUSES,
    TAKES_CHILDREN,
    ChangeRefusal,
    check_change_lines,
    delta,
    held_as_parent,
    standing,
)
from cpqsim.configuration import QuoteLine
from cpqsim.decomposition import OrderItem
from cpqsim.events import CloudEvent
from cpqsim.order import (
    ORDER_EVENTS,
    AssetActivated,
    ItemAbandoned,
    ItemChangeFulfilled,
    Order,
    OrderCancelled,
    OrderCompleted,
    OrderEvent,
    OrderFailed,
    OrderPartiallyCompleted,
    OrderRejected,
)
from cpqsim.order_terms import MAIN, ElementTerms, ItemTerms, add_months

__all__ = [
    "REACTS_TO",
    "assets_acted_on",
    "lock_for_order",
    "react",
    "reacts_to",
    "subscription_of",
]

#: The order facts (CloudEvent types) the installed base reacts to; a runtime may pass
#: only these to :func:`react` (and, of :data:`SETTLED_WITH_ASSETS`, only those of orders
#: naming an asset: see :func:`reacts_to`).
REACTS_TO = frozenset(
    cls.cloudevent_type()
    for cls in (
        AssetActivated,
        ItemChangeFulfilled,
        ItemAbandoned,
        OrderCancelled,
        OrderFailed,
        OrderRejected,
        OrderCompleted,
        OrderPartiallyCompleted,
    )
)
#: Settlements that concern the installed base only when the order names an asset (gives
#: back a parent it held, reverts a change it undid): a new sale's completion is not fed.
SETTLED_WITH_ASSETS = frozenset(
    cls.cloudevent_type() for cls in (OrderCompleted, OrderPartiallyCompleted)
)


def reacts_to(order: Order, event_type: str) -> bool:
    """May the order fact of type ``event_type`` call for asset facts?

    Why ask with the order: every order completes, and only one that changes an asset or
    adds under one has anything to give back then; the hot path of new sales (and a live
    executor's feed to the inventory) should not carry every completion. Depends only on
    the order's items, which never change, so a feed numbered by it is numbered the same
    when replayed."""
    if event_type not in REACTS_TO:
        return False
    if event_type in SETTLED_WITH_ASSETS:
        return any(item.asset_id is not None for item in order.items)
    return True


def subscription_of(asset_id: str) -> str:
    """The billing subscription an asset is billed on (each child on its own)."""
    return f"sub-{asset_id}"


# ----------------------------------------------------------------------------- locks


def _descendants(base: InstalledBase, asset_id: str) -> list[Asset]:
    out: list[Asset] = []
    for child in base.children(asset_id):
        out.append(child)
        out += _descendants(base, child.asset_id)
    return out


def assets_acted_on(base: InstalledBase, items: Sequence[OrderItem | QuoteLine]) -> list[Asset]:
    """The assets the change items name, and their descendants, as the base has them now.

    The order is created with these (see ``CreateOrder.assets``): its items record their
    delta and what a disconnect takes along against the state they were admitted on.
    """
    out: dict[str, Asset] = {}
    for item in items:
        if item.action == "add" or item.asset_id is None:
            continue
        asset = base.get(item.asset_id)
        if asset is None:
            continue
        for a in (asset, *_descendants(base, asset.asset_id)):
            out.setdefault(a.asset_id, a)
    return list(out.values())


def lock_for_order(
    base: InstalledBase,
    catalog: Catalog,
    order_id: str,
    account_id: str,
    items: Sequence[OrderItem],
    business_date: date | None,
) -> tuple[list[AssetEvent], list[ChangeRefusal]]:
    """The locks (and parent holds) the order takes, or every reason it may not (then:
    none at all).

    Idempotent: asked again for an order that holds its locks already (a replayed
    creation), it finds nothing to refuse and nothing new to lock.
    """
    changes = [i for i in items if i.is_change]
    adds_under = [i for i in items if not i.is_change and i.asset_id is not None]
    if not changes and not adds_under:
        return [], []
    held = {a.asset_id for a in assets_acted_on(base, changes) if a.locked_by == order_id}
    lines = [i.as_line() for i in items]
    refusals = [
        r
        for r in check_change_lines(catalog, base, account_id, lines, business_date)
        if not (r.code == "asset_pending_change" and r.asset_id in held)
    ]
    if refusals:
        return [], refusals
    locks: list[AssetChangeLocked] = []
    for item in changes:
        asset = base.get(item.asset_id or "")
        assert asset is not None  # the check found it
        taken = [asset]
        along = TAKES_CHILDREN.get(item.action)
        if along is not None:
            taken += [
                c
                for c in _descendants(base, asset.asset_id)
                if standing(c) in along or c.status is AssetStatus.PENDING_CHANGE
            ]
        for a in taken:
            if a.locked_by == order_id:
                continue  # locked already by this very order
            if a is not asset and a.held_by and item.action in HOLD_REFUSES:
                refusals.append(
                    ChangeRefusal(
                        path=f"lines[{item.line_index}]",
                        code="asset_held_as_parent",
                        message=f"taken along by the {item.action} of {asset.asset_id}: "
                        + held_as_parent(a, item.action),
                        asset_id=a.asset_id,
                    )
                )
                continue
            if a.status is AssetStatus.PENDING_CHANGE:
                refusals.append(
                    ChangeRefusal(
                        path=f"lines[{item.line_index}]",
                        code="asset_pending_change",
                        message=f"asset {a.asset_id}, taken along by the {item.action} of "
                        f"{asset.asset_id}, has a change in flight (order {a.locked_by})",
                        asset_id=a.asset_id,
                    )
                )
                continue
            locks.append(
                AssetChangeLocked(
                    asset_id=a.asset_id,
                    order_id=order_id,
                    item_id=item.item_id,
                    action=item.action,  # type: ignore[arg-type]  # a change action
                    asset_version=a.version,
                )
            )
    if refusals:
        return [], refusals
    out: list[AssetEvent] = list(locks)
    held_now: set[str] = set()
    for item in adds_under:
        parent = base.get(item.asset_id or "")
        assert parent is not None  # the check found it active
        if order_id in parent.held_by or parent.asset_id in held_now:
            continue  # held already by this order (a replayed creation, a second add-on)
        held_now.add(parent.asset_id)
        out.append(
            AssetHeldAsParent(asset_id=parent.asset_id, order_id=order_id, item_id=item.item_id)
        )
    return out, []


_GONE = AssetStatus.DISCONNECTED


# ------------------------------------------------------------------------- reactions


def react(
    base: InstalledBase, order: Order, event: OrderEvent | CloudEvent, catalog: Catalog
) -> list[AssetEvent]:
    """The asset facts one order fact calls for (none for most facts).

    ``order`` is the order as it stands after ``event`` (or later: only its items and
    terms are read). ``event`` may be the fact or its CloudEvent.
    """
    fact = _fact(event)
    if fact is None:
        return []
    if isinstance(fact, AssetActivated):
        return _created(base, order, fact, catalog)
    if isinstance(fact, ItemChangeFulfilled):
        return _applied(base, order, fact)
    if isinstance(fact, ItemAbandoned):
        items = {fact.item_id}
        return [
            *_released(base, order, fact.reason, items),
            *_taken_back(base, order, items),
            *_unheld(base, order, f"item abandoned: {fact.reason}", items),
        ]
    if isinstance(fact, (OrderCancelled, OrderFailed)):
        return [
            *_released(base, order, fact.reason, None),
            *_reverted(base, order, None),
            *_taken_back(base, order, None),
            *_unheld(base, order, fact.reason, None),
        ]
    if isinstance(fact, OrderRejected):
        reason = "; ".join(r.get("message", "") for r in fact.reasons) or "rejected"
        reason = f"order rejected: {reason}"
        return [*_released(base, order, reason, None), *_unheld(base, order, reason, None)]
    if isinstance(fact, OrderPartiallyCompleted):
        return [
            *_reverted(base, order, set(fact.abandoned_items)),
            *_unheld(base, order, "order partially completed", None),
        ]
    if isinstance(fact, OrderCompleted):
        return _unheld(base, order, "order completed", None)
    return []


def _fact(event: OrderEvent | CloudEvent) -> OrderEvent | None:
    if isinstance(event, CloudEvent):
        if event.type not in REACTS_TO:
            return None
        return ORDER_EVENTS[event.type].model_validate(event.data)
    return event


def _item(order: Order, item_id: str) -> OrderItem:
    return next(i for i in order.items if i.item_id == item_id)


def _version(catalog: Catalog, offering: str) -> str:
    """The version id an element runs (``saas-suite@2``), as the catalog resolves it."""
    try:
        return catalog.offering(offering).version_id
    except KeyError:
        return offering


def _created(
    base: InstalledBase, order: Order, fact: AssetActivated, catalog: Catalog
) -> list[AssetEvent]:
    if fact.asset_id in base:
        return []  # told twice (a replayed feed): the asset exists already
    item = _item(order, fact.item_id)
    terms = order.terms.get(item.item_id, ItemTerms())
    under = item.asset_id if item.action == "add" else None
    parent = base.get(under) if under else None
    out: list[AssetEvent] = []

    def make(
        asset_id: str,
        offering: str,
        role: AssetRole,
        parent_id: str | None,
        quantity: int,
        options: list[str],
        characteristics: dict[str, str],
        key: str,
    ) -> None:
        element = terms.elements.get(key, ElementTerms())
        out.append(
            AssetCreated(
                asset_id=asset_id,
                account_id=order.account_id,
                offering=_version(catalog, offering),
                role=role,
                parent_id=parent_id,
                site=characteristics.get("site"),
                quantity=quantity,
                options=[_version(catalog, o) for o in options],
                characteristics=dict(characteristics),
                order_id=order.order_id,
                item_id=item.item_id,
                subscription_id=subscription_of(asset_id),
                recurring_monthly=element.recurring_monthly,
                currency=terms.currency,
                term_start=terms.start_date,
                term_end=terms.term_end,
            )
        )

    def tree(line: Any, asset_id: str, key: str, quantity: int) -> None:
        n = 0
        for add_on in line.add_ons:
            n += 1
            child_key = f"{key}.{n}" if key else str(n)
            make(f"{asset_id}.{n}", add_on, "add_on", asset_id, quantity, [], {}, child_key)
        for content in line.contents:
            n += 1
            child_key = f"{key}.{n}" if key else str(n)
            child_id = f"{asset_id}.{n}"
            units = content.quantity * quantity
            make(
                child_id,
                content.offering,
                "component",
                asset_id,
                units,
                list(content.options),
                dict(content.characteristics),
                child_key,
            )
            tree(content, child_id, child_key, units)

    make(
        fact.asset_id,
        item.offering,
        "add_on" if parent is not None else "main",
        parent.asset_id if parent is not None else None,
        item.quantity,
        list(item.options),
        dict(item.characteristics),
        MAIN,
    )
    tree(item, fact.asset_id, MAIN, item.quantity)
    return out


def _applied(base: InstalledBase, order: Order, fact: ItemChangeFulfilled) -> list[AssetEvent]:
    item = _item(order, fact.item_id)
    asset = base.get(fact.asset_id)
    if asset is None or asset.locked_by != order.order_id:
        return []  # told twice, or never locked by this order: nothing to apply
    terms = order.terms.get(item.item_id, ItemTerms())
    action = item.action
    changes: dict[str, Any] = {}
    if action in ("modify", "upgrade", "downgrade"):
        moved = delta(asset, item.as_line())
        if moved.offering is not None:
            changes["offering"] = moved.offering[1]
        if moved.quantity is not None:
            changes["quantity"] = moved.quantity[1]
        if moved.options_added or moved.options_removed:
            changes["options"] = list(item.options)
        if moved.characteristics:
            changes["characteristics"] = {**asset.characteristics, **item.characteristics}
        recurring = terms.main.recurring_monthly
        if recurring is not None and recurring != asset.recurring_monthly:
            changes["recurring_monthly"] = recurring
    elif action == "renew":
        changes["term_end"] = _renewed_until(asset, terms)
    out: list[AssetEvent] = [
        AssetChangeApplied(
            asset_id=asset.asset_id,
            order_id=order.order_id,
            item_id=item.item_id,
            action=action,  # type: ignore[arg-type]  # a change action
            asset_version=asset.version + 1,
            **changes,
        )
    ]
    if action in TAKES_CHILDREN:
        for child in _descendants(base, asset.asset_id):
            if child.locked_by == order.order_id:
                out.append(
                    AssetChangeApplied(
                        asset_id=child.asset_id,
                        order_id=order.order_id,
                        item_id=item.item_id,
                        action=action,  # type: ignore[arg-type]  # a change action
                        asset_version=child.version + 1,
                    )
                )
    return out


def _renewed_until(asset: Asset, terms: ItemTerms) -> Any:
    """The new term end: what the accepted terms say, else one more term of the same
    length from the old end (a 12-month contract renews for 12 months)."""
    if terms.term_end is not None and (asset.term_end is None or terms.term_end > asset.term_end):
        return terms.term_end
    if asset.term_end is None:
        return None
    if asset.term_start is not None:
        months = (asset.term_end.year - asset.term_start.year) * 12 + (
            asset.term_end.month - asset.term_start.month
        )
        if months > 0:
            return add_months(asset.term_end, months)
    return add_months(asset.term_end, 12)


def _taken_back(base: InstalledBase, order: Order, items: set[str] | None) -> list[AssetEvent]:
    """Assets the order created for items it then gave up (their work is compensated):
    the order takes them back, so the base never shows a service nobody runs."""
    out: list[AssetEvent] = []
    for item_id, asset_id in order.assets.items():
        if items is not None and item_id not in items:
            continue
        asset = base.get(asset_id)
        if asset is None or asset.order_id != order.order_id:
            continue
        for a in (asset, *_descendants(base, asset_id)):
            if a.order_id != order.order_id or not a.changeable:
                continue
            who = {"asset_id": a.asset_id, "order_id": order.order_id, "item_id": item_id}
            out.append(AssetChangeLocked(**who, action="disconnect", asset_version=a.version))
            out.append(AssetChangeApplied(**who, action="disconnect", asset_version=a.version + 1))
    return out


def _released(
    base: InstalledBase, order: Order, reason: str, items: set[str] | None
) -> list[AssetEvent]:
    out: list[AssetEvent] = []
    seen: set[str] = set()
    for item in order.items:
        if not item.is_change or item.asset_id is None:
            continue
        if items is not None and item.item_id not in items:
            continue
        asset = base.get(item.asset_id)
        if asset is None:
            continue
        for a in (asset, *_descendants(base, asset.asset_id)):
            if a.locked_by == order.order_id and a.asset_id not in seen:
                seen.add(a.asset_id)
                out.append(
                    AssetChangeReleased(asset_id=a.asset_id, order_id=order.order_id, reason=reason)
                )
    return out


def _unheld(
    base: InstalledBase, order: Order, reason: str, items: set[str] | None
) -> list[AssetEvent]:
    """The parents the order held for add-ons it adds (of ``items``), given back."""
    out: list[AssetEvent] = []
    for item in order.items:
        if item.is_change or item.asset_id is None:
            continue
        if items is not None and item.item_id not in items:
            continue
        parent = base.get(item.asset_id)
        if parent is None or order.order_id not in parent.held_by:
            continue
        if any(f.asset_id == parent.asset_id for f in out):
            continue  # two add-ons under one parent: one hold, given back once
        out.append(
            AssetParentHoldReleased(
                asset_id=parent.asset_id, order_id=order.order_id, reason=reason
            )
        )
    return out


def _reverted(base: InstalledBase, order: Order, items: set[str] | None) -> list[AssetEvent]:
    """The changes of ``items`` that went live and were undone downstream since, each
    asset back as it was before (the children a disconnect or suspension took along
    too). Asked when the order settles: its compensations are done by then."""
    out: list[AssetEvent] = []
    for item in order.items:
        asset_id = order.changed.get(item.item_id)
        if asset_id is None or (items is not None and item.item_id not in items):
            continue
        asset = base.get(asset_id)
        if asset is None:
            continue
        for a in (asset, *_descendants(base, asset_id)):
            fact = _reversion(base, order.order_id, item.item_id, a.asset_id)
            if fact is not None:
                out.append(fact)
    return out


def _reversion(
    base: InstalledBase, order_id: str, item_id: str, asset_id: str
) -> AssetChangeReverted | None:
    """The fact putting ``asset_id`` back as it was before the change (order, item)
    applied to it; None when that change never applied, was reverted already, or the
    asset has moved on since (another order changed or locked it meanwhile: then it is
    left as it is).

    Known limit: the lock is given back when a change goes live, before its billing
    step; an order that changes the asset again in that window wins, and a later undo
    of the first change no longer reverts it (the asset then shows the second change,
    provisioning the first one's undo). Holding the lock until the order settles would
    close the window at the cost of refusing follow-up changes while billing is slow.
    A field the change set where there was none before (a migrated asset's first
    charge) is not cleared by the reversion."""
    history = base.history(asset_id)
    at = None
    for i in range(len(history) - 1, -1, -1):
        e = history[i]
        if isinstance(e, AssetChangeReverted) and (e.order_id, e.item_id) == (order_id, item_id):
            return None  # reverted already (told twice)
        if isinstance(e, AssetChangeApplied) and (e.order_id, e.item_id) == (order_id, item_id):
            at = i
            break
    if at is None:
        return None
    applied = history[at]
    assert isinstance(applied, AssetChangeApplied)
    now = base.get(asset_id)
    if now is None or now.version != applied.asset_version or now.locked_by is not None:
        return None
    before: Asset | None = None
    for e in history[:at]:
        before = evolve(before, e)
    assert before is not None
    old = {
        name: getattr(before, name)
        for name in CHANGED_FIELDS
        if getattr(applied, name) is not None and getattr(before, name) is not None
    }
    return AssetChangeReverted(
        asset_id=asset_id,
        order_id=order_id,
        item_id=item_id,
        action=applied.action,
        asset_version=now.version + 1,
        status=standing(before),
        **old,
    )
