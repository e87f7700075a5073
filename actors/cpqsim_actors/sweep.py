"""Seed sweeps as Ray tasks: the scale-out path for many independent sim runs.

Each seed is a plain function call (the sweep's task, handed in by the caller) shipped as
a Ray task; results stream back as they finish. Locally this uses the embedded Ray; with
``RAY_ADDRESS`` the same sweep runs on a cluster (whose workers need cpqsim installed).

Starting Ray costs seconds (its control store, the node manager, worker processes that
import cpqsim), which on a small machine is longer than several seeds take. So the cost
is *hidden*, not paid: every seed is first queued on a local process pool (forked before
Ray starts, as forking a process that runs Ray is unsafe), Ray starts meanwhile, and once
it is up the seeds no local process has begun move to Ray tasks. A seed gives the same
result wherever it runs (the sim is reproducible from its seed), so where it ran is
reported beside the result (``ran_on``) and changes nothing else.

A local Ray is not started at all when the first seed shows the rest would be done on the
local processes before Ray could be up (:data:`LOCAL_RAY_START_S`): it would only take
CPU from them. A cluster named by ``RAY_ADDRESS`` is always used (joining it is quick, and
it may have many more CPUs than this machine).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, as_completed, wait
from typing import Any

from cpqsim_actors.handles import ray_init, ray_shutdown

SeedTask = Callable[[str, Any], dict[str, Any]]

#: What starting a local Ray costs on a small, busy machine (measured 5-20 s on 2 cores);
#: ``CPQSIM_LOCAL_RAY_START_S`` overrides it (0: always start Ray).
LOCAL_RAY_START_S = 15.0


def worth_starting_ray(seeds_left: int, workers: int, seconds_per_seed: float) -> bool:
    """Whether the seeds left would still be running locally when a local Ray is up."""
    if os.environ.get("RAY_ADDRESS"):
        return True
    start_s = float(os.environ.get("CPQSIM_LOCAL_RAY_START_S", LOCAL_RAY_START_S))
    return seeds_left / max(1, workers) * seconds_per_seed > start_s


def _ran_on(place: str, future: Future) -> Future:
    """``future`` whose result says where it ran."""
    tagged: Future = Future()

    def settle(done: Future) -> None:
        error = done.exception()
        if error is not None:
            tagged.set_exception(error)
        else:
            tagged.set_result({**done.result(), "ran_on": place})

    future.add_done_callback(settle)
    return tagged


def worth_it(local: list[Future], workers: int) -> bool:
    """Whether Ray should start for the seeds ``local`` processes are running.

    The first seed is slow (processes start, caches are cold), so it can only say "yes,
    clearly"; otherwise the pace of the next ``workers`` seeds decides.
    """
    begun = time.perf_counter()
    done, pending = wait(local, return_when=FIRST_COMPLETED)
    first = time.perf_counter()
    if worth_starting_ray(len(pending), workers, (first - begun) / 2):
        return True
    while pending and len(done) < 1 + workers:
        more, pending = wait(pending, return_when=FIRST_COMPLETED)
        done |= more
    if not pending:
        return False
    seconds_per_seed = (time.perf_counter() - first) / (len(done) - 1) * workers
    return worth_starting_ray(len(pending), workers, seconds_per_seed)


def ray_executor(workers: int = 2) -> Callable[[SeedTask, str, list[Any]], Iterable[dict]]:
    """``workers`` local processes run seeds while Ray starts; the cluster's CPUs
    (one per task) run the rest."""

    def execute(task: SeedTask, scenario_path: str, seeds: list[Any]) -> Iterator[dict]:
        pool = ProcessPoolExecutor(max_workers=max(1, workers))
        local = [pool.submit(task, scenario_path, seed) for seed in seeds]
        started = False
        try:
            if not worth_it(local, workers):
                for done in as_completed([_ran_on("local", f) for f in local]):
                    yield done.result()
                return
            import ray  # (importing it takes a second: only once Ray is worth it)

            started = ray_init()  # seconds: the local processes work meanwhile
            remote = ray.remote(num_cpus=1)(task)
            # A seed not begun locally (its future could be cancelled) goes to Ray.
            moved = [seed for seed, f in zip(seeds, local, strict=True) if f.cancel()]
            futures = [_ran_on("local", f) for f in local if not f.cancelled()]
            futures += [_ran_on("ray", remote.remote(scenario_path, s).future()) for s in moved]
            for done in as_completed(futures):
                yield done.result()
        finally:
            pool.shutdown(cancel_futures=True)
            if started:
                ray_shutdown()

    return execute
