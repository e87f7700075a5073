"""The checker judges incrementally, exactly as the whole-log definitions judge a log.

The reference below is each invariant written over the whole log at once (how the
checker was first written): for any log, the incremental checker must find the same
violations, in the same order, with the same words, while keeping only what is in
flight.
"""

from __future__ import annotations

from collections import defaultdict
from functools import cache
from pathlib import Path

import pytest
from cpqsim_host.scenario import LoadedScenario

from cpqsim.downstream import LedgerSnapshot
from cpqsim.events import CloudEvent
from cpqsim.invariants import (
    _REGISTERED,
    MAX_EXAMPLES,
    Checker,
    InvariantJudge,
    OrdersTerminalOrInFallout,
    check_invariants,
    invariant,
)
from cpqsim.order import ORDER_LIFECYCLE, ORDER_TRIGGERS, OrderStatus, settled
from cpqsim.pricing import PriceRequest, price_quote
from cpqsim_scenarios.model import load_scenario
from cpqsim_scenarios.sim.runtime import run_sim

LIBRARY = Path(__file__).resolve().parents[2] / "scenarios" / "library"


# ------------------------------------------------------- the whole-log reference


def _by_name(events, name):
    return [e for e in events if e.name == name]


def ref_converted_once(events, ledgers):
    orders_per_quote = defaultdict(set)
    for e in _by_name(events, "quote.converted_to_order"):
        orders_per_quote[e.data["quote_id"]].add(e.data["order_id"])
    for e in _by_name(events, "order.created"):
        orders_per_quote[e.data["quote_id"]].add(e.data["order_id"])
    return [
        f"quote {q} converted into orders {', '.join(sorted(orders))}"
        for q, orders in sorted(orders_per_quote.items())
        if len(orders) > 1
    ]


def ref_terminal_or_fallout(events, ledgers):
    status, owned = {}, defaultdict(int)
    for e in events:
        if e.name == "order.created":
            status[e.data["order_id"]] = OrderStatus.ACKNOWLEDGED
        trigger = ORDER_TRIGGERS.get(e.type)
        oid = e.data.get("order_id")
        if trigger is not None and oid in status and ORDER_LIFECYCLE.allows(status[oid], trigger):
            status[oid] = ORDER_LIFECYCLE.next_state(status[oid], trigger)
            if e.name == "order.fallout_opened" and e.data.get("owner"):
                owned[oid] += 1
    return [
        f"order {oid} is stuck in {s.value} with no owned fallout case"
        for oid, s in sorted(status.items())
        if not settled(s, owned[oid])
    ]


def ref_billing_after_activation(events, ledgers):
    activated, problems, billing_items = set(), [], {}
    for e in events:
        if e.name == "order.decomposed":
            for t in e.data["tasks"]:
                if t["kind"] == "billing":
                    billing_items[t["task_id"]] = (e.data["order_id"], t["item_id"])
        elif e.name == "order.asset_activated":
            activated.add((e.data["order_id"], e.data["item_id"]))
        elif e.name == "order.task_dispatched" and e.data["task_id"] in billing_items:
            if billing_items[e.data["task_id"]] not in activated:
                problems.append(f"billing task {e.data['task_id']} dispatched before activation")
        elif e.name == "order.billing_started" and (
            (e.data["order_id"], e.data["item_id"]) not in activated
        ):
            problems.append(f"billing started for {e.data['item_id']} before activation")
    billing = ledgers.get("billing", LedgerSnapshot(system="billing", entries=[]))
    for entry in billing.side_effects():
        key = billing_items.get(entry.request.task_id)
        if key is None or key not in activated:
            problems.append(
                f"billing ledger has a charge for {entry.request.reference} "
                "whose asset was never activated"
            )
    return problems


def ref_approval_matches(events, ledgers):
    approvals, problems = {}, []
    for e in events:
        if e.name == "quote.approved":
            approvals[(e.data["quote_id"], e.data["revision"])] = e.data
        elif e.name == "quote.accepted" and e.data["approval_required"]:
            key = (e.data["quote_id"], e.data["revision"])
            approval = approvals.get(key)
            if approval is None:
                problems.append(f"quote {key[0]} r{key[1]} accepted without approval")
            elif approval["snapshot_fingerprint"] != e.data["snapshot_fingerprint"]:
                problems.append(f"quote {key[0]} r{key[1]} approval is for another snapshot")
            elif approval["approver"] == approval["requester"]:
                problems.append(f"quote {key[0]} r{key[1]} approved by its own requester")
    return problems


