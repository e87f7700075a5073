"""Invariants of the places where orders really fail: cancellation, compensation,
billing per item, late replies, approvals, stale prices, fallout cases.

Each check reads the event log and the downstream ledgers and returns the concrete
violations it found (naming orders, quotes, tasks, references). They join the checker's
list (:mod:`cpqsim.invariants`); each has a specification that shows it can fail.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from datetime import datetime

from cpqsim.downstream import LedgerSnapshot, live_side_effects
from cpqsim.events import CloudEvent

Check = Callable[[list[CloudEvent], dict[str, LedgerSnapshot]], list[str]]

APPROVAL_SLA_S = 4 * 3600.0  # a decision overdue this long needs an owner (an escalation)
UNDONE_ENDINGS = ("order.cancelled", "order.failed")


def _order_of(reference: str) -> str:
    return reference.split(":", 1)[0]


def _live_by_order(ledgers: dict[str, LedgerSnapshot]) -> dict[str, list[str]]:
    live: dict[str, list[str]] = defaultdict(list)
    for system, ledger in sorted(ledgers.items()):
        for reference in live_side_effects(ledger.entries):
            live[_order_of(reference)].append(f"{system} {reference}")
    return live


def cancelled_orders_leave_nothing_live(events, ledgers) -> list[str]:
    rolled_back = {e.data["order_id"] for e in events if e.name == "order.cancellation_accepted"}
    ended = {e.data["order_id"] for e in events if e.name in UNDONE_ENDINGS}
    live = _live_by_order(ledgers)
    return [
        f"order {oid} was wound down but {effect} is still in force downstream"
        for oid in sorted(rolled_back & ended)
        for effect in live.get(oid, [])
    ]


def compensations_in_reverse_order(events, ledgers) -> list[str]:
    """A task is undone only after everything that depended on it (and was done) is."""
    depends: dict[str, list[str]] = {}
    done: set[str] = set()
    problems: list[str] = []
    for e in events:
        if e.name == "order.decomposed":
            for t in e.data["tasks"]:
                depends[t["task_id"]] = t["depends_on"]
        elif e.name == "order.task_completed":
            done.add(e.data["task_id"])
        elif e.name == "order.task_dispatched" and e.data["task_id"].endswith("/undo"):
            undone = e.data["task_id"].removesuffix("/undo")
            later = [t for t, deps in depends.items() if undone in deps and t in done]
            pending = [t for t in later if f"{t}/undo" not in done]
            if pending:
                problems.append(
                    f"{undone} was undone before {', '.join(sorted(pending))}, which depended on it"
                )
    return problems


def activated_items_are_billed(events, ledgers) -> list[str]:
    """Every activated item is billed, unless its order was wound down or is held by a
    person; nothing is billed for an item never activated (see billing_not_before_...)."""
    activated: dict[tuple[str, str], str] = {}
    billed: set[tuple[str, str]] = set()
    excused: set[str] = set()
    open_cases: dict[str, int] = defaultdict(int)
    for e in events:
        oid = e.data.get("order_id")
        if e.name == "order.asset_activated":
            activated[(oid, e.data["item_id"])] = e.time
        elif e.name == "order.billing_started":
            billed.add((oid, e.data["item_id"]))
        elif e.name in ("order.cancellation_accepted", "order.item_abandoned"):
            excused.add(oid)
        elif e.name == "order.fallout_opened":
            open_cases[oid] += 1
        elif e.name == "order.fallout_resolved":
            open_cases[oid] -= 1
    return [
        f"order {oid} item {item} was activated but never billed"
        for (oid, item) in sorted(activated)
        if (oid, item) not in billed and oid not in excused and open_cases[oid] <= 0
    ]


def nothing_changed_after_cancellation(events, ledgers) -> list[str]:
    """After a cancellation is accepted, no new work starts and no milestone is reached."""
    cancelled: set[str] = set()
    problems: list[str] = []
    for e in events:
        oid = e.data.get("order_id")
        if e.name == "order.cancellation_accepted":
            cancelled.add(oid)
        elif oid in cancelled:
            if e.name in ("order.asset_activated", "order.billing_started", "order.completed"):
                problems.append(f"order {oid}: {e.name} after its cancellation was accepted")
            elif e.name == "order.task_dispatched" and not e.data["task_id"].endswith("/undo"):
                problems.append(f"order {oid}: {e.data['task_id']} dispatched after cancellation")
    return problems


def _seconds(a: str, b: str) -> float:
    parse = datetime.fromisoformat
    return (parse(b.replace("Z", "+00:00")) - parse(a.replace("Z", "+00:00"))).total_seconds()


def no_quote_stuck_in_approval(events, ledgers, sla_s: float = APPROVAL_SLA_S) -> list[str]:
    waiting: dict[str, str] = {}  # quote -> time submitted
    owned: set[str] = set()
    end = events[-1].time if events else ""
    for e in events:
        qid = e.data.get("quote_id")
        if e.name == "quote.submitted_for_approval":
            waiting[qid] = e.time
            owned.discard(qid)
        elif e.name == "quote.approval_escalated":
            owned.add(qid)
        elif e.name in (
            "quote.approved",
            "quote.rejected",
            "quote.revised",
            "quote.cancelled",
        ):
            waiting.pop(qid, None)
    return [
        f"quote {qid} has waited {_seconds(since, end) / 3600:.1f} h for approval with no "
        "owner (no escalation)"
        for qid, since in sorted(waiting.items())
        if qid not in owned and _seconds(since, end) > sla_s
    ]


def no_stale_price_accepted(events, ledgers) -> list[str]:
    in_force: str | None = None
    priced_under: dict[tuple[str, int], str] = {}
    problems: list[str] = []
    for e in events:
        if e.name == "catalog.published" or (e.name == "quote.created" and in_force is None):
            in_force = e.data["catalog_version"]
        elif e.name == "quote.priced":
            key = (e.data["quote_id"], e.data["revision"])
            priced_under[key] = e.data["price"]["catalog_version"]
        elif e.name == "quote.accepted":
            key = (e.data["quote_id"], e.data["revision"])
            version = priced_under.get(key)
            if version is not None and in_force is not None and version != in_force:
                problems.append(
                    f"quote {key[0]} r{key[1]} accepted at a price of catalog {version} "
                    f"while {in_force} was in force"
                )
    return problems


def fallout_cases_owned(events, ledgers) -> list[str]:
    """Every fallout case is resolved, or open with an owner (reported with its age)."""
    cases: dict[str, dict] = {}
    end = events[-1].time if events else ""
    for e in events:
        if e.name == "order.fallout_opened":
            cases[e.data["case_id"]] = {**e.data, "opened": e.time, "open": True}
        elif e.name == "order.fallout_resolved" and e.data["case_id"] in cases:
            cases[e.data["case_id"]]["open"] = False
    return [
        f"case {cid} of order {c['order_id']} has been open {_seconds(c['opened'], end) / 3600:.1f}"
        " h with no owner"
        for cid, c in sorted(cases.items())
        if c["open"] and not c.get("owner")
    ]


def open_case_ages(events) -> list[tuple[str, str, float]]:
    """(case, owner, hours open) for every case still open at the end of the log."""
    cases: dict[str, tuple[str, str]] = {}
    end = events[-1].time if events else ""
    for e in events:
        if e.name == "order.fallout_opened":
            cases[e.data["case_id"]] = (e.data.get("owner", ""), e.time)
        elif e.name == "order.fallout_resolved":
            cases.pop(e.data["case_id"], None)
    return [(cid, owner, _seconds(t, end) / 3600) for cid, (owner, t) in sorted(cases.items())]


ORDER_CHECKS: list[tuple[str, str, Check]] = [
    (
        "cancelled_orders_leave_no_live_side_effects",
        "an order cancelled or rolled back leaves nothing in force downstream "
        "(every side effect it had is reversed)",
        cancelled_orders_leave_nothing_live,
    ),
    (
        "compensations_in_reverse_dependency_order",
        "a task is undone only after every done task that depended on it was undone",
        compensations_in_reverse_order,
    ),
    (
        "activated_items_are_billed",
        "every activated item is billed, unless its order was wound down or is held by a person",
        activated_items_are_billed,
    ),
    (
        "nothing_changes_after_cancellation",
        "after a cancellation is accepted no new work starts and no milestone is reached "
        "(a late reply is undone, never used)",
        nothing_changed_after_cancellation,
    ),
    (
        "no_quote_stuck_in_approval",
        "no quote waits for an approval past its timeout without an owner (an escalation)",
        no_quote_stuck_in_approval,
    ),
    (
        "no_stale_price_accepted",
        "no quote is accepted at a price computed under a catalog version no longer in force",
        no_stale_price_accepted,
    ),
    (
        "fallout_cases_owned",
        "every fallout case is resolved, or open with an owner",
        fallout_cases_owned,
    ),
]
