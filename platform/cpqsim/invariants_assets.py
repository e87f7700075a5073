"""Invariants of the installed base: the platform's assets against what the downstream
systems really run and bill, and change orders against the asset versions they were
quoted on.

Each is an incremental :class:`~cpqsim.invariant_checker.Checker` (registered by
:mod:`cpqsim.invariants` from :data:`ASSET_CHECKS`). The asset facts
(``asset.created``, ``asset.change_locked``, ``asset.change_applied``,
``asset.change_released``) and the orders still in flight are folded once per run, one
compact record per asset rather than the facts, into the :class:`RunInstalledBase` the
first four read (the judge builds it and shows it each fact once); each judges the
ledgers once at the end:

* ``assets_match_downstream`` folds provisioning's side effects per asset (a new
  asset's activation found through its order and item and the task ids
  ``<item_id>/...`` decomposition gives its element; a change through the ``asset_id``
  its payload carries; a compensation puts back what the request it names did) and
  compares status and offering version with the platform's;
* ``billing_matches_installed_base`` compares billing's subscriptions
  (:mod:`cpqsim.billing`, folded from its ledger once, by the shared fold, for it and
  ``one_active_asset_per_subscription``) with the assets that name them;
* ``add_on_has_active_parent`` and ``one_active_asset_per_subscription`` judge the
  structure of the installed base itself;
* ``change_acted_on_quoted_version`` follows each asset's version through its locks and
  applied changes.

Work still in flight is not a violation: an asset held by a pending change, or made or
last changed by an order that is not terminal (held in fallout included), is judged once
its order settles. A log without asset facts (a run from before the installed base)
passes trivially: no asset, nothing to compare.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache

from cpqsim.billing import SubscriptionBook, SubscriptionStatus
from cpqsim.catalog import stable_id
from cpqsim.downstream import LedgerSnapshot
from cpqsim.events import CloudEvent
from cpqsim.invariant_checker import Checker, Fold, Violation
from cpqsim.order import (
    _FIXED_TRIGGERS,  # the facts that move an order's status, as the order folds them
    ORDER_LIFECYCLE,
    TERMINAL_ORDER_STATUSES,
    OrderStatus,
    status_trigger,
)

__all__ = ["ASSET_CHECKS", "ASSET_FACTS", "PlatformAssets", "RunInstalledBase"]

ASSET_FACTS = (
    "asset.created",
    "asset.change_locked",
    "asset.change_applied",
    "asset.change_released",
    "asset.change_reverted",  # a live change its own order undid: back as before
)
#: Every fact that moves an order's status (what "still in flight" is judged from).
ORDER_STATUS_FACTS = ("order.created", "order.fallout_resolved", *_FIXED_TRIGGERS)

ACTIVE, SUSPENDED, PENDING, DISCONNECTED = "active", "suspended", "pending_change", "disconnected"
#: Where an applied change leaves the asset (every other action leaves it active).
_APPLIED_LANDS = {"suspend": SUSPENDED, "disconnect": DISCONNECTED}

PROVISIONING, BILLING = "provisioning", "billing"
#: What provisioning runs after a change operation on an asset (its payload names it).
PROVISIONING_LANDS = {
    "activate": ACTIVE,
    "modify": ACTIVE,
    "change_plan": ACTIVE,
    "resume": ACTIVE,
    "suspend": SUSPENDED,
    "deactivate": DISCONNECTED,
}
NOT_RUNNING = "not running"  # provisioning activated it, and the activation was undone


# ------------------------------------------------------------ the platform's view


@dataclass(slots=True)
class HeldAsset:
    """What the platform holds about one asset, read straight from its facts' data."""

    status: str
    version: int
    offering: str
    quantity: int
    role: str
    parent_id: str | None
    subscription_id: str | None
    order_id: str | None
    item_id: str | None
    last_order_id: str | None = None
    status_before_lock: str | None = None
    #: Made before the run (by no order, or by one this run never created): provisioning
    #: ran it and billing billed it before the ledgers began, as it stood when the run
    #: began (``opening``: its status and quantity after the changes made before the run).
    migrated: bool = False
    opening: tuple[str, int] = (ACTIVE, 1)

    @property
    def standing(self) -> str:
        """Its status, or for a pending change the status it had when locked."""
        if self.status == PENDING:
            return self.status_before_lock or ACTIVE
        return self.status

    def orders(self) -> Iterator[str]:
        """The orders that made or last changed it."""
        for order in (self.order_id, self.last_order_id):
            if order is not None:
                yield order


