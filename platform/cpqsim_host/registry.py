"""Runtimes by name, so the CLI and the runner never import a runtime package.

A runtime is a function ``run(loaded, seed, progress) -> RunOutput``. Each is registered
under the ``cpqsim.runtimes`` entry-point group in ``pyproject.toml``; the built-in table
below is the fallback for a checkout whose package metadata is stale. Dependencies thus
point one way: the scenario shell knows runtimes by name, the Ray runtime imports the
host, and nothing imports the Ray runtime but this lookup.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from importlib.metadata import entry_points
from typing import Any

RUNTIME_GROUP = "cpqsim.runtimes"
SWEEP_GROUP = "cpqsim.sweep_executors"
SERVER_GROUP = "cpqsim.servers"

_BUILTIN = {
    RUNTIME_GROUP: {
        "sim": "cpqsim_scenarios.sim.runtime:run_sim",
        "inprocess": "cpqsim_actors.scenario_runner:run_inprocess",
        "ray": "cpqsim_actors.scenario_runner:run_on_ray",
    },
    SWEEP_GROUP: {
        "local": "cpqsim_scenarios.sweep:local_executor",
        "ray": "cpqsim_actors.sweep:ray_executor",
    },
    SERVER_GROUP: {
        "live": "cpqsim_actors.serve:serve",
    },
}

# What each runtime is, for --help and docs.
RUNTIME_HELP = {
    "sim": "SimPy, virtual time, one process, byte-for-byte reproducible",
    "inprocess": "the live actors as objects on one asyncio loop (no Ray), scaled real time",
    "ray": "live Ray actors, scaled real time",
}


def _table(group: str) -> dict[str, str]:
    table = dict(_BUILTIN[group])
    for ep in entry_points(group=group):
        table[ep.name] = ep.value
    return table


def names(group: str = RUNTIME_GROUP) -> list[str]:
    return list(_table(group))


def load(name: str, group: str = RUNTIME_GROUP) -> Callable[..., Any]:
    """The function registered as ``name``; ``KeyError`` naming the known ones."""
    table = _table(group)
    if name not in table:
        raise KeyError(f"{name!r} is not one of {', '.join(table)}")
    module, _, attr = table[name].partition(":")
    return getattr(importlib.import_module(module), attr)
