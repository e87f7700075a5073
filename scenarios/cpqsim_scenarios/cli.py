"""The ``cpqsim`` command line.

Exit codes are part of the interface: 0 every invariant holds (or the input is valid),
1 an invariant is violated, 2 the input is invalid (the message names file, line,
field and reason), 3 cpqsim itself failed (a bug), 4 a run folder's audit chain does not
verify (``audit verify``). Long work shows progress on stderr;
results go to stdout. Output folders are never cleared: see
:mod:`cpqsim_scenarios.output`.
"""

from __future__ import annotations

import json
import os
import sys
import traceback
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer
from cpqsim_host import registry
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from cpqsim_scenarios.cli_approval import register as register_approval_commands
from cpqsim_scenarios.errors import (
    EXIT_INTERNAL_ERROR,
    EXIT_INVALID_INPUT,
    EXIT_INVARIANT_VIOLATED,
    SHOWN_PROBLEMS,
    InputInvalid,
    Problem,
)
from cpqsim_scenarios.output import tool_version

app = typer.Typer(
    help="cpqsim: simulate, break and load-test an enterprise CPQ/OMS platform.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)
catalog_app = typer.Typer(help="Inspect and validate product catalogs.", no_args_is_help=True)
app.add_typer(catalog_app, name="catalog")
audit_app = typer.Typer(help="Verify a run's hash-chained audit log.", no_args_is_help=True)
app.add_typer(audit_app, name="audit")


def _console(stderr: bool = False) -> Console:
    """Full-width output when piped: tables are never cut at 80 columns in a file."""
    stream = sys.stderr if stderr else sys.stdout
    width = None if stream.isatty() else 10_000
    return Console(stderr=stderr, width=width, highlight=False, soft_wrap=not stream.isatty())


out = _console()
err = _console(stderr=True)


# The runtimes registered (entry points), as a choice list for --help.
Runtime = StrEnum("Runtime", {name: name for name in registry.names()})


class LifecycleName(StrEnum):
    quote = "quote"
    order = "order"
    task = "task"
    asset = "asset"


class SchemaName(StrEnum):
    scenario = "scenario"
    catalog = "catalog"
    request = "request"
    approval_policy = "approval_policy"


def _fail_input(problem: InputInvalid | str, as_json: bool = False) -> NoReturn:
    """Print a refusal (capped on screen, complete in JSON) and exit 2."""
    exc = problem if isinstance(problem, InputInvalid) else InputInvalid("input", [("", problem)])
    if as_json:
        print(json.dumps(exc.to_json(), indent=2, sort_keys=True))
    elif len(exc.problems) == 1:
        err.print("[bold red]invalid input[/]: " + escape(exc.problems[0].render(exc.path)))
    else:
        err.print("[bold red]invalid input[/]: " + escape(exc.headline()))
        for line in exc.lines(SHOWN_PROBLEMS):
            err.print(escape(line))
    raise typer.Exit(EXIT_INVALID_INPUT)


register_approval_commands(app, _fail_input, out)


def _option_problem(option: str, message: str) -> InputInvalid:
    return InputInvalid(option, [Problem("", message)])


def _version(value: bool) -> None:
    if value:
        print(f"cpqsim {tool_version()}")
        raise typer.Exit(0)


@app.callback()
def _root(
    version: Annotated[
        bool,
        typer.Option("--version", callback=_version, is_eager=True, help="print the version"),
    ] = False,
) -> None:
    """cpqsim: simulate, break and load-test an enterprise CPQ/OMS platform."""


def _counts(counts: dict[str, int]) -> str:
    """``completed 318, held 3`` (never a dict repr in human output)."""
    return ", ".join(f"{k} {v:,}" for k, v in counts.items()) or "none"


# -------------------------------------------------------------------------------- run


@app.command()
def run(
    scenario: Annotated[
        Path, typer.Argument(help="scenario YAML, e.g. scenarios/library/happy_path.yaml")
    ],
    seed: Annotated[
        int | None, typer.Option(min=0, max=2**63 - 1, help="override the scenario's seed")
    ] = None,
    runtime: Annotated[
        Runtime,
        typer.Option(help="; ".join(f"{k}: {v}" for k, v in registry.RUNTIME_HELP.items())),
    ] = Runtime["sim"],
    out_dir: Annotated[
        Path | None,
        typer.Option(
            "--out", help="output folder: new, empty, or a previous run's (default: runs/<new>)"
        ),
    ] = None,
    overwrite: Annotated[
        bool,
        typer.Option(help="replace a previous run's files in --out (never anyone else's)"),
    ] = False,
    max_memory_gb: Annotated[
        float,
        typer.Option(min=0.1, max=1024, help="refuse runs projected to need more memory"),
    ] = 4.0,
    quiet: Annotated[bool, typer.Option(help="no progress bar")] = False,
    as_json: Annotated[
        bool, typer.Option("--json", help="print result.json (or the refusal) as JSON")
    ] = False,
) -> None:
    """Run a failure-mode scenario and print the invariant verdict."""
    from cpqsim_scenarios.model import load_scenario
    from cpqsim_scenarios.output import plan_output
    from cpqsim_scenarios.projection import refuse_if_too_big
    from cpqsim_scenarios.runner import default_out_dir, run_scenario

    try:
        loaded = load_scenario(scenario)
        seed = loaded.scenario.seed if seed is None else seed
        projection = refuse_if_too_big(loaded, max_memory_gb)
        target = out_dir or default_out_dir(loaded, runtime.value, seed)
        plan_output(target, marker="result.json", overwrite=overwrite)  # refuse before running
    except InputInvalid as exc:
        _fail_input(exc, as_json)
    with Progress(
        TextColumn(f"[bold]{escape(loaded.scenario.name)}[/] on {runtime.value}"),
        BarColumn(),
        TextColumn("{task.fields[virtual]}"),
        TimeElapsedColumn(),
        console=err,
        disable=quiet or as_json,
        transient=True,
    ) as bar:
        task = bar.add_task("run", total=1.0, virtual="")

        def progress(now: float, end: float) -> None:
            bar.update(
                task, completed=now / end, virtual=f"{now / 3600:5.1f} h of {end / 3600:.1f} h"
            )

        if not quiet and not as_json:
            err.print(f"projected: {projection.describe()}")
        try:
            result = run_scenario(
                loaded,
                runtime=runtime.value,
                seed=seed,
                out_dir=target,
                progress=progress,
                overwrite=overwrite,
                max_memory_gb=max_memory_gb,
            )
        except InputInvalid as exc:
            _fail_input(exc, as_json)
    if as_json:
        print(json.dumps(result.result, indent=2, sort_keys=True))
    else:
        _print_summary(result.result, result.out_dir, result.output.wall_s)
    raise typer.Exit(result.exit_code)


def _print_ran_on(summary: dict[str, Any]) -> None:
    """Where a Ray sweep's runs ran, and why Ray ran none when it did not start."""
    if "ran_on" not in summary:
        return
    out.print(f"runs by worker: {escape(_counts(summary['ran_on']))}")
    if "ray" not in summary["ran_on"]:
        out.print(
            "[yellow]note[/]: Ray ran none of the runs: the local processes finished them "
            "before a local Ray was up (or would have: then it is not started; "
            "CPQSIM_LOCAL_RAY_START_S sets that estimate)"
        )


def _print_summary(result: dict[str, Any], out_dir: Path | None, wall_s: float) -> None:
    orders = result["orders"]
    out.print(
        f"[bold]{escape(result['scenario'])}[/] runtime={result['runtime']} "
        f"seed={result['seed']} policy={escape(result['policy'])}: {orders['total']:,} orders "
        f"({escape(_counts(orders['by_state']))}) in {wall_s:.1f} s wall"
    )
    table = Table("invariant", "holds", "violations", "by downstream", "first example")
    for inv in result["invariants"]:
        table.add_row(
            inv["name"],
            "[green]yes[/]" if inv["holds"] else "[bold red]NO[/]",
            f"{inv['violations']:,}",
            "" if inv["holds"] else escape(_counts(inv.get("by_downstream", {}))),
            escape(inv["examples"][0]) if inv["examples"] else "",
        )
    out.print(table)
    ds = Table("downstream", "calls", "side effects", "duplicates", "p99 s")
    for name, d in result["downstream"].items():
        p99 = d["latency_p99_s"]
        ds.add_row(
            name,
            f"{d['calls']:,}",
            f"{d['side_effects']:,}",
            f"{d['duplicates']:,}",
            "-" if p99 is None else f"{p99:g}",
        )
    out.print(ds)
    for note in result.get("notes", []):
        out.print(f"[yellow]note[/]: {escape(note)}")
    verdict = result["verdict"] == "pass"
    out.print(
        "[bold green]VERDICT: PASS[/] every invariant holds"
        if verdict
        else "[bold red]VERDICT: FAIL[/] invariants violated (see examples above)"
    )
    if out_dir is not None:
        files = "result.json, events.jsonl, audit.jsonl, report.md, report.html, plots"
        out.print(f"wrote {escape(str(out_dir))}/ ({files})")


# ---------------------------------------------------------------------------- catalog


@catalog_app.command("validate")
def catalog_validate(
    file: Annotated[Path, typer.Argument(help="catalog YAML")],
    as_json: Annotated[bool, typer.Option("--json", help="print the outcome as JSON")] = False,
) -> None:
    """Validate a catalog: every problem, explained; exit 2 when invalid."""
    from cpqsim_scenarios.files import load_catalog_file

    try:
        catalog = load_catalog_file(file)
    except InputInvalid as exc:
        _fail_input(exc, as_json)
    if as_json:
        summary = {
            "valid": True,
            "file": str(file),
            "catalog": catalog.id,
            "version": catalog.version,
            "offerings": len(catalog.offerings),
            "specifications": len(catalog.specifications),
            "fingerprint": catalog.fingerprint,
        }
        print(json.dumps(summary, indent=2, sort_keys=True))
        return
    out.print(
        f"[green]valid[/]: {escape(str(file))} — catalog {escape(catalog.id)} version "
        f"{escape(str(catalog.version))}, {len(catalog.offerings):,} offerings, "
        f"{len(catalog.specifications):,} specifications"
    )


@catalog_app.command("show")
def catalog_show(
    file: Annotated[Path, typer.Argument(help="catalog YAML")],
    picture: Annotated[Path | None, typer.Option(help="also draw the graph to this PNG")] = None,
    overwrite: Annotated[bool, typer.Option(help="replace an existing --picture file")] = False,
) -> None:
    """Summarise a catalog (offerings, options, relations, decomposition)."""
    from cpqsim_scenarios.files import load_catalog_file
    from cpqsim_scenarios.output import plan_file, write_file

    try:
        catalog = load_catalog_file(file)
        picture_path = (
            plan_file(picture, overwrite=overwrite, option="--picture") if picture else None
        )
    except InputInvalid as exc:
        _fail_input(exc)
    table = Table(
        "offering@version",
        "status",
        "effective",
        "sellable",
        "family",
        "option groups",
        "add-ons",
        "relations",
        "tasks",
    )
    for o in sorted(catalog.offerings, key=lambda o: o.version_id):
        table.add_row(
            *(
                escape(cell)
                for cell in (
                    o.version_id,
                    o.status,
                    o.window(),
                    "yes" if o.sellable else "",
                    o.family,
                    ", ".join(f"{g.id}[{g.min}..{g.max}]" for g in o.option_groups),
                    ", ".join(o.add_ons),
                    ", ".join(f"{r.kind} {r.target}" for r in o.relations),
                    ", ".join(f"{s.system}.{s.operation}" for s in o.decomposition),
                )
            )
        )
    out.print(table)
    out.print(f"catalog {escape(catalog.version_id)}, fingerprint {catalog.fingerprint}")
    if picture_path is not None:
        from cpqsim_scenarios.catalog_plot import draw_catalog

        write_file(picture_path, lambda tmp: draw_catalog(catalog, tmp))
        out.print(f"wrote {escape(str(picture_path))}")


# ------------------------------------------------------------------------------ sweep


def _parse_seeds(text: str) -> list[int]:
    """Kept for callers and tests: see :func:`cpqsim_scenarios.sweep.parse_seeds`."""
    from cpqsim_scenarios.sweep import parse_seeds

    return parse_seeds(text)


@app.command()
def sweep(
    scenario: Annotated[Path, typer.Argument(help="scenario YAML")],
    seeds: Annotated[str, typer.Option(help="seeds, e.g. 1-20 or 1,5,9 (at most 10,000)")] = "1-10",
    workers: Annotated[int, typer.Option(min=1, max=256, help="local worker processes")] = 2,
    use_ray: Annotated[bool, typer.Option("--ray", help="run each seed as a Ray task")] = False,
    out_dir: Annotated[
        Path | None, typer.Option("--out", help="write sweep.json, sweep.html and plots")
    ] = None,
    overwrite: Annotated[
        bool, typer.Option(help="replace a previous sweep's files in --out")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="print the summary as JSON")] = False,
    grid: Annotated[
        list[str] | None,
        typer.Option(
            help="vary a numeric field: PATH=v1,v2,... e.g. downstream.provisioning.servers=2,4,8 "
            "(repeatable; every combination runs every seed)"
        ),
    ] = None,
) -> None:
    """Run a scenario over many seeds (sim runtime) and report how often each invariant broke;
    with --grid, over every combination of parameter values too."""
    from cpqsim_scenarios import grid as grids
    from cpqsim_scenarios import sweep as sweeps
    from cpqsim_scenarios.model import load_scenario
    from cpqsim_scenarios.output import plan_output
    from cpqsim_scenarios.projection import refuse_if_too_big

    try:
        seed_list = sweeps.seeds_or_refuse(seeds)
        loaded = load_scenario(scenario)
        axes = grids.parse_axes(grid or [], loaded, len(seed_list))
        for overrides in grids.cells(axes):
            refuse_if_too_big(grids.apply(loaded, overrides))
        plan = plan_output(out_dir, marker="sweep.json", overwrite=overwrite) if out_dir else None
    except InputInvalid as exc:
        _fail_input(exc, as_json)
    runs = len(seed_list) * len(grids.cells(axes))
    executor = registry.load("ray" if use_ray else "local", registry.SWEEP_GROUP)(workers)
    with Progress(
        TextColumn(f"[bold]sweep[/] {escape(scenario.name)}"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total} runs"),
        TimeElapsedColumn(),
        console=err,
        transient=True,
        disable=as_json,
    ) as bar:
        task = bar.add_task("sweep", total=runs)
        try:
            summary = sweeps.sweep(
                scenario,
                seed_list,
                executor,
                lambda done, _: bar.update(task, completed=done),
                axes=axes,
            )
        except InputInvalid as exc:
            _fail_input(exc, as_json)
    if plan is not None:
        sweeps.write_sweep(plan.target, summary, plan=plan)
    if as_json:
        print(json.dumps(summary, indent=2, sort_keys=True))
    elif "grid" in summary:
        _print_grid(summary, seeds, plan.target if plan else None)
    else:
        table = Table("invariant", "broken in runs", "violations (all runs)")
        for name, runs in summary["invariant_broken_in_runs"].items():
            table.add_row(
                name,
                f"[bold red]{runs}[/]/{summary['runs']}" if runs else f"0/{summary['runs']}",
                f"{summary['violations_total'][name]:,}",
            )
        out.print(
            f"[bold]{escape(summary['scenario'])}[/] policy={escape(summary['policy'])} "
            f"seeds={escape(seeds)}"
        )
        out.print(table)
        out.print(f"{summary['failed_runs']} of {summary['runs']} runs violated an invariant")
        _print_ran_on(summary)
        if plan is not None:
            files = "sweep.json, sweep.html, violations_per_seed.png"
            out.print(f"wrote {escape(str(plan.target))}/ ({files})")
    raise typer.Exit(EXIT_INVARIANT_VIOLATED if summary["failed_runs"] else 0)


