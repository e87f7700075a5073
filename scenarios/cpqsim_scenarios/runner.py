"""Run a scenario on a runtime, judge it, and write what an architect needs to see.

``run_scenario`` is the one entry point shared by the CLI, the tests and the notebooks:
load and validate, refuse a run projected too big, execute on ``sim`` or ``ray``, check
every invariant from the event log and the ledgers, and (when asked) write
``result.json``, ``events.jsonl``, ``audit.jsonl`` (every decision, hash-chained) and a
report with plots. The output folder is judged
before the run starts (see :mod:`cpqsim_scenarios.output`: nothing cpqsim did not write
is ever replaced) and nothing is half-written.

The event log streams: every fact is written to ``events.jsonl`` (through
:class:`~cpqsim_scenarios.event_file.EventFile`) and shown to the invariant checker as it
happens, and the sha256 is computed line by line, so a day of 50,000 orders is judged in
the memory of the orders in flight. A runtime that can stream takes the log as its
``log`` keyword (the sim does); the facts of one that cannot are streamed when it hands
them back. The verdict is known, and handed to ``on_judged``, before the report's plots
are drawn.
"""

from __future__ import annotations

import inspect
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cpqsim_host import registry
from cpqsim_host.outcome import RunOutput

from cpqsim.asset import Asset, InstalledBase
from cpqsim.audit_facts import AuditRecorder
from cpqsim.catalog import Catalog
from cpqsim.events import EventLog
from cpqsim.exceptions_summary import exceptions_summary, percentile, read_order_facts
from cpqsim.invariants import InvariantJudge, InvariantResult, all_hold, check_invariants
from cpqsim_scenarios.capacity_table import capacity_section
from cpqsim_scenarios.errors import EXIT_INVARIANT_VIOLATED, EXIT_OK
from cpqsim_scenarios.event_file import EventFile
from cpqsim_scenarios.model import LoadedScenario, load_scenario
from cpqsim_scenarios.output import (
    RESULT_SCHEMA_VERSION,
    OutputPlan,
    plan_output,
    tool_stamp,
    write_output,
)
from cpqsim_scenarios.projection import DEFAULT_MAX_MEMORY_GB, refuse_if_too_big

#: The run folder's hash-chained audit log (see :mod:`cpqsim.audit`).
AUDIT_FILE = "audit.jsonl"

Runtime = str  # a name in cpqsim_host.registry: sim, inprocess, ray
Progress = Callable[[float, float], None]
OnJudged = Callable[[dict[str, Any]], None]


@dataclass
class ScenarioRun:
    result: dict[str, Any]
    output: RunOutput
    events: EventLog  # streamed to a file: iterating reads it back
    out_dir: Path | None

    @property
    def exit_code(self) -> int:
        return EXIT_OK if self.result["verdict"] == "pass" else EXIT_INVARIANT_VIOLATED

    @property
    def events_jsonl(self) -> str:
        """The whole event log as canonical JSONL (read back from its file)."""
        return self.events.to_jsonl()

    @property
    def installed_base(self) -> InstalledBase | None:
        """The platform's installed base as the run left it (None: the runtime keeps
        none in this process)."""
        return self.output.installed_base

    @property
    def assets(self) -> list[Asset]:
        """Every asset at the end of the run, in the order they came to exist."""
        return list(self.output.installed_base or ())


def execute(
    loaded: LoadedScenario,
    runtime: str,
    seed: int,
    progress: Progress | None,
    log: EventLog | None = None,
) -> RunOutput:
    """Run on the runtime registered under ``runtime`` (see :mod:`cpqsim_host.registry`).

    With ``log``, the run's facts go into it: during the run if the runtime takes a
    ``log`` keyword, otherwise all at once when the runtime hands them back.
    """
    run = registry.load(runtime)
    streams = log is not None and "log" in inspect.signature(run).parameters
    started = time.perf_counter()
    output = run(loaded, seed, progress, log=log) if streams else run(loaded, seed, progress)
    output.wall_s = time.perf_counter() - started
    if log is not None and not streams:
        log.extend(output.events)
    return output


def run_catalogs(loaded: LoadedScenario) -> list[Catalog]:
    """Every catalog version a run may publish, first the one it begins with (accepted
    prices are re-derived under the version they were priced under)."""
    return [loaded.catalog, *loaded.later_catalogs.values()]


