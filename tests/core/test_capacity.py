"""Queueing theory: Erlang-B/C against published table values, the M/G/c forecast, the
servers a wait target needs, and the calls an order makes to each system."""

from __future__ import annotations

import math

import pytest

from cpqsim.capacity import (
    calls_per_order,
    erlang_b,
    erlang_c,
    forecast_downstreams,
    forecast_queue,
    servers_for_wait,
    service_cv2,
)
from cpqsim.configuration import QuoteLine
from cpqsim.downstream import DownstreamProfile, FaultProfile, ServiceTime


@pytest.mark.parametrize(
    ("servers", "erlangs", "blocking"),
    [
        # Erlang-B table values (e.g. any teletraffic handbook)
        (1, 1.0, 0.5),
        (5, 2.0, 0.03670),
        (10, 5.0, 0.01838),
        (20, 15.0, 0.04557),
    ],
)
def test_erlang_b_matches_published_tables(servers, erlangs, blocking):
    assert erlang_b(servers, erlangs) == pytest.approx(blocking, abs=5e-5)


@pytest.mark.parametrize(
    ("servers", "erlangs", "p_wait"),
    [
        (1, 0.8, 0.8),  # M/M/1: P(wait) is the utilisation
        (3, 2.0, 4 / 9),  # the textbook M/M/3 at rho 2/3
        (10, 5.0, 0.03611),
        (4, 3.2, 0.5964),  # rho 0.8
    ],
)
def test_erlang_c_matches_published_values(servers, erlangs, p_wait):
    assert erlang_c(servers, erlangs) == pytest.approx(p_wait, abs=5e-4)


def test_an_overloaded_queue_always_waits_and_has_no_finite_wait():
    assert erlang_c(2, 2.0) == 1.0
    f = forecast_queue(arrival_rate_per_s=3.0, mean_service=1.0, servers=2)
    assert not f.stable and f.mean_wait_s is None and f.utilisation == 1.5
    assert f.saturates_at_per_s == 2.0


def test_mm1_wait_is_rho_over_mu_minus_lambda():
    f = forecast_queue(arrival_rate_per_s=0.8, mean_service=1.0, servers=1)
    assert f.mean_wait_s == pytest.approx(0.8 / (1 - 0.8))  # W_q = rho / (mu - lambda)
    assert f.mean_queue_length == pytest.approx(0.8 * f.mean_wait_s)  # Little's law
    assert f.mean_in_system_s == pytest.approx(f.mean_wait_s + 1.0)


def test_constant_service_waits_half_as_long_as_exponential():
    exponential = forecast_queue(0.8, 1.0, 1, cv2=1.0).mean_wait_s
    constant = forecast_queue(0.8, 1.0, 1, cv2=0.0).mean_wait_s
    assert constant == pytest.approx(exponential / 2)  # M/D/1 = M/M/1 / 2 (Pollaczek-Khinchine)


def test_the_squared_variation_of_each_service_distribution():
    assert service_cv2(ServiceTime(distribution="exponential", mean_s=3)) == 1.0
    assert service_cv2(ServiceTime(distribution="constant", mean_s=3)) == 0.0
    lognormal = ServiceTime(distribution="lognormal", mean_s=3, sigma=0.5)
    assert service_cv2(lognormal) == pytest.approx(math.exp(0.25) - 1)
    uniform = ServiceTime(distribution="uniform", min_s=0, max_s=2)
    assert service_cv2(uniform) == pytest.approx(1 / 3)


def test_servers_for_a_wait_target_is_the_fewest_that_meet_it():
    needed = servers_for_wait(arrival_rate_per_s=3.2, mean_service=1.0, target_wait_s=0.1)
    assert forecast_queue(3.2, 1.0, needed).mean_wait_s <= 0.1
    assert forecast_queue(3.2, 1.0, needed - 1).mean_wait_s is None or (
        forecast_queue(3.2, 1.0, needed - 1).mean_wait_s > 0.1
    )
    assert servers_for_wait(0.0, 1.0, 0.0) == 1


def test_an_order_makes_the_calls_its_decomposition_says(sample_catalog):
    # the sample catalog: saas-suite reserves licences and activates a tenant, and every
    # item starts billing once
    per_order = calls_per_order(
        sample_catalog, [(1, [QuoteLine(offering="saas-suite", options=["saas-edition-standard"])])]
    )
    assert per_order == {"billing": 1.0, "inventory": 1.0, "provisioning": 1.0}


def test_the_mix_is_weighted(sample_catalog):
    saas = [QuoteLine(offering="saas-suite", options=["saas-edition-standard"])]
    two = saas + saas
    per_order = calls_per_order(sample_catalog, [(3, saas), (1, two)])
    assert per_order["provisioning"] == pytest.approx((3 * 1 + 1 * 2) / 4)


def test_errors_are_retried_and_stalls_lengthen_service():
    profile = DownstreamProfile(
        name="provisioning",
        servers=2,
        service_time=ServiceTime(distribution="exponential", mean_s=2.0),
        faults=FaultProfile(error_rate=0.2, timeout_rate=0.1, stall_s=30.0),
    )
    (f,) = forecast_downstreams(360.0, {"provisioning": 2.0}, {"provisioning": profile})
    assert f.retry_factor == pytest.approx(1.25)
    assert f.queue.arrival_rate_per_s == pytest.approx(360 / 3600 * 2 * 1.25)
    assert f.queue.mean_service_s == pytest.approx(2.0 + 0.1 * 30.0)
    # saturation: 2 servers / 5 s each = 0.4 calls/s = 0.4 / (2 * 1.25) orders/s
    assert f.saturating_orders_per_hour == pytest.approx(0.4 / 2.5 * 3600)
