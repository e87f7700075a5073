"""The invariant "the audit chain verifies": the written chain is intact and is this run's.

The checker derives the chain itself from the decision facts it is shown (see
:mod:`cpqsim.audit_facts`), keeping only its head. When the run also wrote a chain (the
sim's ``audit.jsonl``), the judge hands the checker a way to read it back: the written
chain must verify entry by entry and end on the same head after the same number of
entries, so an edited, dropped, reordered or foreign entry breaks the invariant, naming
the first bad entry. Every decision must also name who decided and under which authority.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from cpqsim.audit import ChainBreak, walk_chain
from cpqsim.audit_facts import DECISIONS, AuditRecorder, decision
from cpqsim.downstream import LedgerSnapshot
from cpqsim.events import CloudEvent
from cpqsim.invariant_checker import Checker, Violation

#: Reads the written chain back, line by line (None: the run wrote none).
AuditLines = Callable[[], Iterable[str | bytes]] | None


class AuditChainVerifies(Checker):
    watches = tuple(DECISIONS)
    kind = "decision without actor or authority"

    def __init__(self, audit_lines: AuditLines = None) -> None:
        super().__init__()
        self.recorder = AuditRecorder()
        self.audit_lines = audit_lines

    def observe(self, event: CloudEvent) -> None:
        who = decision(event)
        if who is None:
            return
        actor, authority, _ = who
        if not actor.strip() or not authority.strip():
            missing = "actor" if not actor.strip() else "authority"
            self.problem(f"{event.subject} {event.name} ({event.id}) records no {missing}")
        self.recorder.observe(event)

    def conclude(self, ledgers: dict[str, LedgerSnapshot]) -> list[str | Violation]:
        if self.audit_lines is None:
            return []
        written = walk_chain(self.audit_lines())
        if isinstance(written, ChainBreak):
            return [Violation(f"the written audit chain breaks at {written}", "chain broken")]
        derived = self.recorder.chain
        if (written.entries, written.head) != (derived.length, derived.head):
            text = (
                f"the written audit chain ({written.entries} entries, head "
                f"{written.head[:12]}...) is not the chain of this run's decisions "
                f"({derived.length} entries, head {derived.head[:12]}...)"
            )
            return [Violation(text, "chain not this run's")]
        return []


AUDIT_CHECKS: list[tuple[str, str, type[Checker], tuple[str, ...]]] = [
    (
        "audit_chain_verifies",
        "every decision is in a hash-chained audit log that verifies, names who decided "
        "under which authority, and ends on the head of this run's decisions",
        AuditChainVerifies,
        ("audit_lines",),
    ),
]
