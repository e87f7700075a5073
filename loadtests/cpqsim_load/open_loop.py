"""Open-loop arrivals inside Locust: journeys start on a schedule, not when a user is free.

An :class:`ArrivalClock` greenlet puts one ticket per scheduled arrival (see
``schedule.arrivals_between``) into a queue; a pool of users takes tickets and runs one
journey each. The shape grows the pool with the arrival rate and the backlog, so
arrivals keep their schedule whatever the latency. Each journey is also reported as one
request named ``journey: <kind> (open loop)`` whose time runs from the *scheduled*
arrival to the journey's end: waiting for a free user counts (no coordinated omission).
``open_loop_journeys.csv`` lists every arrival due during the run, including those cut
off by its end (``in_flight``, ``not_started``), with the stop as their latency's lower
bound.
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
    started_s: float | None  # None: never picked up before the run stopped
    ended_s: float  # for an unfinished journey: when the run stopped (a lower bound)
    outcome: str  # ok, failed, in_flight (cut off by the stop) or not_started
    rate: float  # arrivals per second scheduled when it was due

    @property
    def ok(self) -> bool:
        return self.outcome == "ok"


class ArrivalClock:
    def __init__(self, plan: Plan) -> None:
        self.plan = plan
        self.tickets: Queue = Queue()
        self.records: list[JourneyRecord] = []
        self.t0 = 0.0
        self._greenlet: gevent.Greenlet | None = None
        self.recent_busy_s = 1.0  # smoothed journey duration, sizes the pool
        self.in_flight: dict[int, tuple[float, float]] = {}  # token -> (due, started)
        self._tokens = 0

    def start(self) -> None:
        if self._greenlet is None:
            self.t0 = time.monotonic()
            self._greenlet = gevent.spawn(self._run)

    def stop(self) -> None:
        """Stop emitting; journeys cut off by the stop are recorded, not forgotten.

        A run that ends while the server is saturated leaves journeys in flight and
        arrivals never picked up; dropping them would hide exactly the saturation an
        open-loop test is there to show. They are recorded with the stop as a lower
        bound of their latency.
        """
        if self._greenlet is not None:
            self._greenlet.kill(block=False)
            self._greenlet = None
        stopped = self.elapsed()
        for due, started in self.in_flight.values():
            self._add(JourneyRecord(due, started, stopped, "in_flight", self._rate(due)))
        self.in_flight.clear()
        while not self.tickets.empty():
            due = self.tickets.get_nowait()
            if due < stopped:
                self._add(JourneyRecord(due, None, stopped, "not_started", self._rate(due)))

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

    def begin(self, due: float) -> int:
        """A user picked up the arrival due at ``due``; returns its token for ``finish``."""
        self._tokens += 1
        self.in_flight[self._tokens] = (due, self.elapsed())
        return self._tokens

    def finish(self, token: int, ok: bool) -> float:
        """Record the journey; returns its latency from the scheduled arrival, in seconds."""
        due, started = self.in_flight.pop(token)
        ended = self.elapsed()
        outcome = "ok" if ok else "failed"
        self._add(JourneyRecord(due, started, ended, outcome, self._rate(due)))
        self.recent_busy_s = 0.9 * self.recent_busy_s + 0.1 * (ended - started)
        return ended - due

    def _rate(self, due: float) -> float:
        return rate_at(self.plan, due) or 0.0

    def _add(self, record: JourneyRecord) -> None:
        self.records.append(record)

    def write(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "w", newline="") as out:
            writer = csv.writer(out)
            writer.writerow(
                ["due_s", "started_s", "ended_s", "latency_s", "ok", "outcome", "arrival_rate"]
            )
            for r in sorted(self.records, key=lambda r: r.due_s):
                writer.writerow(
                    [
                        f"{r.due_s:.4f}",
                        "" if r.started_s is None else f"{r.started_s:.4f}",
                        f"{r.ended_s:.4f}",
                        f"{r.ended_s - r.due_s:.4f}",
                        int(r.ok),
                        r.outcome,
                        f"{r.rate:g}",
                    ]
                )