class PlatformAssets:
    """The installed base as the checker follows it: one :class:`HeldAsset` per asset.

    Why not :class:`cpqsim.asset.InstalledBase`: that model validates every fact into a
    pydantic object and refuses illegal moves; the checker must read a broken log to the
    end and report what is wrong, so it folds the facts' plain data leniently (a lock of
    a locked asset keeps the status it had before the first lock).
    """

    def __init__(self) -> None:
        self.assets: dict[str, HeldAsset] = {}

    def observe(self, event: CloudEvent, migrated: bool = False) -> None:
        """Fold one asset fact; ``migrated``: made before the run (an ``asset.created``),
        or applied before it (a change to an asset made before the run)."""
        data = event.data
        held = self.assets.get(data["asset_id"])
        name = fact_name(event)
        if name == "asset.created":
            if held is None:
                self.assets[data["asset_id"]] = HeldAsset(
                    status=ACTIVE,
                    version=1,
                    offering=data["offering"],
                    quantity=data.get("quantity", 1),
                    role=data.get("role", "main"),
                    parent_id=data.get("parent_id"),
                    subscription_id=data.get("subscription_id"),
                    order_id=data.get("order_id"),
                    item_id=data.get("item_id"),
                    migrated=migrated,
                    opening=(ACTIVE, data.get("quantity", 1)),
                )
            return
        if held is None:
            return
        if name == "asset.change_locked":
            if held.status != PENDING:
                held.status_before_lock = held.status
            held.status = PENDING
        elif name == "asset.change_released":
            held.status = held.standing
            held.status_before_lock = None
        elif name == "asset.change_applied":
            action = data["action"]
            lands = _APPLIED_LANDS.get(action, ACTIVE)
            if action == "renew" and held.standing == SUSPENDED:
                lands = SUSPENDED  # a renewal keeps a suspended asset suspended
            held.status = lands
            held.status_before_lock = None
            held.version = data["asset_version"]
            held.last_order_id = data["order_id"]
            if data.get("offering") is not None:
                held.offering = data["offering"]
            if data.get("quantity") is not None:
                held.quantity = data["quantity"]
            if migrated and held.migrated:
                held.opening = (held.status, held.quantity)
        elif name == "asset.change_reverted":
            held.status = data["status"]
            held.version = data["asset_version"]
            held.last_order_id = data["order_id"]
            if data.get("offering") is not None:
                held.offering = data["offering"]
            if data.get("quantity") is not None:
                held.quantity = data["quantity"]


_NAMES: dict[str, str] = {}  # cloudevent type -> fact name, worked out once per type


def fact_name(event: CloudEvent) -> str:
    """The fact's name (``order.created``), without parsing its type again each time."""
    name = _NAMES.get(event.type)
    if name is None:
        name = _NAMES[event.type] = event.name
    return name


@cache
def _order_move(status: OrderStatus, trigger: str) -> OrderStatus | None:
    """Where the order lifecycle takes ``status`` on ``trigger`` (None: it does not)."""
    if not ORDER_LIFECYCLE.allows(status, trigger):
        return None
    return ORDER_LIFECYCLE.next_state(status, trigger)


