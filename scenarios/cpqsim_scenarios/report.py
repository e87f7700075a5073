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

from cpqsim.context import EPOCH
from cpqsim.exceptions_summary import (
    OrderFacts,
    clock,
    fallout_queue,
    order_evidence,
    read_order_facts,
)
from cpqsim.ledger_series import busy_steps, queue_steps
from cpqsim_scenarios.model import LoadedScenario

STATE_ORDER = [
    "acknowledged",
    "inProgress",
    "pendingCancellation",
    "held",
    "completed",
    "partial",
    "failed",
    "rejected",
    "cancelled",
]
STATE_COLOURS = {
    "acknowledged": "#9ecae1",
    "inProgress": "#3182bd",
    "pendingCancellation": "#bcbddc",
    "held": "#e6550d",
    "completed": "#31a354",
    "partial": "#addd8e",
    "failed": "#a50f15",
    "rejected": "#54278f",
    "cancelled": "#969696",
}


def _pyplot():
    import matplotlib.pyplot as plt

    return plt


def _hours(seconds: Iterable[float]) -> list[float]:
    return [s / 3600 for s in seconds]


def plot_orders_by_state(output: RunOutput, ax=None, loaded: LoadedScenario | None = None, **_):
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


def _end_ms(output: RunOutput) -> int:
    return round(output.simulated_s * 1000)


def plot_downstream_queues(output: RunOutput, ax=None, loaded: LoadedScenario | None = None, **_):
    """Requests waiting for a server, per downstream system, read exactly from the ledger
    (a sampled queue misses every queue that forms and drains between two samples)."""
    ax = ax or _pyplot().subplots(figsize=(9, 4))[1]
    end_ms = _end_ms(output)
    for name, ledger in sorted(output.ledgers.items()):
        steps = queue_steps(ledger, end_ms)
        if steps:
            ax.step(
                [0.0, *(t / 3600 for t, _ in steps)], [0, *(n for _, n in steps)], where="post",
                label=f"{name} (peak {max(n for _, n in steps)})",
            )  # fmt: skip
        else:
            ax.plot([0, end_ms / 3_600_000], [0, 0], label=f"{name} (never queued)")
    ax.set_title("Downstream queue length (waiting for a server)")
    ax.set_xlabel("business time")
    ax.set_ylabel("requests")
    ax.legend(loc="upper right", fontsize="small")
    return ax


