"""The live platform: creates the sharded actors and routes every request to them.

Gateway and scenario driver both go through :class:`LivePlatform`. It owns no domain
state: quotes live in quote shards, orders in order executors, ground truth in the
downstream actors. Routing is ``crc32(id) % shards``. Commands to a quote shard are
micro-batched (``cpqsim_actors.batching``): whatever the gateway's concurrent requests
or the driver's journeys send a shard in one event-loop tick goes in one actor call
(actor hops cost 0.2-0.7 ms each; a command inside a batch, microseconds).

It also keeps the platform whole without anybody's help: actors restart however often
they die (each recovers from its journal), a supervisor wakes restarted executors so
they resume their orders, and it relays conversions that a crash left half done (a quote
converted, its order never created) from the quote shards' outboxes.
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import tempfile
import time
import uuid
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cpqsim_host.scenario import Operations

from cpqsim.approval import ApprovalPolicy
from cpqsim.asset import AssetEvent, InstalledBase
from cpqsim.catalog import Catalog
from cpqsim.change import ChangeRefusal
from cpqsim.configuration import QuoteLine
from cpqsim.conversion import CreateOrder, order_to_create
from cpqsim.downstream import DownstreamProfile, LedgerSnapshot
from cpqsim.events import CloudEvent
from cpqsim.evidence import EvidencePackage, Verification, evidence_package, verify_evidence
from cpqsim.orchestration import ResiliencePolicy
from cpqsim.order_commands import OrderCommand
from cpqsim.order_policy import DEFAULT_ORDER_POLICY, OrderPolicy
from cpqsim.pricing import PriceRequest, PriceResult
from cpqsim.quote import ConvertQuoteToOrder, QuoteCommand, QuoteServices
from cpqsim.quote_policy import QuotePolicy
from cpqsim_actors.asset_inventory import ASSET_EVENTS, AssetInventory, AssetView, LockRequest
from cpqsim_actors.batching import CallBatcher
from cpqsim_actors.downstream_actor import DownstreamActor
from cpqsim_actors.handles import ActorHandle, ActorSpec, ActorUnavailable, Backend, RayBackend
from cpqsim_actors.messages import CommandResult, ConvertOutcome, OrderView, QuoteView, Shape
from cpqsim_actors.order_executor import OrderExecutor
from cpqsim_actors.quote_shard import QuoteShard
from cpqsim_actors.sharding import group_by_shard, shard_of

ASYNC_CONCURRENCY = 10_000  # async actors mostly wait on timers and downstream replies
SUPERVISE_EVERY_S = 0.5  # wall seconds between supervisor rounds (wake, relay)
RELAY_AFTER_S = 2.0  # an unconfirmed conversion this old was left half done by a crash


@dataclass(frozen=True)
class InstalledBaseCopy:
    installed_base: InstalledBase
    errors: list[str]


class PolicyVersionConflict(ValueError):
    """The same approval policy version sent with other content."""


@dataclass(frozen=True)
class PlatformConfig:
    catalog: Catalog
    downstream: dict[str, DownstreamProfile]
    policy: ResiliencePolicy
    time_scale: float = 0.001
    quote_shards: int = 2
    order_shards: int = 2
    seed: int = 0
    journal_dir: Path | None = None
    journal: bool = True
    max_restarts: int = -1  # recover from the journal however often it takes
    order_policy: OrderPolicy = DEFAULT_ORDER_POLICY
    refuse_stale_prices: bool = True
    quote_policy: QuotePolicy = field(default_factory=QuotePolicy)  # validity, eligibility
    operations: Operations | None = None  # the team repairing fallout, split over shards
    approval_policy: ApprovalPolicy = field(default_factory=ApprovalPolicy)
    #: What customers have before the run starts (migrated or generated assets: usually
    #: ``AssetCreated`` facts, possibly followed by changes already made); journaled once
    #: by the inventory on its first start, replayed from its journal after that.
    installed_base: tuple[AssetEvent, ...] = ()
    t0_wall: float = field(default_factory=time.time)


class LivePlatform:
    def __init__(self, config: PlatformConfig, backend: Backend | None = None) -> None:
        if config.quote_shards < 1 or config.order_shards < 1:
            raise ValueError("need at least one quote shard and one order shard")
        self.config = config
        self.backend: Backend = backend if backend is not None else RayBackend()
        self.t0_wall = config.t0_wall
        self._supervisor: asyncio.Task | None = None
        self.catalog_in_force = config.catalog
        self.approval_policy_in_force = config.approval_policy
        self.journal_dir: Path | None = None
        # A journal folder we made ourselves is ours to remove; a configured one is the user's.
        self._owns_journal_dir = config.journal and config.journal_dir is None
        if config.journal:
            self.journal_dir = config.journal_dir or Path(
                tempfile.mkdtemp(prefix="cpqsim-journal-")
            )
        c, t0, scale = config, config.t0_wall, config.time_scale
        self.downstream: dict[str, ActorHandle] = {
            name: self.backend.create(
                ActorSpec(
                    name=f"downstream-{name}",
                    cls=DownstreamActor,
                    args=(profile, c.seed, t0, scale),
                    is_async=True,
                    max_concurrency=ASYNC_CONCURRENCY,
                )
            )
            for name, profile in sorted(c.downstream.items())
        }
        self.quote_shards: list[ActorHandle] = [
            self.backend.create(
                ActorSpec(
                    name=f"quote-{i}",
                    cls=QuoteShard,
                    args=(
                        f"quote-{i}",
                        c.catalog,
                        c.policy,
                        t0,
                        scale,
                        self._journal(f"quote-{i}"),
                        c.seed,
                        c.refuse_stale_prices,
                        c.approval_policy,
                        c.quote_policy,
                    ),
                    max_restarts=c.max_restarts,
                )
            )
            for i in range(c.quote_shards)
        ]
        # The installed base: one actor, so a change's lock is decided in one place.
        self.inventory: ActorHandle = self.backend.create(
            ActorSpec(
                name="inventory",
                cls=AssetInventory,
                args=(
                    "inventory",
                    c.catalog,
                    t0,
                    scale,
                    self._journal("inventory"),
                    c.seed,
                    tuple(c.installed_base),
                ),
                max_restarts=c.max_restarts,
            )
        )
        self.order_shards: list[ActorHandle] = [
            self.backend.create(
                ActorSpec(
                    name=f"order-{i}",
                    cls=OrderExecutor,
                    args=(
                        f"order-{i}",
                        c.catalog,
                        c.policy,
                        t0,
                        scale,
                        self.downstream,
                        self._journal(f"order-{i}"),
                        c.seed,
                        c.order_policy,
                        _share(c.operations, c.order_shards),
                        self.inventory,
                    ),
                    is_async=True,
                    max_restarts=c.max_restarts,
                    max_concurrency=ASYNC_CONCURRENCY,
                )
            )
            for i in range(c.order_shards)
        ]
        # Commands to a quote shard go in one call per tick (see ``batching``).
        self._command_batchers = [CallBatcher(h, "execute_batch") for h in self.quote_shards]

    def _journal(self, shard: str) -> str | None:
        return str(self.journal_dir / f"{shard}.sqlite") if self.journal_dir else None

    @property
    def catalog(self) -> Catalog:
        return self.catalog_in_force

    async def start(self) -> None:
        """Wait until every actor is up, relay what a previous life left half done, and
        start supervising."""
        await asyncio.gather(
            *(h.call("start") for h in self.downstream.values()),
            *(h.call("ping") for h in self.quote_shards),
            *(h.call("start") for h in self.order_shards),
            self.inventory.call("ping"),
        )
        await self.relay_conversions()
        # An inventory whose journal is refused serves nothing; the rest still starts.
        with contextlib.suppress(ActorUnavailable):
            await self.sync_installed_base_replicas()
        if self._supervisor is None:
            self._supervisor = asyncio.get_running_loop().create_task(self._supervise())

    def actors(self) -> list[ActorHandle]:
        return [
            *self.downstream.values(),
            *self.quote_shards,
            *self.order_shards,
            self.inventory,
        ]

    async def reset_clock(self, t0_wall: float) -> None:
        """Start the run's clock now, after the (slow) actor start-up, on every actor."""
        self.t0_wall = t0_wall
        await asyncio.gather(*(h.call("reset_clock", t0_wall) for h in self.actors()))

    def shutdown(self) -> None:
        if self._supervisor is not None:
            self._supervisor.cancel()
            self._supervisor = None
        self.backend.shutdown()
        if self._owns_journal_dir and self.journal_dir is not None:
            shutil.rmtree(self.journal_dir, ignore_errors=True)

    # ----------------------------------------------------------------- routing

    @staticmethod
    def new_quote_id() -> str:
        """Quote ids are minted at the edge so a request can be routed before it exists."""
        return f"Q-{uuid.uuid4().hex[:12].upper()}"

    def quote_shard(self, quote_id: str) -> ActorHandle:
        return self.quote_shards[shard_of(quote_id, len(self.quote_shards))]

    def order_shard(self, order_id: str) -> ActorHandle:
        return self.order_shards[shard_of(order_id, len(self.order_shards))]

    # ----------------------------------------------------------------- quotes

    async def execute(
        self, command: QuoteCommand, actor: str = "api", shape: Shape = "view"
    ) -> CommandResult:
        """One command; it shares its shard call with the others of this tick.

        ``shape="card"`` answers the quote's card instead of the whole quote (what the
        gateway renders; a tenth of the bytes to move).
        """
        if _quotes_a_change(command):
            await self.sync_installed_base_replicas()  # judged against what is there now
        shard = shard_of(command.quote_id, len(self.quote_shards))
        return (await self._command_batchers[shard].submit([(command, actor, shape)]))[0]

    async def execute_many(self, items: Sequence[tuple[QuoteCommand, str]]) -> list[CommandResult]:
        """Commands grouped per shard (and with this tick's other commands to each);
        whole quotes in the answers, in the input's order."""
        if any(_quotes_a_change(command) for command, _ in items):
            await self.sync_installed_base_replicas()
        groups = group_by_shard(
            ((command.quote_id, i) for i, (command, _) in enumerate(items)),
            len(self.quote_shards),
        )
        answers = await asyncio.gather(
            *(
                self._command_batchers[s].submit([items[i] for i in idx])
                for s, idx in groups.items()
            )
        )
        results: list[CommandResult | None] = [None] * len(items)
        for idx, batch in zip(groups.values(), answers, strict=True):
            for i, result in zip(idx, batch, strict=True):
                results[i] = result
        return results  # type: ignore[return-value]

    async def convert(self, quote_id: str, key: str, actor: str = "api") -> ConvertOutcome:
        return (await self.convert_many([(quote_id, key, actor)]))[0]

    async def convert_many(self, items: Sequence[tuple[str, str, str]]) -> list[ConvertOutcome]:
        """Quote side first (idempotent per key), then the order side (idempotent per id).

        The order each converted quote calls for comes from the conversion process
        manager; a quote shard keeps it in its outbox until the order side confirms, so a
        crash between the two halves is healed by :meth:`relay_conversions`.
        """
        results = await self.execute_many(
            [(ConvertQuoteToOrder(quote_id=q, idempotency_key=k), a) for q, k, a in items]
        )
        creates: dict[int, CreateOrder] = {}
        for i, result in enumerate(results):
            if result.ok and result.view is not None:
                create = order_to_create(result.view.quote, items[i][2], result.last_event_id)
                if create is not None:
                    creates[i] = create
        started = await self.start_orders(list(creates.values()))
        outcomes = [ConvertOutcome(result=r) for r in results]
        for i, (view, created) in zip(creates, started, strict=True):
            outcomes[i] = ConvertOutcome(result=results[i], order=view, created=created)
        return outcomes

    async def start_orders(self, creates: list[CreateOrder]) -> list[tuple[OrderView, bool]]:
        """Create and start orders on their shards, then confirm them to the quote side."""
        if not creates:
            return []
        creates = await self._lock_assets(creates)
        groups = group_by_shard(
            ((c.order_id, (i, c)) for i, c in enumerate(creates)), len(self.order_shards)
        )
        answers = await asyncio.gather(
            *(
                self.order_shards[s].call("start_orders", [c for _, c in batch])
                for s, batch in groups.items()
            )
        )
        out: list[tuple[OrderView, bool] | None] = [None] * len(creates)
        for batch, answer in zip(groups.values(), answers, strict=True):
            for (i, _), started in zip(batch, answer, strict=True):
                out[i] = started
        await self._confirm([c.quote.quote_id for c in creates], [c.order_id for c in creates])
        return out  # type: ignore[return-value]

    async def _lock_assets(self, creates: list[CreateOrder]) -> list[CreateOrder]:
        """Lock what change orders act on, in one inventory call, before they exist.

        A new sale locks nothing, so a batch without changes costs no call at all. Each
        change order is created with the assets as locked for it, or with the reasons the
        installed base refused (it is then rejected, and nothing was locked).
        """
        changing = [
            i for i, c in enumerate(creates) if any(ln.changes_asset for ln in c.quote.lines)
        ]
        if not changing:
            return creates
        asked = [
            LockRequest(
                order_id=c.order_id,
                account_id=c.quote.account_id,
                lines=list(c.quote.lines),
                quote_id=c.quote.quote_id,
                caused_by=c.caused_by,
            )
            for c in (creates[i] for i in changing)
        ]
        answers = await self.inventory.call("lock", asked)
        out = list(creates)
        for i, (assets, refusals) in zip(changing, answers, strict=True):
            out[i] = creates[i].model_copy(update={"assets": assets, "asset_refusals": refusals})
        return out

    async def _confirm(self, quote_ids: list[str], order_ids: list[str]) -> None:
        groups = group_by_shard(zip(quote_ids, order_ids, strict=True), len(self.quote_shards))
        await asyncio.gather(
            *(self.quote_shards[s].call("confirm_conversions", ids) for s, ids in groups.items())
        )

    async def relay_conversions(self, older_than_s: float = 0.0) -> int:
        """Create the orders of conversions no order side has confirmed (after a crash).

        The supervisor passes ``older_than_s`` so it never races a caller that is about
        to confirm a conversion it has just made.
        """
        pending = await asyncio.gather(
            *(h.call("unconfirmed_conversions", older_than_s) for h in self.quote_shards)
        )
        creates = [c for part in pending for c in part]
        await self.start_orders(creates)
        return len(creates)

    # ----------------------------------------------------------------- supervision

    async def supervise_once(self) -> None:
        """Wake every executor (a restarted one resumes its orders), relay conversions, and
        give a restarted actor the catalog in force (it comes back with the one it was
        created with)."""
        await asyncio.gather(*(h.call("start") for h in self.order_shards))
        await asyncio.gather(*(h.call("expire_due") for h in self.quote_shards))
        await self.relay_conversions(older_than_s=RELAY_AFTER_S)
        await self.catch_up_installed_base()
        await self.sync_installed_base_replicas()
        if self.catalog_in_force is not self.config.catalog:
            shards = [*self.quote_shards, *self.order_shards, self.inventory]
            versions = await asyncio.gather(*(h.call("catalog_version") for h in shards))
            stale = [h for h, v in zip(shards, versions, strict=True) if v != self.catalog.version]
            await asyncio.gather(*(h.call("publish_catalog", self.catalog) for h in stale))
        policy = self.approval_policy_in_force
        if policy is not self.config.approval_policy:
            shards = self.quote_shards
            versions = await asyncio.gather(*(h.call("approval_policy_version") for h in shards))
            behind = [h for h, v in zip(shards, versions, strict=True) if v != policy.version]
            await asyncio.gather(*(h.call("publish_approval_policy", policy) for h in behind))

    async def publish_approval_policy(self, policy: ApprovalPolicy) -> bool:
        """Put ``policy`` in force on every quote shard; False when it already is.

        A version names one content: the same version with other rules is refused
        (:class:`PolicyVersionConflict`), so every decision's recorded version means one
        thing. Quotes priced under the previous version are priced again before anyone
        decides on them.
        """
        current = self.approval_policy_in_force
        if policy.version == current.version:
            if policy == current:
                return False
            raise PolicyVersionConflict(
                f"approval policy version {policy.version} is in force with other content: "
                "a changed policy needs a new version"
            )
        self.approval_policy_in_force = policy
        await asyncio.gather(
            *(h.call("publish_approval_policy", policy) for h in self.quote_shards)
        )
        return True

    async def publish_catalog(self, catalog: Catalog) -> None:
        """A new catalog version is in force everywhere from now (recorded once, as a fact)."""
        self.catalog_in_force = catalog
        await asyncio.gather(
            *(h.call("publish_catalog", catalog, i == 0) for i, h in enumerate(self.quote_shards)),
            *(h.call("publish_catalog", catalog) for h in self.order_shards),
            self.inventory.call("publish_catalog", catalog),
        )

    async def execute_orders(self, items: Sequence[tuple[OrderCommand, str]]) -> list[dict]:
        """Order commands grouped per order shard; answers in the input's order."""
        groups = group_by_shard(
            ((command.order_id, i) for i, (command, _) in enumerate(items)),
            len(self.order_shards),
        )
        answers = await asyncio.gather(
            *(
                self.order_shards[s].call("execute_orders", [items[i] for i in idx])
                for s, idx in groups.items()
            )
        )
        out: list[dict | None] = [None] * len(items)
        for idx, batch in zip(groups.values(), answers, strict=True):
            for i, answer in zip(idx, batch, strict=True):
                out[i] = answer
        return out  # type: ignore[return-value]

    async def _supervise(self) -> None:
        while True:
            await asyncio.sleep(SUPERVISE_EVERY_S)
            with contextlib.suppress(ActorUnavailable):  # restarting: next round
                await self.supervise_once()

    def restart(self, component: str) -> None:
        """Fault injection: kill the actors of ``component`` ("quotes", "orders") so they
        restart from their journals (a real ``ray.kill`` on Ray)."""
        shards = {
            "quotes": self.quote_shards,
            "orders": self.order_shards,
            "inventory": [self.inventory],
        }[component]
        for handle in shards:
            handle.kill(restart=True)

    async def set_pricing_available(self, available: bool) -> None:
        """Fault injection: pricing goes down (or comes back) on every quote shard."""
        await asyncio.gather(
            *(h.call("set_pricing_available", available) for h in self.quote_shards)
        )

    async def make_unreachable(self, system: str, for_s: float) -> None:
        """Fault injection: order executors cannot reach ``system`` for ``for_s`` seconds."""
        await asyncio.gather(
            *(h.call("make_unreachable", system, for_s) for h in self.order_shards)
        )

    async def get_quote(self, quote_id: str) -> QuoteView | None:
        return await self.quote_shard(quote_id).call("get", quote_id)

    async def list_quotes(
        self, limit: int, offset: int, accounts: Collection[str] | None = None
    ) -> tuple[list[QuoteView], int]:
        """A page of quotes by creation time; with ``accounts``, only those accounts'."""
        scope = None if accounts is None else sorted(accounts)
        parts = await asyncio.gather(
            *(h.call("list", offset + limit, scope) for h in self.quote_shards)
        )
        views = sorted(
            (v for vs, _ in parts for v in vs), key=lambda v: (v.created, v.quote.quote_id)
        )
        return views[offset : offset + limit], sum(total for _, total in parts)

    # ----------------------------------------------------------------- orders

    async def get_order(self, order_id: str) -> OrderView | None:
        return await self.order_shard(order_id).call("get", order_id)

    async def list_orders(
        self, limit: int, offset: int, accounts: Collection[str] | None = None
    ) -> tuple[list[OrderView], int]:
        """A page of orders by creation time; with ``accounts``, only those accounts'."""
        scope = None if accounts is None else sorted(accounts)
        parts = await asyncio.gather(
            *(h.call("list", offset + limit, scope) for h in self.order_shards)
        )
        views = sorted(
            (v for vs, _ in parts for v in vs), key=lambda v: (v.created, v.order.order_id)
        )
        return views[offset : offset + limit], sum(total for _, total in parts)

    async def quote_evidence(self, quote_id: str) -> EvidencePackage | None:
        """The evidence package of a quote, from its shard's facts and its order's."""
        events = await self.quote_shard(quote_id).call("quote_events", quote_id)
        if events is None:
            return None
        package = evidence_package(quote_id, events)
        if package is not None and package.order_id is not None:
            order_events = await self.timeline(package.order_id) or []
            package = evidence_package(quote_id, [*events, *order_events])
        return package

    def verify_evidence(self, package: EvidencePackage) -> Verification:
        """Re-verify a package against the catalog versions this platform knows."""
        known = {c.version: c for c in (self.config.catalog, self.catalog)}

        def price(request: PriceRequest, version: str) -> PriceResult:
            return QuoteServices(catalog=known[version]).price(request)

        return verify_evidence(package, price)

    async def timeline(self, order_id: str) -> list[CloudEvent] | None:
        return await self.order_shard(order_id).call("timeline", order_id)

    # ----------------------------------------------------------------- installed base

    async def installed_base(self) -> InstalledBaseCopy:
        """The installed base as the inventory holds it (rebuilt here from its facts), and
        any reaction it could not apply."""
        events, stats = await asyncio.gather(
            self.inventory.call("events"), self.inventory.call("stats")
        )
        base = InstalledBase(ASSET_EVENTS[e.type].model_validate(e.data) for e in events)
        return InstalledBaseCopy(base, list(stats["errors"]))

    async def sync_installed_base_replicas(self) -> None:
        """Bring every quote shard's replica of the installed base up to the inventory's
        facts (one call to ask where each stands, one for the facts, one per shard behind)."""
        positions = await asyncio.gather(
            *(h.call("installed_base_position") for h in self.quote_shards)
        )
        low = min(positions)
        events = await self.inventory.call("facts_since", low)
        head = low + len(events)
        await asyncio.gather(
            *(
                h.call("sync_installed_base", p, events[p - low :])
                for h, p in zip(self.quote_shards, positions, strict=True)
                if p < head
            )
        )

    async def catch_up_installed_base(self) -> int:
        """Bring the inventory every fed order fact it has not read (a push lost to a
        crash on either side); returns how many were brought."""
        cursors = await self.inventory.call("feed_cursors")
        feeds = await asyncio.gather(*(h.call("asset_feed", cursors) for h in self.order_shards))
        behind = [(key, start, pairs) for key, start, pairs in feeds if pairs]
        for key, start, pairs in behind:
            await self.inventory.call("absorb", key, start, pairs)
        return sum(len(pairs) for _, _, pairs in behind)

    async def get_product(self, asset_id: str) -> AssetView | None:
        return await self.inventory.call("get", asset_id)

    async def list_products(
        self,
        limit: int,
        offset: int,
        accounts: Collection[str] | None = None,
        status: Collection[str] | None = None,
        offering: str | None = None,
    ) -> tuple[list[AssetView], int]:
        """A page of assets (creation order), of ``accounts`` only when given."""
        scope = None if accounts is None else sorted(accounts)
        wanted = None if status is None else sorted(status)
        return await self.inventory.call("list", limit, offset, scope, wanted, offering)

    async def assets(self, asset_ids: Collection[str]) -> dict[str, Any]:
        """The named assets that exist, by id (one call however many)."""
        return await self.inventory.call("assets", sorted(set(asset_ids)))

    async def check_changes(self, account_id: str, lines: list[QuoteLine]) -> list[ChangeRefusal]:
        """Why the change lines of a quote for ``account_id`` cannot go ahead (empty: they
        may), judged against the installed base as it is now."""
        return await self.inventory.call("check", account_id, lines)

    # ----------------------------------------------------------------- whole-run views

    async def events(self) -> list[CloudEvent]:
        """Every fact from every shard, stable-sorted by time (then by shard order)."""
        parts = await asyncio.gather(
            *(h.call("events") for h in [*self.quote_shards, *self.order_shards, self.inventory])
        )
        merged = [e for part in parts for e in part]
        merged.sort(key=lambda e: e.time)
        return merged

    async def ledgers(self) -> dict[str, LedgerSnapshot]:
        snaps = await asyncio.gather(*(h.call("ledger") for h in self.downstream.values()))
        return dict(zip(self.downstream, snaps, strict=True))

    async def downstream_metrics(self) -> dict[str, dict[str, Any]]:
        ms = await asyncio.gather(*(h.call("metrics") for h in self.downstream.values()))
        return dict(zip(self.downstream, ms, strict=True))

    async def downstream_samples(self) -> dict[str, tuple[int, int]]:
        ss = await asyncio.gather(*(h.call("sample") for h in self.downstream.values()))
        return dict(zip(self.downstream, ss, strict=True))

    async def order_status_counts(self) -> dict[str, int]:
        parts = await asyncio.gather(*(h.call("status_counts") for h in self.order_shards))
        total: dict[str, int] = {}
        for part in parts:
            for k, v in part.items():
                total[k] = total.get(k, 0) + v
        return dict(sorted(total.items()))

    async def fallout_cases(
        self, status: str | None = None, accounts: Collection[str] | None = None
    ) -> list[dict[str, Any]]:
        """Every shard's fallout cases, oldest first (the operations desk's work queue);
        with ``accounts``, only those accounts' orders' cases."""
        scope = None if accounts is None else sorted(accounts)
        parts = await asyncio.gather(
            *(h.call("fallout_cases", status, scope) for h in self.order_shards)
        )
        return sorted(
            (c for part in parts for c in part), key=lambda c: (c["opened_at"] or "", c["case_id"])
        )

    async def fallout_case(self, case_id: str) -> dict[str, Any] | None:
        found = await asyncio.gather(*(h.call("fallout_case", case_id) for h in self.order_shards))
        return next((c for c in found if c is not None), None)

    async def unsettled_orders(self) -> int:
        return sum(await asyncio.gather(*(h.call("unsettled") for h in self.order_shards)))

    async def orders_final(self) -> dict[str, str]:
        parts = await asyncio.gather(*(h.call("orders_final") for h in self.order_shards))
        return dict(sorted(kv for part in parts for kv in part.items()))

    async def executor_stats(self) -> list[dict[str, Any]]:
        return list(await asyncio.gather(*(h.call("stats") for h in self.order_shards)))


def _quotes_a_change(command: QuoteCommand) -> bool:
    """Does the command put change lines on a quote (judged against the installed base)?"""
    lines = getattr(command, "lines", None)
    return bool(lines) and any(line.changes_asset for line in lines)


def _changes_assets(create: CreateOrder) -> bool:
    return any(line.changes_asset for line in create.quote.lines)


def _share(team: Operations | None, shards: int) -> Operations | None:
    """Each order shard's desk gets its share of the staff (at least one person)."""
    if team is None:
        return None
    return team.model_copy(update={"staff": max(1, team.staff // shards) if team.staff else 0})
