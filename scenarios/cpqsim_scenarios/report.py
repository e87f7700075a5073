"""Plots and a Markdown report of one scenario run.

People read a run by looking: orders piling up in a state, a downstream queue growing
while its latency climbs. The plots are plain matplotlib (Agg, no display needed) and
each helper takes an optional ``Axes`` so notebooks can compose them.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt
from cpqsim_host.outcome import RunOutput

from cpqsim.exceptions_summary import (
    fallout_queue,
    order_evidence,
    repairs,
    seconds_since_start,
)
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


def _hours(seconds: list[float]) -> list[float]:
    return [s / 3600 for s in seconds]


def plot_orders_by_state(output: RunOutput, ax=None):
    """Open orders stacked by state (left axis) and cumulative completions (right axis).

    Completed orders would dwarf everything else on one stack, so they get their own
    axis: what matters is whether open and held orders pile up.
    """
    ax = ax or plt.subplots(figsize=(9, 4))[1]
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
    ax = ax or plt.subplots(figsize=(9, 4))[1]
    for name, values in sorted(output.samples.queue_length.items()):
        ax.step(_hours(output.samples.t), values, where="post", label=name)
    ax.set_title("Downstream queue length (waiting requests)")
    ax.set_xlabel("hours since start")
    ax.set_ylabel("requests")
    ax.legend(loc="upper right", fontsize="small")
    return ax


def plot_downstream_latency(output: RunOutput, ax=None):
    """Time in system per request (queue + service; stalls show as outliers)."""
    ax = ax or plt.subplots(figsize=(9, 4))[1]
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


def plot_fallout_queue(output: RunOutput, ax=None):
    """Open fallout cases over time (left) and cumulative cancellations (right).

    Fallout is work for people: a queue that only grows means the desk is understaffed
    or the cases cannot be repaired; cancellations beside it show what fed it.
    """
    ax = ax or plt.subplots(figsize=(9, 4))[1]
    steps = fallout_queue(repairs(output.events))
    end_h = output.simulated_s / 3600
    if steps:
        hours = [0.0, *(t / 3600 for t, _ in steps), end_h]
        counts = [0, *(n for _, n in steps), steps[-1][1]]
        ax.step(hours, counts, where="post", color="#e6550d", label="open fallout cases")
    else:
        ax.plot([0, end_h], [0, 0], color="#e6550d", label="open fallout cases (none)")
    ax.set_title("Fallout queue")
    ax.set_xlabel("hours since start")
    ax.set_ylabel("open cases")
    ax.set_xlim(0, max(end_h, 1e-9))
    cancelled = [
        seconds_since_start(e.time) / 3600 for e in output.events if e.name == "order.cancelled"
    ]
    handles, labels = ax.get_legend_handles_labels()
    if cancelled:
        right = ax.twinx()
        right.step(
            [0.0, *cancelled, end_h],
            [0, *range(1, len(cancelled) + 1), len(cancelled)],
            where="post",
            color="#969696",
            label="orders cancelled (cumulative)",
        )
        right.set_ylabel("orders cancelled")
        more = right.get_legend_handles_labels()
        handles, labels = handles + more[0], labels + more[1]
    ax.legend(handles, labels, loc="upper left", fontsize="small")
    return ax


PLOTS = {
    "orders_by_state.png": plot_orders_by_state,
    "downstream_queues.png": plot_downstream_queues,
    "downstream_latency.png": plot_downstream_latency,
    "fallout_queue.png": plot_fallout_queue,
}


def _clock(t_s: float) -> str:
    hours, rest = divmod(t_s, 3600)
    minutes, seconds = divmod(rest, 60)
    return f"{int(hours):02d}:{int(minutes):02d}:{seconds:06.3f}"


def _evidence(output: RunOutput, order_id: str, limit: int = 80) -> list[str]:
    rows = order_evidence(output.events, output.ledgers, order_id)
    lines = [f"| {_clock(r.t_s)} | {r.source} | {r.what} | {r.detail} |" for r in rows[:limit]]
    if len(rows) > limit:
        lines.append(f"| … | | {len(rows) - limit} more rows | |")
    return lines


def _capacity_section(result: dict[str, Any]) -> list[str]:
    cap = result.get("capacity")
    if not cap:
        return []

    def num(value, fmt="{:.3f}"):
        return "unstable" if value is None else fmt.format(value)

    md = [
        "",
        "## Capacity: predicted (Erlang-C) and measured",
        "",
        "Predicted at the base arrival rate from the mix's decomposition; measured over the "
        "arrival window. Outages, spikes, retries and reconciliation are what the "
        "simulation adds to the formula.",
        "",
        "| system | utilisation predicted | measured | mean wait s predicted | measured "
        "| time in system s predicted | measured | saturates at orders/h |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for system, p in cap["predicted"].items():
        m = cap["measured"].get(system, {})
        md.append(
            f"| {system} | {num(p['utilisation'], '{:.1%}')} "
            f"| {num(m.get('utilisation'), '{:.1%}')} | {num(p['mean_wait_s'])} "
            f"| {num(m.get('mean_wait_s'))} | {num(p['mean_in_system_s'])} "
            f"| {num(m.get('mean_in_system_s'))} | {p['saturating_orders_per_hour']:,.0f} |"
        )
    return md


def _exceptions_section(result: dict[str, Any]) -> list[str]:
    ex = result.get("exceptions")
    if not ex:
        return []
    f, c = ex["fallout"], ex["cancellations"]

    def secs(v):
        return "n/a" if v is None else f"{v:,.0f} s"

    md = [
        "",
        "## Order exceptions",
        "",
        f"- fallout cases: {f['opened']} opened, {f['resolved']} repaired, "
        f"{f['open_at_end']} still open at the end (peak {f['peak_open']} open at once); "
        f"repair time p50 {secs(f['repair_time_p50_s'])}, p90 {secs(f['repair_time_p90_s'])}, "
        f"max {secs(f['repair_time_max_s'])}; repairs refused for want of authority: "
        f"{f['repairs_refused']}",
    ]
    if f["by_owner"]:
        owners = ", ".join(f"{k} {v}" for k, v in f["by_owner"].items())
        kinds = ", ".join(f"{k} {v}" for k, v in f["by_kind"].items())
        md.append(f"- cases by owner: {owners}; by kind: {kinds}")
    md.append(
        f"- cancellations accepted: {c['accepted_by_customer']} by customers, "
        f"{c['accepted_by_operations']} by operations, {c['rollbacks']} rollbacks "
        f"(all-or-nothing orders undoing a partial result); orders cancelled: "
        f"{c['orders_cancelled']}"
    )
    if not any(d["compensations_requested"] for d in ex["compensations"].values()):
        return [*md, "- no compensation was needed"]
    md += [
        "",
        "| system | compensations asked | undone | failed attempts | references still live |",
        "|---|---|---|---|---|",
    ]
    for name, d in ex["compensations"].items():
        md.append(
            f"| {name} | {d['compensations_requested']} | {d['undone']} | {d['failed']} "
            f"| {d['live_references']} |"
        )
    return md


def first_broken_order(result: dict[str, Any]) -> tuple[str, str] | None:
    """The first broken invariant and the order its first example names, if any."""
    for inv in result["invariants"]:
        if inv["holds"] or not inv["examples"]:
            continue
        match = re.search(r"ord-[\w-]+?(?=[-:/ ]item|:|\b)", inv["examples"][0])
        if match:
            return inv["name"], match.group(0).split("-item")[0]
        return None
    return None


def write_report(out_dir: Path, result: dict[str, Any], output: RunOutput, loaded: LoadedScenario):
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
    md += _exceptions_section(result)
    md += _capacity_section(result)
    md += ["", "## Plots", ""]
    md += [f"![{f}]({f})" for f in PLOTS]
    first = first_broken_order(result)
    if first:
        invariant, order_id = first
        md += [
            "",
            f"## Timeline of {order_id} (first example of {invariant})",
            "",
            "The platform's facts beside what each downstream system recorded about this "
            "order, in time order (hh:mm:ss since start): where the two disagree is "
            "where the invariant broke.",
            "",
            "| time | source | what | detail |",
            "|---|---|---|---|",
            *_evidence(output, order_id),
        ]
    (out_dir / "report.md").write_text("\n".join(md) + "\n", encoding="utf-8")
    from cpqsim_scenarios.html_report import write_html

    write_html(out_dir, result, output, loaded, list(PLOTS))
