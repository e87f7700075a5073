"""How big a run will be, known before it starts, so an impossible one is refused at once.

A scenario file is small but can ask for a lot: ``arrivals_per_hour: 1e6`` over a year
is almost nine billion journeys. The projection multiplies what the scenario states
(arrival rate x duration, samples over the run) by per-journey costs measured on this
project's sim, and the runner refuses (exit 2, naming the fields and the limit) before
planning a single journey. Projections are estimates: the limit is about memory, the
figures are printed so the user can judge.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from cpqsim_scenarios.errors import InputInvalid, Problem
from cpqsim_scenarios.model import LoadedScenario

# Measured on peak_day (issue 12): ~17 KB of peak RSS per journey once the event log
# streams to its file and completed orders are retired (it was ~160 KB with the whole
# log and every order kept in memory), and ~20 events per journey.
BYTES_PER_JOURNEY = 20_000
EVENTS_PER_JOURNEY = 20
MEASURED_LINES_PER_QUOTE = 1.2
BASE_BYTES = 300 * 2**20  # interpreter, libraries, catalog
DEFAULT_MAX_MEMORY_GB = 4.0
MAX_SAMPLES = 1_000_000


@dataclass(frozen=True)
class Projection:
    journeys: int  # expected quote journeys (an upper bound: mean + 6 sigma of Poisson)
    events: int
    samples: int
    memory_bytes: int
    live_wall_s: float  # wall time of the run on the live runtime (time_scale)

    def describe(self) -> str:
        return (
            f"about {self.journeys:,} journeys, {self.events:,} events, "
            f"{self.memory_bytes / 2**30:.2f} GiB"
        )


def project(loaded: LoadedScenario) -> Projection:
    s = loaded.scenario
    mean = s.traffic.arrivals_per_hour * s.duration_s / 3600
    journeys = math.ceil(mean + 6 * math.sqrt(mean)) if mean > 0 else 0
    # A journey's cost grows with its quote's lines (the measured constants are for ~1.2).
    weights = sum(m.weight for m in s.traffic.mix)
    mean_lines = sum(m.weight * len(m.lines) for m in s.traffic.mix) / weights
    scale = max(1.0, mean_lines / MEASURED_LINES_PER_QUOTE)
    return Projection(
        journeys=journeys,
        events=math.ceil(journeys * EVENTS_PER_JOURNEY * scale),
        samples=math.ceil((s.duration_s + s.drain_s) / s.sample_every_s) + 1,
        memory_bytes=BASE_BYTES + math.ceil(journeys * BYTES_PER_JOURNEY * scale),
        live_wall_s=(s.duration_s + s.drain_s) * s.time_scale,
    )


def refuse_if_too_big(
    loaded: LoadedScenario, max_memory_gb: float = DEFAULT_MAX_MEMORY_GB
) -> Projection:
    """The projection, or ``InputInvalid`` naming the fields that make the run too big."""
    p = project(loaded)
    limit = int(max_memory_gb * 2**30)
    problems = []
    if p.memory_bytes > limit:
        problems.append(
            Problem(
                "traffic.arrivals_per_hour",
                f"the run is projected at {p.describe()} "
                f"(arrivals_per_hour {loaded.scenario.traffic.arrivals_per_hour:g} x "
                f"duration_s {loaded.scenario.duration_s:g}), over the memory limit of "
                f"{max_memory_gb:g} GiB; shorten duration_s, lower the rate, or raise "
                "--max-memory-gb",
                code="projected_too_big",
            )
        )
    if p.samples > MAX_SAMPLES:
        problems.append(
            Problem(
                "sample_every_s",
                f"{p.samples:,} samples over the run, over the limit of {MAX_SAMPLES:,}; "
                "sample less often",
                code="projected_too_big",
            )
        )
    if problems:
        raise InputInvalid(loaded.path, problems)
    return p
