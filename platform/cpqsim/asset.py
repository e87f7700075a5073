"""The installed base: what each customer really has, as assets with a history.

An asset is born when an order item is activated, and changed only by later orders
(modify, upgrade, suspend, ...). It remembers what it is (offering version, options,
characteristics, quantity), where it sits (account, site, parent asset), how it is billed
(subscription, recurring charge, term) and which order made or last changed it.

Why its own aggregate: most orders in an established business change what a customer
already has, and every one of those must be judged against the asset's *current* state
and version, never against the order that first sold it. The asset's status lifecycle is
a transition table; ``pending_change`` is the lock an in-flight change order holds, so
two orders cannot race on one asset. Every change is an :class:`AssetEvent`; the
:class:`InstalledBase` read model folds them and keeps each asset's history.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import date
from decimal import Decimal
from enum import StrEnum
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field

from cpqsim.events import DomainEvent
from cpqsim.lifecycle import TransitionTable
from cpqsim.omit_defaults import OmitsDefaults

__all__ = [
    "ASSET_EVENT_TYPES",
    "ASSET_LIFECYCLE",
    "CHANGED_FIELDS",
    "Asset",
    "AssetChangeApplied",
    "AssetChangeLocked",
    "AssetChangeReleased",
    "AssetChangeReverted",
    "AssetCreated",
    "AssetEvent",
    "AssetHeldAsParent",
    "AssetParentHoldReleased",
    "AssetRole",
    "AssetStatus",
    "InstalledBase",
    "asset_event",
    "evolve",
]


class AssetStatus(StrEnum):
    ACTIVE = "active"
    SUSPENDED = "suspended"
    PENDING_CHANGE = "pending_change"  # an in-flight order holds the asset
    DISCONNECTED = "disconnected"  # kept for history; only its own order's undo revives it


AS = AssetStatus
#: Every status move an asset may make. ``change_locked`` takes the lock for an order;
#: the applied change decides where the asset lands; ``change_released`` gives the lock
#: back unchanged (the order was cancelled, failed, or abandoned the item). A change that
#: went live and whose work the same order then undid downstream (an item abandoned, an
#: order rolled back) is *reverted*: the asset returns to the status it held before the
#: change (``reverted_to_<status>``), a disconnected one included, as provisioning does.
ASSET_LIFECYCLE = TransitionTable(
    "asset",
    {
        (AS.ACTIVE, "change_locked"): AS.PENDING_CHANGE,
        (AS.SUSPENDED, "change_locked"): AS.PENDING_CHANGE,
        (AS.PENDING_CHANGE, "modified"): AS.ACTIVE,
        (AS.PENDING_CHANGE, "upgraded"): AS.ACTIVE,
        (AS.PENDING_CHANGE, "downgraded"): AS.ACTIVE,
        (AS.PENDING_CHANGE, "renewed"): AS.ACTIVE,
        (AS.PENDING_CHANGE, "suspended"): AS.SUSPENDED,
        (AS.PENDING_CHANGE, "resumed"): AS.ACTIVE,
        (AS.PENDING_CHANGE, "disconnected"): AS.DISCONNECTED,
        # change_released returns to the status held before the lock (see evolve)
        (AS.PENDING_CHANGE, "change_released"): AS.ACTIVE,
        # change_reverted: back to the status before the change (the fact names it)
        (AS.ACTIVE, "reverted_to_active"): AS.ACTIVE,  # a modify, upgrade... undone
        (AS.ACTIVE, "reverted_to_suspended"): AS.SUSPENDED,  # a resume undone
        (AS.SUSPENDED, "reverted_to_active"): AS.ACTIVE,  # a suspend undone
        (AS.SUSPENDED, "reverted_to_suspended"): AS.SUSPENDED,  # a suspended renewal undone
        (AS.DISCONNECTED, "reverted_to_active"): AS.ACTIVE,  # a disconnect undone
        (AS.DISCONNECTED, "reverted_to_suspended"): AS.SUSPENDED,
    },
)

#: Where an asset sits in its customer's structure.
AssetRole = Literal["main", "add_on", "component"]


class Asset(BaseModel):
    """One installed product: the current state, rebuilt from its facts."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    asset_id: str
    account_id: str
    offering: str  # the version id it runs (``saas-suite@2``)
    role: AssetRole = "main"
    parent_id: str | None = None
    site: str | None = None
    quantity: int = 1
    options: list[str] = Field(default_factory=list)
    characteristics: dict[str, str] = Field(default_factory=dict)
    status: AssetStatus = AssetStatus.ACTIVE
    version: int = 1  # +1 on every applied change; a change order names the one it saw
    order_id: str | None = None  # the order that created it (None: migrated)
    last_order_id: str | None = None  # the order that last changed it
    subscription_id: str | None = None
    recurring_monthly: Decimal | None = None  # per unit, after discount, from the snapshot
    currency: str | None = None
    term_start: date | None = None
    term_end: date | None = None  # exclusive
    #: Migrated assets may arrive without what a change needs (offering version,
    #: characteristics, term): they are named here and routed to fallout, never guessed.
    missing_metadata: list[str] = Field(default_factory=list)
    locked_by: str | None = None  # the order holding the pending change
    status_before_lock: AssetStatus | None = None
    #: Orders adding an add-on under this asset, until they settle (see
    #: :class:`AssetHeldAsParent`): a shared hold, not a status.
    held_by: list[str] = Field(default_factory=list)

    @property
    def changeable(self) -> bool:
        return self.status in (AssetStatus.ACTIVE, AssetStatus.SUSPENDED)


