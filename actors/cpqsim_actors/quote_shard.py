"""A quote shard: one single-threaded (sync) actor holding a slice of the quotes.

A sync Ray actor executes one method at a time, so commands to a quote are applied in
arrival order without locks. Each batch's facts are journaled before the answer leaves
the shard; a restarted shard replays its journal and is back where it was.

Conversion has an outbox: when a quote converts, the order it calls for is journaled in
the same transaction as the fact, and stays there until the order side confirms it
exists. If the shard (or the caller) dies between the two sides, the platform relays the
unconfirmed orders when it next looks (see ``LivePlatform.relay_conversions``): no
client retry is needed, and no converted quote is left without its order.
"""

from __future__ import annotations

import heapq
import json
import random
import time
from collections.abc import Iterable
from datetime import datetime
from pathlib import Path

from cpqsim_host.journey_runner import VALIDITY_WATCH

from cpqsim.approval import ApprovalPolicy, ApprovalPolicyPublished
from cpqsim.asset import InstalledBase
from cpqsim.catalog import Catalog
from cpqsim.catalog_events import CatalogPublished
from cpqsim.context import Context, IdSource, rng_stream
from cpqsim.conversion import CreateOrder, order_to_create
from cpqsim.events import CloudEvent, envelope
from cpqsim.lifecycle import DomainError
from cpqsim.orchestration import ResiliencePolicy
from cpqsim.pricing import PricingError
from cpqsim.quote import (
    ChangeRefused,
    ExpireQuote,
    QuoteCommand,
    QuoteConvertedToOrder,
    QuoteServices,
    UnknownQuote,
)
from cpqsim.quote_policy import QuotePolicy
from cpqsim.services import QuoteService
from cpqsim_actors.asset_inventory import ASSET_EVENTS
from cpqsim_actors.clock import VirtualClock
from cpqsim_actors.messages import CommandResult, QuoteCard, QuoteView, Shape
from cpqsim_actors.recovery import JournaledShard, refused_while_journal_refused