@app.command()
def capacity(
    scenario: Annotated[Path, typer.Argument(help="scenario YAML")],
    target_s: Annotated[
        float | None,
        typer.Option(
            min=0,
            max=86_400,
            help="recommend servers so a call spends at most this long at a downstream "
            "(queue + service, mean seconds)",
        ),
    ] = None,
    peak: Annotated[bool, typer.Option(help="at the peak of the scenario's spikes")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="print the table as JSON")] = False,
) -> None:
    """Predict each downstream's load with Erlang-C, without running (queueing theory)."""
    from cpqsim_scenarios.capacity_table import (
        forecast_rows,
        forecast_scenario,
        peak_multiplier,
        recommend_servers,
    )
    from cpqsim_scenarios.model import load_scenario

    try:
        loaded = load_scenario(scenario)
        forecasts = forecast_scenario(loaded, at_peak=peak)
        advice = recommend_servers(forecasts, target_s) if target_s is not None else []
    except InputInvalid as exc:
        _fail_input(exc, as_json)
    rate = loaded.scenario.traffic.arrivals_per_hour * (peak_multiplier(loaded) if peak else 1)
    rows = forecast_rows(forecasts)
    for a in advice:
        rows[a.system]["servers_needed"] = a.servers_needed
    if as_json:
        body = {"scenario": loaded.scenario.name, "orders_per_hour": rate, "downstream": rows}
        print(json.dumps(body | {"target_s": target_s}, indent=2, sort_keys=True))
        return
    table = Table(
        "downstream",
        "calls/order",
        "servers",
        "service s",
        "utilisation",
        "P(wait)",
        "mean wait s",
        "queue",
        "saturates at orders/h",
        *(["servers for target"] if advice else []),
    )

    def show(value: float | None, fmt: str = "{:.3f}") -> str:
        return "[bold red]unstable[/]" if value is None else fmt.format(value)

    for system, r in rows.items():
        busy = r["utilisation"]
        table.add_row(
            system,
            f"{r['calls_per_order']:.2f}",
            str(r["servers"]),
            f"{r['mean_service_s']:.2f}",
            f"[bold red]{busy:.0%}[/]" if busy >= 1 else f"{busy:.0%}",
            show(r["p_wait"], "{:.1%}") if busy < 1 else "100%",
            show(r["mean_wait_s"]),
            show(r["mean_queue_length"]),
            f"{r['saturating_orders_per_hour']:,.0f}",
            *([str(r.get("servers_needed") or "n/a")] if advice else []),
        )
    out.print(
        f"[bold]{escape(loaded.scenario.name)}[/]: {rate:,.0f} orders/hour"
        + (" (peak)" if peak else "")
        + "; Erlang-C (Allen-Cunneen for non-exponential service), first attempts "
        "and error retries; outages and reconciliation are what the simulation adds"
    )
    out.print(table)


