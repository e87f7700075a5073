"""Invariants of the places where orders really fail: cancellation, compensation,
billing per item, late replies, approvals, stale prices, fallout cases.

Each is an incremental :class:`~cpqsim.invariant_checker.Checker`: it is shown the facts
it watches once, in log order, keeps only what its rule still needs, and reports the
concrete violations it found (naming orders, quotes, tasks, references), some as they
happen and the rest from the ledgers at the end. They join the checker's list
(:mod:`cpqsim.invariants`, which registers ``ORDER_CHECKS``); each has a specification
that shows it can fail.

What they keep: the open approvals, the open fallout cases and the orders being wound
down; and, where a rule can be broken by a fact arriving at any later time, a compact
residue of ids (the dependents of done tasks, the activated and billed items, the price
version of each priced revision).
"""

from __future__ import annotations

from collections import defaultdict

from cpqsim.downstream import LedgerSnapshot, live_side_effects
from cpqsim.invariant_checker import Checker, Violation, seconds_between

APPROVAL_SLA_S = 4 * 3600.0  # a decision overdue this long needs an owner (an escalation)
UNDONE_ENDINGS = ("order.cancelled", "order.failed")


def _order_of(reference: str) -> str:
    return reference.split(":", 1)[0]


def _live_by_order(ledgers: dict[str, LedgerSnapshot]) -> dict[str, list[tuple[str, str]]]:
    """(system, reference) of every side effect still in force, per order."""
    live: dict[str, list[tuple[str, str]]] = defaultdict(list)
    for system, ledger in sorted(ledgers.items()):
        for reference in live_side_effects(ledger.entries):
            live[_order_of(reference)].append((system, reference))
    return live


class CancelledOrdersLeaveNothingLive(Checker):
    """Keeps the ids of orders whose cancellation was accepted, and of orders that ended
    cancelled or failed; the ledgers say at the end what is still in force."""

    watches = ("order.cancellation_accepted", *UNDONE_ENDINGS)

    def __init__(self) -> None:
        super().__init__()
        self.rolled_back: set[str] = set()
        self.ended: set[str] = set()

    def observe(self, event):
        oid = event.data["order_id"]
        if event.name == "order.cancellation_accepted":
            self.rolled_back.add(oid)
        else:
            self.ended.add(oid)

    def conclude(self, ledgers):
        live = _live_by_order(ledgers)
        return [
            Violation(
                f"order {oid} was wound down but {system} {ref} is still in force downstream",
                "still in force after wind-down",
                system,
            )
            for oid in sorted(self.rolled_back & self.ended)
            for system, ref in live.get(oid, [])
        ]


class CompensationsInReverseOrder(Checker):
    """A task is undone only after everything that depended on it (and was done) is.

    Keeps, per task, the tasks that depend on it (from the latest decomposition naming
    them) and which tasks are done, so an undo is judged in the time of its dependents,
    not of every task ever decomposed.
    """

    watches = ("order.decomposed", "order.task_completed", "order.task_dispatched")
    kind = "undone before its dependents"

    def __init__(self) -> None:
        super().__init__()
        self.depends: dict[str, tuple[str, ...]] = {}
        self.dependents: dict[str, dict[str, None]] = defaultdict(dict)
        self.done: set[str] = set()

    def observe(self, event):
        name, data = event.name, event.data
        if name == "order.decomposed":
            for t in data["tasks"]:
                task_id = t["task_id"]
                for d in self.depends.get(task_id, ()):
                    self.dependents[d].pop(task_id, None)
                self.depends[task_id] = deps = tuple(t["depends_on"])
                for d in deps:
                    self.dependents[d][task_id] = None
        elif name == "order.task_completed":
            self.done.add(data["task_id"])
        elif data["task_id"].endswith("/undo"):
            undone = data["task_id"].removesuffix("/undo")
            later = [t for t in self.dependents.get(undone, ()) if t in self.done]
            pending = [t for t in later if f"{t}/undo" not in self.done]
            if pending:
                self.problem(
                    f"{undone} was undone before {', '.join(sorted(pending))}, "
                    "which depended on it",
                    downstream=data["system"],
                )


