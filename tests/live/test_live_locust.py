"""A bounded Locust run against a real ``cpqsim serve`` process: zero failures."""

from __future__ import annotations

import csv
import os
import signal
import subprocess
import sys
import time

import httpx
import pytest

from .conftest import REPO, free_port

pytestmark = [pytest.mark.ray, pytest.mark.slow]

LOCUST = os.path.join(os.path.dirname(sys.executable), "locust")


@pytest.fixture
def server(ray_cluster, tmp_path):
    """``serve`` in a child process, joining the session's Ray via RAY_ADDRESS."""
    port = free_port()
    env = {**os.environ, "RAY_ADDRESS": ray_cluster}
    code = f"from cpqsim_actors.serve import serve; serve(port={port})"
    log = open(tmp_path / "serve.log", "w")  # noqa: SIM115 - closed below
    proc = subprocess.Popen(
        [sys.executable, "-c", code], env=env, stdout=log, stderr=subprocess.STDOUT
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            assert proc.poll() is None, (tmp_path / "serve.log").read_text()
            try:
                if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, "server did not come up"
            time.sleep(0.3)
        yield url
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


def test_bounded_locust_run_has_no_failures(server, tmp_path):
    prefix = tmp_path / "locust"
    run = subprocess.run(
        [
            LOCUST,
            "-f",
            str(REPO / "loadtests" / "locustfile.py"),
            "--headless",
            "-u",
            "10",
            "-r",
            "10",
            "-t",
            "10s",
            "--host",
            server,
            "--only-summary",
            "--csv",
            str(prefix),
        ],
        capture_output=True,
        text=True,
        timeout=90,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    with open(f"{prefix}_stats.csv", newline="") as f:
        rows = {row["Name"]: row for row in csv.DictReader(f)}
    total = rows["Aggregated"]
    assert int(total["Request Count"]) > 100
    assert int(total["Failure Count"]) == 0, run.stdout
    assert int(rows["POST /quote/{id}/convert"]["Request Count"]) > 0