def _print_grid(summary: dict[str, Any], seeds: str, target: Path | None) -> None:
    paths = [a["path"] for a in summary["grid"]["axes"]]

    def ci(v: dict[str, Any], key: str, fmt: str) -> str:
        if v[key] is None:
            return "n/a"
        text = fmt.format(v[key])
        if v["low"] is not None:
            text += f" [{fmt.format(v['low'])}, {fmt.format(v['high'])}]"
        return text

    table = Table(*paths, "runs broken (95 % CI)", "p99 lead time s", "peak utilisation")
    for cell in summary["grid"]["cells"]:
        table.add_row(
            *(f"{cell['cell'][p]:g}" for p in paths),
            ci(cell["violation_rate"], "rate", "{:.0%}"),
            ci(cell["lead_time_p99_s"], "mean", "{:,.0f}"),
            ci(cell["peak_utilisation"], "mean", "{:.0%}"),
        )
    out.print(
        f"[bold]{escape(summary['scenario'])}[/] policy={escape(summary['policy'])} "
        f"seeds={escape(seeds)} per cell"
    )
    out.print(table)
    out.print(f"{summary['failed_runs']} of {summary['runs']} runs violated an invariant")
    _print_ran_on(summary)
    if target is not None:
        out.print(f"wrote {escape(str(target))}/ (sweep.json, sweep.html, grid.png)")


