"""A hash-chained audit log: each entry hashes the one before it, so an edit shows.

Every commercial decision (an approval, a discount, a repair, a cancellation, an
acceptance, a conversion) must be provable later, and an audit trail anyone can edit
proves nothing. Each entry therefore carries the hash of the entry before it, and its own
hash covers that: changing one byte of an entry breaks its hash; deleting or reordering
entries breaks the positions and the previous-hash links after them. Whoever keeps the
chain's last hash (the head, printed with every run) can also tell when entries were cut
off the end.

A chain is tamper-*evident*, not tamper-proof: someone who rewrites every entry after an
edit and the recorded head as well is not caught by the chain alone.

The stored form of an entry is one canonical JSON line, ``{"entry": {...}, "hash": H}``,
where ``H`` is the sha256 of the canonical JSON of the entry's content (which includes its
position and the previous entry's hash). Checking a line needs no JSON parsing: the
content is the line between two fixed frames, and its link to the chain sits where the
sorted keys put it (``position`` right before ``previous_hash``). Only a broken line is
parsed, to say what is wrong with it. Nothing here reads a clock: times are the facts'.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass
from json.encoder import encode_basestring

from pydantic import BaseModel, ConfigDict, Field

from cpqsim.canonical import CANONICAL_ENCODER

#: The previous hash of the first entry.
GENESIS_HASH = "0" * 64

_HEAD = b'{"entry":'
_TAIL_LEN = len(',"hash":"') + 64 + len('"}')
_HEX = frozenset(b"0123456789abcdef")
_BODY = (
    '{"action":%s,"actor":%s,"authority":%s,"fact_digest":%s,"fact_id":%s,'
    '"position":%d,"previous_hash":"%s","reason":%s,"subject":%s,"time":%s}'
)
_text = encode_basestring  # a JSON string as the canonical encoder writes it (UTF-8 as is)
_sha256 = hashlib.sha256


class AuditEntry(BaseModel):
    """One decision, as the audit log keeps it.

    ``actor`` is who decided, ``authority`` the role they decided under, ``action`` the
    fact's name (``quote.approved``), ``subject`` what it is about (``quote/Q1``),
    ``fact_id`` and ``fact_digest`` (sha256 of the fact's canonical JSON line) tie the entry
    to the event log.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    position: int = Field(ge=0)
    time: str
    actor: str
    authority: str
    action: str
    subject: str
    reason: str
    fact_id: str
    fact_digest: str
    previous_hash: str
    hash: str

    def line(self) -> str:
        """The stored form: the line the chain hashed."""
        content = self.model_dump(exclude={"hash"})
        return f'{{"entry":{CANONICAL_ENCODER.encode(content)},"hash":"{self.hash}"}}'

    @classmethod
    def from_line(cls, line: str | bytes) -> AuditEntry:
        raw = json.loads(line)
        return cls(**raw["entry"], hash=raw["hash"])


class AuditChain:
    """The writing end of a chain: it holds only the head and the length.

    ``append`` returns the entry's line (without a newline); the caller stores it.
    """

    def __init__(self, head: str = GENESIS_HASH, length: int = 0) -> None:
        self.head = head
        self.length = length

    def append(
        self,
        *,
        time: str,
        actor: str,
        authority: str,
        action: str,
        subject: str,
        reason: str,
        fact_id: str,
        fact_digest: str,
    ) -> str:
        # The canonical JSON of the content (what CANONICAL_ENCODER makes of it: sorted
        # keys, compact, UTF-8 as is), assembled without building a dict first.
        text = _text
        body = _BODY % (
            text(action),
            text(actor),
            text(authority),
            text(fact_digest),
            text(fact_id),
            self.length,
            self.head,
            text(reason),
            text(subject),
            text(time),
        )
        digest = _sha256(body.encode("utf-8")).hexdigest()
        self.head = digest
        self.length += 1
        return f'{{"entry":{body},"hash":"{digest}"}}'


@dataclass(frozen=True)
class ChainBreak:
    """Where a chain stops verifying: the 0-based position of the first bad entry, and why."""

    position: int
    why: str

    def __str__(self) -> str:
        return f"entry {self.position}: {self.why}"


@dataclass(frozen=True)
class ChainSummary:
    """A chain that verified: how many entries, and the last one's hash (its head)."""

    entries: int
    head: str


def verify_chain(entries: Iterable[str | bytes | AuditEntry]) -> ChainBreak | None:
    """None when every entry verifies, otherwise the first bad entry and why.

    ``entries`` are stored lines (str or bytes, a trailing newline allowed) or
    :class:`AuditEntry` objects, in file order.
    """
    outcome = walk_chain(entries)
    return outcome if isinstance(outcome, ChainBreak) else None


def walk_chain(entries: Iterable[str | bytes | AuditEntry]) -> ChainBreak | ChainSummary:
    """Verify the chain and say where it breaks, or how long it is and its head.

    The fast path per line: two fixed frames, one sha256 of the content, and the link
    (position and previous hash) read where the sorted keys put it, found from the end;
    anything else is left to :func:`_diagnose`.
    """
    previous = GENESIS_HASH.encode()
    position = 0
    sha256 = _sha256
    head, frame_len, tail_len = _HEAD, len(_HEAD), _TAIL_LEN
    for item in entries:
        if type(item) is not bytes:
            item = _as_bytes(item)
        line = item[:-1] if item[-1:] == b"\n" else item
        stored = line[-66:-2]
        body = line[frame_len:-tail_len]
        at = body.rfind(b'"previous_hash":"') + 17  # a key: inside a string '"' is escaped
        place = b'"position":%d,' % position
        if (
            sha256(body).hexdigest().encode() != stored
            or line[:frame_len] != head
            or line[-tail_len:-66] != b',"hash":"'
            or line[-2:] != b'"}'
            or body[at : at + 65] != previous + b'"'
            or body[at - 17 - len(place) : at - 17] != place
        ):
            return ChainBreak(position, _diagnose(line, position, previous.decode()))
        previous = stored
        position += 1
    return ChainSummary(entries=position, head=previous.decode())


def _as_bytes(item: str | bytes | AuditEntry) -> bytes:
    if isinstance(item, AuditEntry):
        return item.line().encode("utf-8")
    if isinstance(item, str):
        return item.encode("utf-8", "surrogateescape")
    return bytes(item)


def _diagnose(line: bytes, position: int, expected_previous: str) -> str:
    """Why a line that failed the fast check is bad, in words."""
    try:
        entry = AuditEntry.from_line(line)
    except (ValueError, KeyError, TypeError):
        return "not a readable audit entry (edited: it is no longer the JSON the chain wrote)"
    if set(entry.hash.encode()) - _HEX or len(entry.hash) != 64:
        return "its hash is not a sha256 (edited)"
    if entry.line().encode("utf-8") != line:
        return "not in the canonical form the chain wrote (edited)"
    line = line.rstrip(b"\r\n")
    content = line[len(_HEAD) : -_TAIL_LEN]
    if hashlib.sha256(content).hexdigest() != entry.hash:
        return "its hash does not match its content (edited)"
    if entry.position != position:
        return (
            f"position gap: it says position {entry.position} where {position} was expected "
            "(an entry was deleted, inserted or reordered)"
        )
    return (
        f"previous-hash gap: it follows {entry.previous_hash[:12]}... but the entry before it "
        f"hashes to {expected_previous[:12]}... (an entry was deleted, replaced or reordered)"
    )
