"""The checker judges incrementally, exactly as the whole-log definitions judge a log.

The reference (``whole_log_invariants``) is each invariant written over the whole log
at once (how the checker was first written, order exceptions included): for any log,
the incremental checker must find the same violations, in the same order, with the same
words, while keeping only what is in flight.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

import pytest
from cpqsim_host.scenario import LoadedScenario
from whole_log_asset_invariants import ASSET_CHECKS as WHOLE_LOG_ASSET_CHECKS
from whole_log_invariants import _terminal_or_fallout as ref_terminal_or_fallout
from whole_log_invariants import judged_by_reference

from cpqsim.events import CloudEvent
from cpqsim.invariant_checker import REGISTERED, Fold
from cpqsim.invariants import (
    MAX_EXAMPLES,
    Checker,
    InvariantJudge,
    OrdersTerminalOrInFallout,
    check_invariants,
    invariant,
)
from cpqsim.invariants_assets import RunInstalledBase
from cpqsim_scenarios.model import load_scenario
from cpqsim_scenarios.runner import run_catalogs
from cpqsim_scenarios.sim.runtime import run_sim

LIBRARY = Path(__file__).resolve().parents[2] / "scenarios" / "library"


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
    [
        ("naive_retry", 7),
        ("provisioning_timeouts", 3),
        ("provisioning_outage", 11),
        ("cancellation_in_flight", 5),
        ("cancellation_in_flight_naive", 5),
        ("approval_callback_lost", 2),
        ("approval_callback_lost_naive", 2),
        ("catalog_cache_stale_naive", 4),
        ("manual_repair_wrong_naive", 6),
        ("partial_fulfilment_all_or_nothing", 8),
        ("billing_handoff_duplicate_naive", 9),
        ("renewal_season", 7),  # renewals: billing is the change itself
    ],
)
def test_judged_as_it_streams_a_day_gets_the_whole_log_verdict(name, seed):
    # Given a (shortened) library day, its log and its ledgers
    loaded, output = day(name, seed)
    events = list(output.events)
    catalogs, sla = run_catalogs(loaded), loaded.scenario.approval_timeout_s

    # When the incremental checker judges it
    incremental = check_invariants(events, output.ledgers, catalogs, sla)

    # Then it finds what the whole-log definitions find, in the same report order
    expected = judged_by_reference(events, output.ledgers, catalogs, sla)
    assert {r.name: (r.violations, r.examples) for r in incremental} == expected
    assert [r.name for r in incremental] == list(expected)


@pytest.mark.parametrize(
    "name, seed",
    [("renewal_season", 7), ("upgrade_campaign", 3), ("migration_incomplete_metadata", 5)],
)
def test_on_the_installed_base_days_the_shared_fold_gets_the_whole_log_asset_verdict(name, seed):
    # Given a (shortened) library day with an installed base and change orders
    loaded, output = day(name, seed)
    events = list(output.events)
    assert sum(1 for e in events if e.name == "asset.change_applied") > 10

    # When the incremental checker judges it (the asset rows reading one fold)
    incremental = {
        r.name: (r.violations, r.examples)
        for r in check_invariants(events, output.ledgers, run_catalogs(loaded))
    }

    # Then each asset row finds what its whole-log definition finds
    expected = {n: check(events, output.ledgers) for n, check in WHOLE_LOG_ASSET_CHECKS}
    assert {n: incremental[n] for n in expected} == {
        n: (len(p), p[:MAX_EXAMPLES]) for n, p in expected.items()
    }


def test_the_failure_days_break_order_invariants_so_the_comparison_means_something():
    broken = set()
    for name, seed in [
        ("cancellation_in_flight_naive", 5),
        ("approval_callback_lost_naive", 2),
        ("catalog_cache_stale_naive", 4),
        ("manual_repair_wrong_naive", 6),
    ]:
        loaded, output = day(name, seed)
        results = check_invariants(
            output.events,
            output.ledgers,
            run_catalogs(loaded),
            loaded.scenario.approval_timeout_s,
        )
        broken |= {r.name for r in results if not r.holds}
    assert len(broken) >= 2, broken


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
    before = list(REGISTERED)
    yield
    REGISTERED[:] = before


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


def test_checkers_reading_one_fold_share_it_and_find_it_folded_before_they_look(registered):
    # Given a fold of order creations and two invariants reading it, one of them also
    # watching order.created itself
    folded: list[str] = []

    class CreatedOrders(Fold):
        watches = ("order.created",)

        def __init__(self) -> None:
            self.orders: list[str] = []

        def observe(self, event):
            folded.append(event.data["order_id"])
            self.orders.append(event.data["order_id"])

    class ReadsCreatedOrders(Checker):
        reads = {"created": CreatedOrders}

        def __init__(self, created: CreatedOrders) -> None:
            super().__init__()
            self.created = created

    seen_when_shown: list[bool] = []

    @invariant("few_orders", "at most 10,000 orders")
    class FewOrders(ReadsCreatedOrders):
        watches = ("order.created",)

        def observe(self, event):
            seen_when_shown.append(self.created.orders[-1] == event.data["order_id"])

        def conclude(self, ledgers):
            return ["too many orders"] if len(self.created.orders) > 10_000 else []

    @invariant("some_orders", "at least one order")
    class SomeOrders(ReadsCreatedOrders):
        def conclude(self, ledgers):
            return [] if self.created.orders else ["no order"]

    _, output = day("provisioning_timeouts", 3)
    created = [e.data["order_id"] for e in output.events if e.name == "order.created"]

    # When a judge judges the day
    judge = InvariantJudge()
    for event in output.events:
        judge.observe(event)
    results = {r.name: r for r in judge.verdict(output.ledgers)}

    # Then it built one fold, shared by both, and folded each order once, in log order
    (fold,) = [f for f in judge.folds.values() if isinstance(f, CreatedOrders)]
    readers = [c for _, _, c in judge.checkers if isinstance(c, ReadsCreatedOrders)]
    assert len(readers) == 2 and all(c.created is fold for c in readers)
    assert folded == created and len(created) > 10
    # And a checker shown the same fact finds the fold already holding it
    assert seen_when_shown == [True] * len(created)
    assert results["few_orders"].holds and results["some_orders"].holds


def test_the_installed_base_is_folded_once_for_the_four_invariants_reading_it():
    # Given a judge of every registered invariant
    judge = InvariantJudge()
    # Then the installed base's view is one fold, read by the four invariants judging it
    (base,) = [f for f in judge.folds.values() if isinstance(f, RunInstalledBase)]
    readers = [n for n, _, c in judge.checkers if getattr(c, "base", None) is base]
    assert readers == [
        "assets_match_downstream",
        "add_on_has_active_parent",
        "one_active_asset_per_subscription",
        "billing_matches_installed_base",
    ]

    # When a day with an installed base and change orders is judged
    _, output = day("upgrade_campaign", 7)
    asset_facts = [e for e in output.events if e.name.startswith("asset.")]
    for event in output.events:
        judge.observe(event)
    judge.verdict(output.ledgers)

    # Then the fold was shown each asset fact once and holds every asset the log made
    assert len(asset_facts) > 100
    assert len(base.platform.assets) == sum(1 for e in asset_facts if e.name == "asset.created")
    assert base.folded == sum(1 for e in output.events if RunInstalledBase.watching(e.name))


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


def test_on_a_failing_day_every_breakdown_adds_up_to_its_total():
    # Given the naive retry day, which breaks several invariants
    _, output = day("naive_retry", 7)

    # When it is judged
    broken = [r for r in check_invariants(output.events, output.ledgers) if not r.holds]

    # Then each broken invariant's counts by downstream and by kind add up to its total,
    # and the duplicates are placed on the systems whose ledgers hold them
    assert broken
    for r in broken:
        assert sum(r.by_downstream.values()) == r.violations == sum(r.by_kind.values()), r.name
    duplicates = {r.name: r for r in broken}["no_duplicate_side_effects"]
    per_ledger = {s: len(led.duplicates()) for s, led in output.ledgers.items()}
    assert duplicates.by_downstream == {s: n for s, n in sorted(per_ledger.items()) if n}
    assert len(duplicates.by_downstream) >= 2, "provisioning and shipping both duplicate"
