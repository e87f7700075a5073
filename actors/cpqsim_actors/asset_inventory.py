"""The installed base of a live platform: one single-threaded actor holding every asset.

Why one actor and not a slice per order shard: the lock an in-flight change takes on an
asset (``pending_change``) must be decided in one place, or two orders on two shards
could both win it. A sync actor runs one method at a time, so :meth:`lock` is atomic by
construction: of two orders racing on one asset, the first call locks it and the second
is refused with the asset reason. New sales lock nothing, so the platform only calls it
for orders that change an asset: the new-sale hot path pays no extra hop.

The asset facts of fulfilment come from the order executors as a *feed*: each executor
offers, after journaling them, the order facts the installed base reacts to (an item
activated, a change fulfilled, an order cancelled, failed or rejected, an item
abandoned), numbered by their place in its journal. The inventory folds them through the
core's reactions (:mod:`cpqsim.asset_reactions`), journals the asset facts *and* how far
it has read each feed in one transaction, and ignores what it has read already; the
platform's supervisor asks every executor for what the inventory has not seen yet, so a
push lost to a crash on either side is caught up without anybody's help. Seeded assets
(``PlatformConfig.installed_base``) are journaled once, on the first start; a restarted
inventory replays its journal instead.
"""

from __future__ import annotations

import random
from collections.abc import Collection, Sequence
from datetime import date
from typing import Any, NamedTuple

from cpqsim.asset import (
    ASSET_EVENT_TYPES,
    Asset,
    AssetChangeApplied,
    AssetChangeLocked,
    AssetChangeReleased,
    AssetChangeReverted,
    AssetCreated,
    AssetEvent,
    AssetParentHoldReleased,
    AssetStatus,
    InstalledBase,
)
from cpqsim.asset_reactions import assets_acted_on, lock_for_order, react
from cpqsim.catalog import Catalog, stable_id
from cpqsim.change import ChangeRefusal, check_change_lines
from cpqsim.configuration import QuoteLine
from cpqsim.context import Context, IdSource, rng_stream
from cpqsim.decomposition import order_items
from cpqsim.events import CloudEvent, envelope
from cpqsim_actors.clock import VirtualClock
from cpqsim_actors.recovery import JournaledShard, refused_while_journal_refused
from cpqsim_actors.tmf_product import product_resource, product_status

#: CloudEvent type -> the asset fact it carries (recovery folds journaled facts back).
ASSET_EVENTS: dict[str, type[AssetEvent]] = ASSET_EVENT_TYPES


ACTOR = "installed-base"  # on whose authority asset facts happen (as in the sim)


class LockRequest(NamedTuple):
    """An order about to be created that changes assets: what the lock is judged on."""

    order_id: str
    account_id: str
    lines: list[QuoteLine]
    quote_id: str
    caused_by: str | None = None


class AssetView(dict):
    """An asset with what its TMF637 body shows besides the asset itself (plain data, so
    it crosses an actor boundary cheaply)."""