class OrdersInFlight:
    """Which orders are not terminal yet (held in fallout included), from the same
    lifecycle table the orders fold through; an order that can no longer move is
    forgotten."""

    DEAD_ENDS = frozenset({OrderStatus.COMPLETED, OrderStatus.REJECTED})

    def __init__(self) -> None:
        self.status: dict[str, OrderStatus] = {}
        self.open_cases: dict[str, int] = {}
        self.cancelling: set[str] = set()
        # Every order this run created, finished or not: in the live runtime an asset
        # fact may be logged after its order completed (the inventory reacts a moment
        # later), and it is still the run's own asset, not one made before the run.
        self.created: set[str] = set()

    def observe(self, event: CloudEvent) -> None:
        self.observe_fact(fact_name(event), event.data["order_id"])

    def observe_fact(self, name: str, oid: str) -> None:
        if name == "order.created":
            self.status[oid] = OrderStatus.ACKNOWLEDGED
            self.created.add(oid)
            return
        if name == "order.fallout_opened":
            self.open_cases[oid] = self.open_cases.get(oid, 0) + 1
        elif name == "order.fallout_resolved":
            self.open_cases[oid] = self.open_cases.get(oid, 0) - 1
        elif name == "order.cancellation_accepted":
            self.cancelling.add(oid)
        current = self.status.get(oid)
        if current is None:
            return
        trigger = status_trigger(name, self.open_cases.get(oid, 0), oid in self.cancelling)
        if trigger is None:
            return
        new = _order_move(current, trigger)
        if new is None:
            return
        if new in self.DEAD_ENDS:
            del self.status[oid]
            self.open_cases.pop(oid, None)
            self.cancelling.discard(oid)
        else:
            self.status[oid] = new

    def known(self, order_id: str) -> bool:
        """Was the order created in this run?"""
        return order_id in self.created

    def in_flight(self, order_id: str) -> bool:
        status = self.status.get(order_id)
        return status is not None and status not in TERMINAL_ORDER_STATUSES


class RunInstalledBase(Fold):
    """The installed base and the orders in flight, as the run has shown them so far:
    the one view four invariants judge, folded once per run (see :class:`Fold`).

    Why shared: each of those invariants used to fold the same facts into a view of its
    own, the same work four times over on the path of every run's verdict. An asset fact
    made by no order, or by one this run has not created (yet), is folded as made before
    the run (``migrated``), which is why the order facts go through the same fold. What
    only the end of the run can show (the settled assets, billing's book) is worked out
    once when first asked for, and again only if another fact has been folded since.
    """

    watches = ASSET_FACTS + ORDER_STATUS_FACTS

    def __init__(self) -> None:
        self.platform = PlatformAssets()
        self.orders = OrdersInFlight()
        self.folded = 0  # facts folded so far: the end-of-run answers are kept against it
        self._settled: tuple[int, list[tuple[str, HeldAsset]]] | None = None
        self._billing: tuple[int, LedgerSnapshot | None, SubscriptionBook] | None = None

    def observe(self, event: CloudEvent) -> None:
        self.folded += 1
        name = fact_name(event)
        if name.startswith("asset."):
            made_by = event.data.get("order_id")
            migrated = made_by is None or not self.orders.known(made_by)
            self.platform.observe(event, migrated)
        else:
            self.orders.observe_fact(name, event.data["order_id"])

    def settled(self) -> list[tuple[str, HeldAsset]]:
        """Assets no change is pending on, made and last changed by settled orders, by id."""
        if self._settled is None or self._settled[0] != self.folded:
            in_flight = self.orders.in_flight
            settled = [
                (asset_id, held)
                for asset_id, held in sorted(self.platform.assets.items())
                if held.status != PENDING and not any(in_flight(o) for o in held.orders())
            ]
            self._settled = (self.folded, settled)
        return self._settled[1]

    def billing(self, ledgers: dict[str, LedgerSnapshot]) -> SubscriptionBook:
        """Billing's subscriptions at the end of the run (:func:`_billing`), built once
        for the invariants that compare with them (they read it, never change it)."""
        ledger = ledgers.get(BILLING)
        kept = self._billing
        if kept is None or kept[0] != self.folded or kept[1] is not ledger:
            kept = self._billing = (self.folded, ledger, _billing(ledgers, self.platform.assets))
        return kept[2]


class _ReadsInstalledBase(Checker):
    """A checker that reads the run's one :class:`RunInstalledBase` (the judge folds it,
    once for every checker reading it); it watches only what its own judgement needs."""

    reads = {"base": RunInstalledBase}

    def __init__(self, base: RunInstalledBase) -> None:
        super().__init__()
        self.base = base
        self.platform = base.platform
        self.orders = base.orders

    def settled(self) -> list[tuple[str, HeldAsset]]:
        """Assets no change is pending on, made and last changed by settled orders."""
        return self.base.settled()


# ----------------------------------------------------------------- provisioning


def _same_offering(held: str, running: str) -> bool:
    """A task names its element as the line did: a version id, or a stable id only."""
    return held == running if "@" in running else stable_id(held) == running


