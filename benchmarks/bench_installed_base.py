"""Installed base at the scale of a business: load, "assets of account X", "may this change
go ahead", beside a dict lookup measured in the same run.

A generated installed base of 100,000 main assets (with their add-ons and bundle
components, ~175,000 assets in all) over 10,000 accounts
(:mod:`cpqsim_host.installed_base_gen`) is folded into the read model
(:class:`cpqsim.asset.InstalledBase`): the load is timed. Then, per question, the median
time of one answer over many, each beside the median time of one lookup in a plain dict
of the same size (the floor any in-memory index pays on this machine, measured in the
same run so a loaded machine slows both):

* **assets of account X** — ``InstalledBase.of_account`` for accounts drawn at random;
* **is this change allowed** — :func:`cpqsim.change.check_change_lines` for one line (a
  renewal, modify, upgrade, suspend, ... of an asset drawn at random), the full judgement
  a change quote gets: status, lock, version, metadata, catalog path, configuration.

Target (issue 15): each under 1 ms median. Timings are per call, taken in batches (a
single dict lookup is shorter than the clock's resolution) and reported as medians of
the batches.

Then the sim: a renewal season (``renewal_season``'s traffic at 17x, over a base of 34,000
assets, ~10,000 change orders: renewals, seat changes, edition upgrades) beside the
happy path at ten times its volume, each in a process of its own, judged as ``cpqsim
run`` judges (invariants watching the log). The figure is completed orders per
CPU-second of the run (the installed base's generation at load time left out), and the
ratio renewal season / happy path (target, issue 15: at least 0.5x).

    .venv/bin/python benchmarks/bench_installed_base.py            # 100,000 assets + sim
    .venv/bin/python benchmarks/bench_installed_base.py --no-sim   # the read model only
    .venv/bin/python benchmarks/bench_installed_base.py --quick    # smoke run (5,000)
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import subprocess
import sys
import time
from pathlib import Path

from cpqsim_host.change_lines import change_line
from cpqsim_host.installed_base_gen import generate_installed_base
from cpqsim_host.scenario import InstalledBaseProfile

from cpqsim.asset import AssetStatus, InstalledBase
from cpqsim.change import check_change_lines
from cpqsim.context import EPOCH
from cpqsim_scenarios.model import load_scenario

LIBRARY = Path(__file__).resolve().parents[1] / "scenarios" / "library"
TARGET_MS = 1.0
SIM_RATIO_TARGET = 0.5
ACTIONS = ("renew", "modify", "upgrade", "downgrade", "suspend", "resume", "disconnect")


def per_call_ms(call, arguments: list, batch: int) -> float:
    """Median over batches of the time of one call, in milliseconds."""
    samples = []
    for start in range(0, len(arguments) - batch + 1, batch):
        chunk = arguments[start : start + batch]
        began = time.perf_counter()
        for argument in chunk:
            call(argument)
        samples.append((time.perf_counter() - began) / batch * 1000)
    return statistics.median(samples)


def verdict(ms: float) -> str:
    return "met" if ms < TARGET_MS else "NOT met"


# ------------------------------------------------------------------------ the sim


def _scaled(name: str, factor: float, quick: bool):
    """The library scenario at ``factor`` times its volume, downstream capacity with it.

    The renewal season also grows its installed base and the window of renewals due, so
    the desk's worklist holds as many renewals as the traffic asks for.
    """
    loaded = load_scenario(LIBRARY / f"{name}.yaml")
    s = loaded.scenario
    traffic = s.traffic
    update: dict = {
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
    if traffic.changes is not None:
        changes = traffic.changes.model_copy(
            update={
                "arrivals_per_hour": traffic.changes.arrivals_per_hour * factor,
                "mix": [
                    m.model_copy(update={"within_days": 120}) if m.action == "renew" else m
                    for m in traffic.changes.mix
                ],
            }
        )
        traffic = traffic.model_copy(update={"changes": changes})
        assert s.installed_base is not None
        base = s.installed_base.model_copy(
            update={
                "assets": round(s.installed_base.assets * factor),
                "accounts": round(s.installed_base.accounts * factor),
            }
        )
        update["installed_base"] = base
    else:
        traffic = traffic.model_copy(
            update={"arrivals_per_hour": traffic.arrivals_per_hour * factor}
        )
    update["traffic"] = traffic
    if quick:
        update["duration_s"] = 3600.0
    scenario = s.model_copy(update=update)
    facts = []
    if scenario.installed_base is not None:
        facts = generate_installed_base(scenario.installed_base, loaded.catalog, scenario.seed)
    return loaded.model_copy(update={"scenario": scenario, "installed_base": facts})


def measure(name: str, factor: float, quick: bool) -> dict:
    """In a child process: run and judge one scenario; its figures."""
    from cpqsim_scenarios.runner import run_scenario

    loaded = _scaled(name, factor, quick)
    began, began_cpu = time.perf_counter(), time.process_time()
    run = run_scenario(loaded)
    cpu, wall = time.process_time() - began_cpu, time.perf_counter() - began
    orders = run.result["orders"]
    changes = sum(1 for e in run.output.events if e.name == "order.item_change_fulfilled")
    return {
        "scenario": name,
        "factor": factor,
        "orders": orders["total"],
        "completed": orders["by_state"].get("completed", 0),
        "changes_fulfilled": changes,
        "verdict": run.result["verdict"],
        "cpu_s": cpu,
        "wall_s": wall,
    }


def child(name: str, factor: float, quick: bool) -> dict:
    spec = json.dumps([name, factor, quick])
    done = subprocess.run(
        [sys.executable, __file__, "--child", spec], capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        raise SystemExit(f"measuring {name} x{factor:g} failed:\n{done.stderr[-4000:]}")
    return json.loads(done.stdout.splitlines()[-1])


def sim_beside_happy_path(quick: bool, repeat: int) -> None:
    runs = {
        "happy_path": [child("happy_path", 1.0 if quick else 10.0, quick) for _ in range(repeat)],
        "renewal_season": [
            child("renewal_season", 1.0 if quick else 17.0, quick) for _ in range(repeat)
        ],
    }
    print()
    print("sim, per CPU-second of the run (median of runs, each in its own process):")
    print(
        f"{'scenario':<18}{'orders':>9}{'completed':>11}{'changes':>9}{'CPU s':>9}"
        f"{'orders/s':>10}  verdict"
    )
    rates = {}
    for name, measured in runs.items():
        cpu = statistics.median(r["cpu_s"] for r in measured)
        r = measured[0]
        rates[name] = r["completed"] / cpu
        print(
            f"{name:<18}{r['orders']:>9,}{r['completed']:>11,}{r['changes_fulfilled']:>9,}"
            f"{cpu:>9.2f}{rates[name]:>10.0f}  {r['verdict']}"
        )
    ratio = rates["renewal_season"] / rates["happy_path"]
    print(
        f"ratio renewal season / happy path orders per CPU-second: {ratio:.2f}x "
        f"(target >= {SIM_RATIO_TARGET}x: {'met' if ratio >= SIM_RATIO_TARGET else 'NOT met'})"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="5,000 assets (smoke test)")
    parser.add_argument("--assets", type=int, default=100_000, help="main assets")
    parser.add_argument("--seed", type=int, default=15)
    parser.add_argument("--no-sim", action="store_true", help="the read model only")
    parser.add_argument("--repeat", type=int, default=1, help="runs of each sim scenario")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps(measure(*json.loads(args.child))))
        return 0
    assets = 5_000 if args.quick else args.assets
    accounts = max(1, assets // 10)
    catalog = load_scenario(LIBRARY / "happy_path.yaml").catalog
    profile = InstalledBaseProfile(
        assets=assets,
        accounts=accounts,
        migrated_fraction=0.2,
        incomplete_fraction=0.1,
        suspended_fraction=0.03,
    )

    began = time.perf_counter()
    facts = generate_installed_base(profile, catalog, args.seed)
    generated_s = time.perf_counter() - began
    began = time.perf_counter()
    base = InstalledBase(facts)
    load_s = time.perf_counter() - began
    print(
        f"installed base: {assets:,} main assets, {len(base):,} assets in all, "
        f"{accounts:,} accounts, {len(facts):,} facts"
    )
    print(f"generated in {generated_s:.2f} s; loaded into the read model in {load_s:.2f} s")
    print(f"load per fact: {load_s / len(facts) * 1e6:.1f} us")

    rng = random.Random(args.seed)
    names = base.accounts()
    queries = [names[rng.randrange(len(names))] for _ in range(20_000)]
    plain = {name: list(range(len(base.of_account(name)))) for name in names}
    dict_ms = per_call_ms(plain.__getitem__, queries, 1000)
    account_ms = per_call_ms(base.of_account, queries, 1000)

    mains = [a for a in base if a.role == "main"]
    changes = []
    while len(changes) < 3000:
        asset = mains[rng.randrange(len(mains))]
        line = change_line(catalog, asset, rng.choice(ACTIONS), rng)
        if line is not None:
            changes.append((asset.account_id, line))
    today = EPOCH.date()
    refused = sum(1 for a, line in changes if check_change_lines(catalog, base, a, [line], today))
    change_ms = per_call_ms(
        lambda change: check_change_lines(catalog, base, change[0], [change[1]], today),
        changes,
        100,
    )
    by_id = {a.asset_id: a for a in base}
    ids = [line.asset_id for _, line in changes]
    id_dict_ms = per_call_ms(by_id.__getitem__, ids * 7, 1000)

    print()
    print(f"{'question':<32}{'median ms':>12}{'dict ms':>12}{'ratio':>10}  target < 1 ms")
    print(
        f"{'assets of account X':<32}{account_ms:>12.5f}{dict_ms:>12.5f}"
        f"{account_ms / dict_ms:>10.1f}  {verdict(account_ms)}"
    )
    print(
        f"{'is this change allowed':<32}{change_ms:>12.5f}{id_dict_ms:>12.5f}"
        f"{change_ms / id_dict_ms:>10.1f}  {verdict(change_ms)}"
    )
    active = len(base.of_account(names[0], AssetStatus.ACTIVE))
    print(
        f"({len(changes):,} change lines over every action, {refused:,} of them refused "
        f"with reasons; {names[0]} has {active} active assets)"
    )
    if not args.no_sim:
        sim_beside_happy_path(args.quick, 1 if args.quick else args.repeat)
    return 0


if __name__ == "__main__":
    sys.exit(main())
