"""The installed base's invariants written over the whole log at once: a reference for
:mod:`cpqsim.invariants_assets`, which judges as the log streams.

It folds the asset facts with the installed base's own read model
(:class:`cpqsim.asset.InstalledBase`, the facts validated) and the orders' final statuses
from the whole log, then judges; the checker keeps one compact record per asset and
forgets finished orders. For any legal log both must find the same violations, in the
same order, with the same words.
"""

from __future__ import annotations

from collections import defaultdict

from cpqsim.asset import (
    Asset,
    AssetChangeApplied,
    AssetChangeLocked,
    AssetChangeReleased,
    AssetChangeReverted,
    AssetCreated,
    AssetHeldAsParent,
    AssetParentHoldReleased,
    AssetStatus,
    InstalledBase,
)
from cpqsim.billing import Subscription, SubscriptionStatus, fold_subscriptions
from cpqsim.catalog import stable_id
from cpqsim.events import CloudEvent
from cpqsim.order import (
    ORDER_LIFECYCLE,
    TERMINAL_ORDER_STATUSES,
    OrderStatus,
    status_trigger,
)

FACTS = {
    "asset.created": AssetCreated,
    "asset.change_locked": AssetChangeLocked,
    "asset.change_applied": AssetChangeApplied,
    "asset.change_released": AssetChangeReleased,
    "asset.change_reverted": AssetChangeReverted,
    "asset.held_as_parent": AssetHeldAsParent,
    "asset.parent_hold_released": AssetParentHoldReleased,
}
LANDS = {"activate": "active", "modify": "active", "change_plan": "active", "resume": "active"}
LANDS |= {"suspend": "suspended", "deactivate": "disconnected"}


def _made_before_the_run(events: list[CloudEvent]) -> set[str]:
    """Assets made by no order, or by one the log had not created by then."""
    created: set[str] = set()
    before: set[str] = set()
    for e in events:
        if e.name == "order.created":
            created.add(e.data["order_id"])
        elif e.name == "asset.created" and e.data.get("order_id") not in created:
            before.add(e.data["asset_id"])
    return before


def _migrated(events: list[CloudEvent]) -> list[Subscription]:
    """Subscriptions of assets made before the run, as the changes made before the run
    left them: billing had them before its ledger began."""
    before = _made_before_the_run(events)
    run_orders = {e.data["order_id"] for e in events if e.name == "order.created"}
    opening = InstalledBase(
        f
        for f in _asset_facts(events)
        if f.asset_id in before and (isinstance(f, AssetCreated) or f.order_id not in run_orders)
    )
    billed_as = {"active": "active", "suspended": "suspended", "disconnected": "stopped"}
    return [
        Subscription(
            subscription_id=a.subscription_id,
            asset_id=a.asset_id,
            status=SubscriptionStatus(billed_as.get(a.status.value, "active")),
            quantity=a.quantity,
        )
        for a in sorted(opening, key=lambda a: a.asset_id)
        if a.subscription_id is not None
    ]


def _asset_facts(events: list[CloudEvent]):
    return [FACTS[e.name].model_validate(e.data) for e in events if e.name in FACTS]


def _in_flight(events: list[CloudEvent]) -> set[str]:
    status: dict[str, OrderStatus] = {}
    cases: dict[str, int] = defaultdict(int)
    cancelling: set[str] = set()
    for e in events:
        if not e.subject.startswith("order/"):
            continue
        oid = e.data["order_id"]
        if e.name == "order.created":
            status[oid] = OrderStatus.ACKNOWLEDGED
            continue
        if e.name == "order.fallout_opened":
            cases[oid] += 1
        elif e.name == "order.fallout_resolved":
            cases[oid] -= 1
        elif e.name == "order.cancellation_accepted":
            cancelling.add(oid)
        trigger = status_trigger(e.name, cases[oid], oid in cancelling)
        if trigger is not None and oid in status and ORDER_LIFECYCLE.allows(status[oid], trigger):
            status[oid] = ORDER_LIFECYCLE.next_state(status[oid], trigger)
    return {o for o, s in status.items() if s not in TERMINAL_ORDER_STATUSES}


def _standing(asset: Asset) -> str:
    if asset.status is AssetStatus.PENDING_CHANGE:
        return (asset.status_before_lock or AssetStatus.ACTIVE).value
    return asset.status.value


def _settled(base: InstalledBase, events: list[CloudEvent]) -> list[Asset]:
    flying = _in_flight(events)
    return [
        a
        for a in sorted(base, key=lambda a: a.asset_id)
        if a.status is not AssetStatus.PENDING_CHANGE
        and a.order_id not in flying
        and a.last_order_id not in flying
    ]


