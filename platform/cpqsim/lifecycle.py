"""Lifecycles as data: transition tables, one error for every illegal move, diagrams.

A table maps ``(state, trigger)`` to the next state. Guards that depend on the
aggregate's content (approval needed? same idempotency key?) live in the aggregate's
``decide``; whether a trigger is *ever* legal in a state lives here, where it can be
read, tested exhaustively and drawn.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum


class DomainError(Exception):
    """A command the domain refuses; ``code`` is stable for clients (HTTP 409/422)."""

    code = "domain_error"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class IllegalTransition(DomainError):
    code = "illegal_transition"


class GuardFailed(DomainError):
    code = "guard_failed"


class TransitionTable:
    def __init__(self, name: str, table: Mapping[tuple[StrEnum, str], StrEnum]) -> None:
        self.name = name
        self._table = dict(table)

    def next_state(self, state: StrEnum, trigger: str, action: str | None = None) -> StrEnum:
        """The state after ``trigger``; ``action`` names it in the error (e.g. a command)."""
        try:
            return self._table[(state, trigger)]
        except KeyError:
            allowed = sorted(t for (s, t) in self._table if s == state)
            raise IllegalTransition(
                f"{self.name}: {action or trigger} is not allowed in state {state.value!r}"
                f" (allowed: {', '.join(allowed) or 'nothing, the state is final'})"
            ) from None

    def allows(self, state: StrEnum, trigger: str) -> bool:
        return (state, trigger) in self._table

    def triggers(self) -> list[str]:
        return sorted({t for (_, t) in self._table})

    def states(self) -> list[StrEnum]:
        seen: dict[str, StrEnum] = {}
        for (s, _), target in self._table.items():
            seen.setdefault(s.value, s)
            seen.setdefault(target.value, target)
        return [seen[k] for k in sorted(seen)]

    def edges(self) -> list[tuple[str, str, str]]:
        return sorted((s.value, t, n.value) for (s, t), n in self._table.items())

    def to_mermaid(self) -> str:
        """A ``stateDiagram-v2`` generated from the table, so the picture cannot drift."""
        lines = ["stateDiagram-v2"]
        lines += [f"    {s} --> {n}: {t}" for s, t, n in self.edges()]
        return "\n".join(lines) + "\n"
