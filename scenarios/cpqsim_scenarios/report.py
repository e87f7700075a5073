"""Plots and a Markdown report of one scenario run.

People read a run by looking: orders piling up in a state, a downstream queue growing
while its latency climbs. The plots are plain matplotlib (Agg, no display needed) and
each helper takes an optional ``Axes`` so notebooks can compose them.

The report is written from what the run kept as it went: ``result.json``'s counts, the
samples (orders per status, queues), the latency of every downstream request, and the
one timeline it shows, found by scanning the event log for that order. matplotlib is
imported only when a plot is drawn (importing it costs seconds), so a verdict never
waits for it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from cpqsim_host.outcome import RunOutput

from cpqsim_scenarios.model import LoadedScenario

STATE_ORDER = ["acknowledged", "inProgress", "held", "completed", "failed", "cancelled"]
STATE_COLOURS = {
    "acknowledged": "#9ecae1",
    "inProgress": "#3182bd",
    "held": "#e6550d",
    "completed": "#31a354",
    "failed": "#a50f15",
    "cancelled": "#969696",
}


def _pyplot():
    import matplotlib.pyplot as plt

    return plt


def _hours(seconds: Iterable[float]) -> list[float]:
    return [s / 3600 for s in seconds]


def plot_orders_by_state(output: RunOutput, ax=None):
    """Open orders stacked by state (left axis) and cumulative completions (right axis).

    Completed orders would dwarf everything else on one stack, so they get their own
    axis: what matters is whether open and held orders pile up.
    """
    ax = ax or _pyplot().subplots(figsize=(9, 4))[1]
    s = output.samples
    hours = _hours(s.t)
    open_states = [
        st
        for st in STATE_ORDER
        if st not in ("completed", "cancelled") and any(c.get(st) for c in s.orders_by_state)
    ]
    series = [[c.get(st, 0) for c in s.orders_by_state] for st in open_states]
    if open_states:
        ax.stackplot(
            hours, *series, labels=open_states, colors=[STATE_COLOURS[x] for x in open_states]
        )
    ax.set_title("Orders by state")
    ax.set_xlabel("hours since start")
    ax.set_ylabel("open orders (stacked)")
    done = ax.twinx()
    done.plot(
        hours,
        [c.get("completed", 0) for c in s.orders_by_state],
        color=STATE_COLOURS["completed"],
        label="completed (cumulative)",
    )
    done.set_ylabel("completed orders")
    handles = ax.get_legend_handles_labels()[0] + done.get_legend_handles_labels()[0]
    labels = ax.get_legend_handles_labels()[1] + done.get_legend_handles_labels()[1]
    ax.legend(handles, labels, loc="upper left", fontsize="small")
    return ax


def plot_downstream_queues(output: RunOutput, ax=None):
    """Requests waiting for a server, per downstream system."""
    ax = ax or _pyplot().subplots(figsize=(9, 4))[1]
    for name, values in sorted(output.samples.queue_length.items()):
        ax.step(_hours(output.samples.t), values, where="post", label=name)
    ax.set_title("Downstream queue length (waiting requests)")
    ax.set_xlabel("hours since start")
    ax.set_ylabel("requests")
    ax.legend(loc="upper right", fontsize="small")
    return ax


def plot_downstream_latency(output: RunOutput, ax=None):
    """Time in system per request (queue + service; stalls show as outliers)."""
    ax = ax or _pyplot().subplots(figsize=(9, 4))[1]
    for name, points in sorted(output.latencies.items()):
        if points:
            ax.scatter(
                _hours([t for t, _ in points]), [v for _, v in points], s=6, alpha=0.5, label=name
            )
    ax.set_yscale("symlog", linthresh=1)
    ax.set_title("Downstream latency per request")
    ax.set_xlabel("hours since start")
    ax.set_ylabel("seconds (symlog)")
    ax.legend(loc="upper right", fontsize="small", markerscale=2)
    return ax


PLOTS = {
    "orders_by_state.png": plot_orders_by_state,
    "downstream_queues.png": plot_downstream_queues,
    "downstream_latency.png": plot_downstream_latency,
}


def _events_about(events: Iterable[Any], subject: str) -> Iterable[Any]:
    """One subject's events: a streamed log scans its file for them."""
    of_subject = getattr(events, "of_subject", None)
    if of_subject is not None:
        return of_subject(subject)
    return (e for e in events if e.subject == subject)


def _timeline(output: RunOutput, order_id: str, limit: int = 40) -> list[str]:
    lines = []
    for e in _events_about(output.events, f"order/{order_id}"):
        detail = {
            k: v
            for k, v in e.data.items()
            if k in ("task_id", "attempt", "found", "treated_as", "via", "reason")
        }
        text = ", ".join(f"{k} {v}" for k, v in detail.items())
        lines.append(f"| {e.time} | {e.name} | {text} |")
    return lines[:limit]


def write_report(out_dir: Path, result: dict[str, Any], output: RunOutput, loaded: LoadedScenario):
    plt = _pyplot()
    for filename, plot in PLOTS.items():
        fig, ax = plt.subplots(figsize=(9, 4))
        plot(output, ax)
        fig.tight_layout()
        fig.savefig(out_dir / filename, dpi=110)
        plt.close(fig)
    verdict = (
        "PASS: every invariant holds"
        if result["verdict"] == "pass"
        else ("FAIL: invariants violated")
    )
    md = [
        f"# {result['scenario']} — {verdict}",
        "",
        f"- scenario file: `{result['scenario_file']}`",
        f"- runtime: `{result['runtime']}`, seed `{result['seed']}`, policy `{result['policy']}`",
        f"- simulated: {result['simulated_s'] / 3600:.1f} h; events: {result['events']}; "
        f"event log sha256: `{result['event_log_sha256']}`",
        "",
        loaded.scenario.description.strip(),
        "",
        "## Invariants",
        "",
        "| invariant | holds | violations | example |",
        "|---|---|---|---|",
    ]
    for inv in result["invariants"]:
        example = inv["examples"][0] if inv["examples"] else ""
        md.append(
            f"| {inv['name']} | {'yes' if inv['holds'] else '**NO**'} | {inv['violations']} "
            f"| {example} |"
        )
    md += ["", "## Orders", "", "| state | orders |", "|---|---|"]
    md += [f"| {k} | {v} |" for k, v in result["orders"]["by_state"].items()]
    journeys = ", ".join(f"{k.replace('_', ' ')} {v:,}" for k, v in result["journeys"].items())
    md += ["", f"Journeys: {journeys}.", "", "## Downstream systems", ""]
    md += [
        "| system | calls | rejected | side effects | duplicates | p50 s | p99 s |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, d in result["downstream"].items():
        md.append(
            f"| {name} | {d['calls']} | {d['rejected']} | {d['side_effects']} | "
            f"{d['duplicates']} | {d['latency_p50_s']} | {d['latency_p99_s']} |"
        )
    md += ["", "## Plots", ""]
    md += [f"![{f}]({f})" for f in PLOTS]
    broken = [i for i in result["invariants"] if not i["holds"]]
    if broken:
        first = broken[0]["examples"][0]
        match = re.search(r"ord-[\w-]+?(?=[-:/ ]item|:|\b)", first)
        if match:
            order_id = match.group(0).split("-item")[0]
            md += [
                "",
                f"## Timeline of {order_id} (first example of {broken[0]['name']})",
                "",
                "| time | event | detail |",
                "|---|---|---|",
                *_timeline(output, order_id),
            ]
    (out_dir / "report.md").write_text("\n".join(md) + "\n", encoding="utf-8")
