"""May this quote line change that asset, and what exactly would change?

A change line names an action and the asset it acts on; it is judged against the asset's
*current* state in the installed base, never against the order that first sold it:

* the asset exists, belongs to the quote's account, is not disconnected, is not held by
  another in-flight change (``pending_change``) and has every piece of metadata a change
  needs (a migrated asset with gaps is refused, not guessed at);
* the action is allowed from the asset's status (:data:`ACTION_FROM`, data);
* the asset version the line was quoted against is still current;
* an upgrade or downgrade moves each replaced option (or the offering version) along the
  catalog's ``upgradesTo`` / ``downgradesTo`` (or ``replaces``) relations, and nothing else;
* a modify keeps the options and changes quantity or characteristics to values the
  configurator allows for a change (a grandfathered version may be modified, not sold);
* an add-on added under, or resumed on, an existing asset needs that parent active.

:func:`delta` states what changes (old and new side by side), for decomposition, pricing
and the asset's next version alike.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection
from datetime import date
from decimal import Decimal

from pydantic import BaseModel, ConfigDict, Field, model_serializer

from cpqsim.asset import Asset, AssetStatus, InstalledBase
from cpqsim.catalog import Catalog, stable_id
from cpqsim.configuration import QuoteLine, check_configuration

__all__ = [
    "ACTION_FROM",
    "CHILDREN_FIRST",
    "HOLD_REFUSES",
    "REFUSAL_CODES",
    "TAKES_CHILDREN",
    "AssetDelta",
    "ChangeRefusal",
    "account_offerings",
    "check_change_lines",
    "delta",
    "held_as_parent",
    "installed_outside",
    "standing",
]

AS = AssetStatus
#: From which asset statuses each action may start (the lifecycle says where it lands).
ACTION_FROM: dict[str, frozenset[AssetStatus]] = {
    "modify": frozenset({AS.ACTIVE}),
    "upgrade": frozenset({AS.ACTIVE}),
    "downgrade": frozenset({AS.ACTIVE}),
    "suspend": frozenset({AS.ACTIVE}),
    "resume": frozenset({AS.SUSPENDED}),
    "disconnect": frozenset({AS.ACTIVE, AS.SUSPENDED}),
    "renew": frozenset({AS.ACTIVE, AS.SUSPENDED}),
}

#: Actions that take the asset's descendants along (an add-on is never live on a dead
#: or suspended parent), and which of the children's statuses each one takes.
TAKES_CHILDREN: dict[str, frozenset[AssetStatus]] = {
    "disconnect": frozenset({AS.ACTIVE, AS.SUSPENDED}),
    "suspend": frozenset({AS.ACTIVE}),
    "resume": frozenset({AS.SUSPENDED}),
}
#: Of those, the ones where the children go first (stopping), not after the parent.
CHILDREN_FIRST = frozenset({"disconnect", "suspend"})

#: The actions refused on an asset an in-flight order holds as the parent of an add-on it
#: adds (:class:`cpqsim.asset.AssetHeldAsParent`), refusal code ``asset_held_as_parent``:
#: each would take the parent out of the active version the add-on was judged against
#: (a disconnect or suspension would leave the new add-on live under a dead or paused
#: parent; an upgrade or downgrade could drop the option it requires). A modify or a
#: renewal keeps the parent active in its version and may go ahead; a resume cannot
#: apply (the parent is active).
HOLD_REFUSES = frozenset({"disconnect", "suspend", "upgrade", "downgrade"})


def standing(asset: Asset) -> AssetStatus:
    """The status an asset holds apart from a lock (a locked asset: the one before it)."""
    if asset.status is AS.PENDING_CHANGE and asset.status_before_lock is not None:
        return asset.status_before_lock
    return asset.status


#: Every reason a change line can be refused for (stable codes for clients).
REFUSAL_CODES = (
    "asset_required",
    "unknown_asset",
    "other_account",
    "asset_disconnected",
    "asset_pending_change",
    "asset_held_as_parent",
    "not_allowed_in_status",
    "stale_asset_version",
    "incomplete_asset_metadata",
    "offering_mismatch",
    "upgrade_not_allowed",
    "downgrade_not_allowed",
    "options_change_needs_upgrade",
    "nothing_to_change",
    "not_an_add_on_of_parent",
    "parent_not_active",
    "characteristic",
    "configuration",
)


class ChangeRefusal(BaseModel):
    """One reason a change line cannot go ahead, placed at ``path`` (``lines[2]``)."""

    model_config = ConfigDict(frozen=True)

    path: str
    code: str
    message: str
    asset_id: str | None = None


class AssetDelta(BaseModel):
    """What a change does to an asset: every field that moves, old and new.

    ``recurring_monthly`` is the line's monthly charge, old and new, when the accepted
    change price says it moved: the asset and the line alone cannot tell (a priced
    characteristic, or a price book that moved since the asset was sold), so the order
    sets it from the price when it is created (:func:`cpqsim.order_terms.monthly_moves`),
    and a modify that moves it is billed. Left out of the JSON while unset.
    """

    model_config = ConfigDict(frozen=True)

    asset_id: str
    action: str
    offering: tuple[str, str] | None = None
    quantity: tuple[int, int] | None = None
    options_removed: list[str] = Field(default_factory=list)
    options_added: list[str] = Field(default_factory=list)
    characteristics: dict[str, tuple[str | None, str]] = Field(default_factory=dict)
    recurring_monthly: tuple[Decimal, Decimal] | None = None

    @model_serializer(mode="wrap")
    def _charge_only_when_it_moved(self, handler):
        data = handler(self)  # the deltas of orders before priced moves read as they did
        if data.get("recurring_monthly") is None:
            data.pop("recurring_monthly", None)
        return data

    @property
    def empty(self) -> bool:
        return not (
            self.offering
            or self.quantity
            or self.options_removed
            or self.options_added
            or self.characteristics
        )


def delta(asset: Asset, line: QuoteLine) -> AssetDelta:
    """The fields ``line`` moves on ``asset`` (only modify/upgrade/downgrade move any)."""
    if line.action not in ("modify", "upgrade", "downgrade"):
        return AssetDelta(asset_id=asset.asset_id, action=line.action)
    new_offering = line.offering if "@" in line.offering else None
    offering = (
        (asset.offering, new_offering)
        if new_offering is not None and new_offering != asset.offering
        else None
    )
    old_options = {stable_id(o): o for o in asset.options}
    new_options = {stable_id(o): o for o in line.options}
    return AssetDelta(
        asset_id=asset.asset_id,
        action=line.action,
        offering=offering,
        quantity=(asset.quantity, line.quantity) if line.quantity != asset.quantity else None,
        options_removed=sorted(o for k, o in old_options.items() if k not in new_options),
        options_added=sorted(o for k, o in new_options.items() if k not in old_options),
        characteristics={
            k: (asset.characteristics.get(k), v)
            for k, v in sorted(line.characteristics.items())
            if asset.characteristics.get(k) != v
        },
    )


def account_offerings(base: InstalledBase, account_id: str) -> Counter[str]:
    """How many assets of each offering version the account has (disconnected aside)."""
    return Counter(
        a.offering for a in base.of_account(account_id) if a.status is not AS.DISCONNECTED
    )


def installed_outside(
    counts: Counter[str], base: InstalledBase, asset_ids: Collection[str]
) -> list[str]:
    """The offerings (stable and version ids, sorted) the account has installed outside
    the assets ``asset_ids`` and what they hold: a change to those assets is judged with
    them, so a quote-scoped requirement met by another installed asset holds (a firewall
    changed on its own keeps the internet line the customer runs).

    ``counts`` is :func:`account_offerings`; the changed assets' subtrees are taken off it.
    """
    left = Counter(counts)
    stack = [a for a in (base.get(i) for i in asset_ids) if a is not None]
    while stack:
        held = stack.pop()
        if held.status is not AS.DISCONNECTED:
            left[held.offering] -= 1
        stack.extend(base.children(held.asset_id))
    found = {offering for offering, n in left.items() if n > 0}
    return sorted(found | {stable_id(o) for o in found})


def held_as_parent(asset: Asset, action: str) -> str:
    """Why ``action`` may not start on ``asset`` while orders add under it."""
    orders = ", ".join(asset.held_by)
    return (
        f"asset {asset.asset_id} is the parent of an add-on being added (order {orders}): "
        f"it cannot be {_PAST[action]} until that order ends"
    )


_PAST = {
    "disconnect": "disconnected",
    "suspend": "suspended",
    "upgrade": "upgraded",
    "downgrade": "downgraded",
}


class _Judge:
    def __init__(
        self, catalog: Catalog, base: InstalledBase, account_id: str, business_date: date | None
    ) -> None:
        self.catalog = catalog
        self.base = base
        self.account_id = account_id
        self.business_date = business_date
        self.found: list[ChangeRefusal] = []
        self._account_offerings: Counter[str] | None = None

    def refuse(self, path: str, code: str, message: str, asset_id: str | None = None) -> None:
        self.found.append(ChangeRefusal(path=path, code=code, message=message, asset_id=asset_id))

    def asset(self, line: QuoteLine, path: str) -> Asset | None:
        if line.asset_id is None:
            self.refuse(path, "asset_required", f"{line.action} needs the asset it acts on")
            return None
        asset = self.base.get(line.asset_id)
        if asset is None or asset.account_id != self.account_id:
            # Another account's asset reads as unknown: its existence is not ours to tell.
            code = "unknown_asset" if asset is None else "other_account"
            self.refuse(
                path,
                code,
                f"asset {line.asset_id} is not installed for account {self.account_id}",
                line.asset_id,
            )
            return None
        return asset

    def state(self, asset: Asset, line: QuoteLine, path: str) -> bool:
        aid = asset.asset_id
        if asset.status is AS.DISCONNECTED:
            self.refuse(path, "asset_disconnected", f"asset {aid} is disconnected", aid)
            return False
        if asset.status is AS.PENDING_CHANGE:
            self.refuse(
                path,
                "asset_pending_change",
                f"asset {aid} has a change in flight (order {asset.locked_by})",
                aid,
            )
            return False
        if asset.held_by and line.action in HOLD_REFUSES:
            self.refuse(path, "asset_held_as_parent", held_as_parent(asset, line.action), aid)
            return False
        if asset.status not in ACTION_FROM[line.action]:
            allowed = ", ".join(sorted(s.value for s in ACTION_FROM[line.action]))
            self.refuse(
                path,
                "not_allowed_in_status",
                f"{line.action} of asset {aid} needs it {allowed}; it is {asset.status.value}",
                aid,
            )
            return False
        if line.asset_version is not None and line.asset_version != asset.version:
            self.refuse(
                path,
                "stale_asset_version",
                f"the line was quoted against version {line.asset_version} of asset {aid}; "
                f"it is at version {asset.version} now: quote the change again",
                aid,
            )
        if asset.missing_metadata:
            self.refuse(
                path,
                "incomplete_asset_metadata",
                f"asset {aid} lacks {', '.join(asset.missing_metadata)}: it must be completed "
                "by hand before it can be changed",
                aid,
            )
        if stable_id(line.offering) != stable_id(asset.offering):
            self.refuse(
                path,
                "offering_mismatch",
                f"the line names {line.offering}; asset {aid} is {asset.offering}",
                aid,
            )
            return False
        if asset.parent_id is not None and line.action in ("resume", "modify", "upgrade"):
            self.parent_active(asset.parent_id, path, f"add-on asset {aid}")
        return not self.found

    def parent_active(self, parent_id: str, path: str, what: str) -> Asset | None:
        parent = self.base.get(parent_id)
        if parent is None or parent.account_id != self.account_id:
            self.refuse(
                path,
                "unknown_asset",
                f"parent asset {parent_id} is not installed for account {self.account_id}",
                parent_id,
            )
            return None
        if parent.status is not AS.ACTIVE:
            self.refuse(
                path,
                "parent_not_active",
                f"{what} needs an active parent; asset {parent_id} is {parent.status.value}",
                parent_id,
            )
            return None
        return parent

    def moves(self, asset: Asset, line: QuoteLine, path: str) -> None:
        """Upgrade/downgrade: every replaced element follows the catalog's path."""
        change = delta(asset, line)
        kind = "upgradesTo" if line.action == "upgrade" else "downgradesTo"
        code = f"{line.action}_not_allowed"
        pairs: list[tuple[str, str]] = []
        if change.offering is not None:
            pairs.append(change.offering)
        removed = {stable_id(o): o for o in change.options_removed}
        for added in change.options_added:
            old = self._same_group(asset, removed, added)
            if old is None:
                self.refuse(
                    path,
                    code,
                    f"{added} replaces no option of asset {asset.asset_id}",
                    asset.asset_id,
                )
                continue
            removed.pop(stable_id(old))
            pairs.append((old, added))
        for old in removed.values():
            self.refuse(path, code, f"{old} is removed without a replacement", asset.asset_id)
        if not pairs and not self.found:
            self.refuse(
                path,
                "nothing_to_change",
                f"the line moves asset {asset.asset_id} nowhere",
                asset.asset_id,
            )
        for old, new in pairs:
            if not self._leads(old, new, kind):
                self.refuse(
                    path,
                    code,
                    f"the catalog has no {kind} path from {old} to {new}",
                    asset.asset_id,
                )

    def _same_group(self, asset: Asset, removed: dict[str, str], added: str) -> str | None:
        try:
            offering = self.catalog.offering(asset.offering)
        except KeyError:
            return None
        for group in offering.option_groups:
            members = {stable_id(o) for o in group.options}
            if stable_id(added) in members:
                for key, old in removed.items():
                    if key in members:
                        return old
        return None

    def _leads(self, old: str, new: str, kind: str) -> bool:
        """Is there a ``kind`` path (or, between versions, ``replaces``) from old to new?"""
        try:
            source = self.catalog.offering(old)
            target = self.catalog.offering(new)
        except KeyError:
            return False
        if any(r.kind == kind and stable_id(r.target) == stable_id(new) for r in source.relations):
            return True
        if stable_id(old) == stable_id(new) and kind == "upgradesTo":
            # a newer version of the same offering that replaces the old one
            return any(
                r.kind == "replaces" and r.target in (old, source.version_id)
                for r in target.relations
            )
        return False

    def modify(self, asset: Asset, line: QuoteLine, path: str) -> None:
        change = delta(asset, line)
        if change.options_added or change.options_removed or change.offering:
            self.refuse(
                path,
                "options_change_needs_upgrade",
                "a modify keeps the options and version; use upgrade or downgrade to move them",
                asset.asset_id,
            )
        elif change.empty:
            self.refuse(
                path,
                "nothing_to_change",
                f"the line leaves asset {asset.asset_id} as it is",
                asset.asset_id,
            )

    def configuration(self, asset: Asset, line: QuoteLine, path: str) -> None:
        """The asset as it would be, checked as a change (grandfathered may pass)."""
        target = line.offering if "@" in line.offering else asset.offering
        add_ons, contents = self.installed_children(asset)
        as_configured = QuoteLine(
            offering=target,
            quantity=line.quantity,
            options=list(line.options),
            add_ons=list(line.add_ons) or add_ons,
            characteristics={**asset.characteristics, **line.characteristics},
            contents=list(line.contents) or contents,
        )
        # The version the asset runs is pinned: its sales window may have closed (a
        # grandfathered edition), which is no reason to refuse a change to it.
        when = None if target == asset.offering else self.business_date
        for v in check_configuration(
            self.catalog,
            [as_configured],
            when,
            intent="change_asset",
            installed=self.installed_elsewhere(asset),
        ):
            code = "characteristic" if v.rule == "characteristic" else "configuration"
            self.refuse(path + v.path.removeprefix("lines[0]"), code, v.message, asset.asset_id)

    def installed_children(self, asset: Asset) -> tuple[list[str], list[QuoteLine]]:
        """The add-ons and bundle contents ``asset`` has now, as a quote line states them
        (disconnected ones aside): a bundle changed on its own still holds its contents."""
        add_ons: list[str] = []
        contents: list[QuoteLine] = []
        for child in self.base.children(asset.asset_id):
            if child.status is AS.DISCONNECTED:
                continue
            if child.role == "add_on":
                add_ons.append(child.offering)
            elif child.role == "component":
                inner_add_ons, inner = self.installed_children(child)
                contents.append(
                    QuoteLine(
                        offering=child.offering,
                        # a component holds its units per bundle times the bundles
                        quantity=max(1, child.quantity // max(1, asset.quantity)),
                        options=list(child.options),
                        add_ons=inner_add_ons,
                        characteristics=dict(child.characteristics),
                        contents=inner,
                    )
                )
        return add_ons, contents

    def installed_elsewhere(self, asset: Asset) -> list[str]:
        """What the account has installed outside ``asset`` (see :func:`installed_outside`);
        the account is counted once per judgement however many lines it has."""
        if self._account_offerings is None:
            self._account_offerings = account_offerings(self.base, self.account_id)
        return installed_outside(self._account_offerings, self.base, [asset.asset_id])

    def add_under(self, line: QuoteLine, path: str) -> None:
        assert line.asset_id is not None
        parent = self.parent_active(line.asset_id, path, f"add-on {line.offering}")
        if parent is None:
            return
        try:
            offering = self.catalog.offering(parent.offering)
        except KeyError:
            offering = None
        add_ons = {stable_id(a) for a in offering.add_ons} if offering else set()
        if stable_id(line.offering) not in add_ons:
            self.refuse(
                path,
                "not_an_add_on_of_parent",
                f"{line.offering} is not an add-on of {parent.offering}",
                parent.asset_id,
            )
            return
        # The parent as it is, with the new add-on: the add-on's own rules (requires,
        # excludes) are judged against what the customer really has.
        with_add_on = QuoteLine(
            offering=parent.offering,
            quantity=parent.quantity,
            options=list(parent.options),
            add_ons=[line.offering],
            characteristics=dict(parent.characteristics),
        )
        for v in check_configuration(self.catalog, [with_add_on], None, intent="change_asset"):
            self.refuse(path, "configuration", v.message, parent.asset_id)

    def line(self, line: QuoteLine, path: str) -> None:
        if line.action == "add":
            if line.asset_id is not None:
                self.add_under(line, path)
            return
        asset = self.asset(line, path)
        if asset is None or not self.state(asset, line, path):
            return
        if line.action in ("upgrade", "downgrade"):
            self.moves(asset, line, path)
        elif line.action == "modify":
            self.modify(asset, line, path)
        if line.action in ("modify", "upgrade", "downgrade"):
            self.configuration(asset, line, path)


def check_change_lines(
    catalog: Catalog,
    base: InstalledBase,
    account_id: str,
    lines: list[QuoteLine],
    business_date: date | None = None,
) -> list[ChangeRefusal]:
    """Every reason the change lines of a quote cannot go ahead (empty: they may).

    Lines that sell something new (``add`` without an asset) are the configurator's
    business and pass here untouched. Two lines acting on one asset are refused too:
    one order changes an asset once.
    """
    judge = _Judge(catalog, base, account_id, business_date)
    seen: dict[str, str] = {}
    for i, line in enumerate(lines):
        path = f"lines[{i}]"
        if line.action != "add" and line.asset_id is not None:
            if line.asset_id in seen:
                judge.refuse(
                    path,
                    "asset_pending_change",
                    f"asset {line.asset_id} is changed by {seen[line.asset_id]} already",
                    line.asset_id,
                )
                continue
            seen[line.asset_id] = path
        judge.line(line, path)
    return judge.found