@refused_while_journal_refused("execute", "execute_batch", "get", "list", "events")
class QuoteShard(JournaledShard):
    def __init__(
        self,
        name: str,
        catalog: Catalog,
        policy: ResiliencePolicy,
        t0_wall: float,
        time_scale: float,
        journal_path: str | None = None,
        seed: int = 0,
        refuse_stale_prices: bool = True,
        approval_policy: ApprovalPolicy | None = None,
        quote_policy: QuotePolicy | None = None,
    ) -> None:
        self.name = name
        # A replica of the platform's installed base (the inventory's facts, in its
        # order): change lines are judged and priced against it. Derived, so never
        # journaled: the platform brings a (re)started shard's replica up to date.
        self.installed_base = InstalledBase()
        self.installed_base_seen = 0  # inventory facts folded into the replica so far
        self.replica_errors: list[str] = []
        self.quotes = QuoteService(
            QuoteServices(
                catalog=catalog,
                refuse_stale_prices=refuse_stale_prices,
                approval_policy=approval_policy or ApprovalPolicy(),
                quote_policy=quote_policy or QuotePolicy(),
                installed_base=self.installed_base,
            )
        )
        self.clock = VirtualClock(t0_wall, time_scale)
        self.ids = IdSource(namespace=name)
        self.rng: random.Random = rng_stream(seed, f"quote-shard.{name}")
        # Every fact, as its JSON: a shard serving prices for hours holds hundreds of
        # thousands, and as objects (about a hundred containers each) the garbage
        # collector's full passes over them stalled the shard for 0.4 s at 8,000 prices.
        self.log: list[str] = []
        self.times: dict[str, tuple[str, str]] = {}  # quote id -> (created, updated)
        self.outbox: dict[str, CreateOrder] = {}  # order id -> promised order
        self._validity: list[tuple[datetime, str]] = []  # (valid-until, quote id), a heap
        self._promised_at: dict[str, float] = {}  # order id -> monotonic time promised
        self._open_journal(journal_path, time_scale)
        if self.journal is not None:
            for order_id, body in self.journal.outbox().items():
                self.outbox[order_id] = CreateOrder.model_validate_json(body)
                self._promised_at[order_id] = 0.0  # from a previous life: due at once

    # ---------------------------------------------------------------- recovery

    def _replay_event(self, event: CloudEvent) -> None:
        if event.subject.startswith("approval-policy/"):
            # The policy in force comes back from the journal (the fact carries all of it).
            self.log.append(event.model_dump_json())
            policy = ApprovalPolicy.model_validate(event.data["policy"])
            self.quotes.set_approval_policy(policy)
            return
        if event.subject.startswith("catalog/"):
            self.log.append(event.model_dump_json())  # the catalog comes back from the platform
            return
        quote = self.quotes.apply(event)
        self._remember(quote.quote_id, event)

    def _remember(self, quote_id: str, event: CloudEvent) -> None:
        if event.name == "quote.presented":
            lapses = datetime.fromisoformat(str(event.data["valid_until"]))
            heapq.heappush(self._validity, (lapses, quote_id))
        self.log.append(event.model_dump_json())
        created = self.times.get(quote_id, (event.time, event.time))[0]
        self.times[quote_id] = (created, event.time)

    # ---------------------------------------------------------------- commands

    def _view(self, quote_id: str) -> QuoteView | None:
        quote = self.quotes.quotes.get(quote_id)
        if quote is None:
            return None
        created, updated = self.times[quote_id]
        return QuoteView(quote=quote, created=created, updated=updated)

    def _card(self, quote_id: str) -> QuoteCard | None:
        quote = self.quotes.quotes.get(quote_id)
        if quote is None:
            return None
        created, updated = self.times[quote_id]
        return QuoteCard.of(quote, created, updated)

    def _quote_as(self, shape: Shape, quote_id: str) -> dict[str, QuoteView | QuoteCard | None]:
        """The quote for an answer, as the caller asked: whole (``view``) or its ``card``."""
        if shape == "card":
            return {"card": self._card(quote_id)}
        return {"view": self._view(quote_id)}

    def _execute(
        self, command: QuoteCommand, actor: str, shape: Shape = "view"
    ) -> tuple[CommandResult, list]:
        ctx = Context(now=self.clock.now(), ids=self.ids, rng=self.rng, actor=actor)
        try:
            quote, events = self.quotes.handle(command, ctx)
        except UnknownQuote as exc:
            return CommandResult("not_found", code=exc.code, message=exc.message), []
        except ChangeRefused as exc:
            # Judged again by the quote itself (at creation, revision or pricing): the
            # reasons travel as violations, so HTTP answers it as the gateway's own check.
            quote = self._quote_as(shape, command.quote_id)
            refusals = [r.model_dump(mode="json") for r in exc.refusals]
            return (
                CommandResult(
                    "refused", code=exc.code, message=exc.message, violations=refusals, **quote
                ),
                [],
            )
        except DomainError as exc:
            quote = self._quote_as(shape, command.quote_id)
            return CommandResult("refused", code=exc.code, message=exc.message, **quote), []
        except PricingError as exc:
            violations = [v.model_dump() for v in exc.violations]
            return (
                CommandResult(
                    "invalid", code="invalid_configuration", message=str(exc), violations=violations
                ),
                [],
            )
        for event in events:
            self._remember(command.quote_id, event)
            if event.type == QuoteConvertedToOrder.cloudevent_type():
                create = order_to_create(quote, actor, caused_by=event.id)
                assert create is not None
                self.outbox[create.order_id] = create
                self._promised_at[create.order_id] = time.monotonic()
        # An approval without authority is recorded (the fact is journaled) yet refused.
        refused = [e for e in events if e.name == "quote.approval_refused"]
        result = CommandResult(
            "refused" if refused else "ok",
            new_events=len(events),
            last_event_id=events[-1].id if events else None,
            code="approval_refused" if refused else None,
            message=refused[0].data["reason"] if refused else None,
            **self._quote_as(shape, command.quote_id),
        )
        return result, events

    def execute(self, command: QuoteCommand, actor: str = "api") -> CommandResult:
        return self.execute_batch([(command, actor)])[0]

    def execute_batch(self, items: list[tuple]) -> list[CommandResult]:
        """Many commands in one actor call (and one journal transaction), in order.

        Each item is ``(command, actor)`` or ``(command, actor, shape)``: ``"card"`` asks
        for the quote's card instead of the whole quote (see ``messages.QuoteCard``). One
        command that fails unexpectedly (a bug) answers ``failed`` and decides nothing; the
        others in the batch go on, and what they decided is journaled.
        """
        results, facts = [], []
        promised_before = set(self.outbox)
        for item in items:
            try:
                result, events = self._execute(*item)
            except Exception as exc:  # a bug: one answer says so, the batch goes on
                message = f"{type(exc).__name__}: {exc}"[:500]
                result, events = CommandResult("failed", code="internal_error", message=message), []
            results.append(result)
            facts.extend(events)
        if self.journal is not None and facts:
            promised = {
                oid: self.outbox[oid].model_dump_json()
                for oid in self.outbox
                if oid not in promised_before
            }
            self.journal.append(facts, self.ids.state(), outbox=promised)
        return results

    def installed_base_position(self) -> int:
        """How many of the inventory's facts the replica holds."""
        return self.installed_base_seen

    def sync_installed_base(self, start: int, events: list[CloudEvent]) -> int:
        """Fold the inventory's facts ``start``, ``start + 1``, ... into the replica (those
        held already are skipped; after a gap, nothing: the next sync fills it in order).
        A fact the replica cannot fold is skipped with the error kept: the inventory's
        lock, not this replica, is what decides a change."""
        if start > self.installed_base_seen:
            return self.installed_base_seen
        for event in events[self.installed_base_seen - start :]:
            try:
                self.installed_base.apply(ASSET_EVENTS[event.type].model_validate(event.data))
            except (KeyError, ValueError) as exc:
                self.replica_errors.append(f"{event.id}: {type(exc).__name__}: {exc}"[:500])
            self.installed_base_seen += 1
        return self.installed_base_seen

    def publish_catalog(self, catalog: Catalog, record: bool = False) -> None:
        """A new catalog version is in force; ``record`` writes the fact (one shard does)."""
        self.quotes.publish(catalog)
        if record and self.refusal is None:  # a refused shard records nothing
            ctx = Context(
                now=self.clock.now(), ids=self.ids, rng=self.rng, actor="catalog-publisher"
            )
            fact = CatalogPublished(
                catalog_id=catalog.id,
                catalog_version=catalog.version,
                fingerprint=catalog.fingerprint,
            )
            event = envelope(fact, ctx)
            self.log.append(event.model_dump_json())
            if self.journal is not None:
                self.journal.append([event], self.ids.state())

    def publish_approval_policy(self, policy: ApprovalPolicy) -> None:
        """A new approval policy version is in force on this shard, recorded in its log
        and journal (so a restarted shard replays back into it)."""
        self.quotes.set_approval_policy(policy)
        ctx = Context(now=self.clock.now(), ids=self.ids, rng=self.rng, actor="policy-publisher")
        fact = ApprovalPolicyPublished(
            policy_version=policy.version, policy=policy.model_dump(mode="json")
        )
        event = envelope(fact, ctx)
        self.log.append(event.model_dump_json())
        if self.journal is not None:
            self.journal.append([event], self.ids.state())

    def approval_policy_version(self) -> str:
        return self.quotes.services.approval_policy.version

    # ----------------------------------------------------------------- outbox

    def unconfirmed_conversions(self, older_than_s: float = 0.0) -> list[CreateOrder]:
        """Orders promised by conversions that the order side has not confirmed yet.

        ``older_than_s`` leaves alone the promises a caller is most likely still keeping
        (a conversion answered a moment ago is confirmed a moment later).
        """
        cutoff = time.monotonic() - older_than_s
        return [self.outbox[k] for k in sorted(self.outbox) if self._promised_at[k] <= cutoff]

    def confirm_conversions(self, order_ids: list[str]) -> int:
        done = [oid for oid in order_ids if oid in self.outbox]
        for oid in done:
            del self.outbox[oid]
            del self._promised_at[oid]
        if self.journal is not None and done:
            self.journal.confirm(done)
        return len(done)

    # ------------------------------------------------------------------ reads

    def get(self, quote_id: str) -> QuoteView | None:
        return self._view(quote_id)

    def list(self, limit: int, accounts: list[str] | None = None) -> tuple[list[QuoteView], int]:
        """The first ``limit`` quotes by (creation time, id), and how many there are;
        with ``accounts``, counting only those accounts' quotes (a caller's scope)."""
        ids: Iterable[str] = self.times
        total = len(self.times)
        if accounts is not None:
            scope = set(accounts)
            quotes = self.quotes.quotes
            ids = [q for q in self.times if q in quotes and quotes[q].account_id in scope]
            total = len(ids)
        keys = heapq.nsmallest(limit, ids, key=lambda q: (self.times[q][0], q))
        return [v for v in map(self._view, keys) if v is not None], total

    def events(self) -> list[CloudEvent]:
        return [CloudEvent.model_validate_json(body) for body in self.log]

    def quote_events(self, quote_id: str) -> list[CloudEvent] | None:
        """The facts of one quote, oldest first (None: the quote is not on this shard)."""
        if quote_id not in self.quotes.quotes:
            return None
        subject = f"quote/{quote_id}"
        marker = f'"subject":{json.dumps(subject)}'
        found = (CloudEvent.model_validate_json(body) for body in self.log if marker in body)
        return [e for e in found if e.subject == subject]

    def expire_due(self) -> int:
        """The validity watch: expire every offer whose valid-until has passed.

        Quotes created over HTTP have no journey to arm a timer, so the platform's
        supervisor asks each shard in turn; a quote taken up meanwhile (accepted and
        converted, revised) refuses the expiry and is simply dropped from the watch.
        """
        now, due = self.clock.now(), []
        while self._validity and self._validity[0][0] <= now:
            due.append(heapq.heappop(self._validity)[1])
        results = self.execute_batch([(ExpireQuote(quote_id=q), VALIDITY_WATCH) for q in due])
        return sum(1 for r in results if r.ok)

    def reset_clock(self, t0_wall: float) -> None:
        """Re-anchor the run's t0 (the driver does this once every actor is up)."""
        self.clock = VirtualClock(t0_wall, self.clock.time_scale)
        if self.journal is not None:
            self.journal.set_meta("t0_wall", t0_wall)

    def ping(self) -> str:
        return self.name

    def catalog_version(self) -> str:
        return self.quotes.catalog.version

    def set_pricing_available(self, available: bool) -> None:
        self.quotes.set_pricing_available(available)

    def journal_path(self) -> str | None:
        return str(Path(self.journal.path)) if self.journal else None
