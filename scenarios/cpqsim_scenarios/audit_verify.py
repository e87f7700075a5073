"""``cpqsim audit verify RUN_DIR``: does a run folder's audit chain still hold?

Reads ``audit.jsonl`` and checks every entry's hash and its link to the one before (see
:mod:`cpqsim.audit`); then what the rest of the folder recorded: ``result.json`` names the
chain's length and head (so entries cut off the end show), and each entry's fact digest
must match its fact's line in ``events.jsonl``. A folder that is not a run folder is bad
input (exit 2); a chain that does not verify is exit :data:`EXIT_AUDIT_BROKEN`, naming
the file, the 0-based index of the first bad entry and why. Nothing is ever written.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

from cpqsim.audit import AuditEntry, ChainBreak, walk_chain
from cpqsim_scenarios.errors import InputInvalid
from cpqsim_scenarios.runner import AUDIT_FILE

#: The chain of a run folder does not verify (edited, deleted, reordered or cut entries).
EXIT_AUDIT_BROKEN = 4

# In a canonical event line the id follows the constant content type (keys are sorted).
_ID_MARK = b'"datacontenttype":"application/json","id":"'


@dataclass(frozen=True)
class AuditVerdict:
    file: Path
    entries: int
    head: str
    problem: str | None = None  # None: the chain verifies

    @property
    def verifies(self) -> bool:
        return self.problem is None


def verify_run_folder(run_dir: Path) -> AuditVerdict:
    """Verify ``run_dir``'s audit chain; :class:`InputInvalid` if it is no run folder."""
    shown = str(run_dir)
    if not run_dir.exists():
        raise InputInvalid(shown, [("", "no such folder")])
    if not run_dir.is_dir():
        raise InputInvalid(shown, [("", "is a file, not a run folder (give the folder)")])
    audit = run_dir / AUDIT_FILE
    if not audit.is_file():
        where = f"{run_dir.resolve()}" if shown in {".", ""} else shown
        raise InputInvalid(
            where,
            [("", f"holds no {AUDIT_FILE}: not a run folder written by `cpqsim run --out`")],
        )
    try:
        with open(audit, "rb") as lines:
            outcome = walk_chain(lines)
    except OSError as exc:
        raise InputInvalid(str(audit), [("", f"cannot be read: {exc.strerror}")]) from None
    if isinstance(outcome, ChainBreak):
        return AuditVerdict(audit, outcome.position, "", _at(outcome.position, outcome.why))
    verdict = AuditVerdict(audit, outcome.entries, outcome.head)
    return _against_result(run_dir, verdict) or _against_events(run_dir, verdict) or verdict


def _at(position: int, why: str) -> str:
    return f"entry {position} (line {position + 1}): {why}"


def _against_result(run_dir: Path, verdict: AuditVerdict) -> AuditVerdict | None:
    """The length and head ``result.json`` recorded: entries cut off the end show here."""
    try:
        recorded = json.loads((run_dir / "result.json").read_text(encoding="utf-8"))
        chain = recorded["audit_chain"]
        entries, head = int(chain["entries"]), str(chain["head"])
    except (OSError, ValueError, KeyError, TypeError):
        return None  # no record to compare with: the chain alone is all there is
    if (entries, head) == (verdict.entries, verdict.head):
        return None
    if verdict.entries < entries:
        why = (
            f"entry {verdict.entries} (line {verdict.entries + 1}): missing — the chain ends "
            f"after {verdict.entries} entries but result.json records {entries} "
            "(entries were cut off the end)"
        )
    else:
        why = _at(
            min(entries, verdict.entries),
            f"the chain ({verdict.entries} entries, head {verdict.head[:12]}...) is not the one "
            f"result.json records ({entries} entries, head {head[:12]}...)",
        )
    return AuditVerdict(verdict.file, verdict.entries, verdict.head, why)


def _against_events(run_dir: Path, verdict: AuditVerdict) -> AuditVerdict | None:
    """Each entry's fact digest against its fact's line in ``events.jsonl``."""
    events = run_dir / "events.jsonl"
    if not events.is_file():
        return None
    wanted: dict[bytes, tuple[int, str]] = {}
    with open(verdict.file, "rb") as lines:
        for position, line in enumerate(lines):
            entry = AuditEntry.from_line(line)
            wanted[entry.fact_id.encode()] = (position, entry.fact_digest)
    found: dict[int, str] = {}
    with open(events, "rb") as lines:
        for line in lines:
            start = line.find(_ID_MARK)
            if start < 0:
                continue
            start += len(_ID_MARK)
            fact_id = line[start : line.index(b'"', start)]
            if fact_id in wanted:
                position, digest = wanted[fact_id]
                actual = "sha256:" + hashlib.sha256(line.rstrip(b"\r\n")).hexdigest()
                found[position] = "" if actual == digest else "differs"
    for position in range(verdict.entries):
        state = found.get(position)
        if state is None or state:
            why = "its fact is missing from" if state is None else "its fact was changed in"
            return AuditVerdict(
                verdict.file, verdict.entries, verdict.head, _at(position, f"{why} events.jsonl")
            )
    return None
