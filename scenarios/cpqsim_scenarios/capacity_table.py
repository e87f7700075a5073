"""A scenario's capacity table: Erlang-C's prediction per downstream, and after a run the
measured values beside it.

The prediction needs no run: the traffic mix is decomposed with the catalog (how many
calls an order makes to each system), times the arrival rate, against each downstream's
servers and service time. The measured side reads what the run sampled over the arrival
window (the drain afterwards would dilute every rate): busy servers, queue length, time
in system of each request and requests finished per second. Little's law ties them:
the measured queue length should be the measured throughput times the measured wait.
"""

from __future__ import annotations

from dataclasses import dataclass
from statistics import fmean
from typing import Any

from cpqsim_host.outcome import RunOutput
from cpqsim_host.scenario import LoadedScenario

from cpqsim.capacity import (
    DownstreamForecast,
    calls_per_order,
    forecast_downstreams,
    servers_for_wait,
)
from cpqsim_scenarios.errors import InputInvalid


def peak_multiplier(loaded: LoadedScenario) -> float:
    return max((s.multiplier for s in loaded.scenario.traffic.spikes), default=1.0)


def forecast_scenario(loaded: LoadedScenario, at_peak: bool = False) -> list[DownstreamForecast]:
    """Each downstream's predicted queue at the scenario's base (or peak) arrival rate."""
    traffic = loaded.scenario.traffic
    per_order = calls_per_order(loaded.catalog, ((m.weight, m.lines) for m in traffic.mix))
    rate = traffic.arrivals_per_hour * (peak_multiplier(loaded) if at_peak else 1.0)
    return forecast_downstreams(rate, per_order, loaded.scenario.downstream)


@dataclass(frozen=True)
class Recommendation:
    system: str
    servers_now: int
    servers_needed: int | None


def recommend_servers(forecasts: list[DownstreamForecast], target_s: float) -> list[Recommendation]:
    """Servers each downstream needs so that a call spends at most ``target_s`` there
    (queue + service) on average; refused when the target is below a service time."""
    too_short = [
        (f"downstream.{f.system}.service_time", f.queue.mean_service_s)
        for f in forecasts
        if target_s <= f.queue.mean_service_s
    ]
    if too_short:
        raise InputInvalid(
            "--target-s",
            [
                (
                    field,
                    f"a call takes {service:g} s to serve on average: no number of servers "
                    f"brings its time below {target_s:g} s",
                )
                for field, service in too_short
            ],
        )
    out = []
    for f in forecasts:
        q = f.queue
        needed = servers_for_wait(
            q.arrival_rate_per_s, q.mean_service_s, target_s - q.mean_service_s, q.service_cv2
        )
        out.append(Recommendation(f.system, q.servers, needed))
    return out


def _round(value: float | None, digits: int = 3) -> float | None:
    return None if value is None else round(value, digits)


def forecast_rows(forecasts: list[DownstreamForecast]) -> dict[str, dict[str, Any]]:
    """The prediction as plain data (``result.json``, ``--json``)."""
    return {
        f.system: {
            "calls_per_order": _round(f.calls_per_order),
            "arrival_rate_per_s": _round(f.queue.arrival_rate_per_s, 5),
            "servers": f.queue.servers,
            "mean_service_s": _round(f.queue.mean_service_s),
            "utilisation": _round(f.queue.utilisation),
            "p_wait": _round(f.queue.p_wait),
            "mean_wait_s": _round(f.queue.mean_wait_s),
            "mean_in_system_s": _round(f.queue.mean_in_system_s),
            "mean_queue_length": _round(f.queue.mean_queue_length),
            "saturating_orders_per_hour": _round(f.saturating_orders_per_hour, 1),
        }
        for f in forecasts
    }


def measured(loaded: LoadedScenario, output: RunOutput) -> dict[str, dict[str, Any]]:
    """What the run measured per downstream.

    Utilisation is server time spent serving over the capacity of the arrival window
    (the work the window's orders caused, even if it finished in the drain); the wait
    is the mean time queued for a server; time in system and throughput are read from
    the requests that finished within the window. Runtimes that do not count server
    time fall back to the sampled busy servers.
    """
    window = loaded.scenario.duration_s
    samples = output.samples
    in_window = [i for i, t in enumerate(samples.t) if t <= window]
    out: dict[str, dict[str, Any]] = {}
    for system, profile in sorted(loaded.scenario.downstream.items()):
        queue_series = samples.queue_length.get(system, [])
        queue = [queue_series[i] for i in in_window if i < len(queue_series)]
        if system in output.downstream_busy_s:
            utilisation = output.downstream_busy_s[system] / (profile.servers * window)
        else:
            busy_series = samples.busy.get(system, [])
            busy = [busy_series[i] for i in in_window if i < len(busy_series)]
            utilisation = fmean(busy) / profile.servers if busy else None
        waited, served = output.downstream_waits.get(system, (0.0, 0))
        times = [s for t, s in output.latencies.get(system, []) if t <= window]
        throughput = len(times) / window if window else 0.0
        in_system = fmean(times) - profile.network_latency_s if times else None
        out[system] = {
            "utilisation": _round(utilisation),
            "mean_wait_s": _round(waited / served) if served else None,
            "mean_queue_length": _round(fmean(queue)) if queue else None,
            "mean_in_system_s": _round(in_system),
            "throughput_per_s": _round(throughput, 5),
            # Little's law: calls present = throughput x time in system
            "littles_law_in_system": _round(throughput * in_system) if in_system else None,
        }
    return out


def capacity_section(loaded: LoadedScenario, output: RunOutput) -> dict[str, Any]:
    """Predicted beside measured, for ``result.json`` and the report."""
    predicted = forecast_rows(forecast_scenario(loaded))
    return {"predicted": predicted, "measured": measured(loaded, output)}
