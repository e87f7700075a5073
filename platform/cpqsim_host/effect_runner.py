"""Effects in, signals out: the one effect runner every runtime uses.

The core decides (``CallDownstream``, ``QueryDownstream``, ``StartTimer``,
``RaiseFallout``); this runner performs each effect through a :class:`DownstreamPort` and
turns what the world answers into the core's signals: a reply (however late) is
``DownstreamReplied``; the caller's deadline without a reply is ``DownstreamTimedOut`` (a
lost response is silence, learnt only at the deadline); a query's answer is
``ReconciliationAnswered`` and a failed query ``ReconciliationFailed`` (which the policy
treats like an unknown outcome, never like "not done"). Each signal names the fact whose
effect it answers, so the facts decided on it carry that id as their causation.
"""

from __future__ import annotations

from collections.abc import Callable

from cpqsim.orchestration import (
    CallDownstream,
    Effect,
    QueryDownstream,
    RaiseFallout,
    Signal,
    StartTimer,
    answered,
    fired,
    query_failed,
    replied,
    timed_out,
)
from cpqsim_host.fakes import Reply
from cpqsim_host.port import DownstreamPort


class EffectRunner:
    def __init__(
        self,
        port: DownstreamPort,
        deliver: Callable[[Signal], None],
        on_fallout: Callable[[RaiseFallout], None] | None = None,
    ) -> None:
        self.port = port
        self.deliver = deliver
        self.on_fallout = on_fallout  # e.g. the operations desk's queue
        self.fallout_cases = 0
        self._run: dict[type[Effect], Callable[[Effect], None]] = {
            CallDownstream: self._call,  # type: ignore[dict-item]
            QueryDownstream: self._query,  # type: ignore[dict-item]
            StartTimer: self._timer,  # type: ignore[dict-item]
            RaiseFallout: self._fallout,  # type: ignore[dict-item]
        }

    def run(self, effects: list[Effect]) -> None:
        for effect in effects:
            self._run[type(effect)](effect)

    def _call(self, effect: CallDownstream) -> None:
        request, cause = effect.request, effect.caused_by
        heard = False

        def on_reply(reply: Reply) -> None:
            nonlocal heard
            heard = True
            self.deliver(replied(request, reply.ok, reply.error, reply.retryable, cause))

        def on_deadline() -> None:
            if not heard:  # a reply that came first settles it; a late one still counts
                self.deliver(timed_out(request, cause))

        self.port.call(request, effect.timeout_s, on_reply, on_deadline)

    def _query(self, effect: QueryDownstream) -> None:
        self.port.query(
            effect.system,
            effect.reference,
            lambda status: self.deliver(answered(effect, status)),
            lambda reason: self.deliver(query_failed(effect, reason)),
        )

    def _timer(self, effect: StartTimer) -> None:
        self.port.schedule(effect.delay_s, lambda: self.deliver(fired(effect)))

    def _fallout(self, effect: RaiseFallout) -> None:
        self.fallout_cases += 1  # the case is a fact on the order; this is only a count
        if self.on_fallout is not None:
            self.on_fallout(effect)
