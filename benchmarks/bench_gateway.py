"""HTTP gateway throughput: the price-quote route beside a bare uvicorn + FastAPI + Ray baseline.

One run, one Ray (started here, once), everything on 127.0.0.1:

* **baseline**: a bare FastAPI app under uvicorn (same settings as ``cpqsim serve``) whose
  one endpoint awaits a trivial method of one sync Ray actor;
* **price**: ``cpqsim serve`` (the real platform: quote shards, order executors,
  downstream fakes, journal, the gateway's door, metrics and hub) with every user
  pricing its own quote again and again: ``POST /quote/{id}/price``;
* **half**: the same route paced at half the req/s ``price`` reached, for the latency a
  service sees when it is not saturated (target: p99 <= 100 ms);
* **journey**: the main endpoints in turn: create, price, accept, convert, get quote,
  get order (for reference).

Both servers run as child processes joining this Ray through ``RAY_ADDRESS``; both are
driven by Locust ``FastHttpUser`` load (``loadtests/bench_gateway_locustfile.py``,
headless, ``--csv``) in its own process, which never touches Ray. Printed: req/s, p50
and p99 per endpoint, the ratio of the price-quote route's req/s to the baseline's
(target: >= 0.7; a figure that survives a noisy, shared machine better than req/s do),
the p99 at half load, and CPU milliseconds per request per process group during each
run. From those, the *CPU-bound ratio*: baseline CPU per request over price-quote CPU per
request, the ratio a machine fully busy with these two servers alone would give (on a
machine shared with other work, each process gets its share of the cores, so the slowest
process decides the rate instead, and the measured ratio can be above or below it).

The gateway runs with ``cpqsim serve``'s default layout (2 quote + 2 order shards) unless
``--quote-shards`` / ``--order-shards`` say otherwise.

    .venv/bin/python benchmarks/bench_gateway.py              # 20 users x 20 s per run
    .venv/bin/python benchmarks/bench_gateway.py --quick      # smoke run
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import os
import resource
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections import defaultdict
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
LOCUSTFILE = REPO / "loadtests" / "bench_gateway_locustfile.py"
LOCUST = str(Path(sys.executable).with_name("locust"))
PRICE = "POST /quote/{id}/price"
IDLE_SERVER = "the other server (idle)"
SERVE_SHARDS = 2  # ``cpqsim serve``'s default number of quote and of order shards


# ------------------------------------------------------------------- baseline server


def serve_baseline(port: int) -> None:
    """uvicorn + FastAPI; ``GET /ping`` awaits one trivial sync Ray actor call."""
    from contextlib import asynccontextmanager

    import ray
    import uvicorn
    from fastapi import FastAPI

    from cpqsim_actors.handles import ray_init

    class Echo:
        def ping(self) -> str:
            return "pong"

    ray_init()
    actor = ray.remote(Echo).options(num_cpus=0).remote()

    @asynccontextmanager
    async def lifespan(_app: FastAPI):
        await actor.ping.remote()
        yield

    app = FastAPI(lifespan=lifespan)

    @app.get("/health")
    async def health() -> dict:
        return {"status": "ok"}

    @app.get("/ping")
    async def ping() -> dict:
        return {"answer": await actor.ping.remote()}

    try:
        uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)
    finally:
        ray.kill(actor)


def serve_gateway(port: int, quote_shards: int, order_shards: int) -> None:
    from cpqsim_actors.serve import serve

    serve(
        port=port,
        quote_shards=quote_shards,
        order_shards=order_shards,
        name=f"bench-{os.getpid()}",
    )


# ---------------------------------------------------------------------------- driver


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_healthy(proc: subprocess.Popen, url: str, log: Path, timeout_s: float = 120) -> None:
    deadline = time.monotonic() + timeout_s
    while True:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited:\n{log.read_text()[-3000:]}")
        with contextlib.suppress(OSError), urllib.request.urlopen(f"{url}/health", timeout=1) as r:
            if r.status == 200:
                return
        if time.monotonic() > deadline:
            raise RuntimeError(f"server did not come up:\n{log.read_text()[-3000:]}")
        time.sleep(0.3)


def stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def cpu_by_group(server_pid: int) -> dict[str, float]:
    """CPU seconds so far of this process tree, grouped: server, locust, each actor class."""
    try:
        import psutil
    except ImportError:  # optional: the figures are a diagnosis aid only
        return {}
    out: dict[str, float] = defaultdict(float)
    for proc in psutil.Process().children(recursive=True):
        try:
            name = " ".join(proc.cmdline()[:1]) or proc.name()
            times = proc.cpu_times()
        except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
            continue
        if proc.pid == server_pid:
            group = "server (uvicorn)"
        elif " --serve-" in " ".join(proc.cmdline()[:4]):
            group = IDLE_SERVER
        elif "locust" in " ".join(proc.cmdline()[:2]):
            continue  # counted from RUSAGE_CHILDREN once it has exited
        elif name.startswith("ray::"):
            group = name.split()[0].split(".")[0]  # ray::Class.method -> ray::Class
        else:
            group = "ray system"
        out[group] += times.user + times.system
    return out


@contextlib.contextmanager
def running_server(target: str, ray_address: str, work: Path, server_args: tuple[str, ...] = ()):
    """One server child process (joining this Ray) for as long as the block runs."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log = work / f"{target}.log"
    env = {**os.environ, "RAY_ADDRESS": ray_address}
    with open(log, "w") as out:
        server = subprocess.Popen(
            [sys.executable, __file__, f"--serve-{target}", str(port), *server_args],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        wait_healthy(server, url, log)
        yield url, server.pid
    finally:
        stop(server)


def drive(
    label: str,
    url: str,
    server_pid: int,
    user: str,
    users: int,
    seconds: int,
    work: Path,
    rate: float | None = None,
) -> tuple[list[dict], dict[str, float]]:
    """A headless Locust run of ``user``; its stats rows and CPU seconds per process group."""
    before = cpu_by_group(server_pid)
    children_before = resource.getrusage(resource.RUSAGE_CHILDREN)
    prefix = work / label
    env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}
    env.update(BENCH_USERS=str(users), BENCH_RATE=str(rate or 0))
    run = subprocess.run(
        [
            LOCUST,
            "-f",
            str(LOCUSTFILE),
            user,
            "--headless",
            "-u",
            str(users),
            "-r",
            str(users),
            "-t",
            f"{seconds}s",
            "--host",
            url,
            "--only-summary",
            "--csv",
            str(prefix),
        ],
        capture_output=True,
        text=True,
        timeout=seconds + 60,
        env=env,
    )
    after = cpu_by_group(server_pid)
    children_after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if run.returncode not in (0, 1):  # 1: some requests failed (reported, not fatal)
        raise RuntimeError(f"locust failed ({run.returncode}):\n{run.stderr[-3000:]}")
    with open(f"{prefix}_stats.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    cpu = {g: after[g] - before.get(g, 0.0) for g in after}
    if cpu:  # locust has exited (and been waited for) by now: it is in RUSAGE_CHILDREN
        cpu["locust"] = (children_after.ru_utime + children_after.ru_stime) - (
            children_before.ru_utime + children_before.ru_stime
        )
    return rows, cpu


def row_named(rows: list[dict], name: str) -> dict:
    return next(r for r in rows if r["Name"] == name)


def fmt_row(label: str, row: dict) -> str:
    return (
        f"{label:<34} {int(row['Request Count']):>8} {int(row['Failure Count']):>6} "
        f"{float(row['Requests/s']):>8.0f} {row['50%']:>7} {row['99%']:>7}"
    )


def per_request_cpu(rows: list[dict], cpu: dict[str, float]) -> dict[str, float]:
    """CPU milliseconds per request of each process group during a run."""
    requests = int(row_named(rows, "Aggregated")["Request Count"]) or 1
    return {g: 1000 * s / requests for g, s in cpu.items() if s >= 0.05}


def mean_cpu(runs: list[tuple[list[dict], dict[str, float]]]) -> dict[str, float]:
    """CPU milliseconds per request of each process group, averaged over ``runs``."""
    totals: dict[str, float] = defaultdict(float)
    for rows, cpu in runs:
        for group, ms in per_request_cpu(rows, cpu).items():
            totals[group] += ms / len(runs)
    return totals


def print_cpu(label: str, runs: list[tuple[list[dict], dict[str, float]]]) -> None:
    totals = mean_cpu(runs)
    if totals:
        shown = ", ".join(
            f"{g} {ms:.2f}" for g, ms in sorted(totals.items(), key=lambda kv: -kv[1])
        )
        print(f"cpu ms per request during {label}: {sum(totals.values()):.2f} ({shown})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="short smoke run")
    parser.add_argument("--users", type=int, default=None, help="closed-loop users (20)")
    parser.add_argument("--seconds", type=int, default=None, help="seconds per run (15)")
    parser.add_argument("--rounds", type=int, default=None, help="baseline/price rounds (3)")
    parser.add_argument(
        "--quote-shards", type=int, default=SERVE_SHARDS, help="gateway quote shards (2)"
    )
    parser.add_argument(
        "--order-shards", type=int, default=SERVE_SHARDS, help="gateway order shards (2)"
    )
    parser.add_argument("--serve-baseline", type=int, metavar="PORT", help=argparse.SUPPRESS)
    parser.add_argument("--serve-gateway", type=int, metavar="PORT", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_baseline:
        return serve_baseline(args.serve_baseline)
    if args.serve_gateway:
        return serve_gateway(args.serve_gateway, args.quote_shards, args.order_shards)

    users = args.users or (4 if args.quick else 20)
    seconds = args.seconds or (4 if args.quick else 15)
    rounds = args.rounds or (1 if args.quick else 3)

    from cpqsim_actors.handles import ray_address, ray_init, ray_shutdown

    started = ray_init()
    base_runs: list[tuple[list[dict], dict[str, float]]] = []
    price_runs: list[tuple[list[dict], dict[str, float]]] = []
    runs: dict[str, tuple[list[dict], dict[str, float]]] = {}
    try:
        address = ray_address()
        shards = ("--quote-shards", str(args.quote_shards))
        shards += ("--order-shards", str(args.order_shards))
        with (
            tempfile.TemporaryDirectory(prefix="bench-gateway-") as tmp,
            running_server("baseline", address, Path(tmp)) as (base_url, base_pid),
            running_server("gateway", address, Path(tmp), shards) as (url, pid),
        ):
            work = Path(tmp)

            def baseline(label: str, rate: float | None = None):
                user = "PacedBaselineUser" if rate else "BaselineUser"
                return drive(label, base_url, base_pid, user, users, seconds, work, rate)

            def price(label: str, rate: float | None = None):
                user = "PacedPriceUser" if rate else "PriceUser"
                return drive(label, url, pid, user, users, seconds, work, rate)

            # Interleaved, the order alternating per round: load from other work on a
            # shared machine drifts, and falls on both sides of each ratio alike.
            for r in range(rounds):
                pair = (baseline, price) if r % 2 == 0 else (price, baseline)
                for run in pair:
                    (base_runs if run is baseline else price_runs).append(run(f"r{r}"))
            peak = statistics.median(
                float(row_named(rows, PRICE)["Requests/s"]) for rows, _ in price_runs
            )
            runs["half"] = price("half", rate=peak / 2)
            runs["baseline at that rate"] = baseline("base-half", rate=peak / 2)
            runs["journey"] = drive("journey", url, pid, "JourneyUser", users, seconds, work)
    finally:
        if started:
            ray_shutdown()

    print(
        f"{users} Locust FastHttpUsers, {seconds} s per run, {rounds} interleaved rounds, "
        f"127.0.0.1; gateway with {args.quote_shards} quote + {args.order_shards} order shards"
    )
    print(
        f"{'run / endpoint':<34} {'requests':>8} {'fails':>6} {'req/s':>8} {'p50 ms':>7} "
        f"{'p99 ms':>7}"
    )
    table = [(f"baseline r{i}", run) for i, run in enumerate(base_runs)]
    table += [(f"price r{i}", run) for i, run in enumerate(price_runs)]
    table += list(runs.items())
    for label, (rows, _) in table:
        for row in rows:
            if row["Name"] == "Aggregated":
                print(fmt_row(f"{label} (all)", row))
            elif len(rows) > 2 or label.startswith("journey"):
                print(fmt_row(f"  {row['Name']}", row))
    print_cpu("baseline", base_runs)
    print_cpu("price", price_runs)
    for label, run in runs.items():
        print_cpu(label, [run])
    ratios = [
        float(row_named(p, PRICE)["Requests/s"]) / float(row_named(b, "Aggregated")["Requests/s"])
        for (b, _), (p, _) in zip(base_runs, price_runs, strict=True)
    ]
    base_rps = statistics.median(
        float(row_named(b, "Aggregated")["Requests/s"]) for b, _ in base_runs
    )
    half = row_named(runs["half"][0], PRICE)
    base_half = row_named(runs["baseline at that rate"][0], "Aggregated")
    journey = row_named(runs["journey"][0], "Aggregated")
    print(
        f"summary: baseline {base_rps:.0f} req/s | price-quote {peak:.0f} req/s (medians) | "
        f"at half load ({float(half['Requests/s']):.0f} req/s) p99 {half['99%']} ms, the "
        f"baseline at the same rate p99 {base_half['99%']} ms | journey "
        f"{float(journey['Requests/s']):.0f} req/s p99 {journey['99%']} ms"
    )
    print(f"ratios per round: {', '.join(f'{r:.2f}' for r in ratios)}")
    print(f"ratio price-quote/baseline req/s: {statistics.median(ratios):.2f}")
    base_cpu, price_cpu = (
        sum(ms for g, ms in mean_cpu(runs).items() if g != IDLE_SERVER)
        for runs in (base_runs, price_runs)
    )
    if base_cpu and price_cpu:
        print(
            f"CPU-bound ratio (baseline {base_cpu:.2f} / price-quote {price_cpu:.2f} CPU ms "
            f"per request, Locust and Ray included): {base_cpu / price_cpu:.2f}"
        )
    print(f"p99 ms of price-quote at half load: {half['99%']}")


if __name__ == "__main__":
    main()