# -------------------------------------------------------------------------- lifecycle

LIFECYCLES = {
    "quote": "cpqsim.quote:QUOTE_LIFECYCLE",
    "order": "cpqsim.order:ORDER_LIFECYCLE",
    "task": "cpqsim.order:TASK_LIFECYCLE",
    "asset": "cpqsim.asset:ASSET_LIFECYCLE",
}


def lifecycle_table(name: str):
    import importlib

    module, attr = LIFECYCLES[name].split(":")
    return getattr(importlib.import_module(module), attr)


@app.command()
def lifecycle(
    name: Annotated[LifecycleName, typer.Argument(help="which lifecycle")] = LifecycleName.quote,
) -> None:
    """Print a lifecycle as a Mermaid state diagram, generated from its transition table."""
    print(lifecycle_table(name.value).to_mermaid(), end="")


# ------------------------------------------------------------------------------ audit


@audit_app.command("verify")
def audit_verify(
    run_dir: Annotated[Path, typer.Argument(help="a run folder (written by `run --out`)")],
) -> None:
    """Verify a run folder's audit chain: exit 0 with the entry count, 4 naming the first
    bad entry, 2 when the folder is no run folder."""
    from cpqsim_scenarios.audit_verify import EXIT_AUDIT_BROKEN, verify_run_folder

    try:
        verdict = verify_run_folder(run_dir)
    except InputInvalid as exc:
        _fail_input(exc)
    if not verdict.verifies:
        err.print(
            f"[bold red]audit chain broken[/]: {escape(str(verdict.file))}: {verdict.problem}"
        )
        raise typer.Exit(EXIT_AUDIT_BROKEN)
    out.print(
        f"[green]verifies[/]: {escape(str(verdict.file))} — {verdict.entries:,} entries, "
        f"head {verdict.head}"
    )