class AssetsMatchDownstream(_ReadsInstalledBase):
    """Provisioning's ground truth per asset, folded from its ledger at the end."""

    def conclude(self, ledgers):
        ledger = ledgers.get(PROVISIONING)
        if ledger is None:
            return []
        running, strangers = self._running(ledger)
        problems: list[str | Violation] = [
            Violation(
                f"provisioning {ref} acts on asset {aid}, which the platform does not hold",
                "asset unknown to the platform",
                PROVISIONING,
            )
            for ref, aid in strangers
        ]
        for aid, held in self.settled():
            found = running.get(aid)
            if found is None:
                continue  # provisioning never ran it (an offering it does not provision)
            status, offering = found
            expected = held.status
            if status != expected and not (expected == DISCONNECTED and status == NOT_RUNNING):
                problems.append(
                    Violation(
                        f"asset {aid} is {expected} on the platform but {status} in provisioning",
                        f"{expected} on the platform, {status} in provisioning",
                        PROVISIONING,
                    )
                )
            elif (
                expected != DISCONNECTED
                and offering
                and not _same_offering(held.offering, offering)
            ):
                problems.append(
                    Violation(
                        f"asset {aid} runs {held.offering} on the platform but {offering} "
                        "in provisioning",
                        "offering differs from provisioning",
                        PROVISIONING,
                    )
                )
        return problems

    def _paths(self) -> dict[tuple[str, str], str]:
        """(order, task path) -> asset, for assets an order made.

        Decomposition names a new item's tasks ``<item>/<offering>/<task>``, an add-on's
        ``<parent's path>/<add-on>/<task>`` and a bundle content's
        ``<parent's path>/contains<i>/<content>/<task>``; children ids are
        ``<parent>.<n>``, n counting the add-ons first, then the contents.
        """
        assets = self.platform.assets
        children: dict[str, list[str]] = {}
        for aid, held in assets.items():
            if held.parent_id is not None:
                children.setdefault(held.parent_id, []).append(aid)
        paths: dict[tuple[str, str], str] = {}

        def place(aid: str, held: HeldAsset, path: str) -> None:
            assert held.order_id is not None
            paths[(held.order_id, path)] = aid
            kin = [
                k
                for k in children.get(aid, ())
                if (assets[k].order_id, assets[k].item_id) == (held.order_id, held.item_id)
            ]
            kin.sort(key=_child_number)
            contents = 0
            for k in kin:
                child = assets[k]
                if child.role == "component":
                    step = f"contains{contents}/{stable_id(child.offering)}"
                    contents += 1
                else:
                    step = stable_id(child.offering)
                place(k, child, f"{path}/{step}")

        for aid, held in assets.items():
            if held.migrated or held.order_id is None or held.item_id is None:
                continue  # migrated in: provisioning ran it before the run
            parent = assets.get(held.parent_id) if held.parent_id else None
            if parent is None or (parent.order_id, parent.item_id) != (
                held.order_id,
                held.item_id,
            ):
                place(aid, held, f"{held.item_id}/{stable_id(held.offering)}")
        return paths

    def _running(
        self, ledger: LedgerSnapshot
    ) -> tuple[dict[str, tuple[str, str | None]], list[tuple[str, str]]]:
        """Per asset, (status, offering) provisioning runs; and the change requests on
        assets the platform does not hold."""
        paths = self._paths()
        running: dict[str, tuple[str, str | None]] = {}
        done: dict[str, list[tuple[str, tuple[str, str | None] | None]]] = {}
        strangers: list[tuple[str, str]] = []
        for entry in ledger.entries:
            if not entry.side_effect:
                continue
            request = entry.request
            if request.compensates is not None:
                undone = done.get(request.compensates)
                if undone:
                    aid, before = undone.pop()
                    if before is None:
                        running.pop(aid, None)
                    else:
                        running[aid] = before
                continue
            aid = request.payload.get("asset_id")
            before = None
            if aid:
                status = PROVISIONING_LANDS.get(request.operation)
                if status is None:
                    continue
                if aid not in self.platform.assets:
                    strangers.append((request.reference, aid))
                    continue
                offering = (
                    request.payload.get("element")
                    if request.operation in ("change_plan", "activate")
                    else None
                )
                before = running.get(aid)
                if offering is None and before is not None:
                    offering = before[1]
            else:
                where = request.task_id.rpartition("/")[0]
                aid = paths.get((request.order_id, where))
                if aid is None:
                    continue  # an option's work, or nothing the platform made an asset of
                status, offering = ACTIVE, request.payload.get("element")
                before = running.get(aid, (NOT_RUNNING, None))
            done.setdefault(request.reference, []).append((aid, before))
            running[aid] = (status, offering)
        return running, strangers


