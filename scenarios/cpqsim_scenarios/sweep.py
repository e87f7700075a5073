"""Seed sweeps: run one scenario over many seeds and say how often each invariant broke.

One seed is an anecdote. An architect deciding on a resilience policy wants the rate:
"the naive policy duplicated activations on 20 of 20 days". Each seed is an independent,
deterministic sim run, so a sweep is embarrassingly parallel: locally it fans out over
processes; with ``--ray`` each seed is a Ray task (``cpqsim_actors.sweep``), which is how
the same sweep scales out on a cluster.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

from cpqsim_scenarios.errors import InputInvalid, Problem
from cpqsim_scenarios.model import LoadedScenario, load_scenario
from cpqsim_scenarios.output import OutputPlan, plan_output, write_output

MAX_SEEDS = 10_000


def parse_seeds(text: str) -> list[int]:
    """``1-20`` or ``1,5,9`` or a mix: ``1-3,10``; bounded, ranges checked before expanding."""
    seeds: set[int] = set()
    for part in text.split(","):
        start, dash, end = part.strip().partition("-")
        if not start.isdigit() or (dash and not end.isdigit()):
            raise ValueError(f"{part.strip()!r} is not a seed or a range such as 1-20")
        if len(start) > 19 or len(end) > 19:
            raise ValueError(f"{part.strip()!r}: seeds are at most 19 digits")
        lo = int(start)
        hi = int(end) if dash else lo
        if hi < lo:
            raise ValueError(f"the range {part.strip()} is reversed; did you mean {hi}-{lo}?")
        if hi - lo + 1 > MAX_SEEDS or len(seeds) + (hi - lo + 1) > MAX_SEEDS:
            raise ValueError(
                f"{part.strip()} makes more than {MAX_SEEDS:,} seeds; a sweep runs at most "
                f"{MAX_SEEDS:,}"
            )
        seeds.update(range(lo, hi + 1))
    if not seeds:
        raise ValueError("no seeds given")
    return sorted(seeds)


def seeds_or_refuse(text: str) -> list[int]:
    try:
        return parse_seeds(text)
    except ValueError as exc:
        raise InputInvalid("--seeds", [Problem("", f"{exc} (got {text!r})")]) from None


SeedResult = dict[str, Any]
SeedTask = Callable[[str, int], SeedResult]
# An executor runs ``task(scenario_path, seed)`` for every seed and yields the results as
# they finish. Executors are found by name (local processes, Ray tasks): see
# ``cpqsim_host.registry``.
Executor = Callable[[SeedTask, str, list[int]], Iterable[SeedResult]]


def run_seed(scenario_path: str, seed: int) -> SeedResult:
    """One sim run, reduced to what a sweep compares (picklable, small)."""
    from cpqsim_scenarios.runner import run_scenario

    result = run_scenario(scenario_path, runtime="sim", seed=seed).result
    return {
        "seed": seed,
        "verdict": result["verdict"],
        "orders": result["orders"]["total"],
        "by_state": result["orders"]["by_state"],
        "violations": {i["name"]: i["violations"] for i in result["invariants"]},
        "duplicates": {n: d["duplicates"] for n, d in result["downstream"].items()},
        "event_log_sha256": result["event_log_sha256"],
    }


def local_executor(workers: int) -> Executor:
    def execute(task: SeedTask, scenario_path: str, seeds: list[int]) -> Iterable[SeedResult]:
        if workers <= 1:
            return (task(scenario_path, s) for s in seeds)
        pool = ProcessPoolExecutor(max_workers=workers)
        futures = [pool.submit(task, scenario_path, s) for s in seeds]

        def results():
            try:
                for f in futures:
                    yield f.result()
            finally:
                pool.shutdown()

        return results()

    return execute


def summarize(loaded: LoadedScenario, results: list[SeedResult]) -> dict[str, Any]:
    results = sorted(results, key=lambda r: r["seed"])
    names = list(results[0]["violations"]) if results else []
    broken = {n: sum(1 for r in results if r["violations"][n] > 0) for n in names}
    return {
        "scenario": loaded.scenario.name,
        "policy": loaded.scenario.resilience_policy().name,
        "seeds": [r["seed"] for r in results],
        "runs": len(results),
        "failed_runs": sum(1 for r in results if r["verdict"] == "fail"),
        "invariant_broken_in_runs": broken,
        "violations_total": {n: sum(r["violations"][n] for r in results) for n in names},
        "per_seed": results,
    }


def sweep(
    scenario_path: str | Path,
    seeds: list[int],
    executor: Executor,
    progress: Callable[[int, int], None] | None = None,
) -> dict[str, Any]:
    loaded = load_scenario(scenario_path)  # validate once, up front, before any fan-out
    results = []
    for done, result in enumerate(executor(run_seed, str(scenario_path), seeds), 1):
        results.append(result)
        if progress:
            progress(done, len(seeds))
    return summarize(loaded, results)


def write_sweep(
    out_dir: Path,
    summary: dict[str, Any],
    *,
    overwrite: bool = False,
    plan: OutputPlan | None = None,
) -> Path:
    """Write ``sweep.json`` and the per-seed plot; never replaces files cpqsim did not write."""
    plan = plan or plan_output(out_dir, marker="sweep.json", overwrite=overwrite)

    def write(staging: Path) -> dict[str, Any]:
        _plot_violations(summary, staging / "violations_per_seed.png")
        return summary

    write_output(plan, write)
    return plan.target


def _plot_violations(summary: dict[str, Any], path: Path) -> None:
    import matplotlib.pyplot as plt

    per_seed = summary["per_seed"]
    names = [n for n, runs in summary["invariant_broken_in_runs"].items() if runs]
    fig, ax = plt.subplots(figsize=(9, 4))
    seeds = [str(r["seed"]) for r in per_seed]
    bottom = [0] * len(per_seed)
    for name in names:
        values = [r["violations"][name] for r in per_seed]
        ax.bar(seeds, values, bottom=bottom, label=name)
        bottom = [b + v for b, v in zip(bottom, values, strict=True)]
    ax.set_title(f"{summary['scenario']} ({summary['policy']}): violations per seed")
    ax.set_xlabel("seed")
    ax.set_ylabel("violations")
    if names:
        ax.legend(fontsize="small")
    else:
        ax.text(0.5, 0.5, "every invariant held on every seed", ha="center", transform=ax.transAxes)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