class ActivatedItemsAreBilled(Checker):
    """Every activated item is billed, unless its order was wound down or is held by a
    person; nothing is billed for an item never activated (see billing_not_before_...).

    Keeps the activated items not billed yet, the items billed (as one short key each),
    the orders excused and the count of open cases of orders that have any.
    """

    watches = (
        "order.asset_activated",
        "order.billing_started",
        "order.cancellation_accepted",
        "order.item_abandoned",
        "order.fallout_opened",
        "order.fallout_resolved",
    )

    def __init__(self) -> None:
        super().__init__()
        self.unbilled: dict[tuple[str, str], None] = {}
        self.billed: set[str] = set()
        self.excused: set[str] = set()
        self.open_cases: dict[str, int] = {}

    def observe(self, event):
        name, data = event.name, event.data
        oid = data["order_id"]
        if name == "order.asset_activated":
            item = data["item_id"]
            if f"{oid}\x00{item}" not in self.billed:
                self.unbilled[(oid, item)] = None
        elif name == "order.billing_started":
            item = data["item_id"]
            self.billed.add(f"{oid}\x00{item}")
            self.unbilled.pop((oid, item), None)
        elif name in ("order.cancellation_accepted", "order.item_abandoned"):
            self.excused.add(oid)
        else:
            n = self.open_cases.get(oid, 0) + (1 if name == "order.fallout_opened" else -1)
            if n:
                self.open_cases[oid] = n
            else:
                self.open_cases.pop(oid, None)

    def conclude(self, ledgers):
        return [
            Violation(
                f"order {oid} item {item} was activated but never billed",
                "activated, never billed",
                "billing",
            )
            for (oid, item) in sorted(self.unbilled)
            if oid not in self.excused and self.open_cases.get(oid, 0) <= 0
        ]


class NothingChangedAfterCancellation(Checker):
    """After a cancellation is accepted, no new work starts and no milestone is reached."""

    watches = (
        "order.cancellation_accepted",
        "order.asset_activated",
        "order.billing_started",
        "order.completed",
        "order.task_dispatched",
    )

    def __init__(self) -> None:
        super().__init__()
        self.cancelled: set[str] = set()

    def observe(self, event):
        name, data = event.name, event.data
        oid = data["order_id"]
        if name == "order.cancellation_accepted":
            self.cancelled.add(oid)
        elif oid in self.cancelled:
            if name == "order.task_dispatched":
                if not data["task_id"].endswith("/undo"):
                    self.problem(
                        f"order {oid}: {data['task_id']} dispatched after cancellation",
                        "work dispatched after cancellation",
                        data["system"],
                    )
            else:
                self.problem(
                    f"order {oid}: {name} after its cancellation was accepted",
                    f"{name.removeprefix('order.')} after cancellation",
                    "billing" if name == "order.billing_started" else "platform",
                )


class NoQuoteStuckInApproval(Checker):
    """Keeps the quotes waiting for a decision (and when they began to) and the quotes
    escalated to an owner; the end of the log says how long each has waited."""

    watches = (
        "quote.submitted_for_approval",
        "quote.approval_escalated",
        "quote.approved",
        "quote.rejected",
        "quote.revised",
        "quote.cancelled",
    )

    kind = "approval waiting with no owner"

    def __init__(self, approval_sla_s: float | None = None) -> None:
        super().__init__()
        self.sla_s = approval_sla_s or APPROVAL_SLA_S
        self.waiting: dict[str, str] = {}  # quote -> time submitted
        self.owned: set[str] = set()

    def observe(self, event):
        qid = event.data.get("quote_id")
        if event.name == "quote.submitted_for_approval":
            self.waiting[qid] = event.time
            self.owned.discard(qid)
        elif event.name == "quote.approval_escalated":
            self.owned.add(qid)
        else:
            self.waiting.pop(qid, None)

    def conclude(self, ledgers):
        end = self.end_time
        return [
            f"quote {qid} has waited {seconds_between(since, end) / 3600:.1f} h for approval "
            "with no owner (no escalation)"
            for qid, since in sorted(self.waiting.items())
            if qid not in self.owned and seconds_between(since, end) > self.sla_s
        ]


