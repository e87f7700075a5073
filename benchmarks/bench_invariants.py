"""Benchmark: what judging a large run costs, invariant by invariant.

A renewal season at ten times its volume (an installed base of 20,000 main assets, with
their add-ons and bundle components, and ~6,400 change orders: renewals, seat changes,
edition upgrades, beside a trickle of new sales) runs once in the sim; its log and
ledgers are kept. Then, as medians of a few rounds, judges built as ``cpqsim run``
builds them (the run's catalogs, approval timeout and policy; no audit chain) are fed
the whole log and asked for the verdict:

* **each invariant alone** — a judge holding only that invariant (and whatever shared
  fold it reads), so its row is what it costs on its own;
* **together** — the installed base's five rows in one judge, every other row in one
  judge, and the whole judge. The five asset rows alone, summed, beside the five in one
  judge shows what sharing a fold saves.

Every figure is printed beside a baseline measured in the same run: the order
invariant ``orders_terminal_or_in_fallout`` alone (it folds every order fact through
the order lifecycle, the same fold "which orders are still in flight" needs). The
machine is shared: ratios, not milliseconds, are the figure.

    .venv/bin/python benchmarks/bench_invariants.py            # renewal season x10
    .venv/bin/python benchmarks/bench_invariants.py --quick    # smoke (x1, one hour)
"""

from __future__ import annotations

import argparse
import gc
import statistics
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from cpqsim_host.installed_base_gen import generate_installed_base

from cpqsim.invariant_checker import REGISTERED
from cpqsim.invariants import InvariantJudge
from cpqsim.invariants_assets import ASSET_CHECKS
from cpqsim_scenarios.model import load_scenario
from cpqsim_scenarios.runner import run_catalogs
from cpqsim_scenarios.sim.runtime import run_sim

LIBRARY = Path(__file__).resolve().parents[1] / "scenarios" / "library"
BASELINE = "orders_terminal_or_in_fallout"
ASSET_ROWS = tuple(name for name, *_ in ASSET_CHECKS)


def scaled_renewal_season(factor: float, duration_s: float | None):
    """``renewal_season`` at ``factor`` times its volume: its installed base, its change
    and sales traffic, and the downstream capacity with them."""
    loaded = load_scenario(LIBRARY / "renewal_season.yaml")
    s = loaded.scenario
    assert s.installed_base is not None and s.traffic.changes is not None
    base = s.installed_base.model_copy(
        update={
            "assets": round(s.installed_base.assets * factor),
            "accounts": round(s.installed_base.accounts * factor),
        }
    )
    changes = s.traffic.changes.model_copy(
        update={"arrivals_per_hour": s.traffic.changes.arrivals_per_hour * factor}
    )
    traffic = s.traffic.model_copy(
        update={"arrivals_per_hour": s.traffic.arrivals_per_hour * factor, "changes": changes}
    )
    update: dict = {
        "installed_base": base,
        "traffic": traffic,
        "downstream": {
            system: p.model_copy(
                update={
                    "servers": min(10_000, max(1, round(p.servers * factor))),
                    "queue_limit": min(10_000_000, round(p.queue_limit * factor)),
                }
            )
            for system, p in s.downstream.items()
        },
    }
    if duration_s is not None:
        update["duration_s"] = duration_s
    scenario = s.model_copy(update=update)
    facts = generate_installed_base(base, loaded.catalog, scenario.seed)
    return loaded.model_copy(update={"scenario": scenario, "installed_base": facts})


@contextmanager
def registered_only(names: tuple[str, ...]) -> Iterator[None]:
    """Judges built inside hold only the invariants named (in registration order)."""
    every = list(REGISTERED)
    REGISTERED[:] = [r for r in every if r.name in names]
    try:
        yield
    finally:
        REGISTERED[:] = every


def judge_once(loaded, events, ledgers, names: tuple[str, ...]) -> tuple[float, float, bool]:
    """Seconds to feed the log to a judge of ``names``, seconds to conclude, all held."""
    with registered_only(names):
        judge = InvariantJudge(
            run_catalogs(loaded),
            loaded.scenario.approval_timeout_s,
            loaded.approval_policy,
        )
    observe = judge.observe
    began = time.perf_counter()
    for event in events:
        observe(event)
    fed = time.perf_counter()
    results = judge.verdict(ledgers)
    concluded = time.perf_counter()
    return fed - began, concluded - fed, all(r.holds for r in results)


