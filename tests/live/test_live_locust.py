"""The Locust suite against a real ``cpqsim serve`` process: shapes, run folder, verdict.

Given ``serve`` started in a child process (it joins the session's Ray and says
``ready``), when ``locust --config loadtests/locust.conf`` runs a bounded load, then
every request succeeds, the run folder holds CSV, HTML and the verdict, and the verdict
holds. Given a gateway whose verdict is violated, Locust exits 3 and prints what broke.
"""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest

from .conftest import REPO, free_port
from .local_gateway import TOKENS

LOCUST = os.path.join(os.path.dirname(sys.executable), "locust")
CONF = REPO / "loadtests" / "locust.conf"
LOCUSTFILE = REPO / "loadtests" / "locustfile.py"


def wait_for_ready(proc: subprocess.Popen, log: Path, timeout_s: float = 90) -> None:
    deadline = time.monotonic() + timeout_s
    while "cpqsim ready" not in log.read_text():
        assert proc.poll() is None, log.read_text()
        assert time.monotonic() < deadline, f"serve never said ready:\n{log.read_text()}"
        time.sleep(0.2)


@pytest.fixture(scope="module")
def server(ray_cluster, tmp_path_factory):
    """``serve`` in a child process, joining the session's Ray via RAY_ADDRESS."""
    port = free_port()
    logs = tmp_path_factory.mktemp("serve")
    env = {**os.environ, "RAY_ADDRESS": ray_cluster}
    code = (
        "from cpqsim_actors.serve import serve; "
        f"serve(port={port}, name='locust-{port}', quote_shards=1, order_shards=1)"
    )
    log_path = logs / "serve.log"
    with open(log_path, "w") as log:
        proc = subprocess.Popen(
            [sys.executable, "-c", code], env=env, stdout=log, stderr=subprocess.STDOUT
        )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for_ready(proc, log_path)
        # "ready" means ready: the very next request is served
        assert httpx.get(f"{url}/health", timeout=5).status_code == 200
        # no principals file: the demo principals, their tokens announced for local use
        announced = log_path.read_text()
        assert "DEMO principals" in announced and TOKENS["alice"] in announced
        yield url
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def locust(cwd: Path, host: str, *args: str, timeout_s: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run(
        [LOCUST, "--config", str(CONF), "-f", str(LOCUSTFILE), "--host", host, *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout_s,
        env={k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"},
    )


def run_folder(cwd: Path) -> Path:
    (folder,) = (cwd / "runs" / "locust").iterdir()
    return folder


@pytest.mark.ray
@pytest.mark.slow
def test_a_closed_loop_step_run_succeeds_and_the_verdict_holds(server, tmp_path):
    run = locust(tmp_path, server, "--shape", "step", "-u", "8", "-r", "8", "-t", "8s")

    assert run.returncode == 0, run.stdout + run.stderr
    assert "cpqsim verdict: HOLDS" in run.stdout
    folder = run_folder(tmp_path)
    assert {"cpqsim_stats.csv", "cpqsim_stats_history.csv", "report.html", "verdict.json"} <= {
        p.name for p in folder.iterdir()
    }
    with open(folder / "cpqsim_stats.csv", newline="") as f:
        rows = {row["Name"]: row for row in csv.DictReader(f)}
    assert int(rows["Aggregated"]["Request Count"]) > 50
    assert int(rows["Aggregated"]["Failure Count"]) == 0, run.stdout
    assert int(rows["POST /productOrder (TMF622)"]["Request Count"]) > 0
    assert json.loads((folder / "verdict.json").read_text())["holds"] is True


@pytest.mark.ray
@pytest.mark.slow
def test_orders_cancelled_under_load_keep_every_invariant(server, tmp_path):
    run = locust(tmp_path, server, "--tags", "cancel", "-u", "3", "-r", "3", "-t", "5s")

    assert run.returncode == 0, run.stdout + run.stderr
    assert "cpqsim verdict: HOLDS" in run.stdout
    with open(run_folder(tmp_path) / "cpqsim_stats.csv", newline="") as f:
        rows = {row["Name"]: row for row in csv.DictReader(f)}
    # accepted (201) or refused past a point of no return (409): never a failure
    assert int(rows["POST /cancelProductOrder (TMF622)"]["Request Count"]) > 0
    assert int(rows["Aggregated"]["Failure Count"]) == 0, run.stdout


@pytest.mark.ray
@pytest.mark.slow
def test_an_open_loop_run_holds_its_arrival_rates(server, tmp_path):
    run = locust(
        tmp_path,
        server,
        "--shape",
        "open",
        "--arrival-rate",
        "5,10",
        "-t",
        "6s",
        "--open-journey",
        "order",
    )

    assert run.returncode == 0, run.stdout + run.stderr
    with open(run_folder(tmp_path) / "open_loop_journeys.csv", newline="") as f:
        journeys = list(csv.DictReader(f))
    by_rate = {rate: sum(1 for j in journeys if j["arrival_rate"] == rate) for rate in ("5", "10")}
    # 3 s at 5/s and 3 s at 10/s: the schedule, whatever the latency; arrivals cut off
    # by the end of the run are listed too (in_flight / not_started), never dropped
    assert by_rate["5"] == 15 and 28 <= by_rate["10"] <= 30, by_rate
    finished = [j for j in journeys if j["outcome"] in ("ok", "failed")]
    assert len(finished) >= 30 and all(j["outcome"] == "ok" for j in finished)
    assert {j["outcome"] for j in journeys} <= {"ok", "in_flight", "not_started"}
    assert all(float(j["started_s"]) >= float(j["due_s"]) for j in finished)


@pytest.mark.ray
@pytest.mark.slow
def test_the_served_gateway_answers_only_a_known_bearer_token(server):
    offerings = f"{server}/tmf-api/productCatalogManagement/v4/productOffering"
    anonymous = httpx.get(offerings, timeout=10)
    assert anonymous.status_code == 401
    assert anonymous.headers["WWW-Authenticate"] == "Bearer"
    wrong = httpx.get(offerings, headers={"Authorization": "Bearer guess"}, timeout=10)
    assert wrong.status_code == 401
    known = httpx.get(offerings, headers={"Authorization": f"Bearer {TOKENS['alice']}"})
    assert known.status_code == 200


class FakeGateway:
    """Serves an empty catalog and a violated verdict: the hook must fail the run."""

    VERDICT = {
        "holds": False,
        "violations": 1,
        "unsettled_orders": 0,
        "settled_within_s": 0.0,
        "orders_by_state": {"completed": 1},
        "events": 9,
        "invariants": [
            {
                "name": "no_duplicate_side_effects",
                "description": "d",
                "holds": False,
                "violations": 1,
                "examples": ["provisioning: ORD-1/t1 executed 2 times"],
            }
        ],
    }

    def __init__(self) -> None:
        verdict = json.dumps(self.VERDICT).encode()

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                body = verdict if self.path.startswith("/ops/verdict") else b"[]"
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


def test_violated_invariants_make_locust_exit_3_and_print_them(tmp_path):
    fake = FakeGateway()
    try:
        run = locust(tmp_path, fake.url, "--tags", "browse", "-u", "1", "-t", "2s")
    finally:
        fake.server.shutdown()

    assert run.returncode == 3, run.stdout + run.stderr
    assert "cpqsim verdict: VIOLATED (1 violations)" in run.stdout
    assert "BROKEN no_duplicate_side_effects" in run.stdout
    assert "ORD-1/t1 executed 2 times" in run.stdout
