"""Sim runtime at the scale of a business: throughput, growth and a peak day, beside M/M/c.

The baseline is a bare SimPy M/M/c queue (Poisson arrivals at the scenario's journey
rate, c servers with exponential service, nothing else) measured in the same run: the
ratio of the platform's SimPy event rate to it says what the platform costs on top of
the event loop, a figure that survives a noisy, shared machine better than seconds do.

Each measurement runs in a process of its own (one heap, one peak RSS per run) and
judges the run as ``cpqsim run`` does: the sim with its event log streamed to a file and
the invariant checker watching it (``run_scenario``, without the report). CPU time is
the process's own, so load from other work on the machine inflates wall time, not it.

Figures printed:

* fulfilled (completed) orders per CPU-second of ``happy_path`` at 1x, 10x and 100x its
  arrival rate, and per-order CPU at 100x against 1x (targets, issue 12: >= 1,000
  orders per CPU-second; <= 1.2x per order at 100x);
* platform facts and SimPy events per CPU-second, and that rate as a ratio to M/M/c;
* ``peak_day`` (a generated business day of ~50,000 orders): wall, CPU, peak RSS
  (targets: under 60 s wall, under 1 GB);
* ``--gc``: the same 10x run with the collector left at its defaults, to show what the
  run's collector tuning (``cpqsim_scenarios.sim.runtime.collector_tuned``) buys;
* ``failure_day`` (outage, errors, a spike, cancellations, an operations desk) beside the
  1x happy path: orders per wall-second and the M/M/c ratio (issue 11: the failure day
  must not fall below the happy path's throughput); ``--failure-day`` runs only those two.

    .venv/bin/python benchmarks/bench_sim.py            # 1x, 10x, 100x, peak day
    .venv/bin/python benchmarks/bench_sim.py --gc       # also: default collector at 10x
    .venv/bin/python benchmarks/bench_sim.py --quick    # smoke run (a short 1x day)
    .venv/bin/python benchmarks/bench_sim.py --failure-day  # failure day vs happy path
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import statistics
import subprocess
import sys
import time
from contextlib import nullcontext
from pathlib import Path
from typing import Any

LIBRARY = Path(__file__).resolve().parents[1] / "scenarios" / "library"

ORDERS_PER_CPU_S_TARGET = 1000
GROWTH_TARGET = 1.2
PEAK_WALL_TARGET_S = 60
PEAK_RSS_TARGET_MB = 1024


# ------------------------------------------------------------------ the baseline


def mmc(arrivals_per_s: float, servers: int, mean_service_s: float, duration_s: float, seed: int):
    """A bare SimPy M/M/c queue: (SimPy events processed, CPU seconds, customers served)."""
    import simpy

    env = simpy.Environment()
    rng = random.Random(seed)
    desk = simpy.Resource(env, capacity=servers)
    served = 0

    def customer():
        nonlocal served
        with desk.request() as slot:
            yield slot
            yield env.timeout(rng.expovariate(1 / mean_service_s))
        served += 1

    def arrivals():
        while True:
            yield env.timeout(rng.expovariate(arrivals_per_s))
            env.process(customer())

    env.process(arrivals())
    started = time.process_time()
    env.run(until=duration_s)
    cpu = time.process_time() - started
    return next(env._eid), cpu, served  # SimPy numbers every event it schedules


def mmc_like(loaded) -> dict[str, Any]:
    """The M/M/c the scenario implies: its journey rate, its downstream servers in all,
    their mean service time, over the scenario's whole run."""
    s = loaded.scenario
    profiles = list(s.downstream.values())
    servers = sum(p.servers for p in profiles)
    mean = statistics.mean(p.service_time.mean_s for p in profiles)
    rate = s.traffic.arrivals_per_hour / 3600
    events, cpu, served = mmc(rate, servers, mean, s.duration_s + s.drain_s, s.seed)
    return {"events": events, "cpu_s": cpu, "served": served, "servers": servers}


# ------------------------------------------------------------- one measured run


