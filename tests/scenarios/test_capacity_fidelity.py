"""Fidelity: the simulated downstream is the queue the capacity formulas describe.

One downstream fake (the same SimPy model every scenario uses) is configured as M/M/c:
Poisson arrivals, exponential service, c = 4 servers, utilisation 0.8, no network
latency, no faults, a queue that never refuses. Its measured mean wait must be within
5 % of Erlang-C. At rho = 0.8 the mean wait of a run converges slowly (successive waits
are strongly correlated): with 300,000 customers the run-to-run spread measured here
was about 1-2 %, so 5 % is a real test, not a lucky seed.
"""

from __future__ import annotations

import random

import pytest
import simpy
from cpqsim_host.fakes import SimDownstream

from cpqsim.capacity import forecast_queue
from cpqsim.downstream import DownstreamProfile, DownstreamRequest, ServiceTime

SERVERS = 4
RHO = 0.8
MEAN_SERVICE_S = 1.0
CUSTOMERS = 300_000


@pytest.mark.slow
def test_a_downstream_configured_as_mmc_waits_as_erlang_c_predicts():
    env = simpy.Environment()
    profile = DownstreamProfile(
        name="provisioning",
        servers=SERVERS,
        queue_limit=1_000_000,
        service_time=ServiceTime(distribution="exponential", mean_s=MEAN_SERVICE_S),
        network_latency_s=0.0,
    )
    downstream = SimDownstream(env, profile, random.Random(1))
    arrivals = random.Random(1001)
    rate = RHO * SERVERS / MEAN_SERVICE_S
    request = DownstreamRequest(
        system="provisioning",
        operation="activate",
        reference="r",
        order_id="o",
        task_id="t",
        attempt=1,
    )

    def customers():
        for _ in range(CUSTOMERS):
            yield env.timeout(arrivals.expovariate(rate))
            downstream.call(request, lambda _reply: None)

    env.process(customers())
    env.run()

    predicted = forecast_queue(rate, MEAN_SERVICE_S, SERVERS)
    measured_wait = downstream.waited_s / downstream.served
    assert downstream.served == CUSTOMERS
    assert measured_wait == pytest.approx(predicted.mean_wait_s, rel=0.05)
    # and the server time adds up to the utilisation the formula uses
    assert downstream.busy_s / (SERVERS * env.now) == pytest.approx(RHO, rel=0.02)
