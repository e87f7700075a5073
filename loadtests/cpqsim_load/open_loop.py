"""Open-loop arrivals inside Locust: journeys start on a schedule, not when a user is free.

An :class:`ArrivalClock` greenlet puts one ticket per scheduled arrival (see
``schedule.arrivals_between``) into a queue; a pool of users takes tickets and runs one
journey each. The shape grows the pool with the arrival rate and the backlog, so
arrivals keep their schedule whatever the latency. Each journey is also reported as one
request named ``journey: <kind> (open loop)`` whose time runs from the *scheduled*
arrival to the journey's end: waiting for a free user counts (no coordinated omission).
"""

from __future__ import annotations

import csv
import time
from dataclasses import dataclass
from pathlib import Path

import gevent
from gevent.queue import Empty, Queue

from cpqsim_load.schedule import Plan, arrivals_between, rate_at

TICK_S = 0.05


@dataclass
class JourneyRecord:
    due_s: float  # scheduled arrival, seconds since the run started
    started_s: float
    ended_s: float
    ok: bool
    rate: float  # arrivals per second scheduled when it was due


class ArrivalClock:
    def __init__(self, plan: Plan) -> None:
        self.plan = plan
        self.tickets: Queue = Queue()
        self.records: list[JourneyRecord] = []
        self.t0 = 0.0
        self._greenlet: gevent.Greenlet | None = None
        self.recent_busy_s = 1.0  # smoothed journey duration, sizes the pool

    def start(self) -> None:
        if self._greenlet is None:
            self.t0 = time.monotonic()
            self._greenlet = gevent.spawn(self._run)

    def stop(self) -> None:
        if self._greenlet is not None:
            self._greenlet.kill(block=False)
            self._greenlet = None

    def elapsed(self) -> float:
        return time.monotonic() - self.t0

    def _run(self) -> None:
        emitted_until = 0.0
        while emitted_until < self.plan.run_time_s:
            now = self.elapsed()
            for due in arrivals_between(self.plan, emitted_until, now):
                self.tickets.put(due)
            emitted_until = max(emitted_until, now)
            gevent.sleep(TICK_S)

    def next_ticket(self, timeout_s: float = 1.0) -> float | None:
        try:
            return self.tickets.get(timeout=timeout_s)
        except Empty:
            return None

    def record(self, due: float, started: float, ended: float, ok: bool) -> None:
        rate = rate_at(self.plan, due) or 0.0
        self.records.append(JourneyRecord(due, started, ended, ok, rate))
        self.recent_busy_s = 0.9 * self.recent_busy_s + 0.1 * (ended - started)

    def write(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "w", newline="") as out:
            writer = csv.writer(out)
            writer.writerow(["due_s", "started_s", "ended_s", "latency_s", "ok", "arrival_rate"])
            for r in self.records:
                writer.writerow(
                    [
                        f"{r.due_s:.4f}",
                        f"{r.started_s:.4f}",
                        f"{r.ended_s:.4f}",
                        f"{r.ended_s - r.due_s:.4f}",
                        int(r.ok),
                        f"{r.rate:g}",
                    ]
                )
