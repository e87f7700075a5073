"""A downstream fake embodied as SimPy processes, the one body every runtime uses.

The model (capacity, service time, faults, ledger) is the pure definition in
``cpqsim.downstream``; this class gives it a body in a SimPy environment. It lives in the
host so that both runtimes import it from a neutral place: the sim runtime runs it in
virtual time, and a downstream actor (Ray or in-process) steps a private environment
against the wall clock. Only one thread ever touches an environment.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass

import simpy

from cpqsim.downstream import (
    DownstreamLedger,
    DownstreamProfile,
    DownstreamRequest,
    Fault,
    QueryStatus,
    in_outage,
    sample_fault,
    sample_service_time,
)

DUPLICATE_REPLY_AFTER_S = 30.0  # a duplicate callback arrives this long after the first


@dataclass(frozen=True)
class Reply:
    ok: bool
    error: str | None = None
    retryable: bool = True


def to_ms(t: float) -> int:
    return round(t * 1000)


class SimDownstream:
    def __init__(self, env: simpy.Environment, profile: DownstreamProfile, rng: random.Random):
        self.env = env
        self.profile = profile
        self.rng = rng
        self.servers = simpy.Resource(env, capacity=profile.servers)
        self.ledger = DownstreamLedger(profile)
        self.calls = 0
        self.rejected = 0
        self.latencies: list[tuple[float, float]] = []  # (finished at, seconds in system)
        self.waited_s = 0.0  # total time requests spent queued for a server
        self.served = 0  # requests that got a server
        self.busy_s = 0.0  # total server time spent serving (utilisation = busy / capacity)
        self._refused: set[str] = set()  # references refused on business grounds

    @property
    def queue_length(self) -> int:
        return len(self.servers.queue)

    @property
    def busy(self) -> int:
        return self.servers.count

    def call(self, request: DownstreamRequest, on_reply: Callable[[Reply], None]) -> simpy.Process:
        """Send a request; ``on_reply`` is called when (if ever) the reply arrives.

        The returned process ends when the downstream is done with the request, so a
        host can tell a lost response (process ended, no reply) from a slow one.
        """
        self.calls += 1
        return self.env.process(self._serve(request, on_reply))

    def query(self, reference: str, on_answer: Callable[[QueryStatus], None]) -> None:
        """Query-by-reference: answered after the query latency, from the ledger."""
        self.env.process(self._answer(reference, on_answer))

    def _answer(self, reference: str, on_answer: Callable[[QueryStatus], None]):
        yield self.env.timeout(self.profile.query_latency_s)
        on_answer(self.ledger.query(reference))

    def _serve(self, request: DownstreamRequest, on_reply: Callable[[Reply], None]):
        p = self.profile
        sent_at = self.env.now
        yield self.env.timeout(p.network_latency_s)
        refusal = None
        if in_outage(p, self.env.now):
            refusal = "unavailable: outage"
        elif len(self.servers.queue) >= p.queue_limit:
            refusal = "busy: queue full"
        if refusal:
            self.rejected += 1
            self.ledger.reject(request, to_ms(self.env.now), Fault.ERROR)
            yield self.env.timeout(p.network_latency_s)
            on_reply(Reply(ok=False, error=refusal, retryable=True))
            return
        entry = self.ledger.accept(request, to_ms(self.env.now))
        queued_at = self.env.now
        with self.servers.request() as slot:
            yield slot
            self.waited_s += self.env.now - queued_at
            self.served += 1
            self.ledger.start(entry, to_ms(self.env.now))
            fault = sample_fault(p, self.rng)
            service = sample_service_time(p, self.rng)
            # A business refusal is about the request's content (the account's data): asked
            # again, the same thing is refused again. That is why it must not be retried.
            if request.reference in self._refused:
                fault = Fault.REJECTION
            elif fault is Fault.REJECTION:
                self._refused.add(request.reference)
            if fault is Fault.STALL:
                service += p.faults.stall_s
            self.busy_s += service
            yield self.env.timeout(service)
            self.ledger.finish(entry, to_ms(self.env.now), fault)
        self.latencies.append((self.env.now, self.env.now - sent_at))
        if fault is Fault.LOST_RESPONSE:
            return  # executed, but the reply never arrives
        yield self.env.timeout(p.network_latency_s)
        if fault is Fault.ERROR:
            on_reply(Reply(ok=False, error=f"{p.name} {request.operation} failed", retryable=True))
        elif fault is Fault.REJECTION:
            on_reply(
                Reply(
                    ok=False,
                    error=f"{p.name} rejected {request.operation}: invalid account data",
                    retryable=False,
                )
            )
        else:
            on_reply(Reply(ok=True))
            if fault is Fault.DUPLICATE_REPLY:  # the callback comes again, later
                yield self.env.timeout(DUPLICATE_REPLY_AFTER_S)
                on_reply(Reply(ok=True))