# ----------------------------------------------------------------------------- events


class AssetEvent(DomainEvent, OmitsDefaults):
    aggregate: ClassVar[str] = "asset"
    asset_id: str

    def subject(self) -> str:
        return f"asset/{self.asset_id}"


class AssetCreated(AssetEvent):
    """An item was activated (or an asset migrated in): the asset exists from now on."""

    type_name: ClassVar[str] = "created"
    omit_when_default: ClassVar[frozenset[str]] = frozenset(
        {"missing_metadata", "site", "parent_id", "item_id", "order_id"}
    )
    account_id: str
    offering: str
    role: AssetRole = "main"
    parent_id: str | None = None
    site: str | None = None
    quantity: int
    options: list[str] = Field(default_factory=list)
    characteristics: dict[str, str] = Field(default_factory=dict)
    order_id: str | None = None
    item_id: str | None = None
    subscription_id: str | None = None
    recurring_monthly: Decimal | None = None
    currency: str | None = None
    term_start: date | None = None
    term_end: date | None = None
    missing_metadata: list[str] = Field(default_factory=list)


ChangeAction = Literal["modify", "upgrade", "downgrade", "suspend", "resume", "disconnect", "renew"]


class AssetChangeLocked(AssetEvent):
    """An order will change the asset: until it ends, no other order may."""

    type_name: ClassVar[str] = "change_locked"
    order_id: str
    item_id: str
    action: ChangeAction
    asset_version: int  # the version the change was quoted against (and found current)


class AssetChangeApplied(AssetEvent):
    """The downstream systems did the change: the asset's new state and version."""

    type_name: ClassVar[str] = "change_applied"
    omit_when_default: ClassVar[frozenset[str]] = frozenset(
        {"offering", "quantity", "options", "characteristics", "term_end", "recurring_monthly"}
    )
    order_id: str
    item_id: str
    action: ChangeAction
    asset_version: int  # the new version
    offering: str | None = None
    quantity: int | None = None
    options: list[str] | None = None
    characteristics: dict[str, str] | None = None
    term_end: date | None = None
    recurring_monthly: Decimal | None = None


class AssetChangeReleased(AssetEvent):
    """The order gave the asset back unchanged (cancelled, failed, item abandoned)."""

    type_name: ClassVar[str] = "change_released"
    order_id: str
    reason: str


