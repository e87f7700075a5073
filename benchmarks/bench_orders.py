"""Live runtime throughput: fully fulfilled orders per second, beside same-run baselines.

Whole quote-to-order journeys (create, price, approval where the price needs it, accept,
convert, then fulfilment of every task on the downstream actors) run on the ``ray``
runtime — the scenario driver, quote shards, order executors and downstream actors, with
journals — against downstream systems with practically zero latency and ample capacity,
so that the platform itself is what limits the rate. Journeys arrive open-loop (Poisson)
faster than the target; the figure is the *sustained* rate: the orders completed between
the 10th and the 90th percentile completion, divided by the wall time between them
(start-up, pipeline fill and drain left out). The target: 500 orders/s.

On a shared machine the wall-clock rate says as much about the neighbours as about the
platform, so the benchmark also measures CPU: per fulfilled order, per process group
(driver, quote shards, order executors, downstream actors, Ray itself), while the run
lasts. Baselines measured in the same run:

* the **in-process runtime** on the same journeys (the same code, one process, no Ray):
  the CPU the domain work itself costs per order, so ``ray / in-process`` says what the
  distribution costs on top, and ``cores x 1000 / ms`` the most any runtime could reach
  on this machine's cores;
* **bare Ray**: one no-op actor call at a time, round trips per second.

    .venv/bin/python benchmarks/bench_orders.py            # 600 journeys/s for 4 s
    .venv/bin/python benchmarks/bench_orders.py --quick    # smoke run
"""

from __future__ import annotations

import argparse
import os
import threading
import time
from collections import defaultdict
from datetime import datetime
from pathlib import Path
from typing import Any

from cpqsim_host.scenario import POLICIES, LoadedScenario, WeightedDiscount

from cpqsim.context import EPOCH
from cpqsim.downstream import DownstreamProfile, FaultProfile, ServiceTime
from cpqsim_scenarios.model import load_scenario

LIBRARY = Path(__file__).resolve().parents[1] / "scenarios" / "library"
TARGET = 500.0  # fully fulfilled orders per second (issue 13)
TIME_SCALE = 0.01  # wall seconds per virtual second
STARTUP_JOURNEYS = 10  # a tiny in-process run: what every run pays once, whatever its size
RESCAN_EVERY_S = 2.0  # how often the CPU meter looks for new processes


def zero_latency(profile: DownstreamProfile) -> DownstreamProfile:
    """The same system with practically no latency, no faults and room for everyone."""
    return profile.model_copy(
        update={
            "servers": 10_000,
            "queue_limit": 10_000_000,
            "service_time": ServiceTime(distribution="constant", mean_s=0.001),
            "network_latency_s": 0.0,
            "query_latency_s": 0.0,
            "faults": FaultProfile(),
        }
    )


def bench_scenario(rate_per_wall_s: float, wall_s: float) -> LoadedScenario:
    """happy_path's catalog and mix, arriving at ``rate_per_wall_s`` for ``wall_s`` seconds."""
    loaded = load_scenario(LIBRARY / "happy_path.yaml")
    base = loaded.scenario
    traffic = base.traffic.model_copy(
        update={
            "arrivals_per_hour": rate_per_wall_s * TIME_SCALE * 3600,
            "discounts": [WeightedDiscount(pct=0)],
            "approval_latency": ServiceTime(distribution="constant", mean_s=1.0),
            "rejection_rate": 0.0,
            "convert_retry_rate": 0.0,
            "second_conversion_rate": 0.0,
        }
    )
    # No reply is lost here: a timeout could only mean the backlog of an overloaded run
    # (arrivals outpace the platform on purpose), and would add reconciliation work.
    policy = POLICIES["robust"].model_copy(update={"call_timeout_s": 600.0 / TIME_SCALE})
    scenario = base.model_copy(
        update={
            "name": "bench_orders",
            "traffic": traffic,
            "downstream": {name: zero_latency(p) for name, p in base.downstream.items()},
            "policy": policy,
            "duration_s": wall_s / TIME_SCALE,
            "drain_s": 60.0 / TIME_SCALE,
            "sample_every_s": (wall_s + 60.0) / TIME_SCALE,
            "time_scale": TIME_SCALE,
            "platform_faults": [],
        }
    )
    return loaded.model_copy(update={"scenario": scenario})


def bare_ray_calls_per_s(seconds: float) -> float:
    """One no-op call at a time to one actor, for ``seconds``: round trips per second."""
    import ray

    class Echo:
        def ping(self) -> int:
            return 0

    actor = ray.remote(Echo).options(num_cpus=0).remote()
    ray.get(actor.ping.remote())
    calls, started = 0, time.perf_counter()
    while time.perf_counter() - started < seconds:
        ray.get(actor.ping.remote())
        calls += 1
    rate = calls / (time.perf_counter() - started)
    ray.kill(actor)
    return rate


