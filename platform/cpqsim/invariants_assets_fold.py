"""The installed base as the installed-base invariants read it, folded once per run.

Four of the invariants of :mod:`cpqsim.invariants_assets` judge the same thing from
different sides: the assets the platform holds against provisioning, against billing,
and against each other's structure and subscriptions. Each used to fold the asset facts
(and which orders are still in flight) into a view of its own; on a large run that was
the same work four times over on the path of every verdict. :class:`RunInstalledBase`
is that view, a :class:`~cpqsim.invariant_checker.Fold` the judge builds once per run
and shows each fact once: one compact :class:`HeldAsset` per asset, the orders still in
flight, and, at the end, the assets that have settled and billing's subscriptions
folded from its ledger (built once, read by both invariants that compare with billing).
It judges nothing: every invariant keeps its own judgement, name and counts.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache

from cpqsim.billing import SubscriptionBook, SubscriptionStatus
from cpqsim.downstream import LedgerSnapshot
from cpqsim.events import CloudEvent
from cpqsim.invariant_checker import Fold
from cpqsim.order import (
    _FIXED_TRIGGERS,  # the facts that move an order's status, as the order folds them
    ORDER_LIFECYCLE,
    TERMINAL_ORDER_STATUSES,
    OrderStatus,
    status_trigger,
)

__all__ = ["ASSET_FACTS", "ORDER_STATUS_FACTS", "HeldAsset", "PlatformAssets", "RunInstalledBase"]

ASSET_FACTS = (
    "asset.created",
    "asset.change_locked",
    "asset.change_applied",
    "asset.change_released",
)
#: Every fact that moves an order's status (what "still in flight" is judged from).
ORDER_STATUS_FACTS = ("order.created", "order.fallout_resolved", *_FIXED_TRIGGERS)

ACTIVE, SUSPENDED, PENDING, DISCONNECTED = "active", "suspended", "pending_change", "disconnected"
#: Where an applied change leaves the asset (every other action leaves it active).
_APPLIED_LANDS = {"suspend": SUSPENDED, "disconnect": DISCONNECTED}


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


BILLING = "billing"
_BILLED_AS = {
    ACTIVE: SubscriptionStatus.ACTIVE,
    SUSPENDED: SubscriptionStatus.SUSPENDED,
    DISCONNECTED: SubscriptionStatus.STOPPED,
}


class RunInstalledBase(Fold):
    """The installed base and the orders in flight, as the run has shown them so far.

    An asset fact made by no order, or by one this run has not created (yet), is folded
    as made before the run (``migrated``): what "this run's order" means is read from
    the orders folded so far, which is why both kinds of fact go through one fold.
    What only the end of the run can show (the settled assets, billing's book) is worked
    out once when first asked for and kept until another fact is folded.
    """

    watches = ASSET_FACTS + ORDER_STATUS_FACTS

    def __init__(self) -> None:
        self.platform = PlatformAssets()
        self.orders = OrdersInFlight()
        self.folded = 0  # facts folded: what the end-of-run answers were worked out at
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
        """Billing's subscriptions at the end of the run. It opens with those of the
        assets made before the run, as they stood when it began: its ledger cannot show
        them. Read, never changed, by the invariants that ask for it."""
        ledger = ledgers.get(BILLING)
        kept = self._billing
        if kept is not None and kept[0] == self.folded and kept[1] is ledger:
            return kept[2]
        book = SubscriptionBook()
        for aid, held in sorted(self.platform.assets.items()):
            if held.migrated and held.subscription_id is not None:
                status = _BILLED_AS.get(held.opening[0], SubscriptionStatus.ACTIVE)
                book.open(held.subscription_id, aid, status, held.opening[1])
        for entry in ledger.entries if ledger is not None else ():
            book.apply(entry)
        self._billing = (self.folded, ledger, book)
        return book