class AssetHeldAsParent(AssetEvent):
    """An order adds an add-on under this asset: until the order settles, the asset may
    not be disconnected, suspended, upgraded or downgraded (:data:`cpqsim.change.HOLD_REFUSES`).

    Why a hold and not the ``pending_change`` lock: the lock is exclusive and stops every
    change, a modify of the parent's seats or a renewal included, which do nothing to
    the add-on's footing. What the add needs is that its parent stays active in its
    version until the add-on is live and billed, or the add is given up: otherwise a
    racing disconnect would leave an active, billed add-on under a disconnected parent.
    So the hold is *shared* (several orders may add under one parent at once, each
    holding it), leaves the status alone, and refuses only the actions that move the
    parent out of its footing. It is given back (:class:`AssetParentHoldReleased`) when
    the order completes, is cancelled, failed or rejected, or abandons the item.
    """

    type_name: ClassVar[str] = "held_as_parent"
    order_id: str
    item_id: str


class AssetParentHoldReleased(AssetEvent):
    """The order that held the asset as a parent settled: the hold is given back."""

    type_name: ClassVar[str] = "parent_hold_released"
    order_id: str
    reason: str


class AssetChangeReverted(AssetEvent):
    """A change that went live was undone downstream by its own order (the item was
    abandoned, or the order rolled back, after the change was applied): the asset is
    back as it was before the change, at the next version.

    Why its own fact rather than a second ``change_applied`` with the old values: the
    history then reads what happened (applied, then reverted by the same order), no
    opposite action is invented (undoing an upgrade is not a catalog downgrade, and a
    disconnected asset is never locked again), and no lock is faked for it. It carries
    the status it returns to and the old value of every field the change had moved.
    """

    type_name: ClassVar[str] = "change_reverted"
    omit_when_default: ClassVar[frozenset[str]] = frozenset(
        {"offering", "quantity", "options", "characteristics", "term_end", "recurring_monthly"}
    )
    order_id: str
    item_id: str
    action: ChangeAction  # the action undone
    asset_version: int  # the new version
    status: AssetStatus  # the status before the change, where the asset returns
    offering: str | None = None
    quantity: int | None = None
    options: list[str] | None = None
    characteristics: dict[str, str] | None = None
    term_end: date | None = None
    recurring_monthly: Decimal | None = None


#: The fields a change may move (and a reversion puts back).
CHANGED_FIELDS = (
    "offering",
    "quantity",
    "options",
    "characteristics",
    "term_end",
    "recurring_monthly",
)

_LANDS = {
    "modify": "modified",
    "upgrade": "upgraded",
    "downgrade": "downgraded",
    "renew": "renewed",
    "suspend": "suspended",
    "resume": "resumed",
    "disconnect": "disconnected",
}


def evolve(state: Asset | None, event: AssetEvent) -> Asset:
    """Fold one fact into the asset (illegal moves raise, naming the asset's status)."""
    if isinstance(event, AssetCreated):
        if state is not None:
            raise ValueError(f"asset {event.asset_id} exists already")
        data = event.model_dump(exclude={"item_id"})
        return Asset(**data)
    if state is None:
        raise ValueError(f"asset {event.asset_id} is unknown")
    if isinstance(event, AssetChangeLocked):
        ASSET_LIFECYCLE.next_state(state.status, "change_locked")
        return state.model_copy(
            update={
                "status": AssetStatus.PENDING_CHANGE,
                "locked_by": event.order_id,
                "status_before_lock": state.status,
            }
        )
    if isinstance(event, AssetChangeReleased):
        ASSET_LIFECYCLE.next_state(state.status, "change_released")
        return state.model_copy(
            update={
                "status": state.status_before_lock or AssetStatus.ACTIVE,
                "locked_by": None,
                "status_before_lock": None,
            }
        )
    if isinstance(event, AssetChangeApplied):
        status = ASSET_LIFECYCLE.next_state(state.status, _LANDS[event.action])
        if event.action == "renew" and state.status_before_lock is AssetStatus.SUSPENDED:
            status = AssetStatus.SUSPENDED  # a renewal keeps a suspended asset suspended
        changes: dict[str, Any] = {
            "status": status,
            "version": event.asset_version,
            "last_order_id": event.order_id,
            "locked_by": None,
            "status_before_lock": None,
        }
        for name in CHANGED_FIELDS:
            value = getattr(event, name)
            if value is not None:
                changes[name] = value
        return state.model_copy(update=changes)
    if isinstance(event, AssetChangeReverted):
        status = ASSET_LIFECYCLE.next_state(state.status, f"reverted_to_{event.status.value}")
        changes = {
            "status": status,
            "version": event.asset_version,
            "last_order_id": event.order_id,
        }
        for name in CHANGED_FIELDS:
            value = getattr(event, name)
            if value is not None:
                changes[name] = value
        return state.model_copy(update=changes)
    if isinstance(event, AssetHeldAsParent):
        if state.status is AssetStatus.DISCONNECTED:
            raise ValueError(f"asset {event.asset_id} is disconnected: it cannot be a parent")
        if event.order_id in state.held_by:
            return state
        return state.model_copy(update={"held_by": [*state.held_by, event.order_id]})
    if isinstance(event, AssetParentHoldReleased):
        held = [o for o in state.held_by if o != event.order_id]
        return state.model_copy(update={"held_by": held})
    raise TypeError(f"not an asset event: {type(event).__name__}")