def sustained_rate(completions: list[float]) -> float:
    """Orders per second between the 10th and the 90th percentile completion."""
    if len(completions) < 10:
        return 0.0
    times = sorted(completions)
    lo, hi = len(times) // 10, (len(times) * 9) // 10
    span = times[hi] - times[lo]
    return (hi - lo) / span if span > 0 else float("inf")


class CpuMeter:
    """CPU seconds of this process (the driver) and of the Ray processes it started.

    A thread samples every process while the run lasts (actor processes die, with their
    counters, when the run shuts its platform down) and keeps a timestamped series per
    process; :meth:`between` reads the CPU each process group spent between two instants
    (to within one sampling period), so actor start-up can be left out.
    """

    def __init__(self, every_s: float = 0.2) -> None:
        self.every_s = every_s
        self._series: dict[int, list[tuple[float, float]]] = defaultdict(list)
        self._names: dict[int, str] = {}
        self._procs: dict[int, Any] = {}
        self.own_cpu_s = 0.0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        try:
            import psutil
        except ImportError:  # optional: the CPU figures are then left out
            self._psutil = None
        else:
            self._psutil = psutil

    def __enter__(self) -> CpuMeter:
        if self._psutil is not None:
            self._thread = threading.Thread(target=self._run, daemon=True)
            self._thread.start()
        return self

    def __exit__(self, *_exc) -> None:
        if self._thread is not None:
            self._stop.set()
            self._thread.join()

    def _run(self) -> None:
        started = time.thread_time()
        rescan_at = 0.0
        while True:
            if time.monotonic() >= rescan_at:  # a walk of /proc: rarely (actors start once)
                self._rescan()
                rescan_at = time.monotonic() + RESCAN_EVERY_S
            self._sample()
            self.own_cpu_s = time.thread_time() - started  # not the driver's: left out
            if self._stop.wait(self.every_s):
                return

    def _rescan(self) -> None:
        psutil = self._psutil
        me = psutil.Process()
        for proc in [me, *me.children(recursive=True)]:
            if proc.pid not in self._procs:
                self._procs[proc.pid] = proc

    def _sample(self) -> None:
        psutil = self._psutil
        now = time.monotonic()
        me = os.getpid()
        for pid, proc in list(self._procs.items()):
            try:
                with proc.oneshot():
                    name = "driver" if pid == me else (proc.cmdline() or [""])[0]
                    times = proc.cpu_times()
            except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
                del self._procs[pid]
                continue
            if name.startswith("ray::"):
                name = name.split()[0].split(".")[0]
            elif name != "driver":
                name = "ray system"
            # A worker shows its actor's name only once it hosts one, and (briefly) its
            # plain command line while it changes title: the actor's name wins.
            known = self._names.get(pid, "ray system")
            if known == "ray system" or (known == "ray::IDLE" and name.startswith("ray::")):
                self._names[pid] = name
            cpu = times.user + times.system
            if pid == me:
                cpu -= self.own_cpu_s
            self._series[pid].append((now, cpu))

    def between(self, start: float, end: float) -> dict[str, float]:
        """CPU seconds per process group from monotonic instant ``start`` to ``end``."""

        def at(series: list[tuple[float, float]], t: float) -> float:
            before = [cpu for when, cpu in series if when <= t]
            return before[-1] if before else 0.0

        out: dict[str, float] = defaultdict(float)
        for pid, series in self._series.items():
            name = self._names[pid]
            out["ray system" if name == "ray::IDLE" else name] += at(series, end) - at(
                series, start
            )
        return dict(out)


class RunWindow:
    """The wall-clock span of a run proper: from the first progress report (every actor
    up, the clock started) to the last one (settled)."""

    def __init__(self) -> None:
        self.start: float | None = None
        self.end: float | None = None

    def __call__(self, _now: float, _end: float) -> None:
        now = time.monotonic()
        if self.start is None:
            self.start = now
        self.end = now


def completions(out, scale: float) -> tuple[list[float], list[float]]:
    """Wall seconds (on the run's axis) of every order completion and quote creation."""

    def wall(event_time: str) -> float:
        return (datetime.fromisoformat(event_time) - EPOCH).total_seconds() * scale

    done = [wall(e.time) for e in out.events if e.name == "order.completed"]
    created = [wall(e.time) for e in out.events if e.name == "quote.created"]
    return done, created