def _child_number(asset_id: str) -> tuple[int, str]:
    tail = asset_id.rpartition(".")[2]
    return (int(tail), "") if tail.isdigit() else (0, tail)


# ---------------------------------------------------------------------- billing


_BILLED_AS = {
    ACTIVE: SubscriptionStatus.ACTIVE,
    SUSPENDED: SubscriptionStatus.SUSPENDED,
    DISCONNECTED: SubscriptionStatus.STOPPED,
}


def _billing(ledgers: dict[str, LedgerSnapshot], assets: dict[str, HeldAsset]) -> SubscriptionBook:
    """Billing's subscriptions at the end of the run. It opens with those of the assets
    made before the run, as they stood when it began: its ledger cannot show them."""
    book = SubscriptionBook()
    for aid, held in sorted(assets.items()):
        if held.migrated and held.subscription_id is not None:
            status = _BILLED_AS.get(held.opening[0], SubscriptionStatus.ACTIVE)
            book.open(held.subscription_id, aid, status, held.opening[1])
    ledger = ledgers.get(BILLING)
    for entry in ledger.entries if ledger is not None else ():
        book.apply(entry)
    return book


class BillingMatchesInstalledBase(_ReadsInstalledBase):
    """Billing's subscriptions (folded from its ledger) against the assets naming them."""

    def conclude(self, ledgers):
        book = self.base.billing(ledgers)
        problems: list[str | Violation] = [
            Violation(p.message, f"billing: {p.kind}", BILLING)
            for p in book.problems
            # one_active_asset_per_subscription's business, and no_duplicate_side_effects'
            if p.kind not in ("started twice", "started again")
        ]
        named: set[str] = set()
        for aid, held in self.settled():
            sid = held.subscription_id
            if sid is None:
                continue  # not billed on its own (a bundle component priced in its bundle)
            named.add(sid)
            problems += self._compare(aid, held, book)
        # Subscriptions of assets still in flight are judged once those settle.
        held_by_any = {h.subscription_id for h in self.platform.assets.values()}
        in_flight = self._orders_billing_in_flight(ledgers)
        for sid in book.ids_in_force():
            if sid in named or sid in held_by_any or sid in in_flight:
                continue
            problems.append(
                Violation(
                    f"billing charges subscription {sid}, which no asset of the platform names",
                    "billed, no asset",
                    BILLING,
                )
            )
        return problems

    def _orders_billing_in_flight(self, ledgers) -> set[str]:
        """Subscriptions a billing request of an order still in flight names."""
        ledger = ledgers.get(BILLING)
        if ledger is None:
            return set()
        return {
            e.request.payload["subscription_id"]
            for e in ledger.entries
            if "subscription_id" in e.request.payload and self.orders.in_flight(e.request.order_id)
        }

    @staticmethod
    def _compare(aid: str, held: HeldAsset, book: SubscriptionBook) -> list[Violation]:
        sid = held.subscription_id
        assert sid is not None
        standing = book.standing(sid)
        billed = standing is not None and standing[0] is not SubscriptionStatus.STOPPED
        if held.status == DISCONNECTED:
            if billed:
                assert standing is not None
                return [
                    Violation(
                        f"asset {aid} is disconnected but billing still has {sid} "
                        f"{standing[0].value}",
                        "billed after disconnect",
                        BILLING,
                    )
                ]
            return []
        if not billed:
            found = "no subscription" if standing is None else f"{sid} stopped"
            return [
                Violation(
                    f"asset {aid} is {held.status} but billing has {found}",
                    f"{held.status} and unbilled",
                    BILLING,
                )
            ]
        assert standing is not None
        status, quantity = standing
        problems = []
        if status.value != held.status:
            problems.append(
                Violation(
                    f"asset {aid} is {held.status} but billing has {sid} {status.value}",
                    f"{held.status} on the platform, {status.value} in billing",
                    BILLING,
                )
            )
        if quantity is not None and quantity != held.quantity:
            problems.append(
                Violation(
                    f"asset {aid} has quantity {held.quantity} but billing charges "
                    f"{quantity} on {sid}",
                    "quantity differs from billing",
                    BILLING,
                )
            )
        return problems


