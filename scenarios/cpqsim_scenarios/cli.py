"""The ``cpqsim`` command line.

Exit codes are part of the interface: 0 every invariant holds (or the input is valid),
1 an invariant is violated, 2 the input is invalid (the message names file, field and
reason). Long work shows progress on stderr; results go to stdout.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from cpqsim.catalog import CatalogInvalid, load_catalog
from cpqsim_scenarios.errors import EXIT_INVALID_INPUT, EXIT_INVARIANT_VIOLATED, InputInvalid

app = typer.Typer(
    help="cpqsim: simulate, break and load-test an enterprise CPQ/OMS platform.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
catalog_app = typer.Typer(help="Inspect and validate product catalogs.", no_args_is_help=True)
app.add_typer(catalog_app, name="catalog")

out = Console()
err = Console(stderr=True)


def _fail_input(message: str) -> None:
    err.print(f"[bold red]invalid input[/]\n{message}", highlight=False)
    raise typer.Exit(EXIT_INVALID_INPUT)


@app.command()
def run(
    scenario: Annotated[
        Path, typer.Argument(help="scenario YAML, e.g. scenarios/library/happy_path.yaml")
    ],
    seed: Annotated[int | None, typer.Option(help="override the scenario's seed")] = None,
    runtime: Annotated[
        str, typer.Option(help="sim (SimPy, virtual time) or ray (live actors)")
    ] = "sim",
    out_dir: Annotated[
        Path | None, typer.Option("--out", help="output folder (default: runs/<new>)")
    ] = None,
    quiet: Annotated[bool, typer.Option(help="no progress bar")] = False,
) -> None:
    """Run a failure-mode scenario and print the invariant verdict."""
    from cpqsim_scenarios.model import load_scenario
    from cpqsim_scenarios.runner import run_scenario

    if runtime not in ("sim", "ray"):
        _fail_input(f"--runtime: {runtime!r} is not one of sim, ray")
    try:
        loaded = load_scenario(scenario)
    except InputInvalid as exc:
        _fail_input(str(exc))
    with Progress(
        TextColumn(f"[bold]{loaded.scenario.name}[/] on {runtime}"),
        BarColumn(),
        TextColumn("{task.fields[virtual]}"),
        TimeElapsedColumn(),
        console=err,
        disable=quiet,
        transient=True,
    ) as bar:
        task = bar.add_task("run", total=1.0, virtual="")

        def progress(now: float, end: float) -> None:
            bar.update(
                task, completed=now / end, virtual=f"{now / 3600:5.1f} h of {end / 3600:.1f} h"
            )

        result = run_scenario(
            loaded, runtime=runtime, seed=seed, out_dir=out_dir, write=True, progress=progress
        )
    _print_summary(result.result, result.out_dir, result.output.wall_s)
    raise typer.Exit(result.exit_code)


def _print_summary(result: dict, out_dir: Path | None, wall_s: float) -> None:
    orders = result["orders"]
    out.print(
        f"[bold]{result['scenario']}[/] runtime={result['runtime']} seed={result['seed']} "
        f"policy={result['policy']}: {orders['total']} orders {orders['by_state']} "
        f"in {wall_s:.1f} s wall"
    )
    table = Table("invariant", "holds", "violations", "first example", show_lines=False)
    for inv in result["invariants"]:
        table.add_row(
            inv["name"],
            "[green]yes[/]" if inv["holds"] else "[bold red]NO[/]",
            str(inv["violations"]),
            inv["examples"][0] if inv["examples"] else "",
        )
    out.print(table)
    ds = Table("downstream", "calls", "side effects", "duplicates", "p99 s")
    for name, d in result["downstream"].items():
        ds.add_row(
            name,
            str(d["calls"]),
            str(d["side_effects"]),
            str(d["duplicates"]),
            str(d["latency_p99_s"]),
        )
    out.print(ds)
    for note in result.get("notes", []):
        out.print(f"[yellow]note[/]: {note}")
    verdict = result["verdict"] == "pass"
    out.print(
        "[bold green]VERDICT: PASS[/] every invariant holds"
        if verdict
        else "[bold red]VERDICT: FAIL[/] invariants violated (see examples above)"
    )
    if out_dir is not None:
        out.print(f"wrote {out_dir}/result.json, events.jsonl, report.md and plots")


@catalog_app.command("validate")
def catalog_validate(file: Annotated[Path, typer.Argument(help="catalog YAML")]) -> None:
    """Validate a catalog: every problem, explained; exit 2 when invalid."""
    try:
        catalog = load_catalog(file)
    except CatalogInvalid as exc:
        _fail_input(str(exc))
    out.print(
        f"[green]valid[/]: {file} — catalog {catalog.id} version {catalog.version}, "
        f"{len(catalog.offerings)} offerings, {len(catalog.specifications)} specifications"
    )


@catalog_app.command("show")
def catalog_show(
    file: Annotated[Path, typer.Argument(help="catalog YAML")],
    picture: Annotated[Path | None, typer.Option(help="also draw the graph to this PNG")] = None,
) -> None:
    """Summarise a catalog (offerings, options, relations, decomposition)."""
    try:
        catalog = load_catalog(file)
    except CatalogInvalid as exc:
        _fail_input(str(exc))
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
    out.print(table)
    out.print(f"catalog {catalog.version_id}, fingerprint {catalog.fingerprint}")
    if picture is not None:
        from cpqsim_scenarios.catalog_plot import draw_catalog

        draw_catalog(catalog, picture)
        out.print(f"wrote {picture}")


def _parse_seeds(text: str) -> list[int]:
    """``1-20`` or ``1,5,9`` or a mix: ``1-3,10``."""
    seeds: list[int] = []
    for part in text.split(","):
        start, dash, end = part.strip().partition("-")
        if not start.isdigit() or (dash and not end.isdigit()):
            raise ValueError(f"{part!r} is not a seed or a range such as 1-20")
        seeds += list(range(int(start), int(end) + 1)) if dash else [int(start)]
    if not seeds:
        raise ValueError("no seeds given")
    return sorted(set(seeds))


@app.command()
def sweep(
    scenario: Annotated[Path, typer.Argument(help="scenario YAML")],
    seeds: Annotated[str, typer.Option(help="seeds, e.g. 1-20 or 1,5,9")] = "1-10",
    workers: Annotated[int, typer.Option(min=1, help="local worker processes")] = 2,
    use_ray: Annotated[bool, typer.Option("--ray", help="run each seed as a Ray task")] = False,
    out_dir: Annotated[Path | None, typer.Option("--out", help="write sweep.json + plot")] = None,
) -> None:
    """Run a scenario over many seeds (sim runtime) and report how often each invariant broke."""
    from cpqsim_scenarios import sweep as sweeps

    try:
        seed_list = _parse_seeds(seeds)
    except ValueError as exc:
        _fail_input(f"--seeds: {exc}")
    if use_ray:
        from cpqsim_actors.sweep import ray_executor

        executor = ray_executor()
    else:
        executor = sweeps.local_executor(workers)
    with Progress(
        TextColumn(f"[bold]sweep[/] {scenario.name}"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total} seeds"),
        TimeElapsedColumn(),
        console=err,
        transient=True,
    ) as bar:
        task = bar.add_task("sweep", total=len(seed_list))
        try:
            summary = sweeps.sweep(
                scenario, seed_list, executor, lambda done, _: bar.update(task, completed=done)
            )
        except InputInvalid as exc:
            _fail_input(str(exc))
    table = Table("invariant", "broken in runs", "violations (all runs)")
    for name, runs in summary["invariant_broken_in_runs"].items():
        table.add_row(
            name,
            f"[bold red]{runs}[/]/{summary['runs']}" if runs else f"0/{summary['runs']}",
            str(summary["violations_total"][name]),
        )
    out.print(f"[bold]{summary['scenario']}[/] policy={summary['policy']} seeds={seeds}")
    out.print(table)
    out.print(f"{summary['failed_runs']} of {summary['runs']} runs violated an invariant")
    if out_dir is not None:
        sweeps.write_sweep(out_dir, summary)
        out.print(f"wrote {out_dir}/sweep.json and violations_per_seed.png")
    raise typer.Exit(EXIT_INVARIANT_VIOLATED if summary["failed_runs"] else 0)


LIFECYCLES = {
    "quote": "cpqsim.quote:QUOTE_LIFECYCLE",
    "order": "cpqsim.order:ORDER_LIFECYCLE",
    "task": "cpqsim.order:TASK_LIFECYCLE",
}


def lifecycle_table(name: str):
    import importlib

    module, attr = LIFECYCLES[name].split(":")
    return getattr(importlib.import_module(module), attr)


@app.command()
def lifecycle(
    name: Annotated[str, typer.Argument(help="quote, order or task")] = "quote",
) -> None:
    """Print a lifecycle as a Mermaid state diagram, generated from its transition table."""
    if name not in LIFECYCLES:
        _fail_input(f"lifecycle: {name!r} is not one of {', '.join(LIFECYCLES)}")
    print(lifecycle_table(name).to_mermaid(), end="")


@app.command()
def price(
    file: Annotated[Path, typer.Argument(help="quote-request file (YAML or JSON)")],
    as_json: Annotated[bool, typer.Option("--json", help="print the full result as JSON")] = False,
) -> None:
    """Price a quote request and print the result with its trace."""
    from cpqsim.canonical import to_plain
    from cpqsim.pricing import PricingError, price_quote
    from cpqsim_scenarios.price_file import load_price_request

    try:
        catalog, request = load_price_request(file)
        result = price_quote(catalog, request)
    except InputInvalid as exc:
        _fail_input(str(exc))
    except PricingError as exc:
        _fail_input(f"{file}: request: {exc}")
    if as_json:
        import json

        out.print_json(json.dumps(to_plain(result.model_dump()), sort_keys=True))
        return
    charges = Table("line", "item", "price", "kind", "qty", "list", "discount", "net")
    for c in result.charges:
        charges.add_row(
            str(c.line_index),
            c.item,
            c.price_id,
            c.kind,
            str(c.quantity),
            str(c.list_amount),
            str(c.discount_amount),
            str(c.net_amount),
        )
    out.print(charges)
    trace = Table("#", "rule", "version", "subject", "before", "after", "detail")
    for t in result.trace:
        trace.add_row(
            str(t.step), t.rule, t.rule_version, t.subject, str(t.before), str(t.after), t.detail
        )
    out.print(trace)
    out.print(
        f"currency {result.currency}: recurring {result.recurring_total}, one-time "
        f"{result.one_time_total}, discount {result.discount_total}; rounding {result.rounding}"
    )
    for warning in result.warnings:
        out.print(f"[yellow]warning[/]: {warning}")
    for trigger in result.approval_triggers:
        out.print(f"[bold]approval needed[/]: {trigger.reason} ({trigger.rule_id})")
    out.print(f"fingerprint {result.fingerprint}")


@app.command()
def serve(
    port: Annotated[int, typer.Option(help="TCP port on 127.0.0.1")] = 8000,
    host: Annotated[str, typer.Option(help="bind address (loopback by default)")] = "127.0.0.1",
    catalog: Annotated[Path | None, typer.Option(help="catalog YAML (default: sample)")] = None,
    scenario: Annotated[
        Path | None, typer.Option(help="scenario whose downstream profiles and policy to use")
    ] = None,
    time_scale: Annotated[float, typer.Option(help="wall seconds per simulated second")] = 0.001,
    quote_shards: Annotated[
        int | None, typer.Option(min=1, help="quote actors (default: 1 on <= 2 cores, else 2)")
    ] = None,
    order_shards: Annotated[
        int | None, typer.Option(min=1, help="order actors (default: 1 on <= 2 cores, else 2)")
    ] = None,
) -> None:
    """Start the live platform (Ray actors) behind an HTTP API; OpenAPI at /docs."""
    from cpqsim_actors.serve import serve as serve_live

    # Every actor is a process: on a 2-core box fewer shards measured +20 % req/s and
    # -40 % p99 (benchmarks/bench_gateway.py), so the default follows the machine.
    default_shards = 1 if (os.cpu_count() or 1) <= 2 else 2
    quote_shards = quote_shards or default_shards
    order_shards = order_shards or default_shards
    err.print(f"cpqsim serving on http://{host}:{port} (OpenAPI: http://{host}:{port}/docs)")
    serve_live(
        host=host,
        port=port,
        catalog_path=catalog,
        scenario_path=scenario,
        time_scale=time_scale,
        quote_shards=quote_shards,
        order_shards=order_shards,
    )


def main() -> None:  # pragma: no cover - console entry for `python -m`
    sys.exit(app())
