"""Givens shared by every test package: one Ray per test session.

Ray costs ~0.7 GB and several seconds to start, so it starts once (``ray_cluster``) and
every platform in the session creates and kills only its own actors. Child processes
(``cpqsim serve`` for the Locust run) join the same cluster through ``RAY_ADDRESS``.
"""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def ray_cluster() -> str:
    """Start Ray once for the session; yields the address child processes can join."""
    from cpqsim_actors.handles import ray_address, ray_init, ray_shutdown

    started = ray_init()
    yield ray_address()
    if started:
        ray_shutdown()


@pytest.fixture
def quick_benchmark():
    """Run ``benchmarks/<script> --quick`` in a process of its own from the repository
    root; returns what it printed, once it has exited 0 (timing is the benchmark's job,
    not the test's)."""
    import subprocess
    import sys
    from pathlib import Path

    repo = Path(__file__).resolve().parents[1]

    def run(script: str, timeout: float = 300) -> str:
        done = subprocess.run(
            [sys.executable, f"benchmarks/{script}", "--quick"],
            cwd=repo,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        assert done.returncode == 0, (done.stdout + done.stderr)[-4000:]
        return done.stdout

    return run