# --------------------------------------------------------------------------- evidence


@app.command()
def evidence(
    quote_id: Annotated[str, typer.Argument(help="the quote, e.g. Q000001")],
    run_dir: Annotated[Path, typer.Option("--run", help="a run folder (with events.jsonl)")],
    verify: Annotated[
        bool, typer.Option("--verify", help="recompute every fingerprint (exit 1 if one fails)")
    ] = False,
    scenario: Annotated[
        Path | None, typer.Option(help="scenario to verify with (default: result.json's)")
    ] = None,
    proposal: Annotated[bool, typer.Option("--proposal", help="print the proposal")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="the package as JSON")] = False,
) -> None:
    """A quote's evidence package from a run: snapshot, fingerprints, approvals, proposal,
    acceptance, conversion; --verify recomputes each from the stored inputs."""
    from cpqsim_scenarios.evidence_file import read_evidence, summary_lines, verify_from_run

    try:
        package = read_evidence(quote_id, run_dir)
        checked = verify_from_run(package, run_dir, scenario) if verify else None
    except InputInvalid as exc:
        _fail_input(exc, as_json)
    if as_json:
        body = package.model_dump(mode="json")
        if checked is not None:
            body["verification"] = checked.model_dump(mode="json")
        print(json.dumps(body, indent=2, sort_keys=True))
    else:
        for line in summary_lines(package, checked, proposal):
            out.print(escape(line))
    raise typer.Exit(EXIT_INVARIANT_VIOLATED if checked is not None and not checked.ok else 0)


