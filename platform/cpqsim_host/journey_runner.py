"""The journey interpreter and the conversion step, written once against a PlatformPort.

Each planned journey is a step generator (:mod:`cpqsim_host.journey_script`): it yields
"wait", "run this command" or "convert", and is resumed with the answer. The runner turns
those steps into port calls. A runtime that executes commands at once (the sim) resumes
the journey at once; one that batches (the live driver gathers every command due in one
tick into one call per shard) resumes it when the batch comes back. Journey statistics
are counted here, the same way for every runtime.

Conversion is two sides: the quote side decides whether the quote converts (idempotent
per key); the conversion process manager (:func:`cpqsim.conversion.order_to_create`)
says which order that calls for; the order side creates it once per order id.
"""

from __future__ import annotations

from collections.abc import Callable

from cpqsim.conversion import CreateOrder, order_to_create
from cpqsim.quote import (
    ConvertQuoteToOrder,
    EscalateApproval,
    ExpireQuote,
    PresentQuote,
    QuoteCommand,
    SubmitQuoteForApproval,
)
from cpqsim_host.journey_script import (
    Command,
    Convert,
    Journey,
    OrderCommandStep,
    Wait,
    journey,
)
from cpqsim_host.journeys import JourneyPlan
from cpqsim_host.outcome import JourneyStats
from cpqsim_host.port import CommandAnswer, OrderStarted, PlatformPort

APPROVAL_OWNER = "sales-operations"
VALIDITY_WATCH = "quote-validity-watch"


class JourneyRunner:
    """Runs customers' journeys; with ``approval_timeout_s`` it also watches approvals.

    The watch is the platform's side of a lost approval callback: a quote submitted for
    approval and still pending after the timeout is escalated to an owner, so no quote
    waits silently for a decision that will never come.
    """

    def __init__(
        self,
        port: PlatformPort,
        stats: JourneyStats | None = None,
        approval_timeout_s: float | None = None,
        on_finished: Callable[[JourneyPlan], None] | None = None,
    ) -> None:
        self.port = port
        self.stats = stats or JourneyStats()
        self.approval_timeout_s = approval_timeout_s
        self.active = 0  # journeys started and not finished
        # Told when a journey has taken its last step (a long run then forgets its quote).
        self.on_finished = on_finished

    def start(self, plans: list[JourneyPlan]) -> None:
        """Schedule every journey at its arrival time (relative to now)."""
        now = self.port.now_s()
        for plan in plans:
            self.active += 1
            self.port.schedule(
                max(plan.arrival_s - now, 0.0),
                lambda plan=plan: self._advance(self._journey(plan), None),
            )

    def _journey(self, plan: JourneyPlan) -> Journey:
        yield from journey(plan, self.stats)
        if self.on_finished is not None:
            self.on_finished(plan)

    def _advance(self, gen: Journey, answer: object) -> None:
        try:
            step = gen.send(answer)
        except StopIteration:
            self.active -= 1
            return
        if isinstance(step, Wait):
            self.port.schedule(step.seconds, lambda: self._advance(gen, None))
        elif isinstance(step, Command):
            self.port.execute(
                [(step.command, step.actor)],
                lambda answers: self._answered(gen, step.command, answers[0]),
            )
        elif isinstance(step, OrderCommandStep):
            self.port.execute_orders(
                [(step.command, step.actor)], lambda answers: self._advance(gen, answers[0])
            )
        elif isinstance(step, Convert):
            self.convert(
                [(step.quote_id, step.key, step.actor)],
                lambda outcomes: self._advance(gen, outcomes[0]),
            )

    def _answered(self, gen: Journey, command: QuoteCommand, answer: CommandAnswer) -> None:
        if not answer.ok:
            self.stats.commands_refused += 1  # refused, as a real seller would be told
        elif isinstance(command, SubmitQuoteForApproval) and self.approval_timeout_s:
            self.port.schedule(self.approval_timeout_s, lambda: self._escalate(command.quote_id))
        elif isinstance(command, PresentQuote):
            self._watch_validity(answer)
        self._advance(gen, answer)

    def _watch_validity(self, answer: CommandAnswer) -> None:
        """Arm the validity timer: at valid-until, the offer lapses unless taken up.

        The delay is the quote's own validity (valid-until minus the instant it was
        presented), in the runtime's time: virtual in the sim, scaled wall time live.
        """
        quote = answer.quote
        if quote is None or quote.valid_until is None or quote.presented_at is None:
            return
        delay = (quote.valid_until - quote.presented_at).total_seconds()
        self.port.schedule(delay, lambda: self._expire(quote.quote_id))

    def _expire(self, quote_id: str) -> None:
        """Expire the offer if it is still open (refused otherwise: accepted, revised...)."""

        def answered(answers: list[CommandAnswer]) -> None:
            if answers[0].ok:
                self.stats.expired += 1

        self.port.execute([(ExpireQuote(quote_id=quote_id), VALIDITY_WATCH)], answered)

    def _escalate(self, quote_id: str) -> None:
        """Escalate the approval if it is still pending (refused otherwise: nothing due)."""
        command = EscalateApproval(
            quote_id=quote_id, owner=APPROVAL_OWNER, reason="approval overdue"
        )

        def answered(answers: list[CommandAnswer]) -> None:
            if answers[0].ok:
                self.stats.approvals_escalated += 1

        self.port.execute([(command, "approval-watch")], answered)

    def convert(
        self,
        items: list[tuple[str, str, str]],
        done: Callable[[list[CommandAnswer]], None],
    ) -> None:
        """Convert ``(quote id, idempotency key, actor)`` items; ``done`` with the quote
        side's answer for each, once the orders they call for exist."""
        commands = [
            (ConvertQuoteToOrder(quote_id=q, idempotency_key=key), actor) for q, key, actor in items
        ]

        def quotes_answered(answers: list[CommandAnswer]) -> None:
            creates: list[CreateOrder] = []
            for (_, _, actor), answer in zip(items, answers, strict=True):
                if not answer.ok:
                    self.stats.conversions_refused += 1
                    continue
                if answer.new_events == 0:
                    self.stats.conversion_replays += 1  # same key again: the same order
                assert answer.quote is not None
                create = order_to_create(answer.quote, actor, answer.last_event_id)
                if create is not None:
                    creates.append(create)

            def orders_started(started: list[OrderStarted]) -> None:
                self.stats.converted += sum(1 for s in started if s.created)
                done(answers)

            if creates:
                self.port.start_orders(creates, orders_started)
            else:
                done(answers)

        self.port.execute(commands, quotes_answered)
