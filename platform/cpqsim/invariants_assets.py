"""Invariants of the installed base: the platform's assets against what the downstream
systems really run and bill, and change orders against the asset versions they were
quoted on.

Each is an incremental :class:`~cpqsim.invariant_checker.Checker` (registered by
:mod:`cpqsim.invariants` from :data:`ASSET_CHECKS`). The asset facts
(``asset.created``, ``asset.change_locked``, ``asset.change_applied``,
``asset.change_released``) and the orders still in flight are folded once per run, one
compact record per asset rather than the facts, into the
:class:`~cpqsim.invariants_assets_fold.RunInstalledBase` the first four read (the judge
builds it and shows it each fact once); each judges the ledgers once at the end:

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

from cpqsim.billing import SubscriptionBook, SubscriptionStatus
from cpqsim.catalog import stable_id
from cpqsim.downstream import LedgerSnapshot
from cpqsim.invariant_checker import Checker, Violation
from cpqsim.invariants_assets_fold import (
    ACTIVE,
    ASSET_FACTS,
    BILLING,
    DISCONNECTED,
    SUSPENDED,
    HeldAsset,
    PlatformAssets,
    RunInstalledBase,
    fact_name,
)

__all__ = ["ASSET_CHECKS", "ASSET_FACTS", "PlatformAssets"]

PROVISIONING = "provisioning"
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


class _ReadsInstalledBase(Checker):
    """A checker that reads the installed base and the orders in flight from the run's
    one :class:`~cpqsim.invariants_assets_fold.RunInstalledBase` (the judge folds it,
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
        for sub in book.in_force():
            sid = sub.subscription_id
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

    watches = ("asset.created", "asset.change_applied")

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