class NoStalePriceAccepted(Checker):
    """Keeps the catalog version in force and the version each quote revision was priced
    under."""

    watches = ("catalog.published", "quote.created", "quote.priced", "quote.accepted")

    def __init__(self) -> None:
        super().__init__()
        self.in_force: str | None = None
        self.priced_under: dict[tuple[str, int], str] = {}

    def observe(self, event):
        name, data = event.name, event.data
        if name == "catalog.published" or (name == "quote.created" and self.in_force is None):
            self.in_force = data["catalog_version"]
        elif name == "quote.priced":
            key = (data["quote_id"], data["revision"])
            self.priced_under[key] = data["price"]["catalog_version"]
        elif name == "quote.accepted":
            key = (data["quote_id"], data["revision"])
            version = self.priced_under.get(key)
            if version is not None and self.in_force is not None and version != self.in_force:
                self.problem(
                    f"quote {key[0]} r{key[1]} accepted at a price of catalog {version} "
                    f"while {self.in_force} was in force",
                    "stale price accepted",
                )


class FalloutCasesOwned(Checker):
    """Every fallout case is resolved, or open with an owner (reported with its age).

    Keeps the open cases only.
    """

    watches = ("order.fallout_opened", "order.fallout_resolved")

    def __init__(self) -> None:
        super().__init__()
        self.open: dict[str, tuple[str, str, str, str]] = {}  # case -> order, opened, owner, kind

    def observe(self, event):
        data = event.data
        if event.name == "order.fallout_opened":
            self.open[data["case_id"]] = (
                data["order_id"],
                event.time,
                data.get("owner") or "",
                data.get("kind", "task"),
            )
        else:
            self.open.pop(data["case_id"], None)

    def conclude(self, ledgers):
        end = self.end_time
        return [
            Violation(
                f"case {cid} of order {oid} has been open "
                f"{seconds_between(opened, end) / 3600:.1f} h with no owner",
                f"{kind} case with no owner",
            )
            for cid, (oid, opened, owner, kind) in sorted(self.open.items())
            if not owner
        ]


def open_case_ages(events) -> list[tuple[str, str, float]]:
    """(case, owner, hours open) for every case still open at the end of the log."""
    cases: dict[str, tuple[str, str]] = {}
    end = ""
    for e in events:
        end = e.time
        if e.name == "order.fallout_opened":
            cases[e.data["case_id"]] = (e.data.get("owner", ""), e.time)
        elif e.name == "order.fallout_resolved":
            cases.pop(e.data["case_id"], None)
    return [
        (cid, owner, seconds_between(t, end) / 3600) for cid, (owner, t) in sorted(cases.items())
    ]


# (name, description, checker, what it is built with): registered by cpqsim.invariants.
ORDER_CHECKS: list[tuple[str, str, type[Checker], tuple[str, ...]]] = [
    (
        "cancelled_orders_leave_no_live_side_effects",
        "an order cancelled or rolled back leaves nothing in force downstream "
        "(every side effect it had is reversed)",
        CancelledOrdersLeaveNothingLive,
        (),
    ),
    (
        "compensations_in_reverse_dependency_order",
        "a task is undone only after every done task that depended on it was undone",
        CompensationsInReverseOrder,
        (),
    ),
    (
        "activated_items_are_billed",
        "every activated item is billed, unless its order was wound down or is held by a person",
        ActivatedItemsAreBilled,
        (),
    ),
    (
        "nothing_changes_after_cancellation",
        "after a cancellation is accepted no new work starts and no milestone is reached "
        "(a late reply is undone, never used)",
        NothingChangedAfterCancellation,
        (),
    ),
    (
        "no_quote_stuck_in_approval",
        "no quote waits for an approval past its timeout without an owner (an escalation)",
        NoQuoteStuckInApproval,
        ("approval_sla_s",),
    ),
    (
        "no_stale_price_accepted",
        "no quote is accepted at a price computed under a catalog version no longer in force",
        NoStalePriceAccepted,
        (),
    ),
    (
        "fallout_cases_owned",
        "every fallout case is resolved, or open with an owner",
        FalloutCasesOwned,
        (),
    ),
]