# ----------------------------------------------------------------------------- assets


class AssetStatusName(StrEnum):
    active = "active"
    suspended = "suspended"
    pending_change = "pending_change"
    disconnected = "disconnected"


@app.command()
def assets(
    run_dir: Annotated[Path, typer.Option("--run", help="a run folder (with events.jsonl)")],
    account: Annotated[str | None, typer.Option(help="only this account's assets")] = None,
    status: Annotated[
        AssetStatusName | None, typer.Option(help="only assets in this status")
    ] = None,
    history: Annotated[
        str | None, typer.Option(help="print this asset's history, fact by fact")
    ] = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="the assets (or history) as JSON")
    ] = False,
) -> None:
    """A run's installed base: every asset as its facts left it, or one asset's history."""
    from cpqsim_host.scenario import suggestion

    from cpqsim.asset import AssetStatus
    from cpqsim_scenarios.assets_file import asset_row, read_installed_base, select

    try:
        base = read_installed_base(run_dir)
        if history is not None and history not in base:
            guess = suggestion(history, [a.asset_id for a in base])
            hint = f"; did you mean {guess!r}?" if guess else ""
            raise InputInvalid(str(run_dir), [("--history", f"no asset {history!r}{hint}")])
    except InputInvalid as exc:
        _fail_input(exc, as_json)
    if history is not None:
        facts = base.history(history)
        if as_json:
            body = [{"type": f.cloudevent_type(), "data": f.model_dump(mode="json")} for f in facts]
            print(json.dumps(body, indent=2, sort_keys=True))
            return
        for fact in facts:
            data = fact.model_dump(mode="json", exclude={"asset_id"})
            out.print(escape(f"{fact.type_name:<16} {json.dumps(data, sort_keys=True)}"))
        return
    chosen = select(base, account, AssetStatus(status.value) if status else None)
    if as_json:
        print(json.dumps([a.model_dump(mode="json") for a in chosen], indent=2, sort_keys=True))
        return
    table = Table(
        "asset", "account", "offering", "options", "qty", "status", "v", "parent",
        "subscription", "monthly/unit", title=f"{len(chosen):,} of {len(base):,} assets",
    )  # fmt: skip
    for asset in chosen:
        table.add_row(*(escape(cell) for cell in asset_row(asset)))
    out.print(table)


# ------------------------------------------------------------------------------ price


