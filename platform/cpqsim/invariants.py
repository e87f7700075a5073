"""The invariant checker: judges a run from its event log and downstream ledgers.

It is runtime-agnostic on purpose: the sim runtime and the Ray runtime hand it the same
two things, and it knows nothing of how they were produced. Each check returns how many
violations it found and a few concrete examples naming orders, quotes and references, so
an architect can go straight to the timeline that broke.

It judges incrementally, so a long run is judged as it streams: every invariant is a
:class:`~cpqsim.invariant_checker.Checker` that is shown each event it watches once, in
log order, keeps only what its rule still needs, and concludes from the ledgers when the
run is over. What a checker keeps is bounded by the orders in flight (an order's status
is dropped once it can no longer change), plus a compact residue of ids where a rule must
still cross-check the ledgers at the end, or can be broken by a fact arriving at any later
time (the references of completed tasks, the billing tasks and activated items, the
accepted quotes). :class:`InvariantJudge` runs them all; :func:`check_invariants` judges
a whole log at once. The rules of the places where orders fail (cancellation,
compensation, approvals, fallout) live in :mod:`cpqsim.invariants_orders`; those of the
installed base (assets against provisioning and billing, change versions) in
:mod:`cpqsim.invariants_assets`.

Adding an invariant (registration order is report order)::

    @invariant("cancelled_orders_leave_nothing_live", "what must hold, in one sentence")
    class CancelledOrdersLeaveNothingLive(Checker):
        watches = ("order.cancelled", "order.task_completed")  # facts it is shown

        def observe(self, event: CloudEvent) -> None:
            ...  # once per watched event, in order; self.problem("...") for a violation

        def conclude(self, ledgers: dict[str, LedgerSnapshot]) -> list[str]:
            return []  # violations only the end of the run (or the ledgers) can show

``watches`` may name a family (``order.*``). A checker that needs the run's particulars
is registered with ``needs=("catalogs",)`` (every catalog version of the run, by
version, first the one it began with: it is left out when the judge has no catalog) or
``needs=("approval_sla_s",)``, and built with them as keyword arguments. Checkers that
judge the same view of the run from different sides read one shared
:class:`~cpqsim.invariant_checker.Fold` instead of each folding the same facts: a checker
names it in ``reads`` (``reads = {"base": RunInstalledBase}``) and is built with the
judge's one fold of that kind, folded before the checkers see each fact. A plain function
``check(events, ledgers) -> list[str]`` may still be registered with
``@invariant(name, description, watches=(...))``: it is handed the watched events, kept
until the end (without ``watches``, every event: only for small logs).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from cpqsim.approval import ApprovalPolicy
from cpqsim.canonical import CANONICAL_ENCODER
from cpqsim.catalog import Catalog
from cpqsim.decomposition import BILLING_OPERATION
from cpqsim.downstream import LedgerSnapshot, live_side_effects
from cpqsim.events import CloudEvent
from cpqsim.invariant_checker import (
    MAX_EXAMPLES,
    PLATFORM,
    REGISTERED,
    Checker,
    Fold,
    InvariantResult,
    Violation,
    build_checker,
    invariant,
)
from cpqsim.invariants_assets import ASSET_CHECKS
from cpqsim.invariants_audit import AUDIT_CHECKS, AuditLines
from cpqsim.invariants_orders import ORDER_CHECKS
from cpqsim.order import ORDER_LIFECYCLE, OrderStatus, settled, status_trigger
from cpqsim.pricing import PriceRequest, price_quote
from cpqsim.principals import same_principal

__all__ = [
    "MAX_EXAMPLES",
    "Checker",
    "InvariantJudge",
    "InvariantResult",
    "Violation",
    "all_hold",
    "check_invariants",
    "invariant",
]

#: Distinct price requests whose re-priced fingerprint the checker remembers.
REPRICING_MEMO_SIZE = 4096


# ------------------------------------------------------------------------- the rules


@invariant(
    "no_duplicate_side_effects", "each fulfillment task has at most one side effect downstream"
)
class NoDuplicateSideEffects(Checker):
    def conclude(self, ledgers):
        return [
            Violation(f"{system}: {ref} executed {n} times", "duplicate side effect", system)
            for system, ledger in sorted(ledgers.items())
            for ref, n in ledger.duplicates().items()
        ]


@invariant("quote_converted_at_most_once", "an accepted quote revision becomes at most one order")
class QuoteConvertedAtMostOnce(Checker):
    """Keeps one order id per converted quote; a set only for a quote with two."""

    watches = ("quote.converted_to_order", "order.created")
    kind = "quote converted twice"

    def __init__(self) -> None:
        super().__init__()
        self.first_order: dict[str, str] = {}
        self.several: dict[str, set[str]] = {}

    def observe(self, event):
        quote_id, order_id = event.data["quote_id"], event.data["order_id"]
        first = self.first_order.setdefault(quote_id, order_id)
        if first != order_id:
            self.several.setdefault(quote_id, {first}).add(order_id)

    def conclude(self, ledgers):
        return [
            f"quote {q} converted into orders {', '.join(sorted(orders))}"
            for q, orders in sorted(self.several.items())
        ]


def _dead_ends() -> frozenset[OrderStatus]:
    """Statuses no transition of the order lifecycle leaves (completed, rejected)."""
    triggers = ORDER_LIFECYCLE.triggers()
    return frozenset(
        s
        for s in ORDER_LIFECYCLE.states()
        if not any(ORDER_LIFECYCLE.allows(s, t) for t in triggers)
    )


@invariant(
    "orders_terminal_or_in_fallout",
    "every order ends terminal or held in a fallout case with an owner (nothing silently stuck)",
)
class OrdersTerminalOrInFallout(Checker):
    """Statuses come from the order lifecycle table (:func:`cpqsim.order.status_trigger`)
    and "settled" from its one definition (:func:`cpqsim.order.settled`): the checker
    cannot disagree with the runtimes about it.

    Per order in flight it keeps its status, its open cases (owned and all) and whether a
    cancellation was accepted; an order whose status no transition leaves (completed,
    rejected) is forgotten, since nothing can unsettle it.
    """

    watches = ("order.*",)
    DEAD_ENDS = _dead_ends()

    def __init__(self) -> None:
        super().__init__()
        self.status: dict[str, OrderStatus] = {}
        self.open_owned: dict[str, int] = {}
        self.open_any: dict[str, int] = {}
        self.cancelling: set[str] = set()
        self.last_system: dict[str, str] = {}  # order in flight -> system last called

    def observe(self, event):
        if not event.subject.startswith("order/"):
            return
        name, data = event.name, event.data
        oid = data["order_id"]
        if name == "order.task_dispatched":
            if oid in self.status:
                self.last_system[oid] = data["system"]
            return  # a dispatch moves no order status
        if name == "order.created":
            self.status[oid] = OrderStatus.ACKNOWLEDGED
        elif name == "order.fallout_opened":
            self.open_any[oid] = self.open_any.get(oid, 0) + 1
            self.open_owned[oid] = self.open_owned.get(oid, 0) + (1 if data.get("owner") else 0)
        elif name == "order.fallout_resolved":
            self.open_any[oid] = self.open_any.get(oid, 0) - 1
            self.open_owned[oid] = self.open_owned.get(oid, 0) - 1
        elif name == "order.cancellation_accepted":
            self.cancelling.add(oid)
        current = self.status.get(oid)
        if current is None:
            return
        trigger = status_trigger(name, self.open_any.get(oid, 0), oid in self.cancelling)
        if trigger is None or not ORDER_LIFECYCLE.allows(current, trigger):
            return
        new = ORDER_LIFECYCLE.next_state(current, trigger)
        if new in self.DEAD_ENDS:
            del self.status[oid]  # settled for good: nothing of it is needed any more
            self.open_any.pop(oid, None)
            self.open_owned.pop(oid, None)
            self.cancelling.discard(oid)
            self.last_system.pop(oid, None)
        else:
            self.status[oid] = new

    def conclude(self, ledgers):
        return [
            Violation(
                f"order {oid} is stuck in {s.value} with no owned fallout case",
                f"stuck in {s.value}",
                self.last_system.get(oid, PLATFORM),
            )
            for oid, s in sorted(self.status.items())
            if not settled(s, self.open_owned.get(oid, 0))
        ]


@invariant("billing_not_before_activation", "billing starts only after the asset is activated")
class BillingNotBeforeActivation(Checker):
    """Keeps the billing tasks and activated items (ids) for the end-of-run ledger check."""

    watches = (
        "order.decomposed",
        "order.asset_activated",
        "order.item_change_fulfilled",
        "order.task_dispatched",
        "order.billing_started",
    )

    def __init__(self) -> None:
        super().__init__()
        self.activated: set[tuple[str, str]] = set()  # new items activated, changes live
        self.billing_items: dict[str, tuple[str, str]] = {}
        #: Billing steps of change items with no other work (a renewal): the billing is
        #: the change itself, live once it is done, so it is dispatched before it is live.
        #: (A new item's ``start_billing`` always waits for its activation.)
        self.billing_is_the_work: set[str] = set()

    def observe(self, event):
        name, data = event.name, event.data
        if name == "order.decomposed":
            working = {t["item_id"] for t in data["tasks"] if t["kind"] == "fulfillment"}
            for t in data["tasks"]:
                if t["kind"] == "billing":
                    self.billing_items[t["task_id"]] = (data["order_id"], t["item_id"])
                    if t["item_id"] not in working and t["operation"] != BILLING_OPERATION:
                        self.billing_is_the_work.add(t["task_id"])
        elif name in ("order.asset_activated", "order.item_change_fulfilled"):
            self.activated.add((data["order_id"], data["item_id"]))
        elif name == "order.task_dispatched" and data["task_id"] in self.billing_items:
            if (
                self.billing_items[data["task_id"]] not in self.activated
                and data["task_id"] not in self.billing_is_the_work
            ):
                self.problem(
                    f"billing task {data['task_id']} dispatched before activation",
                    "billing dispatched before activation",
                    data["system"],
                )
        elif name == "order.billing_started" and (
            (data["order_id"], data["item_id"]) not in self.activated
        ):
            self.problem(
                f"billing started for {data['item_id']} before activation",
                "billing started before activation",
                "billing",
            )

    def conclude(self, ledgers):
        problems = []
        ledger = ledgers.get("billing", LedgerSnapshot(system="billing", entries=[]))
        for entry in ledger.side_effects():
            if entry.request.compensates is not None:
                continue  # stopping billing is not a charge
            key = self.billing_items.get(entry.request.task_id)
            if key is None or key not in self.activated:
                problems.append(
                    Violation(
                        f"billing ledger has a charge for {entry.request.reference} "
                        "whose asset was never activated",
                        "charged, never activated",
                        "billing",
                    )
                )
        return problems


@invariant(
    "approval_matches_accepted_snapshot",
    "every accepted quote that needed approval carries an approval of exactly that snapshot, "
    "given by someone other than the requester",
)
class ApprovalMatchesAcceptedSnapshot(Checker):
    watches = ("quote.approved", "quote.accepted")

    def __init__(self) -> None:
        super().__init__()
        # (quote, revision) -> (snapshot fingerprint, approver, requester)
        self.approvals: dict[tuple[str, int], tuple[str, str, str]] = {}

    def observe(self, event):
        data = event.data
        key = (data["quote_id"], data["revision"])
        if event.name == "quote.approved":
            self.approvals[key] = (
                data["snapshot_fingerprint"],
                data["approver"],
                data["requester"],
            )
        elif data["approval_required"]:
            approval = self.approvals.get(key)
            if approval is None:
                self.problem(
                    f"quote {key[0]} r{key[1]} accepted without approval", "accepted unapproved"
                )
            elif approval[0] != data["snapshot_fingerprint"]:
                self.problem(
                    f"quote {key[0]} r{key[1]} approval is for another snapshot",
                    "approval of another snapshot",
                )
            elif same_principal(approval[1], approval[2]):
                self.problem(
                    f"quote {key[0]} r{key[1]} approved by its own requester", "self-approved"
                )


@invariant("accepted_quotes_never_change", "no revision, re-pricing or approval after acceptance")
class AcceptedQuotesNeverChange(Checker):
    watches = (
        "quote.accepted",
        "quote.revised",
        "quote.priced",
        "quote.approved",
        "quote.rejected",
    )

    def __init__(self) -> None:
        super().__init__()
        self.accepted: set[str] = set()

    def observe(self, event):
        quote_id = event.data["quote_id"]
        if event.name == "quote.accepted":
            self.accepted.add(quote_id)
        elif quote_id in self.accepted:
            self.problem(
                f"quote {quote_id} got {event.name} after acceptance",
                f"{event.name.removeprefix('quote.')} after acceptance",
            )


@invariant(
    "no_retry_before_reconciliation",
    "a task whose outcome is unknown (timed out) is reconciled by reference before any retry",
)
class NoRetryBeforeReconciliation(Checker):
    """Holds only the tasks whose outcome is unknown right now."""

    watches = ("order.task_timed_out", "order.task_reconciled", "order.task_dispatched")
    kind = "retried without reconciliation"

    def __init__(self) -> None:
        super().__init__()
        self.unknown: dict[str, int] = {}

    def observe(self, event):
        name, data = event.name, event.data
        if name == "order.task_timed_out":
            self.unknown[data["task_id"]] = data["attempt"]
        elif name == "order.task_reconciled":
            if data["found"] != "in_progress":
                self.unknown.pop(data["task_id"], None)
        elif data["task_id"] in self.unknown:
            self.problem(
                f"task {data['task_id']} retried (attempt {data['attempt']}) after attempt "
                f"{self.unknown[data['task_id']]} timed out, without reconciliation",
                downstream=data["system"],
            )
            self.unknown.pop(data["task_id"])


@invariant(
    "platform_agrees_with_downstream",
    "every task the platform holds as completed has its side effect in the downstream ledger, "
    "and every side effect downstream belongs to a task the platform did not give up on",
)
class PlatformAgreesWithDownstream(Checker):
    """Keeps the downstream system of tasks in flight, the reference of every completed
    task (with its system) for the end-of-run comparison with the ledgers, and the
    references of tasks the platform gave up on (dropped, or dropped with a cancellation
    or an abandoned item) and did not complete after all."""

    watches = (
        "order.task_dispatched",
        "order.task_completed",
        "order.task_dropped",
        "order.cancellation_accepted",
        "order.item_abandoned",
    )

    def __init__(self) -> None:
        super().__init__()
        self.system_of: dict[str, str] = {}  # task in flight -> its system
        self.done: dict[str, str] = {}  # reference of a completed task -> its system
        self.undispatched: list[tuple[str, str]] = []  # completed before any dispatch
        self.given_up: set[str] = set()

    def observe(self, event):
        name, data = event.name, event.data
        if name == "order.task_dispatched":
            self.system_of[data["task_id"]] = data["system"]
        elif name == "order.task_completed":
            task_id = data["task_id"]
            ref = f"{data['order_id']}:{task_id}"
            system = self.system_of.pop(task_id, None) or self.done.get(ref)
            if system is None:
                self.undispatched.append((task_id, ref))
            else:
                self.done[ref] = system
            self.given_up.discard(ref)
        elif name == "order.task_dropped":
            self.given_up.add(f"{data['order_id']}:{data['task_id']}")
        else:
            self.given_up.update(f"{data['order_id']}:{t}" for t in data["dropped"])

    def conclude(self, ledgers):
        done = {(system, ref) for ref, system in self.done.items()}
        for task_id, ref in self.undispatched:  # dispatched later, or never ("?")
            done.add((self.system_of.get(task_id) or self.done.get(ref) or "?", ref))
        effects = {
            (system, entry.request.reference)
            for system, ledger in ledgers.items()
            for entry in ledger.entries
            if entry.side_effect or entry.status == "deduplicated"
        }
        problems = [
            Violation(
                f"{ref} is completed on the platform but {system} has no side effect",
                "completed without a side effect",
                system,
            )
            for system, ref in sorted(done - effects)
        ]
        for system, ledger in sorted(ledgers.items()):
            for ref in sorted(set(live_side_effects(ledger.entries)) & self.given_up):
                problems.append(
                    Violation(
                        f"{ref} has a side effect in {system} the platform gave up on",
                        "side effect given up on",
                        system,
                    )
                )
        return problems


for _name, _description, _checker, _needs in ORDER_CHECKS:
    invariant(_name, _description, needs=_needs)(_checker)


@invariant(
    "repricing_reproduces_fingerprint",
    "pricing an accepted snapshot's exact request again reproduces its price fingerprint",
    needs=("catalogs", "approval_policy"),
)
class RepricingReproducesFingerprint(Checker):
    """Prices every accepted snapshot's request again under the catalog version it was
    priced under (a run may publish new versions; a quote priced under an old one keeps
    its price), once per distinct request and version.

    Pricing is deterministic for the same request, catalog and rules, so identical
    requests (a busy day repeats the same configurations for the same accounts) are
    priced once and their fingerprint remembered (a bounded memo, oldest out first).
    The checker never reuses the platform's own results: it prices for itself.
    """

    watches = ("quote.priced", "quote.accepted")

    def __init__(
        self, catalogs: dict[str, Catalog], approval_policy: ApprovalPolicy | None = None
    ) -> None:
        super().__init__()
        self.catalogs = catalogs
        # The price fingerprint covers the approval policy's version and triggers: the
        # run's policy (the embedded default when it names none) prices again.
        self.approval_policy = approval_policy or ApprovalPolicy()
        self.first = next(iter(catalogs.values()))
        self.priced_under: dict[tuple[str, int], str] = {}
        # (catalog version, request JSON) -> (prices, fingerprint or error)
        self.memo: dict[tuple[str, str], tuple[bool, str]] = {}
        self.priced = 0

    def observe(self, event):
        data = event.data
        key = (data["quote_id"], data["revision"])
        if event.name == "quote.priced":
            self.priced_under[key] = data["price"]["catalog_version"]
            return
        version = self.priced_under.get(key, self.first.version)
        catalog = self.catalogs.get(version, self.first)
        snapshot = data["snapshot"]
        plain_request = snapshot.get("price_request")
        if not plain_request:
            self.problem(
                f"quote {data['quote_id']} accepted without a stored price request",
                "no stored price request",
            )
            return
        memo_key = (catalog.version, CANONICAL_ENCODER.encode(plain_request))
        outcome = self.memo.get(memo_key)
        if outcome is None:
            outcome = self.memo[memo_key] = self._price(catalog, plain_request)
            if len(self.memo) > REPRICING_MEMO_SIZE:
                del self.memo[next(iter(self.memo))]
        prices, value = outcome
        if not prices:
            self.problem(f"quote {data['quote_id']} no longer prices: {value}", "no longer prices")
        elif value != snapshot["price_fingerprint"]:
            self.problem(
                f"quote {data['quote_id']} r{data['revision']} reprices to {value[:19]}..., "
                f"accepted {snapshot['price_fingerprint'][:19]}...",
                "reprices differently",
            )

    def _price(self, catalog: Catalog, plain_request: dict[str, Any]) -> tuple[bool, str]:
        request = PriceRequest.model_validate(plain_request)
        self.priced += 1
        try:
            return True, price_quote(catalog, request, None, self.approval_policy).fingerprint
        except ValueError as exc:
            return False, str(exc)


for _name, _description, _checker, _needs in AUDIT_CHECKS:
    invariant(_name, _description, needs=_needs)(_checker)

# The installed base's rules (after every earlier row, so those read as before).
for _name, _description, _checker, _needs in ASSET_CHECKS:
    invariant(_name, _description, needs=_needs)(_checker)


# ---------------------------------------------------------------------------- judging


Catalogs = Catalog | list[Catalog] | None


class InvariantJudge:
    """Every registered invariant, fed one event at a time; the verdict at the end.

    With the run's catalog (or every version it published, first the one it began
    with), accepted prices are also re-derived. ``approval_sla_s`` is how long an
    approval may wait without an owner (default
    :data:`cpqsim.invariants_orders.APPROVAL_SLA_S`). ``audit_lines`` reads back the
    audit chain the run wrote, if it did (see :mod:`cpqsim.invariants_audit`). Events
    are routed by type to the checkers that watch them, so an event nobody watches costs
    one lookup. A fold several checkers read (:class:`~cpqsim.invariant_checker.Fold`)
    is built once and shown each event before them.
    """

    def __init__(
        self,
        catalog: Catalogs = None,
        approval_sla_s: float | None = None,
        approval_policy: ApprovalPolicy | None = None,
        audit_lines: AuditLines = None,
    ) -> None:
        particulars: dict[str, Any] = {
            "approval_sla_s": approval_sla_s,
            "approval_policy": approval_policy,
            "audit_lines": audit_lines,
        }
        if catalog is not None:
            versions = catalog if isinstance(catalog, list) else [catalog]
            particulars["catalogs"] = {c.version: c for c in versions}
        self.folds: dict[type[Fold], Fold] = {}
        self.checkers: list[tuple[str, str, Checker]] = [
            (r.name, r.description, build_checker(r, particulars, self.folds))
            for r in REGISTERED
            if all(k in particulars for k in r.needs)
        ]
        self._routes: dict[str, list[Callable[[CloudEvent], None]]] = {}
        self.events = 0
        self.last_time = ""

    def observe(self, event: CloudEvent) -> None:
        self.events += 1
        self.last_time = event.time
        routes = self._routes.get(event.type)
        if routes is None:
            routes = self._route(event)
        for observe in routes:
            observe(event)

    def _route(self, event: CloudEvent) -> list[Callable[[CloudEvent], None]]:
        name = event.name
        routes = [fold.observe for fold in self.folds.values() if fold.watching(name)]
        routes += [checker.observe for _, _, checker in self.checkers if checker.watching(name)]
        self._routes[event.type] = routes
        return routes

    def verdict(self, ledgers: dict[str, LedgerSnapshot]) -> list[InvariantResult]:
        results = []
        for name, description, checker in self.checkers:
            checker.end_time = self.last_time
            results.append(checker.result(name, description, ledgers))
        return results


def check_invariants(
    events: Iterable[CloudEvent],
    ledgers: dict[str, LedgerSnapshot],
    catalog: Catalogs = None,
    approval_sla_s: float | None = None,
    approval_policy: ApprovalPolicy | None = None,
) -> list[InvariantResult]:
    """Judge a run. With the run's catalog (or every version it published, first the one
    it began with), accepted prices are also re-derived. ``approval_sla_s`` is how long
    an approval may wait without an owner (default ``APPROVAL_SLA_S``)."""
    judge = InvariantJudge(catalog, approval_sla_s, approval_policy)
    for event in events:
        judge.observe(event)
    return judge.verdict(ledgers)


def all_hold(results: list[InvariantResult]) -> bool:
    return all(r.holds for r in results)
