"""Sim runtime throughput: orders per wall second on a library scenario, beside a baseline.

The baseline is bare SimPy doing the same number of scheduled events with no platform
logic, measured in the same run, so the ratio says what the platform costs on top of the
event loop — a figure that survives a noisy, shared machine better than seconds do.

    .venv/bin/python benchmarks/bench_sim.py            # happy_path x 1, 2, 4 arrival rate
    .venv/bin/python benchmarks/bench_sim.py --quick    # smoke run
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import simpy

from cpqsim_scenarios.model import load_scenario
from cpqsim_scenarios.sim.runtime import SimRuntime

LIBRARY = Path(__file__).resolve().parents[1] / "scenarios" / "library"


def bare_simpy(events: int) -> float:
    """Seconds for SimPy alone to schedule and fire ``events`` timeouts in 100 processes."""
    env = simpy.Environment()
    per_process = max(events // 100, 1)

    def ticker(env):
        for _ in range(per_process):
            yield env.timeout(1)

    for _ in range(100):
        env.process(ticker(env))
    started = time.perf_counter()
    env.run()
    return time.perf_counter() - started


def run_once(scenario_name: str, rate_factor: float, duration_s: float | None):
    loaded = load_scenario(LIBRARY / f"{scenario_name}.yaml")
    traffic = loaded.scenario.traffic.model_copy(
        update={"arrivals_per_hour": loaded.scenario.traffic.arrivals_per_hour * rate_factor}
    )
    update = {"traffic": traffic}
    if duration_s:
        update["duration_s"] = duration_s
    loaded = loaded.model_copy(update={"scenario": loaded.scenario.model_copy(update=update)})
    sim = SimRuntime(loaded)
    started = time.perf_counter()
    sim.run()
    wall = time.perf_counter() - started
    scheduled = next(sim.env._eid)  # SimPy counts every event it schedules
    return wall, len(sim.orders.orders), len(sim.log), scheduled


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenario", default="happy_path")
    parser.add_argument("--quick", action="store_true", help="one short run (smoke test)")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    factors = [1.0] if args.quick else [1.0, 2.0, 4.0]
    repeat = 1 if args.quick else args.repeat
    duration = 3600.0 if args.quick else None
    print(
        f"{'rate x':>6} {'orders':>7} {'events':>7} {'wall s':>7} {'orders/s':>9} "
        f"{'simpy s':>8} {'ratio':>6}"
    )
    for factor in factors:
        runs = [run_once(args.scenario, factor, duration) for _ in range(repeat)]
        wall = statistics.median(r[0] for r in runs)
        _, orders, events, simpy_events = runs[0]
        baseline = statistics.median(bare_simpy(simpy_events) for _ in range(repeat))
        print(
            f"{factor:>6.1f} {orders:>7} {events:>7} {wall:>7.2f} {orders / wall:>9.0f} "
            f"{baseline:>8.3f} {wall / baseline:>6.1f}"
        )
    print("ratio = platform sim wall time / bare SimPy with as many scheduled events")


if __name__ == "__main__":
    main()