def _scaled(name: str, factor: float, duration_s: float | None):
    """The scenario at ``factor`` times its volume: arrivals, and the downstream servers
    and queues sized with them (a business ten times the size has ten times the
    capacity; without it a 100x day only measures a saturated queue)."""
    from cpqsim_scenarios.model import load_scenario

    loaded = load_scenario(LIBRARY / f"{name}.yaml")
    s = loaded.scenario
    update: dict[str, Any] = {
        "traffic": s.traffic.model_copy(
            update={"arrivals_per_hour": s.traffic.arrivals_per_hour * factor}
        ),
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
    if duration_s:
        update["duration_s"] = duration_s
    return loaded.model_copy(update={"scenario": s.model_copy(update=update)})


def measure(name: str, factor: float, duration_s: float | None, tuned_gc: bool) -> dict[str, Any]:
    """In a child process: run and judge one scenario; its figures as JSON."""
    import cpqsim_scenarios.sim.runtime as sim_runtime
    from cpqsim_scenarios.runner import run_scenario

    if not tuned_gc:
        sim_runtime.collector_tuned = nullcontext  # the collector's defaults
    loaded = _scaled(name, factor, duration_s)
    baseline = mmc_like(loaded)
    simpy_events = []
    original_run = sim_runtime.SimRuntime.run

    def counting_run(sim, *args, **kwargs):
        original_run(sim, *args, **kwargs)
        simpy_events.append(next(sim.env._eid))

    sim_runtime.SimRuntime.run = counting_run
    started, started_cpu = time.perf_counter(), time.process_time()
    run = run_scenario(loaded)
    cpu = time.process_time() - started_cpu
    wall = time.perf_counter() - started
    result = run.result
    return {
        "scenario": name,
        "factor": factor,
        "tuned_gc": tuned_gc,
        "orders": result["orders"]["total"],
        "completed": result["orders"]["by_state"].get("completed", 0),
        "verdict": result["verdict"],
        "facts": result["events"],
        "simpy_events": simpy_events[0],
        "cpu_s": cpu,
        "wall_s": wall,
        "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "mmc": baseline,
    }


def child(name: str, factor: float, duration_s: float | None = None, tuned_gc: bool = True):
    spec = json.dumps([name, factor, duration_s, tuned_gc])
    done = subprocess.run(
        [sys.executable, __file__, "--child", spec], capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        raise SystemExit(f"measuring {name} x{factor:g} failed:\n{done.stderr}")
    return json.loads(done.stdout.splitlines()[-1])


# ------------------------------------------------------------------- reporting


def _row(label: str, runs: list[dict[str, Any]]) -> dict[str, Any]:
    cpu = statistics.median(r["cpu_s"] for r in runs)
    wall = statistics.median(r["wall_s"] for r in runs)
    first = runs[0]
    mmc_rate = statistics.median(r["mmc"]["events"] / r["mmc"]["cpu_s"] for r in runs)
    simpy_rate = first["simpy_events"] / cpu
    row = {
        "label": label,
        "orders": first["orders"],
        "completed": first["completed"],
        "verdict": first["verdict"],
        "facts": first["facts"],
        "cpu_s": cpu,
        "wall_s": wall,
        "orders_per_cpu_s": first["completed"] / cpu,
        "cpu_ms_per_order": cpu / first["completed"] * 1000,
        "facts_per_cpu_s": first["facts"] / cpu,
        "simpy_per_cpu_s": simpy_rate,
        "mmc_per_cpu_s": mmc_rate,
        "ratio": simpy_rate / mmc_rate,
        "peak_mb": max(r["peak_mb"] for r in runs),
    }
    print(
        f"{label:>9} {row['completed']:>7} {row['facts']:>9} {cpu:>8.2f} {wall:>8.2f} "
        f"{row['orders_per_cpu_s']:>9.0f} {row['cpu_ms_per_order']:>8.2f} "
        f"{row['facts_per_cpu_s']:>8.0f} {simpy_rate:>8.0f} {mmc_rate:>8.0f} "
        f"{row['ratio']:>7.3f} {row['peak_mb']:>7.0f}  {row['verdict']}",
        flush=True,
    )
    return row


HEADER = (
    f"{'run':>9} {'orders':>7} {'facts':>9} {'CPU s':>8} {'wall s':>8} {'orders/s':>9} "
    f"{'ms/order':>8} {'facts/s':>8} {'simpy/s':>8} {'M/M/c/s':>8} {'ratio':>7} {'RSS MB':>7}"
)


def _failure_day_beside(happy: dict[str, Any], repeat: int) -> None:
    """The failure day's throughput as a ratio to the happy path's, measured alike."""
    bad = _row("fail day", [child("failure_day", 1.0) for _ in range(repeat)])
    per_wall = {r["label"]: r["completed"] / r["wall_s"] for r in (happy, bad)}
    print(
        f"failure_day: {per_wall['fail day']:.0f} completed orders per wall-second vs "
        f"{per_wall[happy['label']]:.0f} on the happy path; M/M/c ratio {bad['ratio']:.3f} vs "
        f"{happy['ratio']:.3f} ({bad['ratio'] / happy['ratio']:.2f}x: "
        f"{'not below' if bad['ratio'] >= happy['ratio'] else 'BELOW'} the happy path)"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="one short 1x run (smoke test)")
    parser.add_argument("--gc", action="store_true", help="also 10x with the default collector")
    parser.add_argument("--repeat", type=int, default=3, help="runs of the 1x and 10x days")
    parser.add_argument("--no-peak", action="store_true", help="skip the peak day")
    parser.add_argument(
        "--failure-day", action="store_true", help="only the failure day beside the 1x day"
    )
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps(measure(*json.loads(args.child))))
        return 0

    print("per CPU-second of the process (median of runs, each in its own process);")
    print("orders = completed orders; ratio = platform SimPy events/s / bare M/M/c events/s")
    print(HEADER)
    if args.quick:
        _row("1x short", [child("happy_path", 1.0, 3600.0)])
        return 0
    if args.failure_day:
        happy = _row("1x", [child("happy_path", 1.0) for _ in range(args.repeat)])
        _failure_day_beside(happy, args.repeat)
        return 0
    rows = {}
    for factor, repeat in ((1.0, args.repeat), (10.0, args.repeat), (100.0, 1)):
        runs = [child("happy_path", factor) for _ in range(repeat)]
        rows[factor] = _row(f"{factor:g}x", runs)
    if args.gc:
        _row("10x no-gc", [child("happy_path", 10.0, tuned_gc=False) for _ in range(args.repeat)])
    one, hundred = rows[1.0], rows[100.0]
    growth = hundred["cpu_ms_per_order"] / one["cpu_ms_per_order"]
    best = max(r["orders_per_cpu_s"] for r in rows.values())
    print(
        f"per-order CPU at 100x / 1x: {growth:.2f}x (target <= {GROWTH_TARGET}x: "
        f"{'met' if growth <= GROWTH_TARGET else 'NOT met'})"
    )
    print(
        f"completed orders per CPU-second: {one['orders_per_cpu_s']:.0f} at 1x, best "
        f"{best:.0f} (target >= {ORDERS_PER_CPU_S_TARGET}: "
        f"{'met' if one['orders_per_cpu_s'] >= ORDERS_PER_CPU_S_TARGET else 'NOT met'} at 1x)"
    )
    _failure_day_beside(one, args.repeat)
    if not args.no_peak:
        peak = _row("peak_day", [child("peak_day", 1.0)])
        wall_ok = peak["wall_s"] < PEAK_WALL_TARGET_S
        rss_ok = peak["peak_mb"] < PEAK_RSS_TARGET_MB
        print(
            f"peak_day: {peak['completed']:,} orders in {peak['wall_s']:.1f} s wall "
            f"({peak['cpu_s']:.1f} s CPU), peak RSS {peak['peak_mb']:.0f} MB (targets: < "
            f"{PEAK_WALL_TARGET_S} s: {'met' if wall_ok else 'NOT met'}; < "
            f"{PEAK_RSS_TARGET_MB} MB: {'met' if rss_ok else 'NOT met'})"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