def assets_match_downstream(events, ledgers) -> list[str]:
    ledger = ledgers.get("provisioning")
    if ledger is None:
        return []
    facts = _asset_facts(events)
    base = InstalledBase(facts)
    made = {f.asset_id: f for f in facts if isinstance(f, AssetCreated)}
    paths: dict[tuple[str, str], str] = {}

    def path_of(aid: str) -> str:
        fact = made[aid]
        parent = made.get(fact.parent_id or "")
        if parent is None or (parent.order_id, parent.item_id) != (fact.order_id, fact.item_id):
            return f"{fact.item_id}/{stable_id(fact.offering)}"
        siblings = sorted(
            (
                a
                for a, f in made.items()
                if f.parent_id == parent.asset_id
                and f.role == "component"
                and (f.order_id, f.item_id) == (fact.order_id, fact.item_id)
            ),
            key=lambda a: int(a.rpartition(".")[2]),
        )
        step = stable_id(fact.offering)
        if fact.role == "component":
            step = f"contains{siblings.index(aid)}/{step}"
        return f"{path_of(parent.asset_id)}/{step}"

    before_the_run = _made_before_the_run(events)
    for aid, fact in made.items():
        if aid not in before_the_run and fact.order_id is not None and fact.item_id is not None:
            paths[(fact.order_id, path_of(aid))] = aid
    running: dict[str, tuple[str, str | None]] = {}
    undo: dict[str, list] = defaultdict(list)
    problems = []
    for entry in ledger.side_effects():
        r = entry.request
        if r.compensates is not None:
            if undo[r.compensates]:
                aid, before = undo[r.compensates].pop()
                if before is None:
                    running.pop(aid, None)
                else:
                    running[aid] = before
            continue
        aid = r.payload.get("asset_id")
        if aid:
            if r.operation not in LANDS:
                continue
            if aid not in base:
                problems.append(
                    f"provisioning {r.reference} acts on asset {aid}, which the platform "
                    "does not hold"
                )
                continue
            before = running.get(aid)
            offering = (
                r.payload.get("element") if r.operation in ("change_plan", "activate") else None
            )
            now = (LANDS[r.operation], offering or (before[1] if before else None))
        else:
            aid = paths.get((r.order_id, r.task_id.rpartition("/")[0]))
            if aid is None:
                continue
            before = running.get(aid, ("not running", None))
            now = ("active", r.payload.get("element"))
        undo[r.reference].append((aid, before))
        running[aid] = now
    for asset in _settled(base, events):
        if asset.asset_id not in running:
            continue
        status, offering = running[asset.asset_id]
        held = asset.status.value
        if status != held and not (held == "disconnected" and status == "not running"):
            problems.append(
                f"asset {asset.asset_id} is {held} on the platform but {status} in provisioning"
            )
        elif held != "disconnected" and offering:
            same = (
                asset.offering == offering
                if "@" in offering
                else (stable_id(asset.offering) == offering)
            )
            if not same:
                problems.append(
                    f"asset {asset.asset_id} runs {asset.offering} on the platform but "
                    f"{offering} in provisioning"
                )
    return problems


def add_on_has_active_parent(events, ledgers) -> list[str]:
    base = InstalledBase(_asset_facts(events))
    problems = []
    for asset in sorted(base, key=lambda a: a.asset_id):
        if asset.parent_id is None or _standing(asset) != "active":
            continue
        what = "component" if asset.role == "component" else "add-on"
        parent = base.get(asset.parent_id)
        if parent is None:
            problems.append(
                f"{what} {asset.asset_id} is active under {asset.parent_id}, which the "
                "platform does not hold"
            )
        elif _standing(parent) != "active":
            problems.append(
                f"{what} {asset.asset_id} is active under {asset.parent_id}, which is "
                f"{_standing(parent)}"
            )
    return problems


def one_active_asset_per_subscription(events, ledgers) -> list[str]:
    base = InstalledBase()
    problems = []
    for fact in _asset_facts(events):
        if isinstance(fact, AssetCreated) and fact.subscription_id is not None:
            holders = [
                a.asset_id
                for a in base.for_subscription(fact.subscription_id)
                if a.status is not AssetStatus.DISCONNECTED
            ]
            if holders:
                problems.append(
                    f"asset {fact.asset_id} bills on {fact.subscription_id}, which asset "
                    f"{holders[0]} is in service on"
                )
        base.apply(fact)
    billing = ledgers.get("billing")
    if billing is not None:
        problems += [
            p.message
            for p in fold_subscriptions(billing, _migrated(events)).problems
            if p.kind == "started twice"
        ]
    return problems


