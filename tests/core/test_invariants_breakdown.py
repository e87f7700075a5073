"""Violations are counted by downstream system and by kind, not only in total.

A report that says "140 duplicate side effects" beside provisioning's duplicate count
hides the shipping ones; the breakdown names every system and kind, and always adds up.
"""

from __future__ import annotations

from cpqsim.downstream import DownstreamLedger, DownstreamProfile, DownstreamRequest, Fault
from cpqsim.invariant_checker import PLATFORM, Checker, Violation
from cpqsim.invariants import check_invariants


def executed_twice(system: str, references: list[str]) -> DownstreamLedger:
    ledger = DownstreamLedger(DownstreamProfile(name=system, deduplicates=False))
    for ref in references:
        for attempt in (1, 2):
            request = DownstreamRequest(
                system=system,
                operation="activate",
                reference=ref,
                idempotency_key=None,
                order_id=ref.split(":")[0],
                task_id=ref.split(":")[1],
                attempt=attempt,
            )
            ledger.finish(ledger.accept(request, 0), 10, Fault.NONE)
    return ledger


def test_given_duplicates_in_two_systems_then_each_system_is_counted():
    # Given three provisioning duplicates and one shipping duplicate
    ledgers = {
        "provisioning": executed_twice("provisioning", ["O1:t1", "O2:t1", "O3:t1"]).snapshot(),
        "shipping": executed_twice("shipping", ["O4:t2"]).snapshot(),
    }

    # When the run is judged
    result = {r.name: r for r in check_invariants([], ledgers)}["no_duplicate_side_effects"]

    # Then the total is broken down by system and by kind, and both add up
    assert result.violations == 4
    assert result.by_downstream == {"provisioning": 3, "shipping": 1}
    assert result.by_kind == {"duplicate side effect": 4}


def test_an_invariant_that_holds_has_no_breakdown():
    result = {r.name: r for r in check_invariants([], {})}["no_duplicate_side_effects"]
    assert result.holds and result.by_downstream == {} and result.by_kind == {}


class TwoKinds(Checker):
    kind = "plain"

    def conclude(self, ledgers):
        return ["a sentence", Violation("late", "late kind", "billing")]


def test_sentences_take_the_checker_kind_on_the_platform_and_violations_their_own():
    checker = TwoKinds()
    for n in range(7):
        checker.problem(f"early {n}", "early kind", "inventory")

    result = checker.result("two_kinds", "", {})

    assert result.violations == 9
    assert result.by_kind == {"early kind": 7, "late kind": 1, "plain": 1}
    assert result.by_downstream == {"billing": 1, "inventory": 7, PLATFORM: 1}
    assert len(result.examples) == 5, "only the first few sentences are kept"