def plot_downstream_utilisation(
    output: RunOutput, ax=None, loaded: LoadedScenario | None = None, **_
):
    """Busy servers as a share of each downstream's servers, averaged per 5 minutes."""
    ax = ax or _pyplot().subplots(figsize=(9, 4))[1]
    end_ms = _end_ms(output)
    bucket_s = 300.0
    for name, ledger in sorted(output.ledgers.items()):
        profile = loaded.scenario.downstream.get(name) if loaded else None
        servers = profile.servers if profile else 1
        steps = busy_steps(ledger, end_ms)
        buckets = max(1, int(output.simulated_s // bucket_s) + 1)
        busy_time = [0.0] * buckets
        level, since = 0, 0.0
        for t, n in [*steps, (output.simulated_s, 0)]:
            _spread(busy_time, since, t, level, bucket_s)
            level, since = n, t
        share = [b / (bucket_s * servers) for b in busy_time]
        ax.plot([(i + 0.5) * bucket_s / 3600 for i in range(buckets)], share, label=name)
    ax.set_ylim(0, 1.05)
    ax.set_title("Downstream utilisation (busy servers / servers, 5-minute means)")
    ax.set_xlabel("business time")
    ax.set_ylabel("utilisation")
    ax.legend(loc="upper right", fontsize="small")
    return ax


def _spread(buckets: list[float], start: float, end: float, level: int, width: float) -> None:
    """Add ``level`` busy servers from ``start`` to ``end`` into fixed-width buckets."""
    t = start
    while t < end and level:
        i = min(int(t // width), len(buckets) - 1)
        upto = min(end, (i + 1) * width)
        buckets[i] += level * (upto - t)
        if upto <= t:
            break
        t = upto


def plot_order_lead_times(
    output: RunOutput,
    ax=None,
    loaded: LoadedScenario | None = None,
    facts: OrderFacts | None = None,
):
    """How long orders took from creation to their end (a histogram, log-spaced)."""
    ax = ax or _pyplot().subplots(figsize=(9, 4))[1]
    facts = facts or read_order_facts(output.events)
    times = [t for t in facts.lead_times_s if t > 0]
    if times:
        import numpy as np

        bins = np.logspace(np.log10(min(times)), np.log10(max(times) * 1.01), 40)
        ax.hist(times, bins=bins, color="#3182bd")
        ax.set_xscale("log")
        ordered = sorted(times)
        for q, style in ((0.5, "--"), (0.99, ":")):
            value = ordered[min(len(ordered) - 1, int(q * len(ordered)))]
            ax.axvline(
                value, color="#a50f15", linestyle=style, label=f"p{int(q * 100)} {value:,.0f} s"
            )
        ax.legend(loc="upper right", fontsize="small")
    else:
        ax.text(0.5, 0.5, "no order finished", ha="center", transform=ax.transAxes)
    ax.set_title(f"Order lead time, creation to end ({len(times):,} orders)")
    ax.set_xlabel("seconds (log)")
    ax.set_ylabel("orders")
    return ax


def plot_downstream_latency(output: RunOutput, ax=None, loaded: LoadedScenario | None = None, **_):
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


def plot_fallout_queue(
    output: RunOutput,
    ax=None,
    loaded: LoadedScenario | None = None,
    facts: OrderFacts | None = None,
):
    """Open fallout cases over time (left) and cumulative cancellations (right).

    Fallout is work for people: a queue that only grows means the desk is understaffed
    or the cases cannot be repaired; cancellations beside it show what fed it.
    """
    ax = ax or _pyplot().subplots(figsize=(9, 4))[1]
    facts = facts or read_order_facts(output.events)
    steps = fallout_queue(facts.repairs)
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
    cancelled = [t / 3600 for t in facts.cancelled_s]
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
    "downstream_utilisation.png": plot_downstream_utilisation,
    "downstream_latency.png": plot_downstream_latency,
    "fallout_queue.png": plot_fallout_queue,
    "order_lead_times.png": plot_order_lead_times,
}
TIME_PLOTS = set(PLOTS) - {"order_lead_times.png"}


def mark_windows(ax, loaded: LoadedScenario) -> None:
    """Shade outages (red, per system) and traffic spikes (blue) on a time axis."""
    seen: set[str] = set()
    for name, profile in sorted(loaded.scenario.downstream.items()):
        for outage in profile.faults.outages:
            label = f"{name} outage" if name not in seen else None
            seen.add(name)
            ax.axvspan(
                outage.start_s / 3600, outage.end_s / 3600, color="#fb6a4a", alpha=0.15, label=label
            )
    for n, spike in enumerate(loaded.scenario.traffic.spikes):
        label = f"spike x{spike.multiplier:g}" if n == 0 else None
        ax.axvspan(
            spike.start_s / 3600, spike.end_s / 3600, color="#6baed6", alpha=0.15, label=label
        )


def _one_legend(fig) -> None:
    """One legend for every axis of the figure (a twin axis keeps its entries), on top."""
    handles, labels = [], []
    for axis in fig.axes:
        more_handles, more_labels = axis.get_legend_handles_labels()
        handles, labels = handles + more_handles, labels + more_labels
        if axis.get_legend() is not None:
            axis.get_legend().remove()
    if handles:
        fig.axes[-1].legend(handles, labels, loc="upper left", fontsize="small")


def business_time(ax) -> None:
    """Label hours since start as the business clock (the run starts at EPOCH, 08:00)."""
    from matplotlib.ticker import FuncFormatter

    start = EPOCH.hour + EPOCH.minute / 60

    def label(hours: float, _pos=None) -> str:
        day, at = divmod(start + hours, 24)
        minutes = round(at * 60)
        text = f"{minutes // 60 % 24:02d}:{minutes % 60:02d}"
        return f"d{int(day) + 1} {text}" if day else text

    ax.xaxis.set_major_formatter(FuncFormatter(label))
    ax.set_xlabel("business time")


def _evidence(output: RunOutput, order_id: str, limit: int = 80) -> list[str]:
    rows = order_evidence(output.events, output.ledgers, order_id)
    lines = [f"| {clock(r.t_s)} | {r.source} | {r.what} | {r.detail} |" for r in rows[:limit]]
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


def _counts(counts: dict[str, int]) -> str:
    return ", ".join(f"{name} {n:,}" for name, n in counts.items())


def _breakdown_md(invariants: list[dict[str, Any]]) -> list[str]:
    """Each broken invariant's violations by downstream system and by kind."""
    broken = [inv for inv in invariants if not inv["holds"]]
    if not broken:
        return []
    md = [
        "",
        "Where the violations fall (by downstream system, `platform` when none is involved; "
        "and by kind):",
        "",
        "| invariant | by downstream | by kind |",
        "|---|---|---|",
    ]
    for inv in broken:
        md.append(
            f"| {inv['name']} | {_counts(inv.get('by_downstream', {}))} "
            f"| {_counts(inv.get('by_kind', {}))} |"
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
    plt = _pyplot()
    facts = read_order_facts(output.events)  # one reading of the log for every plot
    for filename, plot in PLOTS.items():
        fig, ax = plt.subplots(figsize=(9, 4))
        plot(output, ax, loaded=loaded, facts=facts)
        if filename in TIME_PLOTS:
            mark_windows(ax, loaded)
            business_time(ax)
            _one_legend(fig)
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
    md += _breakdown_md(result["invariants"])
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