def ref_accepted_frozen(events, ledgers):
    accepted, problems = set(), []
    mutating = {"quote.revised", "quote.priced", "quote.approved", "quote.rejected"}
    for e in events:
        if e.name == "quote.accepted":
            accepted.add(e.data["quote_id"])
        elif e.name in mutating and e.data["quote_id"] in accepted:
            problems.append(f"quote {e.data['quote_id']} got {e.name} after acceptance")
    return problems


def ref_reconcile_first(events, ledgers):
    unknown, problems = {}, []
    for e in events:
        if e.name == "order.task_timed_out":
            unknown[e.data["task_id"]] = e.data["attempt"]
        elif e.name == "order.task_reconciled" and e.data["found"] != "in_progress":
            unknown.pop(e.data["task_id"], None)
        elif e.name == "order.task_dispatched" and e.data["task_id"] in unknown:
            problems.append(
                f"task {e.data['task_id']} retried (attempt {e.data['attempt']}) after attempt "
                f"{unknown[e.data['task_id']]} timed out, without reconciliation"
            )
            unknown.pop(e.data["task_id"])
    return problems


def ref_agrees(events, ledgers):
    systems = {}
    for e in events:
        if e.name == "order.task_dispatched":
            systems[e.data["task_id"]] = e.data["system"]
    done = {
        (systems[e.data["task_id"]], f"{e.data['order_id']}:{e.data['task_id']}")
        for e in _by_name(events, "order.task_completed")
    }
    effects = {
        (system, entry.request.reference)
        for system, ledger in ledgers.items()
        for entry in ledger.entries
        if entry.side_effect or entry.status == "deduplicated"
    }
    return [
        f"{ref} is completed on the platform but {system} has no side effect"
        for system, ref in sorted(done - effects)
    ]


def ref_duplicates(events, ledgers):
    return [
        f"{system}: {ref} executed {n} times"
        for system, ledger in sorted(ledgers.items())
        for ref, n in ledger.duplicates().items()
    ]


def ref_repricing(events, catalog):
    problems = []
    for e in _by_name(events, "quote.accepted"):
        snapshot = e.data["snapshot"]
        if not snapshot.get("price_request"):
            problems.append(f"quote {e.data['quote_id']} accepted without a stored price request")
            continue
        request = PriceRequest.model_validate(snapshot["price_request"])
        try:
            again = price_quote(catalog, request).fingerprint
        except ValueError as exc:
            problems.append(f"quote {e.data['quote_id']} no longer prices: {exc}")
            continue
        if again != snapshot["price_fingerprint"]:
            problems.append(
                f"quote {e.data['quote_id']} r{e.data['revision']} reprices to {again[:19]}..., "
                f"accepted {snapshot['price_fingerprint'][:19]}..."
            )
    return problems


REFERENCE = {
    "no_duplicate_side_effects": ref_duplicates,
    "quote_converted_at_most_once": ref_converted_once,
    "orders_terminal_or_in_fallout": ref_terminal_or_fallout,
    "billing_not_before_activation": ref_billing_after_activation,
    "approval_matches_accepted_snapshot": ref_approval_matches,
    "accepted_quotes_never_change": ref_accepted_frozen,
    "no_retry_before_reconciliation": ref_reconcile_first,
    "platform_agrees_with_downstream": ref_agrees,
}


def judged_by_reference(events, ledgers, catalog):
    found = {name: check(events, ledgers) for name, check in REFERENCE.items()}
    found["repricing_reproduces_fingerprint"] = ref_repricing(events, catalog)
    return {n: (len(p), p[:MAX_EXAMPLES]) for n, p in found.items()}


# ------------------------------------------------------------------ the specs


@cache
def day(name: str, seed: int):
    loaded: LoadedScenario = load_scenario(LIBRARY / f"{name}.yaml")
    s = loaded.scenario
    loaded = loaded.model_copy(
        update={"scenario": s.model_copy(update={"duration_s": 7200.0, "drain_s": 3600.0})}
    )
    return loaded, run_sim(loaded, seed)


@pytest.mark.parametrize(
    "name, seed",
    [("naive_retry", 7), ("provisioning_timeouts", 3), ("provisioning_outage", 11)],
)
def test_judged_as_it_streams_a_day_gets_the_whole_log_verdict(name, seed):
    loaded, output = day(name, seed)
    events = list(output.events)

    incremental = check_invariants(events, output.ledgers, loaded.catalog)

    expected = judged_by_reference(events, output.ledgers, loaded.catalog)
    assert {r.name: (r.violations, r.examples) for r in incremental} == expected
    assert [r.name for r in incremental] == [*REFERENCE, "repricing_reproduces_fingerprint"]


