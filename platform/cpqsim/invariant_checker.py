"""How an invariant is judged incrementally: the :class:`Checker` base, the shared
:class:`Fold` and the registry.

Kept apart from the rules themselves (:mod:`cpqsim.invariants`,
:mod:`cpqsim.invariants_orders`) so that any module of rules can define checkers without
importing the others. See :mod:`cpqsim.invariants` for how to add one.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, ClassVar

from pydantic import BaseModel, Field

from cpqsim.downstream import LedgerSnapshot
from cpqsim.events import CloudEvent

MAX_EXAMPLES = 5

#: Where a violation falls when no downstream system is involved (a quote, an approval).
PLATFORM = "platform"


@dataclass(frozen=True)
class Violation:
    """One broken instance of an invariant: its sentence, what kind of breach it is and
    the downstream system it falls on (:data:`PLATFORM` when none is involved).

    Counted by kind and by downstream, so a report can say "124 duplicates: 108 in
    provisioning, 16 in shipping" instead of leaving the 16 to be found by reading.
    """

    text: str
    kind: str
    downstream: str = PLATFORM


class InvariantResult(BaseModel):
    name: str
    description: str
    holds: bool
    violations: int
    examples: list[str]
    by_downstream: dict[str, int] = Field(
        default_factory=dict, description="violations per downstream system (or platform)"
    )
    by_kind: dict[str, int] = Field(default_factory=dict, description="violations per kind")


def _watched(watches: tuple[str, ...], name: str) -> bool:
    """Whether facts named ``name`` are among ``watches`` (a name, ``family.*`` or ``*``)."""
    return any(
        w == name or w == "*" or (w.endswith(".*") and name.startswith(w[:-1])) for w in watches
    )


class Fold:
    """A view of the run that several invariants read, folded once per run.

    Why: invariants that judge the same thing from different sides (the installed base
    against provisioning, against billing, against itself) would otherwise each fold the
    same facts into the same view. A checker names the folds it reads in ``reads``; the
    judge builds one fold of each kind per run, hands that one to every checker reading
    it, and shows it each fact it ``watches`` before any checker sees that fact, so a
    checker's ``observe`` finds the fold already up to date. A fold judges nothing: each
    invariant keeps its own judgement, name and counts.
    """

    watches: ClassVar[tuple[str, ...]] = ()

    def observe(self, event: CloudEvent) -> None:
        """Called with every watched event, in log order, before the checkers."""

    @classmethod
    def watching(cls, name: str) -> bool:
        """Whether this fold is shown facts named ``name``."""
        return _watched(cls.watches, name)


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
    #: The shared folds it reads: the keyword it is built with -> the kind of fold.
    reads: ClassVar[dict[str, type[Fold]]] = {}
    #: The kind of a violation reported as a plain sentence (one-kind invariants).
    kind: ClassVar[str] = "violation"

    def __init__(self) -> None:
        self.violations = 0
        self.examples: list[str] = []
        self.by_kind: Counter[str] = Counter()
        self.by_downstream: Counter[str] = Counter()
        self.end_time = ""  # the log's last event's time ("" for an empty log)

    def problem(self, text: str, kind: str | None = None, downstream: str = PLATFORM) -> None:
        """Count one violation (by kind and downstream); keep the first few sentences."""
        self.violations += 1
        self.by_kind[kind or self.kind] += 1
        self.by_downstream[downstream or PLATFORM] += 1
        if len(self.examples) < MAX_EXAMPLES:
            self.examples.append(text)

    def observe(self, event: CloudEvent) -> None:
        """Called with every watched event, in log order."""

    def conclude(self, ledgers: dict[str, LedgerSnapshot]) -> list[str | Violation]:
        """Violations visible only at the end (after those reported while observing):
        sentences (of this checker's ``kind``, on the platform) or :class:`Violation` objects."""
        return []

    def result(
        self, name: str, description: str, ledgers: dict[str, LedgerSnapshot]
    ) -> InvariantResult:
        for late in self.conclude(ledgers):
            if isinstance(late, Violation):
                self.problem(late.text, late.kind, late.downstream)
            else:
                self.problem(late)
        return InvariantResult(
            name=name,
            description=description,
            holds=self.violations == 0,
            violations=self.violations,
            examples=self.examples,
            by_downstream=dict(sorted(self.by_downstream.items())),
            by_kind=dict(sorted(self.by_kind.items())),
        )

    @classmethod
    def watching(cls, name: str) -> bool:
        """Whether this checker is shown facts named ``name``."""
        return _watched(cls.watches, name)


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


def build_checker(
    registration: Registration, particulars: dict[str, Any], folds: dict[type[Fold], Fold]
) -> Checker:
    """The registration's checker, built with the particulars it needs and the folds it
    reads: one fold of each kind per judge (``folds``, filled as they are first asked
    for), so every checker reading a kind reads the same one."""
    arguments = {k: particulars[k] for k in registration.needs}
    for keyword, kind in getattr(registration.factory, "reads", {}).items():
        fold = folds.get(kind)
        if fold is None:
            fold = folds[kind] = kind()
        arguments[keyword] = fold
    return registration.factory(**arguments)


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

        def conclude(self, ledgers: dict[str, LedgerSnapshot]) -> list[str | Violation]:
            return list(check(self.events, ledgers))

    WholeLog.watches = watches if watches is not None else ("*",)
    WholeLog.__name__ = WholeLog.__qualname__ = f"WholeLog[{check.__name__}]"
    return WholeLog
