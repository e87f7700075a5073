"""Seed sweeps as Ray tasks: the scale-out path for many independent sim runs.

Each seed is a plain function call (``cpqsim_scenarios.sweep.run_seed``) shipped as a
Ray task; results stream back as they finish. Locally this uses the embedded Ray; with
``RAY_ADDRESS`` the same sweep runs on a cluster (whose workers need cpqsim installed).
"""

from __future__ import annotations

from collections.abc import Iterable

from cpqsim_actors.handles import ray_init
from cpqsim_scenarios.sweep import Executor, SeedResult, run_seed


def ray_executor() -> Executor:
    def execute(scenario_path: str, seeds: list[int]) -> Iterable[SeedResult]:
        import ray

        ray_init()
        task = ray.remote(num_cpus=1)(run_seed)
        pending = [task.remote(scenario_path, seed) for seed in seeds]
        while pending:
            done, pending = ray.wait(pending, num_returns=1)
            yield ray.get(done[0])

    return execute
