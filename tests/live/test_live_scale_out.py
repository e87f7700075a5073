"""Scale-out and start-up of ``serve``: named actors, attached gateways, bounded failure.

Given one Ray cluster, when a gateway process owns a platform and a second gateway
process attaches to it by name, then a quote created through one is read, priced and
ordered through the other (the gateway holds no state). The actors are findable with
``ray.get_actor`` in the ``cpqsim`` namespace. Given an unreachable ``RAY_ADDRESS``,
``serve`` says so and exits 2 within seconds instead of hanging.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from .conftest import free_port
from .local_gateway import COMPACT, QUOTE, SELLER, bearer

AS_SELLER = bearer(SELLER)  # every gateway answers the same (demo) principals

SERVE = "from cpqsim_actors.serve import serve; serve(port={port}, name={name!r}, {extra})"


def start_serve(tmp: Path, ray_address: str, name: str, extra: str) -> tuple:
    port = free_port()
    log = tmp / f"serve-{port}.log"
    with open(log, "w") as out:
        proc = subprocess.Popen(
            [sys.executable, "-c", SERVE.format(port=port, name=name, extra=extra)],
            env={**os.environ, "RAY_ADDRESS": ray_address},
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    return proc, f"http://127.0.0.1:{port}", log


def wait_ready(proc: subprocess.Popen, log: Path, timeout_s: float = 90) -> str:
    deadline = time.monotonic() + timeout_s
    while "cpqsim ready" not in (text := log.read_text()):
        assert proc.poll() is None, text
        assert time.monotonic() < deadline, f"never ready:\n{text}"
        time.sleep(0.2)
    return text


def stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.mark.ray
@pytest.mark.slow
def test_two_gateway_processes_serve_one_platform(ray_cluster, tmp_path):
    import ray

    name = f"scale-{os.getpid()}"
    owner, owner_url, owner_log = start_serve(
        tmp_path, ray_cluster, name, "quote_shards=2, order_shards=1"
    )
    attached = None
    try:
        started = wait_ready(owner, owner_log)
        assert "owning platform" in started
        assert "Error" not in started and " E " not in started, started  # a quiet start
        attached, attached_url, attached_log = start_serve(
            tmp_path, ray_cluster, name, "attach=True"
        )
        assert "attached to platform" in wait_ready(attached, attached_log)
        assert "2 quote + 1 order shards" in attached_log.read_text()

        created = httpx.post(f"{owner_url}{QUOTE}", json=COMPACT, headers=AS_SELLER, timeout=10)
        assert created.status_code == 201, created.text
        qid = created.json()["id"]
        read = httpx.get(f"{attached_url}{QUOTE}/{qid}", headers=AS_SELLER, timeout=10)
        assert read.status_code == 200 and read.json()["id"] == qid
        assert read.json()["href"].startswith(attached_url)
        priced = httpx.post(f"{attached_url}{QUOTE}/{qid}/price", headers=AS_SELLER, timeout=10)
        assert priced.status_code == 200
        assert (
            httpx.get(f"{owner_url}{QUOTE}/{qid}", headers=AS_SELLER, timeout=10).json()[
                "cpqsimStatus"
            ]
            == "priced"
        )

        actor = ray.get_actor(f"{name}.quote-0", namespace="cpqsim")
        assert actor is not None

        # a second owner of the same name is refused: attach, or pick another name
        clash, _, clash_log = start_serve(tmp_path, ray_cluster, name, "")
        assert clash.wait(timeout=60) == 2
        assert "already runs on this Ray cluster" in clash_log.read_text()
    finally:
        if attached is not None:
            stop(attached)
        stop(owner)
    # the attached gateway stopping first killed nothing; the owner's stop removes them
    with pytest.raises(ValueError):
        ray.get_actor(f"{name}.quote-0", namespace="cpqsim")


def test_serve_with_an_unreachable_ray_address_exits_2_quickly(tmp_path):
    closed_port = free_port()  # nothing listens there
    start = time.monotonic()
    proc, _, log = start_serve(tmp_path, f"127.0.0.1:{closed_port}", "unreachable", "")
    code = proc.wait(timeout=60)
    assert code == 2, log.read_text()
    assert time.monotonic() - start < 30
    text = log.read_text()
    assert f"cannot reach the Ray cluster at RAY_ADDRESS=127.0.0.1:{closed_port}" in text
    assert "Traceback" not in text


@pytest.mark.ray
def test_attaching_to_a_platform_that_does_not_run_exits_2(ray_cluster, tmp_path):
    proc, _, log = start_serve(tmp_path, ray_cluster, "nobody-here", "attach=True")
    assert proc.wait(timeout=60) == 2, log.read_text()
    assert "no platform named 'nobody-here'" in log.read_text()
