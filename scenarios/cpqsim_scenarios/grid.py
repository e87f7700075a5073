"""Parameter grids: the same scenario with numeric fields varied, each cell over the seeds.

``--grid traffic.arrivals_per_hour=100,200,400 --grid downstream.provisioning.servers=2,4``
makes six cells; each cell is the scenario with those two fields replaced and validated
again (a value the field refuses is exit 2 naming the grid option), run over the same
seeds so cells differ only by the parameters (common random numbers). Grids are bounded:
at most ``MAX_VALUES_PER_AXIS`` values per field and ``MAX_RUNS`` runs in all.
"""

from __future__ import annotations

import itertools
import math
import re
from dataclasses import dataclass
from typing import Any

from cpqsim_host.scenario import LoadedScenario, Scenario
from pydantic import ValidationError

from cpqsim.configuration import check_configuration
from cpqsim_scenarios.errors import InputInvalid, Problem

MAX_VALUES_PER_AXIS = 50
MAX_AXES = 4
MAX_RUNS = 10_000
_STEP = re.compile(r"([A-Za-z_][\w-]*)|\[(\d+)\]")

Overrides = tuple[tuple[str, float], ...]  # (path, value) pairs: picklable, hashable


@dataclass(frozen=True)
class Axis:
    path: str
    values: tuple[float, ...]


def _refuse(path: str, message: str) -> InputInvalid:
    return InputInvalid("--grid", [Problem(path, message)])


def _steps(path: str) -> list[str | int]:
    steps: list[str | int] = []
    for part in path.split("."):
        found = list(_STEP.finditer(part))
        if not part or "".join(m.group(0) for m in found) != part:
            raise _refuse(path, f"{part!r} is not a field name or an index such as mix[0]")
        steps += [m.group(1) if m.group(1) else int(m.group(2)) for m in found]
    return steps


def _walk(document: Any, steps: list[str | int], path: str) -> tuple[Any, str | int]:
    """The container holding the field at ``steps`` and the key of the field in it."""
    node = document
    for n, step in enumerate(steps):
        last = n == len(steps) - 1
        if isinstance(step, int):
            if not isinstance(node, list) or step >= len(node):
                raise _refuse(path, f"no item [{step}] there")
        elif not isinstance(node, dict) or step not in node:
            near = sorted(node) if isinstance(node, dict) else []
            hint = f"; fields here: {', '.join(near[:12])}" if near else ""
            raise _refuse(path, f"no field {step!r}{hint}")
        if last:
            return node, step
        node = node[step]
    raise _refuse(path, "empty path")


def _number(text: str, path: str, integral: bool) -> float:
    try:
        value = float(text)
    except ValueError:
        raise _refuse(path, f"{text!r} is not a number") from None
    if not math.isfinite(value):
        raise _refuse(path, f"{text!r} is not a finite number")
    if integral and value != int(value):
        raise _refuse(path, f"{text!r}: this field takes whole numbers")
    return int(value) if integral else value


def parse_axes(specs: list[str], loaded: LoadedScenario, seeds: int) -> list[Axis]:
    """``PATH=v1,v2,...`` options, checked against the scenario: numeric fields only."""
    if len(specs) > MAX_AXES:
        raise _refuse("", f"at most {MAX_AXES} --grid options ({len(specs)} given)")
    document = loaded.scenario.model_dump(mode="python")
    axes: list[Axis] = []
    for spec in specs:
        path, eq, text = spec.partition("=")
        path = path.strip()
        if not eq or not path:
            raise _refuse(
                spec[:80], "write it as PATH=v1,v2,... e.g. traffic.arrivals_per_hour=100,200"
            )
        if any(a.path == path for a in axes):
            raise _refuse(path, "given twice: put all its values in one --grid")
        container, key = _walk(document, _steps(path), path)
        current = container[key]
        if isinstance(current, bool) or not isinstance(current, int | float):
            kind = type(current).__name__
            raise _refuse(path, f"names a {kind} field, not a number: a grid varies numbers")
        parts = [p.strip() for p in text.split(",") if p.strip()]
        if not parts:
            raise _refuse(path, "no values given")
        if len(parts) > MAX_VALUES_PER_AXIS:
            raise _refuse(path, f"{len(parts)} values; at most {MAX_VALUES_PER_AXIS} per field")
        values = tuple(dict.fromkeys(_number(p, path, isinstance(current, int)) for p in parts))
        axes.append(Axis(path, values))
    cells = math.prod(len(a.values) for a in axes)
    if cells * seeds > MAX_RUNS:
        raise _refuse(
            "",
            f"{cells:,} cells x {seeds:,} seeds = {cells * seeds:,} runs; a sweep runs at "
            f"most {MAX_RUNS:,} (fewer values or seeds)",
        )
    return axes


def cells(axes: list[Axis]) -> list[Overrides]:
    """Every combination of the axes' values, first axis slowest."""
    if not axes:
        return [()]
    return [
        tuple(zip((a.path for a in axes), combo, strict=True))
        for combo in itertools.product(*(a.values for a in axes))
    ]


def apply(loaded: LoadedScenario, overrides: Overrides) -> LoadedScenario:
    """The scenario with ``overrides`` in place, validated again like the file was."""
    if not overrides:
        return loaded
    document = loaded.scenario.model_dump(mode="python")
    for path, value in overrides:
        container, key = _walk(document, _steps(path), path)
        container[key] = value
    where = ", ".join(f"{p}={v:g}" for p, v in overrides)
    try:
        scenario = Scenario.model_validate(document)
    except ValidationError as exc:
        problems = [
            Problem(".".join(str(x) for x in e["loc"]), f"{e['msg']} (in the cell {where})")
            for e in exc.errors()
        ]
        raise InputInvalid("--grid", problems) from None
    problems = [
        Problem(f"traffic.mix[{i}].{v.path}", f"{v.message} (in the cell {where})")
        for i, mix in enumerate(scenario.traffic.mix)
        for v in check_configuration(loaded.catalog, mix.lines)
    ]
    if problems:
        raise InputInvalid("--grid", problems)
    return loaded.model_copy(update={"scenario": scenario})
