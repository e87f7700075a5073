"""The runtime contract: one set of behaviour specifications, run on every runtime.

In the style of a storage library's backend contract suite, each specification takes a
``runtime`` fixture parametrized over ``sim`` (SimPy, virtual time), ``inprocess`` (the
live actors as objects on one asyncio loop) and ``ray`` (live Ray actors, one Ray
session shared by the test run). A runtime is found by name, exactly as the CLI finds it.
Faults are injected through the scenario (``platform_faults``), so every runtime runs
the same fault: the sim by dropping and rebuilding its order state, in-process by
throwing an actor object away, Ray by a real ``ray.kill``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from cpqsim_host import registry
from cpqsim_host.outcome import RunOutput
from cpqsim_host.scenario import LoadedScenario, PlatformFault

from cpqsim.invariants import InvariantResult, check_invariants
from cpqsim_scenarios.model import load_scenario

LIBRARY = Path(__file__).resolve().parents[2] / "scenarios" / "library"

# Live runs at this scale: 1 virtual second = 0.5 wall ms, so a short day takes seconds
# and one machine's event loop keeps up with the library scenarios' load.
LIVE_TIME_SCALE = 0.0005

RUNTIMES = [
    pytest.param("sim", id="sim"),
    pytest.param("inprocess", id="inprocess"),
    pytest.param("ray", id="ray", marks=pytest.mark.ray),
]


def variant(
    name: str,
    *,
    traffic: dict[str, Any] | None = None,
    downstream: dict[str, dict[str, Any]] | None = None,
    faults: list[PlatformFault] | None = None,
    **fields: Any,
) -> LoadedScenario:
    """A library scenario with some fields replaced (a short day, more load, faults)."""
    loaded = load_scenario(LIBRARY / f"{name}.yaml")
    s = loaded.scenario
    update: dict[str, Any] = {"time_scale": LIVE_TIME_SCALE, **fields}
    if traffic:
        update["traffic"] = s.traffic.model_copy(update=traffic)
    if downstream:
        profiles = dict(s.downstream)
        for system, changes in downstream.items():
            changed = dict(changes)
            if "faults" in changed:
                changed["faults"] = profiles[system].faults.model_copy(update=changed["faults"])
            profiles[system] = profiles[system].model_copy(update=changed)
        update["downstream"] = profiles
    if faults is not None:
        update["platform_faults"] = faults
    return loaded.model_copy(update={"scenario": s.model_copy(update=update)})


#: The fields of an order fact worth a line of its timeline.
TIMELINE_KEYS = ("task_id", "attempt", "ok", "error", "case_id", "owner", "status", "resolution")


@dataclass
class Judged:
    output: RunOutput
    invariants: dict[str, InvariantResult]

    @property
    def verdict(self) -> str:
        return "pass" if all(r.holds for r in self.invariants.values()) else "fail"

    @property
    def broken(self) -> set[str]:
        return {n for n, r in self.invariants.items() if not r.holds}

    def events(self, name: str) -> list:
        return [e for e in self.output.events if e.name == name]

    def why(self) -> dict[str, list[str]]:
        """Each broken invariant's first examples, with the timeline of every order they
        name: a failure seen once on a loaded machine must say what the order went through."""
        out: dict[str, list[str]] = {}
        for name in sorted(self.broken):
            examples = self.invariants[name].examples[:2]
            lines = list(examples)
            for order_id in sorted(set(re.findall(r"ord-[\w-]+", " ".join(examples)))):
                lines.append(f"timeline of {order_id}:")
                lines += [
                    f"  {e.time} {e.name} "
                    + " ".join(f"{k}={e.data[k]}" for k in TIMELINE_KEYS if k in e.data)
                    for e in self.output.events
                    if e.data.get("order_id") == order_id
                ]
            out[name] = lines
        return out


class Runtime:
    """A runtime under contract: run a scenario on it, judge the run as the CLI would."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.run_fn = registry.load(name)

    def run(self, loaded: LoadedScenario, seed: int | None = None) -> Judged:
        seed = loaded.scenario.seed if seed is None else seed
        output = self.run_fn(loaded, seed, None)
        results = check_invariants(
            output.events, output.ledgers, loaded.catalog, None, loaded.approval_policy
        )
        return Judged(output=output, invariants={r.name: r for r in results})

    def __repr__(self) -> str:
        return f"Runtime({self.name})"


@pytest.fixture(params=RUNTIMES)
def runtime(request) -> Runtime:
    if request.param == "ray":
        request.getfixturevalue("ray_cluster")
    return Runtime(request.param)


@pytest.fixture(params=[p for p in RUNTIMES if p.id != "sim"])
def live_runtime(request) -> str:
    """The runtimes with real actors (where a crash between two actors can happen)."""
    if request.param == "ray":
        request.getfixturevalue("ray_cluster")
    return request.param