def run_inprocess_baseline(rate: float, seconds: float) -> dict:
    """The same journeys on the ``inprocess`` runtime: CPU per fulfilled order, no Ray.

    Marginal cost: the CPU of a full run less that of a tiny one, per extra order, so
    what every run pays once (building the platform) is left out.
    """
    from cpqsim_actors.scenario_runner import run_inprocess

    figures = []
    for loaded in (bench_scenario(rate, STARTUP_JOURNEYS / rate), bench_scenario(rate, seconds)):
        cpu = time.process_time()
        out = run_inprocess(loaded)
        cpu = time.process_time() - cpu
        figures.append((len(completions(out, loaded.scenario.time_scale)[0]), cpu))
    (n0, cpu0), (n1, cpu1) = figures
    return {"completed": n1, "cpu_ms": 1000 * (cpu1 - cpu0) / max(n1 - n0, 1)}


def run_live(loaded: LoadedScenario, quote_shards: int, order_shards: int) -> dict:
    """The journeys on the ``ray`` runtime: rate, and CPU per order by process group
    while the run lasted (actor start-up left out)."""
    from cpqsim_actors.scenario_runner import run_on_ray

    window = RunWindow()
    with CpuMeter() as meter:
        out = run_on_ray(
            loaded, progress=window, quote_shards=quote_shards, order_shards=order_shards
        )
    done, created = completions(out, loaded.scenario.time_scale)
    statuses: dict[str, int] = {}
    for status in out.orders_final.values():
        statuses[status] = statuses.get(status, 0) + 1
    cpu = meter.between(window.start, window.end) if window.start is not None else {}
    return {
        "journeys": out.stats.started,
        "orders": len(out.orders_final),
        "completed": len(done),
        "statuses": statuses,
        "rate": sustained_rate(done),
        "span_s": (max(done) - min(created)) if done and created else 0.0,
        "wall_s": out.wall_s,
        "run_s": (window.end - window.start) if window.start is not None else 0.0,
        "notes": out.notes,
        "events": len(out.events),
        "cpu_ms": {
            g: 1000 * s / max(len(done), 1) for g, s in cpu.items() if s * 1000 / len(done) >= 0.005
        },
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="short smoke run")
    parser.add_argument("--rate", type=float, default=None, help="journeys per wall s (600)")
    parser.add_argument("--seconds", type=float, default=None, help="wall s of arrivals (4)")
    parser.add_argument("--quote-shards", type=int, default=2)
    parser.add_argument("--order-shards", type=int, default=2)
    parser.add_argument("--cores", type=int, default=os.cpu_count() or 1)
    args = parser.parse_args()
    rate = args.rate or (150.0 if args.quick else 600.0)
    seconds = args.seconds or (2.0 if args.quick else 4.0)

    # Baseline first, before Ray starts: the same journeys, one process, no Ray.
    base = run_inprocess_baseline(rate, seconds / 4)

    from cpqsim_actors.handles import ray_init, ray_shutdown

    started = ray_init()
    try:
        calls = bare_ray_calls_per_s(1.0 if args.quick else 3.0)
        live = run_live(bench_scenario(rate, seconds), args.quote_shards, args.order_shards)
    finally:
        if started:
            ray_shutdown()

    print(
        f"arrivals {rate:.0f} journeys/s for {seconds:g} s (open loop); {args.quote_shards} "
        f"quote + {args.order_shards} order shards; downstreams at zero latency; time_scale "
        f"{TIME_SCALE}; {args.cores} cores"
    )
    print(
        f"ray runtime: {live['journeys']} journeys, {live['orders']} orders "
        f"({live['statuses']}), {live['events']} events; first quote to last completion "
        f"{live['span_s']:.1f} s, run {live['run_s']:.1f} s ({live['wall_s']:.1f} s with start-up)"
    )
    for note in live["notes"]:
        print(f"  note: {note}")
    per_order = live["cpu_ms"]
    if per_order:
        shown = ", ".join(
            f"{g} {ms:.2f}" for g, ms in sorted(per_order.items(), key=lambda kv: -kv[1])
        )
        total = sum(per_order.values())
        print(f"CPU ms per fulfilled order on ray: {total:.2f} ({shown})")
    print(
        f"baseline: in-process runtime (same journeys, one process, no Ray): "
        f"{base['completed']} orders, {base['cpu_ms']:.2f} ms CPU per fulfilled order"
    )
    print(f"baseline: bare Ray, one no-op actor call at a time: {calls:.0f} calls/s")
    print(f"sustained fully fulfilled orders/s: {live['rate']:.0f} (target {TARGET:.0f})")
    print(f"ratio orders/s / target: {live['rate'] / TARGET:.2f}")
    if per_order:
        total = sum(per_order.values())
        print(f"ratio ray / in-process CPU per order: {total / base['cpu_ms']:.2f}")
        print(
            f"CPU-bound ceiling on {args.cores} cores: ray {1000 * args.cores / total:.0f} "
            f"orders/s, in-process cost {1000 * args.cores / base['cpu_ms']:.0f} orders/s "
            f"(target {TARGET:.0f} needs <= {1000 * args.cores / TARGET:.1f} ms per order)"
        )


if __name__ == "__main__":
    main()
