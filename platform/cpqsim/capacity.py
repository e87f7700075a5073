"""Queueing theory beside the simulation: what a downstream *should* do under a load.

A downstream in a scenario is a queue with ``servers`` parallel servers and a
service-time distribution; orders arrive as a Poisson stream and each brings a known
number of calls to each system (its decomposition). That is an M/G/c queue, and
Erlang-C answers the capacity questions before anything runs: how busy, how likely a
call waits, how long, at which arrival rate it saturates, and how many servers keep the
wait under a target. The simulation then shows what the formulas leave out (faults,
outages, retries, spikes), and the report puts the two side by side.

Erlang-C is exact for exponential service (M/M/c). Other distributions use the
Allen-Cunneen approximation: the M/M/c wait scaled by ``(1 + Cs^2) / 2``, where ``Cs^2``
is the squared coefficient of variation of the service time (0 for a constant, 1 for an
exponential). Pure functions: no clock, no randomness.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from cpqsim.catalog import Catalog
from cpqsim.configuration import QuoteLine
from cpqsim.decomposition import decompose, order_items, plan_tasks
from cpqsim.downstream import DownstreamProfile, ServiceTime

MAX_SERVERS_SEARCHED = 10_000


def erlang_b(servers: int, offered_erlangs: float) -> float:
    """Blocking probability of M/M/c/c, by the stable recurrence (no factorials)."""
    if servers < 0 or offered_erlangs < 0:
        raise ValueError("servers and offered load must be non-negative")
    b = 1.0
    for k in range(1, servers + 1):
        b = offered_erlangs * b / (k + offered_erlangs * b)
    return b


def erlang_c(servers: int, offered_erlangs: float) -> float:
    """Probability that an arrival waits in M/M/c (1.0 when the queue is unstable)."""
    if servers < 1:
        raise ValueError("at least one server")
    rho = offered_erlangs / servers
    if rho >= 1:
        return 1.0
    b = erlang_b(servers, offered_erlangs)
    return b / (1 - rho * (1 - b))


def service_cv2(service: ServiceTime) -> float:
    """Squared coefficient of variation of a service-time distribution."""
    if service.distribution == "constant":
        return 0.0
    if service.distribution == "exponential":
        return 1.0
    if service.distribution == "lognormal":
        return math.expm1(service.sigma**2)
    width = service.max_s - service.min_s  # uniform
    mean = (service.max_s + service.min_s) / 2
    return (width**2 / 12) / mean**2


def mean_service_s(service: ServiceTime) -> float:
    if service.distribution == "uniform":
        return (service.max_s + service.min_s) / 2
    return service.mean_s


@dataclass(frozen=True)
class QueueForecast:
    """Erlang-C's answer for one queue; waits are None when it cannot keep up."""

    arrival_rate_per_s: float
    mean_service_s: float
    servers: int
    service_cv2: float
    utilisation: float
    p_wait: float
    mean_wait_s: float | None
    mean_in_system_s: float | None
    mean_queue_length: float | None  # Little's law: L_q = lambda * W_q
    saturates_at_per_s: float  # arrival rate at which utilisation reaches 1

    @property
    def stable(self) -> bool:
        return self.utilisation < 1


def forecast_queue(
    arrival_rate_per_s: float, mean_service: float, servers: int, cv2: float = 1.0
) -> QueueForecast:
    """M/G/c by Erlang-C (exact for ``cv2 == 1``, Allen-Cunneen otherwise)."""
    if arrival_rate_per_s < 0 or mean_service <= 0 or servers < 1 or cv2 < 0:
        raise ValueError("needs a non-negative rate, a positive service time and a server")
    offered = arrival_rate_per_s * mean_service
    utilisation = offered / servers
    saturates = servers / mean_service
    if utilisation >= 1:
        return QueueForecast(
            arrival_rate_per_s, mean_service, servers, cv2, utilisation, 1.0, None, None, None,
            saturates,
        )  # fmt: skip
    p_wait = erlang_c(servers, offered)
    wait = p_wait / (servers / mean_service - arrival_rate_per_s) * (1 + cv2) / 2
    return QueueForecast(
        arrival_rate_per_s=arrival_rate_per_s,
        mean_service_s=mean_service,
        servers=servers,
        service_cv2=cv2,
        utilisation=utilisation,
        p_wait=p_wait,
        mean_wait_s=wait,
        mean_in_system_s=wait + mean_service,
        mean_queue_length=arrival_rate_per_s * wait,
        saturates_at_per_s=saturates,
    )


def servers_for_wait(
    arrival_rate_per_s: float, mean_service: float, target_wait_s: float, cv2: float = 1.0
) -> int | None:
    """The fewest servers whose predicted mean wait is at most ``target_wait_s``.

    None if even ``MAX_SERVERS_SEARCHED`` servers cannot (never the case for a target
    above zero: waits vanish as servers grow, but a target of 0 is never met exactly).
    """
    if target_wait_s < 0:
        raise ValueError("a wait target cannot be negative")
    if arrival_rate_per_s == 0:
        return 1
    first = max(1, math.floor(arrival_rate_per_s * mean_service) + 1)  # the fewest stable
    for servers in range(first, MAX_SERVERS_SEARCHED + 1):
        wait = forecast_queue(arrival_rate_per_s, mean_service, servers, cv2).mean_wait_s
        if wait is not None and wait <= target_wait_s:
            return servers
    return None


def calls_per_order(catalog: Catalog, mix: Iterable[tuple[int, list[QuoteLine]]]) -> dict:
    """Weighted mean of the calls one order makes to each system (first attempts only).

    ``mix`` is the traffic mix: (weight, quote lines). Each configuration is decomposed
    with the catalog exactly as an order would be.
    """
    totals: dict[str, float] = {}
    weight_sum = 0
    for weight, lines in mix:
        weight_sum += weight
        for task in plan_tasks(decompose(catalog, order_items("capacity", lines))):
            totals[task.system] = totals.get(task.system, 0.0) + weight
    if weight_sum == 0:
        return {}
    return {system: n / weight_sum for system, n in sorted(totals.items())}


@dataclass(frozen=True)
class DownstreamForecast:
    system: str
    calls_per_order: float
    retry_factor: float  # failed executions are retried and occupy a server again
    queue: QueueForecast
    saturating_orders_per_hour: float


def forecast_downstreams(
    orders_per_hour: float,
    per_order: Mapping[str, float],
    profiles: Mapping[str, DownstreamProfile],
) -> list[DownstreamForecast]:
    """Each downstream's queue at ``orders_per_hour``, from the calls each order makes.

    Executions that fail with an error are retried and use a server again, so the
    offered load is divided by ``1 - error_rate``; stalls lengthen service by ``stall_s``
    with probability ``timeout_rate``. Outages, spikes and reconciliation queries are
    what the simulation adds on top.
    """
    out = []
    for system, calls in per_order.items():
        profile = profiles.get(system) or DownstreamProfile(name=system)
        faults = profile.faults
        retry = 1 / max(1 - faults.error_rate, 1e-9)
        service = mean_service_s(profile.service_time) + faults.timeout_rate * faults.stall_s
        rate = orders_per_hour / 3600 * calls * retry
        queue = forecast_queue(rate, service, profile.servers, service_cv2(profile.service_time))
        per_order_rate = calls * retry / 3600
        out.append(
            DownstreamForecast(
                system=system,
                calls_per_order=calls,
                retry_factor=retry,
                queue=queue,
                saturating_orders_per_hour=queue.saturates_at_per_s / per_order_rate
                if per_order_rate
                else math.inf,
            )
        )
    return out
