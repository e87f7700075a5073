"""Seed sweeps: run one scenario over many seeds and say how often each invariant broke;
with ``--grid``, over a grid of parameter values too (see :mod:`cpqsim_scenarios.grid`).

One seed is an anecdote. An architect deciding on a resilience policy wants the rate:
"the naive policy duplicated activations on 20 of 20 days". Each seed is an independent,
deterministic sim run, so a sweep is embarrassingly parallel: locally it fans out over
processes; with ``--ray`` each seed is a Ray task (``cpqsim_actors.sweep``), which is how
the same sweep scales out on a cluster.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

from cpqsim_scenarios import grid
from cpqsim_scenarios.errors import InputInvalid, Problem
from cpqsim_scenarios.grid import Overrides
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


def run_seed(scenario_path: str, job: int | tuple[Overrides, int]) -> SeedResult:
    """One sim run (a seed, or a grid cell's overrides and a seed), reduced to what a
    sweep compares (picklable, small)."""
    from cpqsim_scenarios.runner import run_scenario

    overrides, seed = job if isinstance(job, tuple) else ((), job)
    loaded = grid.apply(load_scenario(scenario_path), overrides)
    run = run_scenario(loaded, runtime="sim", seed=seed)
    result = run.result
    return {
        "seed": seed,
        "cell": [[path, value] for path, value in overrides],
        "verdict": result["verdict"],
        "orders": result["orders"]["total"],
        "by_state": result["orders"]["by_state"],
        "violations": {i["name"]: i["violations"] for i in result["invariants"]},
        "duplicates": {n: d["duplicates"] for n, d in result["downstream"].items()},
        "lead_time_p99_s": result["orders"]["lead_time_p99_s"],
        "utilisation": {n: m["utilisation"] for n, m in result["capacity"]["measured"].items()},
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
    } | _where_they_ran(results)


def _where_they_ran(results: list[SeedResult]) -> dict[str, Any]:
    """How many runs each kind of worker ran (only executors that say so: Ray's)."""
    places = Counter(r["ran_on"] for r in results if "ran_on" in r)
    return {"ran_on": dict(sorted(places.items()))} if places else {}


def sweep(
    scenario_path: str | Path,
    seeds: list[int],
    executor: Executor,
    progress: Callable[[int, int], None] | None = None,
    axes: list[grid.Axis] | None = None,
) -> dict[str, Any]:
    """Every seed of every grid cell (no axes: one cell, the scenario as written)."""
    loaded = load_scenario(scenario_path)  # validate once, up front, before any fan-out
    cells = grid.cells(axes or [])
    for overrides in cells:  # every cell validated before anything runs
        grid.apply(loaded, overrides)
    jobs = [(overrides, seed) for overrides in cells for seed in seeds]
    results = []
    for done, result in enumerate(executor(run_seed, str(scenario_path), jobs), 1):
        results.append(result)
        if progress:
            progress(done, len(jobs))
    if not axes:
        return summarize(loaded, results)
    return summarize_grid(loaded, axes, cells, results)


# Two-sided 95 % Student t quantiles by degrees of freedom (normal beyond 30).
_T95 = {1: 12.706, 2: 4.303, 3: 3.182, 4: 2.776, 5: 2.571, 6: 2.447, 7: 2.365, 8: 2.306,
        9: 2.262, 10: 2.228, 12: 2.179, 15: 2.131, 20: 2.086, 25: 2.060, 30: 2.042}  # fmt: skip


def _t95(df: int) -> float:
    known = [d for d in _T95 if d <= df]
    return _T95[max(known)] if df <= 30 else 1.96


def mean_ci(values: list[float]) -> dict[str, float | None]:
    """Mean and a 95 % confidence interval over seeds (t distribution), clipped at 0:
    every measure a sweep averages (lead times, utilisation) is non-negative."""
    values = [v for v in values if v is not None]
    if not values:
        return {"mean": None, "low": None, "high": None}
    mean = sum(values) / len(values)
    if len(values) < 2:
        return {"mean": round(mean, 4), "low": None, "high": None}
    sd = (sum((v - mean) ** 2 for v in values) / (len(values) - 1)) ** 0.5
    half = _t95(len(values) - 1) * sd / len(values) ** 0.5
    low = max(mean - half, 0.0)
    return {"mean": round(mean, 4), "low": round(low, 4), "high": round(mean + half, 4)}


def rate_ci(hits: int, runs: int) -> dict[str, float | None]:
    """A proportion and its 95 % Wilson interval (sound at 0 of 10 and 10 of 10)."""
    if runs == 0:
        return {"rate": None, "low": None, "high": None}
    z, p = 1.96, hits / runs
    centre = (p + z * z / (2 * runs)) / (1 + z * z / runs)
    half = z * ((p * (1 - p) / runs + z * z / (4 * runs * runs)) ** 0.5) / (1 + z * z / runs)
    return {"rate": round(p, 4), "low": round(centre - half, 4), "high": round(centre + half, 4)}


def names_of(runs: list[SeedResult]) -> list[str]:
    return list(runs[0]["violations"]) if runs else []


def summarize_grid(
    loaded: LoadedScenario,
    axes: list[grid.Axis],
    cells: list[Overrides],
    results: list[SeedResult],
) -> dict[str, Any]:
    """Per cell: how often an invariant broke, p99 order lead time, utilisation."""
    by_cell: dict[tuple, list[SeedResult]] = {}
    for r in results:
        by_cell.setdefault(tuple(tuple(pair) for pair in r["cell"]), []).append(r)
    rows = []
    for overrides in cells:
        runs = sorted(by_cell.get(tuple(tuple(p) for p in overrides), []), key=lambda r: r["seed"])
        systems = sorted({s for r in runs for s in r["utilisation"]})
        utilisation = {s: mean_ci([r["utilisation"].get(s) for r in runs]) for s in systems}
        peak = [
            max((v for v in r["utilisation"].values() if v is not None), default=0.0) for r in runs
        ]
        failed = sum(1 for r in runs if r["verdict"] == "fail")
        rows.append(
            {
                "cell": dict(overrides),
                "runs": len(runs),
                "failed_runs": failed,
                "violation_rate": rate_ci(failed, len(runs)),
                "lead_time_p99_s": mean_ci([r["lead_time_p99_s"] for r in runs]),
                "peak_utilisation": mean_ci(peak),
                "utilisation": utilisation,
                "violations_total": {
                    n: sum(r["violations"][n] for r in runs)
                    for n in (runs[0]["violations"] if runs else {})
                },
            }
        )
    base = summarize(loaded, results)
    return base | {
        "grid": {"axes": [{"path": a.path, "values": list(a.values)} for a in axes], "cells": rows}
    }


def write_sweep(
    out_dir: Path,
    summary: dict[str, Any],
    *,
    overwrite: bool = False,
    plan: OutputPlan | None = None,
) -> Path:
    """Write ``sweep.json``, the plot (per seed, or the grid's heatmaps) and ``sweep.html``;
    never replaces files cpqsim did not write."""
    plan = plan or plan_output(out_dir, marker="sweep.json", overwrite=overwrite)

    def write(staging: Path) -> dict[str, Any]:
        from cpqsim_scenarios.html_report import write_sweep_html

        if "grid" in summary:
            from cpqsim_scenarios.grid_plot import plot_grid

            plot_grid(summary, staging / "grid.png")
            write_sweep_html(staging, summary, ["grid.png"])
        else:
            _plot_violations(summary, staging / "violations_per_seed.png")
            write_sweep_html(staging, summary, ["violations_per_seed.png"])
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
