"""``report.html``: the run report for a browser, one self-contained file.

The verdict comes first, then what an architect acts on: each invariant with its
description and examples, the downstream systems (every kind of duplicate, per system),
the order exceptions, capacity predicted beside measured, the first broken order's facts
beside the ledger entries that prove it, and the plots, embedded (so the file can be
mailed or attached to a ticket and still shows everything). Rendered with Jinja2, with
autoescaping: event data and scenario text never become markup.
"""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

from cpqsim_host.outcome import RunOutput
from jinja2 import Environment, PackageLoader, select_autoescape

from cpqsim.exceptions_summary import clock, order_evidence
from cpqsim_scenarios.model import LoadedScenario

MAX_EVIDENCE_ROWS = 200


def _environment() -> Environment:
    env = Environment(
        loader=PackageLoader("cpqsim_scenarios", "templates"),
        autoescape=select_autoescape(["html", "j2"]),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["pct"] = lambda v: "n/a" if v is None else f"{v:.1%}"
    env.filters["num"] = lambda v, d=3: "unstable" if v is None else f"{v:,.{d}f}"
    env.filters["secs"] = lambda v: "n/a" if v is None else f"{v:,.0f} s"
    env.filters["clock"] = clock
    return env


def _image(path: Path) -> str:
    return "data:image/png;base64," + base64.b64encode(path.read_bytes()).decode("ascii")


def write_html(
    out_dir: Path,
    result: dict[str, Any],
    output: RunOutput,
    loaded: LoadedScenario,
    plots: list[str],
) -> Path:
    from cpqsim_scenarios.report import first_broken_order

    first = first_broken_order(result)
    evidence = []
    if first is not None:
        evidence = order_evidence(output.events, output.ledgers, first[1])[:MAX_EVIDENCE_ROWS]
    invariants = result["invariants"]
    html = (
        _environment()
        .get_template("report.html.j2")
        .render(
            r=result,
            description=loaded.scenario.description.strip(),
            invariants=invariants,
            broken=[i for i in invariants if not i["holds"]],
            first=first,
            evidence=evidence,
            plots=[(name, _image(out_dir / name)) for name in plots if (out_dir / name).exists()],
        )
    )
    target = out_dir / "report.html"
    target.write_text(html, encoding="utf-8")
    return target


def write_sweep_html(out_dir: Path, summary: dict[str, Any], plots: list[str]) -> Path:
    """``sweep.html``: how often each invariant broke (with intervals), the grid, the plots."""
    from cpqsim_scenarios.sweep import rate_ci

    runs = summary["runs"]
    html = (
        _environment()
        .get_template("sweep.html.j2")
        .render(
            s=summary,
            rate=rate_ci(summary["failed_runs"], runs),
            invariant_rates={
                name: rate_ci(n, runs) for name, n in summary["invariant_broken_in_runs"].items()
            },
            plots=[(name, _image(out_dir / name)) for name in plots if (out_dir / name).exists()],
        )
    )
    target = out_dir / "sweep.html"
    target.write_text(html, encoding="utf-8")
    return target
