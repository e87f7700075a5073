"""Parameter grids: numeric fields by path, each cell validated again, bounded, and a
sweep over them summarised per cell with confidence intervals."""

from __future__ import annotations

from pathlib import Path

import pytest

from cpqsim_scenarios import grid, sweep
from cpqsim_scenarios.errors import InputInvalid
from cpqsim_scenarios.model import load_scenario

LIBRARY = Path(__file__).resolve().parents[2] / "scenarios" / "library"


@pytest.fixture(scope="module")
def loaded():
    return load_scenario(LIBRARY / "happy_path.yaml")


def refusal(loaded, *specs: str, seeds: int = 1) -> str:
    with pytest.raises(InputInvalid) as caught:
        grid.parse_axes(list(specs), loaded, seeds)
    return " ".join(f"{p.where}: {p.message}" for p in caught.value.problems)


def test_numeric_fields_by_path_including_mapping_keys_and_indices(loaded):
    axes = grid.parse_axes(
        [
            "traffic.arrivals_per_hour=20, 40",
            "downstream.provisioning.servers=1,2,4",
            "traffic.mix[0].weight=1,5",
        ],
        loaded,
        seeds=3,
    )
    assert [a.values for a in axes] == [(20.0, 40.0), (1, 2, 4), (1, 5)]
    assert isinstance(axes[1].values[0], int)  # an int field keeps whole numbers
    every = grid.cells(axes)
    assert len(every) == 12
    assert every[0] == (
        ("traffic.arrivals_per_hour", 20.0),
        ("downstream.provisioning.servers", 1),
        ("traffic.mix[0].weight", 1),
    )


@pytest.mark.parametrize(
    ("spec", "said"),
    [
        ("policy=1,2", "not a number"),
        ("name=1", "names a str field"),
        ("traffic.arrivals_per_huor=1", "no field 'arrivals_per_huor'"),
        ("downstream.billin.servers=1", "no field 'billin'"),
        ("traffic.mix[99].weight=1", "no item [99]"),
        ("traffic.arrivals_per_hour=", "no values given"),
        ("traffic.arrivals_per_hour", "PATH=v1,v2"),
        ("traffic.arrivals_per_hour=ten", "'ten' is not a number"),
        ("traffic.arrivals_per_hour=nan", "not a finite number"),
        ("downstream.billing.servers=1.5", "whole numbers"),
        ("traffic.arrivals_per_hour=" + ",".join(str(i) for i in range(1, 60)), "at most 50"),
    ],
)
def test_a_grid_that_names_no_numeric_field_or_no_values_is_refused(loaded, spec, said):
    assert said in refusal(loaded, spec)


def test_a_huge_grid_is_capped_and_says_so(loaded):
    values = ",".join(str(v) for v in range(1, 41))
    said = refusal(
        loaded,
        f"traffic.arrivals_per_hour={values}",
        f"downstream.billing.servers={values}",
        seeds=10,
    )
    assert "16,000 runs" in said and "at most 10,000" in said


def test_a_cell_the_field_refuses_is_refused_naming_the_cell(loaded):
    (axis,) = grid.parse_axes(["downstream.billing.servers=0,2"], loaded, 1)
    first, second = grid.cells([axis])
    with pytest.raises(InputInvalid) as caught:
        grid.apply(loaded, first)
    (problem,) = caught.value.problems
    assert "downstream.billing.servers" in problem.where
    assert "downstream.billing.servers=0" in problem.message
    assert grid.apply(loaded, second).scenario.downstream["billing"].servers == 2


def test_confidence_intervals_of_rates_and_means():
    assert sweep.rate_ci(0, 10) == {"rate": 0.0, "low": 0.0, "high": 0.2775}
    assert sweep.rate_ci(10, 10)["low"] == pytest.approx(0.7225, abs=1e-4)
    ci = sweep.mean_ci([10.0, 12.0, 14.0])
    assert ci["mean"] == 12.0 and ci["low"] == pytest.approx(12 - 4.303 * 2 / 3**0.5, abs=1e-3)
    assert sweep.mean_ci([5.0]) == {"mean": 5.0, "low": None, "high": None}


def test_a_grid_sweep_runs_every_cell_over_the_same_seeds(tmp_path):
    short = tmp_path / "short.yaml"
    text = (LIBRARY / "happy_path.yaml").read_text()
    text = text.replace(
        "catalog: catalog/enterprise.yaml", f"catalog: {LIBRARY}/catalog/enterprise.yaml"
    )
    short.write_text(text.replace("duration_s: 28800", "duration_s: 3600"))
    loaded = load_scenario(short)
    axes = grid.parse_axes(["downstream.provisioning.servers=1,4"], loaded, 2)

    summary = sweep.sweep(short, [1, 2], sweep.local_executor(1), axes=axes)

    cells = summary["grid"]["cells"]
    assert [c["cell"] for c in cells] == [
        {"downstream.provisioning.servers": 1},
        {"downstream.provisioning.servers": 4},
    ]
    assert all(c["runs"] == 2 for c in cells) and summary["runs"] == 4
    # fewer servers, busier servers (same seeds: the same orders arrive)
    busy = [c["utilisation"]["provisioning"]["mean"] for c in cells]
    assert busy[0] > busy[1] > 0
    out = sweep.write_sweep(tmp_path / "out", summary)
    assert (out / "grid.png").stat().st_size > 10_000 and (out / "sweep.json").exists()
    page = (out / "sweep.html").read_text()
    assert "runs broke an invariant" in page and "downstream.provisioning.servers" in page
    assert "data:image/png;base64," in page