@refused_while_journal_refused(
    "lock",
    "absorb",
    "feed_cursors",
    "check",
    "get",
    "list",
    "events",
    "facts_since",
    "assets",
)
class AssetInventory(JournaledShard):
    def __init__(
        self,
        name: str,
        catalog: Catalog,
        t0_wall: float,
        time_scale: float,
        journal_path: str | None = None,
        seed: int = 0,
        installed_base: Sequence[AssetEvent] = (),
    ) -> None:
        self.name = name
        self.catalog = catalog
        self.base = InstalledBase()
        self.clock = VirtualClock(t0_wall, time_scale)
        self.ids = IdSource(namespace=name)
        self.rng: random.Random = rng_stream(seed, f"inventory.{name}")
        self.log: list[CloudEvent] = []
        self.created_at: dict[str, str] = {}  # asset id -> time of its creation fact
        self.creation_rank: dict[str, int] = {}  # asset id -> its place in creation order
        self.terminated_at: dict[str, str] = {}  # asset id -> time it was disconnected
        self.order_items: dict[str, list[dict[str, str]]] = {}  # asset id -> order items
        self.pending_action: dict[str, str] = {}  # asset id -> the change holding it
        self.cursors: dict[str, int] = {}  # feed (executor) -> facts of it read so far
        # Orders whose change was refused (journaled: asked again, the same answer), and
        # orders whose locks were applied or released (from the facts: done with the base).
        self.refused_orders: dict[str, list[ChangeRefusal]] = {}
        self.finished_orders: set[str] = set()
        self.errors: list[str] = []
        self.absorb_calls = 0  # feed deliveries (pushes and catch-ups)...
        self.absorbed = 0  # ...and the order facts they brought that were new
        self._open_journal(journal_path, time_scale)
        if self.journal is not None:
            self.cursors = dict(self.journal.get_meta("cursors") or {})
            refused = self.journal.get_meta("refused") or {}
            self.refused_orders = {
                o: [ChangeRefusal.model_validate(r) for r in rs] for o, rs in refused.items()
            }
        if installed_base and not self.log and self.refusal is None:
            self._record(list(installed_base))

    # ---------------------------------------------------------------- recovery

    def _replay_event(self, event: CloudEvent) -> None:
        fact = ASSET_EVENTS[event.type].model_validate(event.data)
        self._fold(fact, event)

    # ---------------------------------------------------------------- plumbing

    def _fold(self, fact: AssetEvent, event: CloudEvent) -> None:
        asset = self.base.apply(fact)
        self.log.append(event)
        aid = fact.asset_id
        if isinstance(fact, AssetCreated):
            self.created_at[aid] = event.time
            self.creation_rank[aid] = len(self.creation_rank)
            if fact.order_id is not None:
                self.order_items.setdefault(aid, []).append(
                    {"order_id": fact.order_id, "item_id": fact.item_id or "", "action": "add"}
                )
        elif isinstance(fact, AssetChangeLocked):
            self.pending_action[aid] = fact.action
        elif isinstance(fact, AssetChangeReleased):
            self.pending_action.pop(aid, None)
            self.finished_orders.add(fact.order_id)
        elif isinstance(fact, AssetParentHoldReleased):
            self.finished_orders.add(fact.order_id)
        elif isinstance(fact, AssetChangeReverted):
            if asset.status is not AssetStatus.DISCONNECTED:
                self.terminated_at.pop(aid, None)
        elif isinstance(fact, AssetChangeApplied):
            self.pending_action.pop(aid, None)
            self.finished_orders.add(fact.order_id)
            self.order_items.setdefault(aid, []).append(
                {"order_id": fact.order_id, "item_id": fact.item_id, "action": fact.action}
            )
            if asset.status is AssetStatus.DISCONNECTED:
                self.terminated_at[aid] = event.time

    def _ctx(self, correlation: str | None, causation: str | None) -> Context:
        """Asset facts are the installed base's, correlated with the quote whose order
        caused them (the sim names them alike)."""
        ctx = Context(now=self.clock.now(), ids=self.ids, rng=self.rng, actor=ACTOR)
        ctx.correlation_id = correlation
        ctx.causation_id = causation
        return ctx

    def _fold_new(
        self, facts: list[AssetEvent], correlation: str | None = None, causation: str | None = None
    ) -> list[CloudEvent]:
        """Envelope and fold new facts, all or none: an illegal one raises, and the base
        is rebuilt as it was (a rare path: only a bug or an impossible fact takes it)."""
        ctx = self._ctx(correlation, causation)
        events = [envelope(fact, ctx) for fact in facts]
        kept = len(self.log)
        try:
            for fact, event in zip(facts, events, strict=True):
                self._fold(fact, event)
        except Exception:
            log = self.log[:kept]
            self._reset()
            for event in log:
                self._replay_event(event)
            raise
        return events

    def _reset(self) -> None:
        self.finished_orders = set()
        self.base = InstalledBase()
        self.log = []
        self.created_at, self.terminated_at, self.creation_rank = {}, {}, {}
        self.order_items, self.pending_action = {}, {}

    def _journal(self, events: list[CloudEvent], cursors: bool = False) -> None:
        """Journal new facts (and, with ``cursors``, how far each feed was read) in one
        transaction."""
        if self.journal is not None and (events or cursors):
            meta = {"cursors": dict(self.cursors)} if cursors else None
            self.journal.append(events, self.ids.state(), meta=meta)

    def _record(self, facts: list[AssetEvent]) -> list[CloudEvent]:
        events = self._fold_new(facts)
        self._journal(events)
        return events

    def _business_date(self) -> date:
        return self.clock.now().date()

    # ------------------------------------------------------------------ API

    def ping(self) -> str:
        return self.name

    def reset_clock(self, t0_wall: float) -> None:
        self.clock = VirtualClock(t0_wall, self.clock.time_scale)
        if self.journal is not None:
            self.journal.set_meta("t0_wall", t0_wall)

    def publish_catalog(self, catalog: Catalog) -> None:
        """A new catalog version is in force: changes are judged against it from now."""
        self.catalog = catalog

    def catalog_version(self) -> str:
        return self.catalog.version

    def absorb(self, feed: str, start: int, pairs: list[tuple[Any, CloudEvent]]) -> int:
        """React to order facts ``start``, ``start + 1``, ... of ``feed`` (each with its
        order); those read already are skipped. Returns how far the feed is read.

        A gap (facts before ``start`` never arrived) is left for the catch-up to fill, in
        order. A fact the reactions cannot apply is recorded as an error and passed over:
        one bad fact must not stop the feed.
        """
        self.absorb_calls += 1
        cursor = self.cursors.get(feed, 0)
        if start > cursor:
            return cursor
        fresh = pairs[cursor - start :]
        events: list[CloudEvent] = []
        for order, event in fresh:
            try:
                facts = self._reactions(order, event)
                events += self._fold_new(facts, order.quote_id, event.id)
            except Exception as exc:  # a bug or an impossible fact: keep the evidence
                self.errors.append(f"{feed}#{event.id}: {type(exc).__name__}: {exc}"[:500])
        if fresh:
            self.absorbed += len(fresh)
            self.cursors[feed] = cursor + len(fresh)
            self._journal(events, cursors=True)
        return self.cursors.get(feed, 0)

    def _reactions(self, order: Any, event: CloudEvent) -> list[AssetEvent]:
        return react(self.base, order, event, self.catalog)

    def lock(self, requests: list[LockRequest]) -> list[tuple[list[Asset], list[ChangeRefusal]]]:
        """Lock the assets each order's change lines act on, in the order asked; for
        each request the assets its items act on (as they were before this lock), or why
        they may not be changed.

        Atomic per call (one call runs at a time): of two orders racing on an asset, the
        one asked first wins. Asked again for the same order (a retried conversion, a
        relay after a crash) it answers as the first time: an order holding its locks
        keeps them, one refused stays refused, and one whose locks were applied or
        released locks nothing again. The locks are journaled before the answer leaves.
        """
        answers: list[tuple[list[Asset], list[ChangeRefusal]]] = []
        events: list[CloudEvent] = []
        refused_now = False
        for ask in requests:
            order_id = ask.order_id
            if order_id in self.refused_orders:
                answers.append(([], list(self.refused_orders[order_id])))
                continue
            items = order_items(order_id, ask.lines)
            acted_on = assets_acted_on(self.base, items)
            if order_id in self.finished_orders:
                answers.append((acted_on, []))
                continue
            locks, refusals = lock_for_order(
                self.base, self.catalog, order_id, ask.account_id, items, self._business_date()
            )
            if refusals:
                self.refused_orders[order_id] = list(refusals)
                refused_now = True
                answers.append(([], list(refusals)))
                continue
            events += self._fold_new(list(locks), ask.quote_id, ask.caused_by)
            answers.append((acted_on, []))
        if self.journal is not None and (events or refused_now):
            refused = {o: [r.model_dump() for r in rs] for o, rs in self.refused_orders.items()}
            self.journal.append(events, self.ids.state(), meta={"refused": refused})
        return answers

    def feed_cursors(self) -> dict[str, int]:
        return dict(self.cursors)

    def check(
        self, account_id: str, lines: list[QuoteLine], business_date: date | None = None
    ) -> list[ChangeRefusal]:
        """Every reason the change lines cannot go ahead against the base as it is now."""
        return check_change_lines(
            self.catalog, self.base, account_id, lines, business_date or self._business_date()
        )

    def assets(self, asset_ids: Collection[str]) -> dict[str, Any]:
        """The named assets that exist (as :class:`~cpqsim.asset.Asset`), by id."""
        return {a: self.base.get(a) for a in asset_ids if a in self.base}

    def get(self, asset_id: str) -> AssetView | None:
        asset = self.base.get(asset_id)
        return None if asset is None else self._view(asset)

    def list(
        self,
        limit: int,
        offset: int,
        accounts: Collection[str] | None = None,
        status: Collection[str] | None = None,
        offering: str | None = None,
    ) -> tuple[list[AssetView], int]:
        """A page of assets in creation order, filtered; and how many pass the filters.

        ``accounts`` None means every account (an unscoped caller asking no account);
        ``status`` holds TMF637 statuses, ``offering`` a stable or a version id.
        """
        if accounts is None:
            candidates = list(self.base)
        else:
            candidates = [a for acct in sorted(set(accounts)) for a in self.base.of_account(acct)]
            candidates.sort(key=lambda a: self.creation_rank[a.asset_id])
        if status is not None:  # TMF637 statuses: a pending change reads as it did
            wanted = set(status)
            candidates = [
                a
                for a in candidates
                if product_status(a, self.pending_action.get(a.asset_id)) in wanted
            ]
        if offering is not None:
            candidates = [a for a in candidates if offering in (a.offering, stable_id(a.offering))]
        page = candidates[offset : offset + limit]
        return [self._view(a) for a in page], len(candidates)

    def _view(self, asset) -> AssetView:
        return AssetView(
            asset=asset,
            children=self.base.children(asset.asset_id),
            orders=list(self.order_items.get(asset.asset_id, ())),
            created=self.created_at.get(asset.asset_id),
            terminated=self.terminated_at.get(asset.asset_id),
            pending_action=self.pending_action.get(asset.asset_id),
        )

    def events(self) -> list[CloudEvent]:
        return list(self.log)

    def facts_since(self, position: int) -> list[CloudEvent]:
        """The asset facts from ``position`` on (what a replica has not folded yet)."""
        return self.log[position:]

    def installed_base_size(self) -> int:
        return len(self.base)

    def stats(self) -> dict[str, Any]:
        return {
            "assets": len(self.base),
            "cursors": dict(self.cursors),
            "absorb_calls": self.absorb_calls,
            "absorbed": self.absorbed,
            "errors": self.errors[:10],
        }


def render_product(view: AssetView, catalog: Catalog, base_url: str) -> dict[str, Any]:
    """The TMF637 body of one asset view (see ``tmf_product.product_resource``)."""
    return product_resource(
        view["asset"],
        catalog,
        base_url,
        children=view["children"],
        orders=view["orders"],
        created=view["created"],
        terminated=view["terminated"],
        pending_action=view["pending_action"],
    )