@app.command()
def price(
    file: Annotated[Path, typer.Argument(help="quote-request file (YAML or JSON)")],
    installed_base: Annotated[
        Path | None,
        typer.Option(
            "--installed-base",
            help="the assets the request's change lines act on: a file of assets (as "
            "`cpqsim assets --json` prints them) or a run folder",
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print the full result as JSON")] = False,
) -> None:
    """Price a quote request and print the result with its trace.

    A request that changes installed assets is judged against them first (a refused
    change exits 2 with the change check's code) and shows each change old against new.
    """
    from cpqsim.canonical import to_plain
    from cpqsim.change_view import change_views
    from cpqsim.pricing import PricingError, price_quote
    from cpqsim_scenarios.price_file import load_price_job

    try:
        job = load_price_job(file, installed_base)
        result = price_quote(job.catalog, job.request)
    except InputInvalid as exc:
        _fail_input(exc, as_json)
    except ArithmeticError as exc:  # e.g. a 60-digit discount: refuse, never crash
        _fail_input(
            InputInvalid(
                str(file),
                [Problem("request", f"a number cannot be priced exactly ({type(exc).__name__})")],
            ),
            as_json,
        )
    except PricingError as exc:
        violations = getattr(exc, "violations", None) or []
        problems = [
            Problem(f"request.{v.path}", v.message, code=getattr(v, "rule", None))
            for v in violations
        ] or [Problem("request", str(exc))]
        _fail_input(InputInvalid(str(file), problems), as_json)
    views = change_views(job.request.lines, job.request.assets, result.changes)
    if as_json:
        body = to_plain(result.model_dump())
        if views:  # beside the result, not in it: the result's fingerprint is unchanged
            body["change_lines"] = [to_plain(v.model_dump()) for v in views]
        print(json.dumps(body, sort_keys=True, indent=2))
        return
    _print_price(result, views)


def _print_price(result: Any, views: list[Any]) -> None:
    charges = Table("line", "item", "price", "kind", "qty", "list", "discount", "net")
    for c in result.charges:
        charges.add_row(
            *(
                escape(str(x))
                for x in (
                    c.line_index,
                    c.item,
                    c.price_id,
                    c.kind,
                    c.quantity,
                    c.list_amount,
                    c.discount_amount,
                    c.net_amount,
                )
            )
        )
    out.print(charges)
    if views:
        _print_changes(result, views)
    trace = Table("#", "rule", "version", "subject", "before", "after", "detail")
    for t in result.trace:
        trace.add_row(
            *(
                escape(str(x))
                for x in (t.step, t.rule, t.rule_version, t.subject, t.before, t.after, t.detail)
            )
        )
    out.print(trace)
    out.print(
        f"currency {result.currency}: recurring {result.recurring_total}, one-time "
        f"{result.one_time_total}, discount {result.discount_total}; rounding "
        f"{escape(str(result.rounding))}"
    )
    if views:
        out.print(
            f"changes: due now {result.change_due_total} (negative: a credit), monthly "
            f"charges {result.change_monthly_delta:+f}"
        )
    for warning in result.warnings:
        out.print(f"[yellow]warning[/]: {escape(str(warning))}")
    for trigger in result.approval_triggers:
        out.print(f"[bold]approval needed[/]: {escape(f'{trigger.reason} ({trigger.rule_id})')}")
    out.print(f"fingerprint {result.fingerprint}")


def _print_changes(result: Any, views: list[Any]) -> None:
    """Each change line old against new, then what it costs (its steps are in the trace)."""

    def side(s: Any) -> str:
        return "-" if s is None else f"{s.configuration()}, {s.status}"

    table = Table(
        "line", "action", "asset", "before", "after", "monthly", "period", "credit",
        "charge", "one-time", "due", "term after", title="changes to installed assets",
    )  # fmt: skip
    for view, c in zip(views, result.changes, strict=True):
        moved = "; ".join(f"{k} {a or '-'} -> {b}" for k, a, b in view.changed_characteristics())
        period = (
            f"{c.period_start}..{c.period_end} ({c.days}/{c.period_days} days)"
            if c.period_start is not None
            else f"renewal {c.term_months} months, {c.term_amount}"
        )
        table.add_row(
            *(
                escape(str(x))
                for x in (
                    c.line,
                    c.action,
                    f"{c.asset_id} v{c.asset_version}",
                    side(view.before),
                    side(view.after) + (f"; {moved}" if moved else ""),
                    f"{c.old_monthly} -> {c.new_monthly}",
                    period,
                    c.credit,
                    c.charge,
                    c.one_time,
                    c.due,
                    f"{c.term_start}..{c.term_end or 'month to month'}",
                )
            )
        )
    out.print(table)


# ----------------------------------------------------------------------------- schema


@app.command()
def schema(
    name: Annotated[SchemaName, typer.Argument(help="which file format")],
) -> None:
    """Print the JSON Schema of a file format (editors use it to complete and check files)."""
    from cpqsim_scenarios.schemas import schema_json

    print(schema_json(name.value), end="")


# ------------------------------------------------------------------------------ serve


@app.command()
def serve(
    port: Annotated[int, typer.Option(min=1, max=65535, help="TCP port")] = 8000,
    host: Annotated[str, typer.Option(help="bind address (loopback by default)")] = "127.0.0.1",
    catalog: Annotated[Path | None, typer.Option(help="catalog YAML (default: sample)")] = None,
    scenario: Annotated[
        Path | None, typer.Option(help="scenario whose downstream profiles and policy to use")
    ] = None,
    time_scale: Annotated[
        float, typer.Option(min=1e-6, max=10, help="wall seconds per simulated second")
    ] = 0.001,
    quote_shards: Annotated[
        int | None,
        typer.Option(min=1, max=64, help="quote actors (default: 1 on <= 2 cores, else 2)"),
    ] = None,
    order_shards: Annotated[
        int | None,
        typer.Option(min=1, max=64, help="order actors (default: 1 on <= 2 cores, else 2)"),
    ] = None,
    journal: Annotated[
        Path | None,
        typer.Option(help="keep the actors' journals in this folder (serve it again later)"),
    ] = None,
    name: Annotated[
        str, typer.Option(help="platform name in the Ray namespace (gateways attach by it)")
    ] = "cpqsim",
    attach: Annotated[
        bool, typer.Option(help="serve a platform another gateway owns (creates no actors)")
    ] = False,
    ray_timeout: Annotated[
        float, typer.Option(min=0.5, max=600, help="give up joining RAY_ADDRESS after this")
    ] = 15.0,
    max_body_bytes: Annotated[
        int, typer.Option(min=1024, max=64 * 2**20, help="refuse request bodies larger than this")
    ] = 256 * 1024,
    principals: Annotated[
        Path | None,
        typer.Option(
            help="principals YAML (bearer token sha256 -> id, roles, accounts); "
            "default: demo principals, tokens printed, loopback only"
        ),
    ] = None,
) -> None:
    """Start the live platform (Ray actors) behind an HTTP API; OpenAPI at /docs."""
    from cpqsim_scenarios.files import load_catalog_file
    from cpqsim_scenarios.model import REQUIRED_SYSTEMS, load_scenario

    # Every input is judged before Ray starts (seconds, and a process per actor).
    try:
        if scenario is not None:
            loaded = load_scenario(scenario)
            profiles = set(loaded.scenario.downstream)
        if catalog is not None:
            chosen = load_catalog_file(catalog)
            if scenario is not None:
                needed = {s.system for o in chosen.offerings for s in o.decomposition}
                missing = sorted((needed | set(REQUIRED_SYSTEMS)) - profiles)
                if missing:
                    raise _option_problem(
                        "--scenario",
                        f"{scenario} has no downstream profile for {', '.join(missing)}, "
                        f"which catalog {catalog} uses",
                    )
        if journal is not None and journal.exists() and not journal.is_dir():
            raise _option_problem("--journal", f"{journal} is a file, not a folder")
        if not name.replace("-", "").replace("_", "").isalnum():
            raise _option_problem("--name", f"{name!r}: letters, digits, '-' and '_' only")
    except InputInvalid as exc:
        _fail_input(exc)
    serve_live = registry.load("live", registry.SERVER_GROUP)

    # Every actor is a process: on a 2-core box fewer shards measured +20 % req/s and
    # -40 % p99 (benchmarks/bench_gateway.py), so the default follows the machine.
    default_shards = 1 if (os.cpu_count() or 1) <= 2 else 2
    err.print(f"cpqsim starting on http://{host}:{port}; it says when it is ready")
    try:
        serve_live(
            host=host,
            port=port,
            catalog_path=catalog,
            scenario_path=scenario,
            time_scale=time_scale,
            quote_shards=quote_shards or default_shards,
            order_shards=order_shards or default_shards,
            name=name,
            attach=attach,
            ray_timeout_s=ray_timeout,
            max_body_bytes=max_body_bytes,
            journal_dir=journal,
            principals_path=principals,
        )
    except (InputInvalid, ValueError) as exc:
        _fail_input(exc if isinstance(exc, InputInvalid) else str(exc))


def main() -> None:
    """The console entry point: bad input exits 2, a bug exits 3 with its traceback."""
    try:
        app(prog_name="cpqsim")
    except SystemExit:
        raise
    except KeyboardInterrupt:
        err.print("interrupted")
        sys.exit(130)
    except Exception:  # a bug in cpqsim, not the user's fault: say so, keep the evidence
        err.print("[bold red]cpqsim failed[/] (a bug: please report it with this traceback)")
        traceback.print_exc()
        sys.exit(EXIT_INTERNAL_ERROR)
