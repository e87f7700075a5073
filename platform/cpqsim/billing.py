"""The billing fake's subscriptions: what billing really charges, per subscription.

Billing is handed work as ledger requests (``start_billing``, ``modify_subscription``,
``suspend_subscription``, ``resume_subscription``, ``renew_subscription``,
``stop_billing``); its ledger is the ground truth of what took effect. Folding the
entries that took effect, in ledger order, gives the subscriptions billing keeps, so the
invariant checker can hold them against the installed base (nothing billed after a
disconnect, nothing active and unbilled, the same quantities).

Why a fold and not state inside the fake: the ledger already is the fake's memory, in
every runtime; a fold over it is pure, so the sim, the live runtimes and the checker
read the same subscriptions from the same entries.

A compensation (a request naming the reference it ``compensates``) undoes exactly what
the request it names did to its subscription: a reversed ``start_billing`` voids the
subscription, a reversed ``stop_billing`` (a disconnect undone) restores it. A request
that deduplicated, failed or was refused took no effect and is not folded. A
``start_billing`` without a ``subscription_id`` is a one-off handoff from before
subscriptions existed: it is counted, not kept. Unknown operations are ignored; a value
billing cannot read, or an operation the subscription's status does not allow, is
reported as a :class:`BillingProblem` (the fold never raises).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from cpqsim.downstream import LedgerEntry, LedgerSnapshot

__all__ = [
    "BILLING_OPERATIONS",
    "BillingProblem",
    "Subscription",
    "SubscriptionBook",
    "SubscriptionChange",
    "SubscriptionStatus",
    "fold_subscriptions",
]


class SubscriptionStatus(StrEnum):
    ACTIVE = "active"
    SUSPENDED = "suspended"
    STOPPED = "stopped"  # disconnected, or voided by a reversal of its start


SS = SubscriptionStatus

#: Where each operation moves a subscription from the statuses it is allowed in
#: (``start_billing`` makes one; ``renew``/``modify`` keep the status).
ALLOWED_FROM: dict[str, frozenset[SubscriptionStatus]] = {
    "modify_subscription": frozenset({SS.ACTIVE, SS.SUSPENDED}),
    "suspend_subscription": frozenset({SS.ACTIVE}),
    "resume_subscription": frozenset({SS.SUSPENDED}),
    "renew_subscription": frozenset({SS.ACTIVE, SS.SUSPENDED}),
    "stop_billing": frozenset({SS.ACTIVE, SS.SUSPENDED}),
}
LANDS_IN: dict[str, SubscriptionStatus | None] = {
    "modify_subscription": None,
    "suspend_subscription": SS.SUSPENDED,
    "resume_subscription": SS.ACTIVE,
    "renew_subscription": None,
    "stop_billing": SS.STOPPED,
}
#: Every operation the fold understands; any other is ignored.
BILLING_OPERATIONS = frozenset({"start_billing", *ALLOWED_FROM})


class SubscriptionChange(BaseModel):
    """One request that took effect on a subscription, as its history keeps it."""

    model_config = ConfigDict(frozen=True)

    seq: int  # the ledger entry
    operation: str
    reference: str
    status: SubscriptionStatus  # after the change
    reversal_of: str | None = None  # the reference it undid, for a compensation


class Subscription(BaseModel):
    """A subscription as billing holds it after the entries folded so far."""

    model_config = ConfigDict(frozen=True)

    subscription_id: str
    account_id: str | None = None
    asset_id: str | None = None
    status: SubscriptionStatus = SS.ACTIVE
    quantity: int | None = None
    recurring_monthly: Decimal | None = None
    currency: str | None = None
    start_date: date | None = None
    term_end: date | None = None
    end_date: date | None = None
    history: list[SubscriptionChange] = Field(default_factory=list)


class BillingProblem(BaseModel):
    """A request that took effect in billing but could not be (wholly) folded."""

    model_config = ConfigDict(frozen=True)

    seq: int
    reference: str
    operation: str
    subscription_id: str | None
    kind: str  # "bad value", "unknown subscription", "not allowed in status", ...
    message: str


def _quantity(text: str) -> int:
    value = int(text)
    if value < 1:
        raise ValueError("must be a whole number of at least 1")
    return value


def _money(text: str) -> Decimal:
    value = Decimal(text)
    if not value.is_finite():
        raise ValueError("must be a finite amount")
    return value


_READERS: dict[str, Any] = {
    "quantity": _quantity,
    "recurring_monthly": _money,
    "start_date": date.fromisoformat,
    "term_end": date.fromisoformat,
    "end_date": date.fromisoformat,
    "account_id": str,
    "asset_id": str,
    "currency": str,
}
#: What each operation reads from its payload (besides ``subscription_id``).
_READS: dict[str, tuple[str, ...]] = {
    "start_billing": (
        "account_id",
        "asset_id",
        "quantity",
        "recurring_monthly",
        "currency",
        "start_date",
        "term_end",
    ),
    "modify_subscription": ("quantity", "recurring_monthly"),
    "renew_subscription": ("term_end",),
    "stop_billing": ("end_date",),
}


@dataclass
class _Effect:
    """What one request did to one subscription, so that its reversal can undo it."""

    subscription_id: str
    before: dict[str, Any] | None  # None: the request made the subscription
    after: dict[str, Any]


#: A subscription's values, kept as a plain dict while folding (a model per change would
#: be copied for each of a big day's requests).
_VALUES = tuple(
    name for name in Subscription.model_fields if name not in ("subscription_id", "history")
)
_STOPPED = SubscriptionStatus.STOPPED
#: A new subscription's values, read from the model once (pydantic's class-level
#: ``model_fields`` is slow to ask per field, per subscription of a big installed base).
_DEFAULTS = {name: Subscription.model_fields[name].default for name in _VALUES}


class SubscriptionBook:
    """The subscriptions billing keeps, folded one ledger entry at a time.

    ``apply`` takes entries in ledger order (a runtime may keep one live); entries that
    took no effect are skipped. ``untracked`` counts one-off handoffs without a
    subscription id. ``opening``: the subscriptions billing had before the ledger began.
    """

    def __init__(self, opening: Iterable[Subscription] = ()) -> None:
        self._values: dict[str, dict[str, Any]] = {}
        self._history: dict[str, list[SubscriptionChange]] = {}
        self._effects: dict[str, list[_Effect]] = {}
        self.problems: list[BillingProblem] = []
        self.untracked = 0
        for sub in opening:
            self._values[sub.subscription_id] = {name: getattr(sub, name) for name in _VALUES}
            self._history[sub.subscription_id] = list(sub.history)

    def open(
        self,
        subscription_id: str,
        asset_id: str | None = None,
        status: SubscriptionStatus = SubscriptionStatus.ACTIVE,
        quantity: int | None = None,
    ) -> None:
        """Open with a subscription billing had before the ledger began (what
        ``opening`` does, without building a model for each of a big installed base)."""
        values = dict(_DEFAULTS)
        values.update(asset_id=asset_id, status=status, quantity=quantity)
        self._values[subscription_id] = values
        self._history[subscription_id] = []

    def standing(self, subscription_id: str) -> tuple[SubscriptionStatus, int | None] | None:
        """Status and quantity of a subscription (None: billing never had it), read
        without building its model."""
        values = self._values.get(subscription_id)
        return None if values is None else (values["status"], values["quantity"])

    @property
    def subscriptions(self) -> dict[str, Subscription]:
        return {sid: self._model(sid) for sid in self._values}

    def get(self, subscription_id: str) -> Subscription | None:
        return self._model(subscription_id) if subscription_id in self._values else None

    def in_force(self) -> list[Subscription]:
        """Subscriptions still billing (active or suspended), by id."""
        return [self._model(sid) for sid in self.ids_in_force()]

    def ids_in_force(self) -> list[str]:
        """The ids of the subscriptions still billing, sorted, without building a model
        for each (all a check of which are billed needs)."""
        values = self._values
        return [sid for sid in sorted(values) if values[sid]["status"] is not _STOPPED]

    def _model(self, sid: str) -> Subscription:
        # The values were read and checked as they were folded: built without validation.
        return Subscription.model_construct(
            subscription_id=sid, history=list(self._history[sid]), **self._values[sid]
        )

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, SubscriptionBook):
            return NotImplemented
        return (self.subscriptions, self.problems, self.untracked) == (
            other.subscriptions,
            other.problems,
            other.untracked,
        )

    __hash__ = None  # type: ignore[assignment]

    def apply(self, entry: LedgerEntry) -> None:
        if not entry.side_effect:
            return
        request = entry.request
        if request.compensates is not None:
            self._reverse(entry)
        elif request.operation in BILLING_OPERATIONS:
            self._forward(entry)

    # ------------------------------------------------------------------ forward

    def _forward(self, entry: LedgerEntry) -> None:
        request = entry.request
        operation = request.operation
        sub_id = request.payload.get("subscription_id")
        if not sub_id:
            if operation == "start_billing":
                self.untracked += 1
            else:
                self._problem(entry, None, "no subscription", "names no subscription_id")
            return
        values = self._read(entry, sub_id, _READS.get(operation, ()))
        current = self._values.get(sub_id)
        if operation == "start_billing":
            if current is not None and current["status"] is not _STOPPED:
                self._problem(
                    entry,
                    sub_id,
                    self._twice(sub_id, request.reference),
                    f"starts subscription {sub_id}, which is {current['status'].value} already",
                )
                return
            values["status"] = SubscriptionStatus.ACTIVE
            values["end_date"] = None
            self._change(entry, sub_id, values)
            self._start_children(entry, values)
            return
        if current is None:
            self._problem(
                entry, sub_id, "unknown subscription", f"acts on unknown subscription {sub_id}"
            )
            return
        if current["status"] not in ALLOWED_FROM[operation]:
            self._problem(
                entry,
                sub_id,
                "not allowed in status",
                f"{operation} of subscription {sub_id}, which is {current['status'].value}",
            )
            return
        lands = LANDS_IN[operation]
        if lands is not None:
            values["status"] = lands
        self._change(entry, sub_id, values)

    def _twice(self, sub_id: str, reference: str) -> str:
        """A second start of a subscription in force: the same request executed again
        (a duplicate delivery, which the duplicate-side-effect invariant counts) or a
        different request starting it (two assets, or two orders, on one subscription)."""
        starts = [
            c.reference
            for c in self._history.get(sub_id, ())
            if c.operation == "start_billing" and c.reversal_of is None
        ]
        return "started again" if starts and starts[-1] == reference else "started twice"

    def _start_children(self, entry: LedgerEntry, main: dict[str, Any]) -> None:
        """A new item's add-ons and bundle components start with it, each on its own
        subscription: ``child_subscriptions`` lists ``sub-<child>=<monthly per unit>``."""
        listed = entry.request.payload.get("child_subscriptions", "")
        for pair in filter(None, listed.split(";")):
            child_id, _, monthly = pair.partition("=")
            if not child_id.startswith("sub-"):
                self._problem(entry, None, "bad value", f"child_subscriptions names {pair!r}")
                continue
            current = self._values.get(child_id)
            if current is not None and current["status"] is not _STOPPED:
                self._problem(
                    entry,
                    child_id,
                    self._twice(child_id, entry.request.reference),
                    f"starts subscription {child_id}, which is {current['status'].value} already",
                )
                continue
            values = {k: v for k, v in main.items() if k != "recurring_monthly"}
            values["asset_id"] = child_id.removeprefix("sub-")
            if monthly:
                try:
                    values["recurring_monthly"] = _money(monthly)
                except (ValueError, InvalidOperation, TypeError) as exc:
                    reason = str(exc) or type(exc).__name__
                    self._problem(entry, child_id, "bad value", f"{pair!r}: {reason}")
            self._change(entry, child_id, values)

    def _read(self, entry: LedgerEntry, sub_id: str, names: Iterable[str]) -> dict[str, Any]:
        """The readable payload values among ``names``; each unreadable one reported."""
        values: dict[str, Any] = {}
        for name in names:
            text = entry.request.payload.get(name)
            if text is None or text == "":
                continue
            try:
                values[name] = _READERS[name](text)
            except (ValueError, InvalidOperation, TypeError) as exc:
                reason = str(exc) or type(exc).__name__
                self._problem(entry, sub_id, "bad value", f"{name}={text!r}: {reason}")
        return values

    def _change(
        self,
        entry: LedgerEntry,
        sub_id: str,
        values: dict[str, Any],
        reversal_of: str | None = None,
    ) -> None:
        current = self._values.get(sub_id)
        if current is None:
            current = self._values[sub_id] = dict(_DEFAULTS)
            self._history[sub_id] = []
            before = None
        else:
            before = {name: current[name] for name in values}
        current.update(values)
        self._history[sub_id].append(
            SubscriptionChange(
                seq=entry.seq,
                operation=entry.request.operation,
                reference=entry.request.reference,
                status=current["status"],
                reversal_of=reversal_of,
            )
        )
        if reversal_of is None:
            effect = _Effect(sub_id, before, values)
            self._effects.setdefault(entry.request.reference, []).append(effect)

    # ---------------------------------------------------------------- reversal

    def _reverse(self, entry: LedgerEntry) -> None:
        """Undo what the compensated request did, last effect first (a start undoes its
        children's starts too)."""
        undone = entry.request.compensates
        assert undone is not None
        effects = self._effects.pop(undone, [])
        # nothing recorded: it took no effect on any subscription (or was a one-off)
        for effect in reversed(effects):
            self._undo(entry, undone, effect)

    def _undo(self, entry: LedgerEntry, undone: str, effect: _Effect) -> None:
        sub_id = effect.subscription_id
        if effect.before is None:
            # The request made the subscription: undoing it voids it.
            restore: dict[str, Any] = {"status": SubscriptionStatus.STOPPED}
            end = entry.request.payload.get("end_date")
            if end:
                restore.update(self._read(entry, sub_id, ("end_date",)))
        else:
            restore = dict(effect.before)
        self._change(entry, sub_id, restore, reversal_of=undone)

    def _problem(self, entry: LedgerEntry, sub_id: str | None, kind: str, message: str) -> None:
        self.problems.append(
            BillingProblem(
                seq=entry.seq,
                reference=entry.request.reference,
                operation=entry.request.operation,
                subscription_id=sub_id,
                kind=kind,
                message=f"billing entry {entry.seq} ({entry.request.reference}) {message}",
            )
        )


def fold_subscriptions(
    ledger: LedgerSnapshot | Iterable[LedgerEntry], opening: Iterable[Subscription] = ()
) -> SubscriptionBook:
    """The subscriptions a billing ledger (a snapshot, or its entries) holds at its end.

    ``opening``: subscriptions billing already had before the ledger's first entry (an
    installed base migrated in was billed before the run, and its ledger cannot say so).
    """
    entries = ledger.entries if isinstance(ledger, LedgerSnapshot) else ledger
    book = SubscriptionBook(opening)
    for entry in entries:
        book.apply(entry)
    return book