def billing_matches_installed_base(events, ledgers) -> list[str]:
    base = InstalledBase(_asset_facts(events))
    billing = ledgers.get("billing")
    book = fold_subscriptions(billing.entries if billing is not None else [], _migrated(events))
    problems = [
        p.message for p in book.problems if p.kind not in ("started twice", "started again")
    ]
    named = set()
    for asset in _settled(base, events):
        sid = asset.subscription_id
        if sid is None:
            continue
        named.add(sid)
        sub = book.get(sid)
        billed = sub is not None and sub.status is not SubscriptionStatus.STOPPED
        aid, held = asset.asset_id, asset.status.value
        if held == "disconnected":
            if billed:
                problems.append(
                    f"asset {aid} is disconnected but billing still has {sid} {sub.status.value}"
                )
            continue
        if not billed:
            found = "no subscription" if sub is None else f"{sid} stopped"
            problems.append(f"asset {aid} is {held} but billing has {found}")
            continue
        if sub.status.value != held:
            problems.append(f"asset {aid} is {held} but billing has {sid} {sub.status.value}")
        if sub.quantity is not None and sub.quantity != asset.quantity:
            problems.append(
                f"asset {aid} has quantity {asset.quantity} but billing charges "
                f"{sub.quantity} on {sid}"
            )
    flying = _in_flight(events)
    held_by_any = {a.subscription_id for a in base}
    if billing is not None:
        held_by_any |= {
            e.request.payload["subscription_id"]
            for e in billing.entries
            if "subscription_id" in e.request.payload and e.request.order_id in flying
        }
    for sub in book.in_force():
        if sub.subscription_id not in named and sub.subscription_id not in held_by_any:
            problems.append(
                f"billing charges subscription {sub.subscription_id}, which no asset of the "
                "platform names"
            )
    return problems


def change_acted_on_quoted_version(events, ledgers) -> list[str]:
    quoted: dict[tuple[str, str], tuple[str, int]] = {}
    for e in events:
        if e.name != "order.created":
            continue
        lines = (e.data.get("snapshot") or {}).get("lines") or []
        for item in e.data.get("items", ()):
            i = item.get("line_index", -1)
            line = lines[i] if 0 <= i < len(lines) else item
            if line.get("action", "add") != "add" and line.get("asset_version") is not None:
                quoted[(e.data["order_id"], item["item_id"])] = (
                    line.get("asset_id"),
                    line["asset_version"],
                )
    version: dict[str, int] = {}
    locks: dict[str, tuple[str, int]] = {}
    problems: list[tuple[int, str]] = []  # (position of the fact that settles it, text)
    created_at: dict[str, int] = {
        e.data["order_id"]: n for n, e in enumerate(events) if e.name == "order.created"
    }
    for n, e in enumerate(events):
        d = e.data
        if e.name == "asset.created":
            if d["asset_id"] in version:
                problems.append((n, f"asset {d['asset_id']} created twice"))
            else:
                version[d["asset_id"]] = 1
        elif e.name == "asset.change_locked":
            aid, oid, v = d["asset_id"], d["order_id"], d["asset_version"]
            current = version.get(aid)
            if current is None:
                problems.append((n, f"order {oid} locked asset {aid}, which does not exist"))
            elif v != current:
                problems.append(
                    (
                        n,
                        f"order {oid} locked asset {aid} at version {v} while version "
                        f"{current} was current",
                    )
                )
            if aid in locks and locks[aid][0] != oid:
                problems.append(
                    (n, f"order {oid} locked asset {aid}, which order {locks[aid][0]} holds")
                )
            locks[aid] = (oid, v)
            q = quoted.get((oid, d["item_id"]))
            if q is not None and q[0] == aid and q[1] != v:
                when = max(n, created_at.get(oid, n))
                problems.append(
                    (
                        when,
                        f"order {oid} {d['item_id']} locked asset {aid} at version {v}; "
                        f"it was quoted against version {q[1]}",
                    )
                )
        elif e.name == "asset.change_applied":
            aid, oid, new = d["asset_id"], d["order_id"], d["asset_version"]
            lock = locks.pop(aid, None)
            if lock is None:
                problems.append((n, f"order {oid} changed asset {aid} without a lock"))
            elif lock[0] != oid:
                problems.append(
                    (n, f"order {oid} changed asset {aid}, which order {lock[0]} holds")
                )
            elif new != lock[1] + 1:
                problems.append(
                    (n, f"order {oid} moved asset {aid} from version {lock[1]} to {new}")
                )
            version[aid] = new
        elif e.name == "asset.change_released":
            locks.pop(d["asset_id"], None)
        elif e.name == "asset.change_reverted":
            version[d["asset_id"]] = d["asset_version"]
    return [text for _, text in sorted(problems, key=lambda p: p[0])]


ASSET_CHECKS = [
    ("assets_match_downstream", assets_match_downstream),
    ("add_on_has_active_parent", add_on_has_active_parent),
    ("one_active_asset_per_subscription", one_active_asset_per_subscription),
    ("billing_matches_installed_base", billing_matches_installed_base),
    ("change_acted_on_quoted_version", change_acted_on_quoted_version),
]
