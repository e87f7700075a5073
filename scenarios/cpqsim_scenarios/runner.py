"""Run a scenario on a runtime, judge it, and write what an architect needs to see.

``run_scenario`` is the one entry point shared by the CLI, the tests and the notebooks:
load and validate, refuse a run projected too big, execute on ``sim`` or ``ray``, check
every invariant from the event log and the ledgers, and (when asked) write
``result.json``, ``events.jsonl`` and a report with plots. The output folder is judged
before the run starts (see :mod:`cpqsim_scenarios.output`: nothing cpqsim did not write
is ever replaced) and nothing is half-written.
"""

from __future__ import annotations

import hashlib
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cpqsim_host import registry
from cpqsim_host.outcome import RunOutput

from cpqsim.events import EventLog
from cpqsim.exceptions_summary import exceptions_summary
from cpqsim.invariants import all_hold, check_invariants
from cpqsim_scenarios.capacity_table import capacity_section
from cpqsim_scenarios.errors import EXIT_INVARIANT_VIOLATED, EXIT_OK
from cpqsim_scenarios.model import LoadedScenario, load_scenario
from cpqsim_scenarios.output import (
    RESULT_SCHEMA_VERSION,
    OutputPlan,
    plan_output,
    tool_stamp,
    write_output,
)
from cpqsim_scenarios.projection import DEFAULT_MAX_MEMORY_GB, refuse_if_too_big

Runtime = str  # a name in cpqsim_host.registry: sim, inprocess, ray
Progress = Callable[[float, float], None]


@dataclass
class ScenarioRun:
    result: dict[str, Any]
    output: RunOutput
    events_jsonl: str
    out_dir: Path | None

    @property
    def exit_code(self) -> int:
        return EXIT_OK if self.result["verdict"] == "pass" else EXIT_INVARIANT_VIOLATED


def execute(
    loaded: LoadedScenario, runtime: str, seed: int, progress: Progress | None
) -> RunOutput:
    """Run on the runtime registered under ``runtime`` (see :mod:`cpqsim_host.registry`)."""
    started = time.perf_counter()
    output = registry.load(runtime)(loaded, seed, progress)
    output.wall_s = time.perf_counter() - started
    return output


def summarize(
    loaded: LoadedScenario, output: RunOutput, seed: int, log_sha: str, started_at: str = ""
) -> dict:
    """The machine-readable verdict (``result.json``)."""
    catalogs = [loaded.catalog, *loaded.later_catalogs.values()]
    invariants = check_invariants(
        output.events, output.ledgers, catalogs, loaded.scenario.approval_timeout_s
    )
    by_state = Counter(output.orders_final.values())
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
            "latency_p50_s": _percentile(lat, 0.50),
            "latency_p99_s": _percentile(lat, 0.99),
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
        "orders": {"total": len(output.orders_final), "by_state": dict(sorted(by_state.items()))},
        "fallout_cases": stats.fallout_cases,
        "invariants": [r.model_dump() for r in invariants],
        "downstream": downstream,
        "exceptions": exceptions_summary(output.events, output.ledgers),
        "capacity": capacity_section(loaded, output),
        "events": len(output.events),
        "notes": list(output.notes),
        "event_log_sha256": log_sha,
    }


def _percentile(sorted_values: list[float], q: float) -> float | None:
    if not sorted_values:
        return None
    index = min(len(sorted_values) - 1, int(q * len(sorted_values)))
    return round(sorted_values[index], 3)


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


def write_run(plan: OutputPlan, run: ScenarioRun, loaded: LoadedScenario) -> Path:
    from cpqsim_scenarios.report import write_report

    def write(staging: Path) -> dict:
        (staging / "events.jsonl").write_text(run.events_jsonl, encoding="utf-8")
        write_report(staging, run.result, run.output, loaded)
        return run.result

    write_output(plan, write)
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
) -> ScenarioRun:
    """Load (unless given loaded), run, judge; write files when ``out_dir`` or ``write``.

    Everything that can refuse the run (the input, its projected size, the output
    folder) is checked before the run starts.
    """
    loaded = scenario if isinstance(scenario, LoadedScenario) else load_scenario(scenario)
    seed = loaded.scenario.seed if seed is None else seed
    refuse_if_too_big(loaded, max_memory_gb)
    plan = None
    if out_dir is not None or write:
        target = Path(out_dir) if out_dir is not None else default_out_dir(loaded, runtime, seed)
        plan = plan_output(target, marker="result.json", overwrite=overwrite)
    started_at = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    output = execute(loaded, runtime, seed, progress)
    log = EventLog()
    log.extend(output.events)
    jsonl = log.to_jsonl()
    log_sha = hashlib.sha256(jsonl.encode("utf-8")).hexdigest()
    result = summarize(loaded, output, seed, log_sha, started_at)
    run = ScenarioRun(result=result, output=output, events_jsonl=jsonl, out_dir=None)
    if plan is not None:
        run.out_dir = write_run(plan, run, loaded)
    return run