# -------------------------------------------------------------------- structure


class AddOnHasActiveParent(_ReadsInstalledBase):
    """Judged on the installed base as the run leaves it (a pending change counts as the
    status it was locked in, so a disconnect taking children first is no breach)."""

    def conclude(self, ledgers):
        assets = self.platform.assets
        problems: list[str | Violation] = []
        for aid, held in sorted(assets.items()):
            if held.parent_id is None or held.standing != ACTIVE:
                continue
            what = "component" if held.role == "component" else "add-on"
            parent = assets.get(held.parent_id)
            if parent is None:
                problems.append(
                    Violation(
                        f"{what} {aid} is active under {held.parent_id}, which the platform "
                        "does not hold",
                        f"{what} active under an unknown parent",
                    )
                )
            elif parent.standing != ACTIVE:
                problems.append(
                    Violation(
                        f"{what} {aid} is active under {held.parent_id}, which is "
                        f"{parent.standing}",
                        f"{what} active under a {parent.standing} parent",
                    )
                )
        return problems


class OneActiveAssetPerSubscription(_ReadsInstalledBase):
    """Keeps, per subscription, the assets in service on it (created, not disconnected);
    billing's side is a subscription started while it was in force (the subscriptions of
    assets migrated in count as in force from the start)."""

    watches = ASSET_FACTS  # its own judgement reads the making and disconnecting of assets

    def __init__(self, base: RunInstalledBase) -> None:
        super().__init__(base)
        self.in_service: dict[str, list[str]] = {}
        self.subscription_of: dict[str, str] = {}

    def observe(self, event):
        name = fact_name(event)
        data = event.data
        aid = data.get("asset_id")
        if name == "asset.created":
            sid = data.get("subscription_id")
            if sid is None or aid in self.subscription_of:
                return
            self.subscription_of[aid] = sid
            holders = self.in_service.setdefault(sid, [])
            if holders:
                self.problem(
                    f"asset {aid} bills on {sid}, which asset {holders[0]} is in service on",
                    "two assets on one subscription",
                )
            holders.append(aid)
        elif (
            name == "asset.change_applied"
            and data["action"] == "disconnect"
            and aid in self.subscription_of
        ):
            holders = self.in_service.get(self.subscription_of[aid], [])
            if aid in holders:
                holders.remove(aid)
        elif (
            name == "asset.change_reverted"
            and data["action"] == "disconnect"
            and aid in self.subscription_of
        ):
            holders = self.in_service.setdefault(self.subscription_of[aid], [])
            if aid not in holders:
                holders.append(aid)  # the disconnect was undone: in service again

    def conclude(self, ledgers):
        return [
            Violation(p.message, "subscription started twice", BILLING)
            for p in self.base.billing(ledgers).problems
            if p.kind == "started twice"
        ]


# ---------------------------------------------------------------------- versions


