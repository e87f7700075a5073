"""The runtime ports: the little a host needs from a runtime, and nothing more.

Two ports, because in the live runtime the two sides live in different processes:

- :class:`DownstreamPort` is what the effect runner needs where orders are executed: what
  time it is, a timer, a call to a downstream system (the reply, if one ever comes, and
  the caller's deadline), a query by reference.
- :class:`PlatformPort` is what the journey interpreter needs where customers are:
  what time it is, a timer, and batches of commands executed on the aggregates.

Everything is callback-style so that one implementation of the host logic serves SimPy
(callbacks from the event loop of a virtual clock), asyncio (callbacks on an actor's
loop) and anything else that can call a function later. A port never decides anything:
it reports what happened, and the host turns that into signals for the core.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from cpqsim.conversion import CreateOrder
from cpqsim.downstream import DownstreamRequest as Request
from cpqsim.downstream import QueryStatus
from cpqsim.order_commands import OrderCommand
from cpqsim.quote import Quote, QuoteCommand
from cpqsim_host.fakes import Reply

Thunk = Callable[[], None]
OnReply = Callable[[Reply], None]
OnAnswer = Callable[[QueryStatus], None]
OnError = Callable[[str], None]


class Clock(Protocol):
    def now_s(self) -> float:
        """Seconds of (virtual) time since the run began."""
        ...

    def schedule(self, delay_s: float, fn: Thunk) -> None:
        """Call ``fn`` once, ``delay_s`` seconds of (virtual) time from now."""
        ...


class DownstreamPort(Clock, Protocol):
    def call(self, request: Request, timeout: float, on_reply: OnReply, on_deadline: Thunk) -> None:
        """Send ``request``; ``on_reply`` when (if ever) a reply arrives, ``on_deadline``
        when the caller's ``timeout`` (seconds) has passed (always, reply or not)."""
        ...

    def query(self, system: str, reference: str, on_answer: OnAnswer, on_error: OnError) -> None:
        """Ask ``system`` what became of ``reference``; ``on_error`` if it cannot answer."""
        ...


@dataclass(frozen=True)
class CommandAnswer:
    """What executing one command on an aggregate came to."""

    ok: bool
    quote: Quote | None = None
    new_events: int = 0
    last_event_id: str | None = None  # the latest fact the command established
    code: str | None = None
    message: str | None = None


@dataclass(frozen=True)
class OrderStarted:
    order_id: str
    created: bool  # False: the order existed already (a replayed conversion)


class PlatformPort(Clock, Protocol):
    def execute(
        self,
        commands: list[tuple[QuoteCommand, str]],
        done: Callable[[list[CommandAnswer]], None],
    ) -> None:
        """Run ``(command, actor)`` pairs in order; ``done`` with one answer per command."""
        ...

    def start_orders(
        self, creates: list[CreateOrder], done: Callable[[list[OrderStarted]], None]
    ) -> None:
        """Create (once per order id) and start the orders; ``done`` with one answer each."""
        ...

    def execute_orders(
        self,
        commands: list[tuple[OrderCommand, str]],
        done: Callable[[list[CommandAnswer]], None],
    ) -> None:
        """Run ``(order command, actor)`` pairs (cancel, repair); one answer each."""
        ...