def summarize(
    loaded: LoadedScenario,
    output: RunOutput,
    seed: int,
    log_sha: str,
    started_at: str = "",
    invariants: list[InvariantResult] | None = None,
) -> dict:
    """The machine-readable verdict (``result.json``), from the run's aggregates.

    ``invariants``: the verdict of a judge that watched the run; without it the run's
    events are judged here.
    """
    if invariants is None:
        invariants = check_invariants(
            output.events,
            output.ledgers,
            run_catalogs(loaded),
            loaded.scenario.approval_timeout_s,
            loaded.approval_policy,
        )
    by_state = Counter(output.orders_final.values())
    facts = read_order_facts(output.events)  # one reading of the log for every figure
    downstream = {}
    for name, ledger in sorted(output.ledgers.items()):
        duplicates = ledger.duplicates()
        lat = sorted(s for _, s in output.latencies.get(name, []))
        downstream[name] = {
            "calls": output.downstream_calls.get(name, 0),
            "rejected": output.downstream_rejected.get(name, 0),
            "side_effects": len(ledger.side_effects()),
            "duplicates": sum(n - 1 for n in duplicates.values()),
            "duplicated_references": len(duplicates),
            "latency_p50_s": percentile(lat, 0.50),
            "latency_p99_s": percentile(lat, 0.99),
        }
    stats = output.stats
    return {
        "schema_version": RESULT_SCHEMA_VERSION,
        "tool": tool_stamp(),
        "started_at": started_at,
        "wall_s": round(output.wall_s, 3),
        "scenario": loaded.scenario.name,
        "scenario_file": loaded.path,
        "seed": seed,
        "runtime": output.runtime,
        "policy": loaded.scenario.resilience_policy().name,
        "verdict": "pass" if all_hold(invariants) else "fail",
        "simulated_s": round(output.simulated_s, 3),
        "journeys": {k: v for k, v in asdict(stats).items() if k != "fallout_cases"},
        "orders": {
            "total": len(output.orders_final),
            "by_state": dict(sorted(by_state.items())),
            "lead_time_p50_s": percentile(facts.lead_times_s, 0.50),
            "lead_time_p99_s": percentile(facts.lead_times_s, 0.99),
        },
        "fallout_cases": stats.fallout_cases,
        "invariants": [r.model_dump() for r in invariants],
        "downstream": downstream,
        "exceptions": exceptions_summary(facts, output.ledgers),
        "capacity": capacity_section(loaded, output),
        "events": len(output.events),
        "notes": list(output.notes),
        "event_log_sha256": log_sha,
    }


def default_out_dir(loaded: LoadedScenario, runtime: str, seed: int) -> Path:
    """A new folder under ``runs/`` (never an existing one: a suffix keeps it new)."""
    # Folder names are for humans; the clock is read here, in the shell, never in the core.
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    base = Path("runs") / f"{stamp}-{loaded.scenario.name}-{runtime}-seed{seed}"
    candidate, n = base, 1
    while candidate.exists():
        n += 1
        candidate = base.with_name(f"{base.name}-{n}")
    return candidate


def write_run(
    plan: OutputPlan,
    run: ScenarioRun,
    loaded: LoadedScenario,
    events: EventFile,
    audit: EventFile | None = None,
) -> Path:
    from cpqsim_scenarios.report import write_report

    def write(staging: Path) -> dict:
        events.move_to(staging / "events.jsonl")
        if audit is not None:
            audit.move_to(staging / AUDIT_FILE)
        write_report(staging, run.result, run.output, loaded)
        return run.result

    write_output(plan, write)
    events.path = plan.target / "events.jsonl"  # where the staging folder put it
    if audit is not None:
        audit.path = plan.target / AUDIT_FILE
    return plan.target


def run_scenario(
    scenario: str | Path | LoadedScenario,
    *,
    runtime: Runtime = "sim",
    seed: int | None = None,
    out_dir: str | Path | None = None,
    progress: Progress | None = None,
    write: bool = False,
    overwrite: bool = False,
    max_memory_gb: float = DEFAULT_MAX_MEMORY_GB,
    on_judged: OnJudged | None = None,
) -> ScenarioRun:
    """Load (unless given loaded), run, judge; write files when ``out_dir`` or ``write``.

    Everything that can refuse the run (the input, its projected size, the output
    folder) is checked before the run starts. ``on_judged`` receives ``result.json``'s
    content as soon as the verdict is known, before any report is written.
    """
    loaded = scenario if isinstance(scenario, LoadedScenario) else load_scenario(scenario)
    seed = loaded.scenario.seed if seed is None else seed
    refuse_if_too_big(loaded, max_memory_gb)
    plan = None
    if out_dir is not None or write:
        target = Path(out_dir) if out_dir is not None else default_out_dir(loaded, runtime, seed)
        plan = plan_output(target, marker="result.json", overwrite=overwrite)
    started_at = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    events = EventFile.beside(plan.target) if plan is not None else EventFile()
    audit = EventFile.beside(plan.target) if plan is not None else EventFile()
    try:
        log = EventLog(sink=events)
        recorder = AuditRecorder(audit.write)  # the decisions, chained, beside the log
        log.subscribe(recorder.observe)
        judge = InvariantJudge(
            run_catalogs(loaded),
            loaded.scenario.approval_timeout_s,
            loaded.approval_policy,
            audit_lines=audit.lines,
        )
        log.subscribe(judge.observe)
        output = execute(loaded, runtime, seed, progress, log)
        events.flush()
        audit.flush()
        verdict = judge.verdict(output.ledgers)
        result = summarize(loaded, output, seed, log.sha256(), started_at, verdict)
        result["audit_chain"] = {
            "file": AUDIT_FILE,
            "entries": recorder.chain.length,
            "head": recorder.chain.head,
        }
        if on_judged is not None:
            on_judged(result)
        run = ScenarioRun(result=result, output=output, events=log, out_dir=None)
        if plan is not None:
            run.out_dir = write_run(plan, run, loaded, events, audit)
        else:
            audit.discard()  # nothing is written: the chain was only for the verdict
    except BaseException:
        events.discard()
        audit.discard()
        raise
    return run
