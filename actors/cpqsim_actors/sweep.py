"""Seed sweeps as Ray tasks: the scale-out path for many independent sim runs.

Each seed is a plain function call (the sweep's task, handed in by the caller) shipped as
a Ray task; results stream back as they finish. Locally this uses the embedded Ray; with
``RAY_ADDRESS`` the same sweep runs on a cluster (whose workers need cpqsim installed).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from cpqsim_actors.handles import ray_init

SeedTask = Callable[[str, int], dict[str, Any]]


def ray_executor(workers: int = 0) -> Callable[[SeedTask, str, list[int]], Iterable[dict]]:
    """``workers`` is the cluster's business (one CPU per task); accepted for symmetry."""

    def execute(task: SeedTask, scenario_path: str, seeds: list[int]) -> Iterable[dict]:
        import ray

        ray_init()
        remote = ray.remote(num_cpus=1)(task)
        pending = [remote.remote(scenario_path, seed) for seed in seeds]
        while pending:
            done, pending = ray.wait(pending, num_returns=1)
            yield ray.get(done[0])

    return execute
