"""Seed sweeps: serial, a local process pool and Ray tasks, as ratios measured in one run.

Each way runs the same sweep (the same scenario and seeds, results compared by event log
hash) as ``cpqsim sweep`` would, in a fresh process of its own so that Ray's start-up is
paid as a user pays it. Printed: wall seconds, speed-up over serial and Ray's ratio to the
local pool (issue 16's target: a Ray sweep is not slower than the local pool, i.e. the
ratio local/ray >= ~1 within noise), and how many seeds each kind of worker ran.

    .venv/bin/python benchmarks/bench_sweep.py             # 16 seeds of a 2-hour naive day
    .venv/bin/python benchmarks/bench_sweep.py --seeds 40  # more seeds
    .venv/bin/python benchmarks/bench_sweep.py --quick     # smoke run (4 seeds, 30 min)
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

LIBRARY = Path(__file__).resolve().parents[1] / "scenarios" / "library"


def scenario(folder: Path, minutes: int) -> Path:
    text = (LIBRARY / "naive_retry.yaml").read_text()
    text = text.replace("duration_s: 28800", f"duration_s: {minutes * 60}").replace(
        "catalog: catalog/enterprise.yaml", f"catalog: {LIBRARY / 'catalog' / 'enterprise.yaml'}"
    )
    path = folder / "naive_retry_short.yaml"
    path.write_text(text)
    return path


def timed_sweep(path: Path, seeds: int, *args: str) -> tuple[float, dict]:
    env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}
    command = [sys.executable, "-m", "cpqsim_scenarios", "sweep", str(path), "--json"]
    start = time.perf_counter()
    proc = subprocess.run(
        [*command, "--seeds", f"1-{seeds}", *args], capture_output=True, text=True, env=env
    )
    wall = time.perf_counter() - start
    if proc.returncode not in (0, 1):
        sys.exit(f"sweep {' '.join(args)} failed:\n{proc.stderr[-2000:]}")
    return wall, json.loads(proc.stdout)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=16)
    parser.add_argument("--minutes", type=int, default=120, help="scenario length")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 2)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    seeds, minutes = (4, 30) if args.quick else (args.seeds, args.minutes)
    with tempfile.TemporaryDirectory() as folder:
        path = scenario(Path(folder), minutes)
        ways = {
            "serial": ("--workers", "1"),
            f"local x{args.workers}": ("--workers", str(args.workers)),
            "ray": ("--ray", "--workers", str(args.workers)),
        }
        results = {name: timed_sweep(path, seeds, *flags) for name, flags in ways.items()}
    hashes = {
        name: sorted((r["seed"], r["event_log_sha256"]) for r in s["per_seed"])
        for name, (_, s) in results.items()
    }
    same = len({json.dumps(h) for h in hashes.values()}) == 1
    serial = results["serial"][0]
    local = results[f"local x{args.workers}"][0]
    print(f"sweep of {seeds} seeds, naive_retry cut to {minutes} min, {os.cpu_count()} CPUs")
    print(f"{'way':<12} {'wall s':>8} {'speed-up':>9} {'local/way':>10}  ran on")
    for name, (wall, summary) in results.items():
        ran_on = ", ".join(f"{k} {v}" for k, v in summary.get("ran_on", {}).items()) or "-"
        print(f"{name:<12} {wall:>8.1f} {serial / wall:>8.2f}x {local / wall:>10.2f}  {ran_on}")
    print(f"same event logs on every way: {'yes' if same else 'NO'}")
    if not same:
        sys.exit(1)


if __name__ == "__main__":
    main()