def test_the_naive_day_breaks_invariants_so_the_comparison_means_something():
    _, output = day("naive_retry", 7)
    broken = [r for r in check_invariants(output.events, output.ledgers) if not r.holds]
    assert broken and all(r.violations >= len(r.examples) for r in broken)


def cut(events: list[CloudEvent], keep: float) -> list[CloudEvent]:
    """The first part of a day: orders left in flight, some of them stuck."""
    return events[: int(len(events) * keep)]


@pytest.mark.parametrize("keep", [0.3, 0.6, 0.9])
def test_a_log_cut_short_leaves_the_same_orders_stuck_for_both(keep):
    _, output = day("provisioning_timeouts", 3)
    events = cut(list(output.events), keep)

    incremental = {r.name: r for r in check_invariants(events, output.ledgers)}

    stuck = ref_terminal_or_fallout(events, output.ledgers)
    assert stuck, "cut short, some orders are in flight"
    result = incremental["orders_terminal_or_in_fallout"]
    assert (result.violations, result.examples) == (len(stuck), stuck[:MAX_EXAMPLES])


def test_a_finished_order_is_forgotten_by_the_checker():
    _, output = day("provisioning_timeouts", 3)
    judge = InvariantJudge()
    for event in output.events:
        judge.observe(event)

    (checker,) = [c for _, _, c in judge.checkers if isinstance(c, OrdersTerminalOrInFallout)]

    settled_orders = sum(1 for s in output.orders_final.values() if s == "completed")
    assert settled_orders > 50
    assert set(checker.status) == {o for o, s in output.orders_final.items() if s != "completed"}


# ------------------------------------------------------------- registration


@pytest.fixture
def registered():
    """Invariants registered by a test are removed again after it."""
    before = list(_REGISTERED)
    yield
    _REGISTERED[:] = before


def test_a_new_invariant_is_a_checker_shown_only_the_facts_it_watches(registered):
    shown: list[str] = []

    @invariant("every_order_is_decomposed", "each created order is decomposed")
    class EveryOrderIsDecomposed(Checker):
        watches = ("order.created", "order.decomposed")

        def __init__(self) -> None:
            super().__init__()
            self.waiting: set[str] = set()

        def observe(self, event):
            shown.append(event.name)
            if event.name == "order.created":
                self.waiting.add(event.data["order_id"])
            else:
                self.waiting.discard(event.data["order_id"])

        def conclude(self, ledgers):
            return [f"order {o} never decomposed" for o in sorted(self.waiting)]

    _, output = day("provisioning_timeouts", 3)
    events = list(output.events)
    results = {r.name: r for r in check_invariants(events, output.ledgers)}

    assert set(shown) == {"order.created", "order.decomposed"}
    assert len(shown) == sum(1 for e in events if e.name in ("order.created", "order.decomposed"))
    assert results["every_order_is_decomposed"].holds
    assert list(results)[-1] == "every_order_is_decomposed"


def test_a_whole_log_function_can_still_be_registered_with_what_it_watches(registered):
    @invariant("few_timeouts", "at most 3 timeouts", watches=["order.task_timed_out"])
    def few_timeouts(events, ledgers):
        assert {e.name for e in events} == {"order.task_timed_out"}
        return [f"{len(events)} timeouts"] if len(events) > 3 else []

    _, output = day("provisioning_timeouts", 3)
    result = {r.name: r for r in check_invariants(output.events, output.ledgers)}["few_timeouts"]

    assert not result.holds and result.examples[0].endswith("timeouts")


def test_problems_found_while_observing_are_all_counted_but_few_are_kept(registered):
    @invariant("no_completions", "nothing completes")
    class NoCompletions(Checker):
        watches = ("order.task_completed",)

        def observe(self, event):
            self.problem(f"{event.data['task_id']} completed")

    _, output = day("provisioning_timeouts", 3)
    completed = [e for e in output.events if e.name == "order.task_completed"]
    result = {r.name: r for r in check_invariants(output.events, output.ledgers)}["no_completions"]

    assert result.violations == len(completed) > MAX_EXAMPLES
    assert result.examples == [f"{e.data['task_id']} completed" for e in completed[:MAX_EXAMPLES]]