# --------------------------------------------------------------------------- read model


class InstalledBase:
    """Every asset, indexed by account, parent and subscription, with its history.

    Why indexes: "what does account X have" and "may this change go ahead" are asked on
    every change quote and order; with 100,000 assets a scan per question is too slow.
    The history is the list of facts per asset, in the order they were folded.
    """

    def __init__(self, events: Iterable[AssetEvent] = ()) -> None:
        self._assets: dict[str, Asset] = {}
        self._by_account: dict[str, list[str]] = {}
        self._children: dict[str, list[str]] = {}
        self._by_subscription: dict[str, list[str]] = {}
        self._history: dict[str, list[AssetEvent]] = {}
        for event in events:
            self.apply(event)

    def apply(self, event: AssetEvent) -> Asset:
        asset = evolve(self._assets.get(event.asset_id), event)
        if event.asset_id not in self._assets:
            self._by_account.setdefault(asset.account_id, []).append(asset.asset_id)
            if asset.parent_id is not None:
                self._children.setdefault(asset.parent_id, []).append(asset.asset_id)
            if asset.subscription_id is not None:
                self._by_subscription.setdefault(asset.subscription_id, []).append(asset.asset_id)
        self._assets[event.asset_id] = asset
        self._history.setdefault(event.asset_id, []).append(event)
        return asset

    def get(self, asset_id: str) -> Asset | None:
        return self._assets.get(asset_id)

    def __len__(self) -> int:
        return len(self._assets)

    def __iter__(self) -> Iterator[Asset]:
        return iter(self._assets.values())

    def __contains__(self, asset_id: object) -> bool:
        return asset_id in self._assets

    def of_account(self, account_id: str, status: AssetStatus | None = None) -> list[Asset]:
        found = [self._assets[a] for a in self._by_account.get(account_id, ())]
        return found if status is None else [a for a in found if a.status is status]

    def children(self, asset_id: str) -> list[Asset]:
        return [self._assets[a] for a in self._children.get(asset_id, ())]

    def for_subscription(self, subscription_id: str) -> list[Asset]:
        return [self._assets[a] for a in self._by_subscription.get(subscription_id, ())]

    def history(self, asset_id: str) -> list[AssetEvent]:
        return list(self._history.get(asset_id, ()))

    def accounts(self) -> list[str]:
        return sorted(self._by_account)


#: Each asset fact's CloudEvents type, to read an installed base back from a log.
ASSET_EVENT_TYPES: dict[str, type[AssetEvent]] = {
    cls.cloudevent_type(): cls
    for cls in (
        AssetCreated,
        AssetChangeLocked,
        AssetChangeApplied,
        AssetChangeReleased,
        AssetChangeReverted,
        AssetHeldAsParent,
        AssetParentHoldReleased,
    )
}


def asset_event(type_: str, data: dict[str, Any]) -> AssetEvent | None:
    """The asset fact a log line records (None: the line is about something else)."""
    cls = ASSET_EVENT_TYPES.get(type_)
    return None if cls is None else cls.model_validate(data)
