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

With ``--sim`` (or by default, when the sim runs change orders) a renewal season of
10,000 change orders runs in the sim beside the happy path's orders/s measured in the
same run (target: at least 0.5x).

    .venv/bin/python benchmarks/bench_installed_base.py            # 100,000 assets
    .venv/bin/python benchmarks/bench_installed_base.py --quick    # smoke run (5,000)
"""

from __future__ import annotations

import argparse
import random
import statistics
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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="5,000 assets (smoke test)")
    parser.add_argument("--assets", type=int, default=100_000, help="main assets")
    parser.add_argument("--seed", type=int, default=15)
    args = parser.parse_args(argv)
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
    return 0


if __name__ == "__main__":
    sys.exit(main())
