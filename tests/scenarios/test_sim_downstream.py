"""The SimPy embodiment of a downstream fake: capacity, queue limit, outages, faults."""

from __future__ import annotations

import random

import simpy
from cpqsim_host.fakes import SimDownstream

from cpqsim.downstream import (
    DownstreamProfile,
    DownstreamRequest,
    FaultProfile,
    Outage,
    QueryStatus,
    ServiceTime,
)


def request(n: int) -> DownstreamRequest:
    return DownstreamRequest(
        system="p",
        operation="activate",
        reference=f"O1:t{n}",
        idempotency_key=f"O1:t{n}",
        order_id="O1",
        task_id=f"t{n}",
        attempt=1,
    )


def fake(**profile) -> tuple[simpy.Environment, SimDownstream, list]:
    env = simpy.Environment()
    defaults = {
        "name": "p",
        "network_latency_s": 0.0,
        "query_latency_s": 0.0,
        "service_time": ServiceTime(distribution="constant", mean_s=10),
    }
    ds = SimDownstream(env, DownstreamProfile(**{**defaults, **profile}), random.Random(1))
    replies: list = []
    return env, ds, replies


def send(env, ds, replies, n):
    ds.call(request(n), lambda reply: replies.append((env.now, n, reply)))


def test_requests_beyond_the_servers_wait_in_line():
    env, ds, replies = fake(servers=2, queue_limit=10)
    for n in range(4):
        send(env, ds, replies, n)
    env.run()
    assert [t for t, _, _ in replies] == [10, 10, 20, 20]
    assert all(r.ok for _, _, r in replies)


def test_a_full_queue_refuses_at_the_door_without_executing():
    env, ds, replies = fake(servers=1, queue_limit=1)
    for n in range(3):
        send(env, ds, replies, n)
    env.run()
    refused = [r for _, _, r in replies if not r.ok]
    assert len(refused) == 1 and refused[0].error.startswith("busy")
    assert len(ds.ledger.side_effects()) == 2 and ds.rejected == 1


def test_during_an_outage_nothing_is_executed():
    env, ds, replies = fake(faults=FaultProfile(outages=[Outage(start_s=0, end_s=5)]))
    send(env, ds, replies, 1)
    env.run()
    assert not replies[0][2].ok and "outage" in replies[0][2].error
    assert ds.ledger.side_effects() == []


def test_a_lost_response_executes_but_never_replies_and_query_finds_it():
    env, ds, replies = fake(faults=FaultProfile(lost_response_rate=1.0))
    send(env, ds, replies, 1)
    env.run()
    assert replies == []
    answers: list = []
    ds.query("O1:t1", answers.append)
    env.run()
    assert answers == [QueryStatus.COMPLETED]


def test_a_stall_delays_execution_past_the_callers_patience():
    env, ds, replies = fake(faults=FaultProfile(timeout_rate=1.0, stall_s=100))
    send(env, ds, replies, 1)
    answers: list = []
    env.run(until=50)
    ds.query("O1:t1", answers.append)
    env.run()
    assert answers == [QueryStatus.IN_PROGRESS]
    assert replies[0][0] == 110