def median_cost(loaded, events, ledgers, names, rounds: int) -> tuple[float, float, bool]:
    runs = [judge_once(loaded, events, ledgers, names) for _ in range(rounds)]
    return (
        statistics.median(r[0] for r in runs),
        statistics.median(r[1] for r in runs),
        all(r[2] for r in runs),
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--factor", type=float, default=10.0, help="renewal season's volume")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--quick", action="store_true", help="smoke run: x1, one hour, 1 round")
    parser.add_argument(
        "--leave-out",
        action="append",
        default=[],
        metavar="INVARIANT",
        help="an invariant measured nowhere (e.g. the costly repricing_reproduces_fingerprint)",
    )
    args = parser.parse_args(argv)
    factor, duration_s, rounds = args.factor, None, args.rounds
    if args.quick:
        factor, duration_s, rounds = 1.0, 3600.0, 1

    began = time.perf_counter()
    loaded = scaled_renewal_season(factor, duration_s)
    output = run_sim(loaded, loaded.scenario.seed)
    events, ledgers = output.events, output.ledgers
    # The log and ledgers live as long as the benchmark: out of the collector's sight,
    # so each judge pays for collecting what it allocates, not for rescanning the log.
    gc.collect()
    gc.freeze()
    assets = sum(1 for e in events if e.name == "asset.created")
    orders = sum(1 for e in events if e.name == "order.created")
    changes = sum(1 for e in events if e.name == "order.item_change_fulfilled")
    print(
        f"judged log: renewal season x{factor:g}, {len(events):,} events, {assets:,} assets, "
        f"{orders:,} orders, {changes:,} changes fulfilled "
        f"(run in {time.perf_counter() - began:.1f} s); {rounds} rounds (medians)"
    )
    unknown = set(args.leave_out) - {r.name for r in REGISTERED}
    if unknown:
        parser.error(f"--leave-out: no invariant named {', '.join(sorted(unknown))}")
    report(loaded, events, ledgers, rounds, tuple(args.leave_out))
    return 0


def report(loaded, events, ledgers, rounds: int, leave_out: tuple[str, ...] = ()) -> None:
    """Judge the log invariant by invariant, then together; print each beside the
    baseline measured here. ``leave_out``: invariants measured nowhere."""
    every = tuple(r.name for r in REGISTERED if r.name not in leave_out)
    if leave_out:
        print(f"left out everywhere: {', '.join(leave_out)}")
    assets = tuple(n for n in every if n in ASSET_ROWS)
    others = tuple(n for n in every if n not in ASSET_ROWS)
    base_fed, base_concluded, _ = median_cost(loaded, events, ledgers, (BASELINE,), rounds)
    baseline = base_fed + base_concluded
    per_event_us = 1e6 / len(events)

    def row(label: str, fed: float, concluded: float, holds: bool | None = None) -> float:
        total = fed + concluded
        mark = "" if holds is None else ("  holds" if holds else "  BROKEN")
        print(
            f"{label:<46}{fed * 1e3:>10.1f}{concluded * 1e3:>10.1f}{total * 1e3:>10.1f}"
            f"{total * per_event_us:>10.2f}{total / baseline:>9.2f}x{mark}"
        )
        return total

    print()
    print(
        f"{'invariant alone':<46}{'feed ms':>10}{'end ms':>10}{'total ms':>10}"
        f"{'us/event':>10}{'ratio':>10}"
    )
    row(f"baseline: {BASELINE}", base_fed, base_concluded)
    alone: dict[str, float] = {}
    for name in every:
        fed, concluded, holds = median_cost(loaded, events, ledgers, (name,), rounds)
        alone[name] = row(name, fed, concluded, holds)

    print()
    print("together (one judge)")
    assets_total = row(
        f"installed base's rows ({len(assets)})",
        *median_cost(loaded, events, ledgers, assets, rounds),
    )
    others_total = row(
        f"every other row ({len(others)})", *median_cost(loaded, events, ledgers, others, rounds)
    )
    row(f"the whole judge ({len(every)})", *median_cost(loaded, events, ledgers, every, rounds))
    summed = sum(alone[n] for n in assets)
    print()
    print(f"ratio asset rows / every other row: {assets_total / others_total:.2f}x")
    print(
        f"ratio asset rows in one judge / each alone, summed: {assets_total / summed:.2f}x "
        "(below 1: they share work)"
    )


if __name__ == "__main__":
    raise SystemExit(main())