class ChangeActedOnQuotedVersion(Checker):
    """Follows each asset's version (1 when made, each applied change's after it) and its
    lock. The quoted version comes from the order's snapshot line; locks are taken
    before the order is created, so they wait (per order) until it is."""

    watches = (*ASSET_FACTS, "order.created", "order.rejected")
    kind = "version mismatch"

    def __init__(self) -> None:
        super().__init__()
        self.version: dict[str, int] = {}
        self.locked: dict[str, tuple[str, int]] = {}  # asset -> (order, version locked)
        self.early: dict[str, list[tuple[str, str, int]]] = {}  # order -> (item, asset, v)
        self.quoted: dict[tuple[str, str], tuple[str, int]] = {}  # (order, item) -> asset, v

    def observe(self, event):
        name, data = fact_name(event), event.data
        if name == "order.created":
            self._quoted(data)
        elif name == "order.rejected":
            self.early.pop(data["order_id"], None)
        elif name == "asset.created":
            if data["asset_id"] in self.version:
                self.problem(f"asset {data['asset_id']} created twice", "created twice")
            else:
                self.version[data["asset_id"]] = 1
        elif name == "asset.change_locked":
            self._lock(data)
        elif name == "asset.change_applied":
            self._applied(data)
        elif name == "asset.change_reverted":
            self.version[data["asset_id"]] = data["asset_version"]
        else:
            self.locked.pop(data["asset_id"], None)

    def _quoted(self, data) -> None:
        oid = data["order_id"]
        lines = (data.get("snapshot") or {}).get("lines") or []
        waiting = {(item, aid): v for item, aid, v in self.early.pop(oid, [])}
        for item in data.get("items", ()):
            index = item.get("line_index", -1)
            line = lines[index] if 0 <= index < len(lines) else item
            aid, version = line.get("asset_id"), line.get("asset_version")
            if line.get("action", "add") == "add" or aid is None or version is None:
                continue
            locked = waiting.get((item["item_id"], aid))
            if locked is None:
                self.quoted[(oid, item["item_id"])] = (aid, version)
            else:
                self._against_quote(oid, item["item_id"], aid, locked, version)

    def _against_quote(self, oid: str, item: str, aid: str, locked: int, quoted: int) -> None:
        if locked != quoted:
            self.problem(
                f"order {oid} {item} locked asset {aid} at version {locked}; "
                f"it was quoted against version {quoted}",
                "locked at another version than quoted",
            )

    def _lock(self, data) -> None:
        aid, oid, item, v = (
            data["asset_id"],
            data["order_id"],
            data["item_id"],
            data["asset_version"],
        )
        current = self.version.get(aid)
        if current is None:
            self.problem(f"order {oid} locked asset {aid}, which does not exist", "unknown asset")
        elif v != current:
            self.problem(
                f"order {oid} locked asset {aid} at version {v} while version {current} "
                "was current",
                "locked at a stale version",
            )
        held = self.locked.get(aid)
        if held is not None and held[0] != oid:
            self.problem(
                f"order {oid} locked asset {aid}, which order {held[0]} holds",
                "locked while locked",
            )
        self.locked[aid] = (oid, v)
        quoted = self.quoted.pop((oid, item), None)
        if quoted is None:
            self.early.setdefault(oid, []).append((item, aid, v))
        elif quoted[0] == aid:
            self._against_quote(oid, item, aid, v, quoted[1])

    def _applied(self, data) -> None:
        aid, oid, new = data["asset_id"], data["order_id"], data["asset_version"]
        lock = self.locked.pop(aid, None)
        if lock is None:
            self.problem(
                f"order {oid} changed asset {aid} without a lock", "changed without a lock"
            )
        elif lock[0] != oid:
            self.problem(
                f"order {oid} changed asset {aid}, which order {lock[0]} holds",
                "changed under another order's lock",
            )
        elif new != lock[1] + 1:
            self.problem(
                f"order {oid} moved asset {aid} from version {lock[1]} to {new}",
                "version not moved by one",
            )
        self.version[aid] = new


# (name, description, checker, what it is built with): registered by cpqsim.invariants.
ASSET_CHECKS: list[tuple[str, str, type[Checker], tuple[str, ...]]] = [
    (
        "assets_match_downstream",
        "every asset the platform holds active, suspended or disconnected is so in "
        "provisioning's ground truth, running the offering version the platform holds",
        AssetsMatchDownstream,
        (),
    ),
    (
        "add_on_has_active_parent",
        "no add-on (or bundle component) is active under a parent that is not active",
        AddOnHasActiveParent,
        (),
    ),
    (
        "one_active_asset_per_subscription",
        "no two assets in service bill on one subscription, and billing never starts a "
        "subscription already in force",
        OneActiveAssetPerSubscription,
        (),
    ),
    (
        "billing_matches_installed_base",
        "billing's subscriptions match the installed base: nothing billed after a "
        "disconnect, nothing in service and unbilled, the same status and quantity",
        BillingMatchesInstalledBase,
        (),
    ),
    (
        "change_acted_on_quoted_version",
        "every change order locked the asset at the version it was quoted against (and "
        "current then), and moved it on by exactly one",
        ChangeActedOnQuotedVersion,
        (),
    ),
]
