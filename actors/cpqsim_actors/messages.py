"""Plain data that crosses actor boundaries: command results and aggregate views.

Actors return results instead of raising domain errors: a refused command is an
ordinary answer (the gateway maps it to 404/409/422), and Ray's exception wrapping
never has to be unpicked on the hot path.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from cpqsim.order import Order
from cpqsim.quote import Quote

Outcome = Literal["ok", "not_found", "refused", "invalid"]


@dataclass(frozen=True)
class QuoteView:
    quote: Quote
    created: str  # CloudEvent time of QuoteCreated
    updated: str  # time of the latest fact


@dataclass(frozen=True)
class OrderView:
    order: Order
    created: str
    updated: str
    completed: str | None = None


@dataclass(frozen=True)
class CommandResult:
    outcome: Outcome
    view: QuoteView | None = None
    new_events: int = 0
    last_event_id: str | None = None  # the latest fact the command established
    code: str | None = None
    message: str | None = None
    violations: list[dict[str, Any]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.outcome == "ok"

    @property
    def quote(self):
        """The quote after the command (the journey script's ``Answer`` protocol)."""
        return self.view.quote if self.view is not None else None


@dataclass(frozen=True)
class ConvertOutcome:
    """Both halves of a conversion: the quote's answer and, if it converted, the order."""

    result: CommandResult
    order: OrderView | None = None
    created: bool = False  # this call created the order (first conversion)

    @property
    def replay(self) -> bool:
        return self.result.ok and self.result.new_events == 0
