"""How an invariant is judged incrementally: the :class:`Checker` base and its registry.

Kept apart from the rules themselves (:mod:`cpqsim.invariants`,
:mod:`cpqsim.invariants_orders`) so that any module of rules can define checkers without
importing the others. See :mod:`cpqsim.invariants` for how to add one.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import ClassVar

from pydantic import BaseModel

from cpqsim.downstream import LedgerSnapshot
from cpqsim.events import CloudEvent

MAX_EXAMPLES = 5


class InvariantResult(BaseModel):
    name: str
    description: str
    holds: bool
    violations: int
    examples: list[str]


class Checker:
    """One invariant, judged as the log goes by.

    ``watches`` names the facts it is shown (``quote.accepted``, ``order.created``...;
    ``order.*`` for every fact whose name starts with ``order.``; ``*`` for all);
    ``observe`` sees each of them once, in log order; ``conclude`` adds what only the
    end of the run and the ledgers can show (``end_time``, the time of the log's last
    event, is set before it is called). Problems reported while observing are counted,
    and the first few kept as examples, so a run with a million violations is judged in
    the same memory as a clean one.
    """

    watches: ClassVar[tuple[str, ...]] = ()

    def __init__(self) -> None:
        self.violations = 0
        self.examples: list[str] = []
        self.end_time = ""  # the log's last event's time ("" for an empty log)

    def problem(self, text: str) -> None:
        self.violations += 1
        if len(self.examples) < MAX_EXAMPLES:
            self.examples.append(text)

    def observe(self, event: CloudEvent) -> None:
        """Called with every watched event, in log order."""

    def conclude(self, ledgers: dict[str, LedgerSnapshot]) -> list[str]:
        """Violations visible only at the end (after those reported while observing)."""
        return []

    def result(
        self, name: str, description: str, ledgers: dict[str, LedgerSnapshot]
    ) -> InvariantResult:
        late = self.conclude(ledgers)
        examples = (self.examples + late)[:MAX_EXAMPLES]
        violations = self.violations + len(late)
        return InvariantResult(
            name=name,
            description=description,
            holds=violations == 0,
            violations=violations,
            examples=examples,
        )

    @classmethod
    def watching(cls, name: str) -> bool:
        """Whether this checker is shown facts named ``name``."""
        return any(
            w == name or w == "*" or (w.endswith(".*") and name.startswith(w[:-1]))
            for w in cls.watches
        )


def seconds_between(a: str, b: str) -> float:
    """Seconds from event time ``a`` to event time ``b`` (ISO 8601, ``Z`` for UTC)."""
    parse = datetime.fromisoformat
    return (parse(b.replace("Z", "+00:00")) - parse(a.replace("Z", "+00:00"))).total_seconds()


CheckerFactory = Callable[..., Checker]


@dataclass(frozen=True)
class Registration:
    """One registered invariant: its name, its sentence, how to build its checker and
    which of the run's particulars the checker is built with (``catalogs``,
    ``approval_sla_s``)."""

    name: str
    description: str
    factory: CheckerFactory
    needs: tuple[str, ...] = ()


REGISTERED: list[Registration] = []


def invariant(name: str, description: str, *, needs: Iterable[str] = (), watches=None):
    """Register a :class:`Checker` subclass (or a whole-log function) as an invariant.

    ``needs``: keyword arguments the checker is built with (see
    :class:`cpqsim.invariants.InvariantJudge`); a checker needing ``catalogs`` is left out
    of a judge given no catalog. A plain function ``check(events, ledgers) -> list[str]``
    is handed the events it ``watches``, kept until the end (without ``watches``, every
    event: only for small logs).
    """

    def register(target):
        factory: CheckerFactory = target
        if not (isinstance(target, type) and issubclass(target, Checker)):
            factory = _whole_log(target, None if watches is None else tuple(watches))
        REGISTERED.append(
            Registration(name=name, description=description, factory=factory, needs=tuple(needs))
        )
        return target

    return register


def _whole_log(check: Callable[..., list[str]], watches: tuple[str, ...] | None):
    """A function over (events, ledgers) as a checker: it keeps the events it watches."""

    class WholeLog(Checker):
        def __init__(self) -> None:
            super().__init__()
            self.events: list[CloudEvent] = []

        def observe(self, event: CloudEvent) -> None:
            self.events.append(event)

        def conclude(self, ledgers: dict[str, LedgerSnapshot]) -> list[str]:
            return list(check(self.events, ledgers))

    WholeLog.watches = watches if watches is not None else ("*",)
    WholeLog.__name__ = WholeLog.__qualname__ = f"WholeLog[{check.__name__}]"
    return WholeLog
