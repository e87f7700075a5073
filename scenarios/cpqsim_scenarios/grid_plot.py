"""A grid sweep at a glance: one panel per measure, cells coloured by value.

Two axes make heatmaps (first axis down, second across, each cell annotated with its
mean and, where the seeds allow, the 95 % interval); one axis makes lines with error
bars. Grids of three or more axes are shown over their first two axes, one figure row per
combination of the others (at most a few; the table in ``sweep.json`` has them all).
"""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

# (measure, its value key, title, format, colour scale limits or None to fit the data)
MEASURES = (
    ("violation_rate", "rate", "runs with a broken invariant", "{:.0%}", (0.0, 1.0)),
    ("lead_time_p99_s", "mean", "p99 order lead time (s)", "{:,.0f}", None),
    ("peak_utilisation", "mean", "busiest downstream's utilisation", "{:.0%}", (0.0, 1.0)),
)
MAX_ROWS = 4


def _value(cell: dict[str, Any], measure: str, key: str) -> float | None:
    return cell[measure][key]


def _label(cell: dict[str, Any], measure: str, key: str, fmt: str) -> str:
    v = cell[measure]
    if v[key] is None:
        return "n/a"
    text = fmt.format(v[key])
    if v.get("low") is not None and v.get("high") is not None:
        text += f"\n[{fmt.format(v['low'])}, {fmt.format(v['high'])}]"
    return text


def _gap(high: float | None, low: float | None) -> float:
    return 0.0 if high is None or low is None else high - low


def plot_grid(summary: dict[str, Any], path: Path) -> None:
    import matplotlib.pyplot as plt
    import numpy as np

    axes = summary["grid"]["axes"]
    cells = summary["grid"]["cells"]
    rest = axes[2:]
    combos = list(itertools.product(*(a["values"] for a in rest)))[:MAX_ROWS] or [()]
    fig, grid_axes = plt.subplots(
        len(combos), len(MEASURES), figsize=(5 * len(MEASURES), 4 * len(combos)), squeeze=False
    )
    for row, combo in enumerate(combos):
        fixed = dict(zip((a["path"] for a in rest), combo, strict=True))
        chosen = [c for c in cells if all(c["cell"][k] == v for k, v in fixed.items())]
        suffix = ", ".join(f"{k}={v:g}" for k, v in fixed.items())
        for col, (measure, key, title, fmt, limits) in enumerate(MEASURES):
            ax = grid_axes[row][col]
            first = axes[0]
            if len(axes) == 1:
                xs = first["values"]
                ys = [_value(c, measure, key) for c in chosen]
                lows = [c[measure]["low"] for c in chosen]
                highs = [c[measure]["high"] for c in chosen]
                err = [
                    [_gap(y, lo) for y, lo in zip(ys, lows, strict=True)],
                    [_gap(hi, y) for y, hi in zip(ys, highs, strict=True)],
                ]
                shown = [np.nan if y is None else y for y in ys]
                ax.errorbar(xs, shown, yerr=err, marker="o", capsize=4)
                ax.set_xlabel(first["path"])
                ax.set_ylabel(title)
            else:
                second = axes[1]
                values = np.full((len(first["values"]), len(second["values"])), np.nan)
                for c in chosen:
                    i = first["values"].index(c["cell"][first["path"]])
                    j = second["values"].index(c["cell"][second["path"]])
                    v = _value(c, measure, key)
                    values[i, j] = np.nan if v is None else v
                    ax.text(
                        j, i, _label(c, measure, key, fmt), ha="center", va="center", fontsize=8
                    )
                vmin, vmax = limits or (None, None)
                image = ax.imshow(values, cmap="OrRd", aspect="auto", vmin=vmin, vmax=vmax)
                fig.colorbar(image, ax=ax, shrink=0.8)
                ax.set_xticks(range(len(second["values"])), [f"{v:g}" for v in second["values"]])
                ax.set_yticks(range(len(first["values"])), [f"{v:g}" for v in first["values"]])
                ax.set_xlabel(second["path"])
                ax.set_ylabel(first["path"])
            ax.set_title(title + (f"\n({suffix})" if suffix else ""), fontsize=10)
    seeds = len(set(summary.get("seeds", [])))
    fig.suptitle(
        f"{summary['scenario']} ({summary['policy']}): grid over {seeds} seed(s) per cell, "
        "95 % intervals in brackets"
    )
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
