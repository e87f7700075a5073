"""Business facts, their CloudEvents envelope, and the log that records them.

Domain events are small frozen pydantic models named in the past tense; the envelope
adds what every consumer needs to route, trace and deduplicate them (id, versioned type,
source, subject, time, correlation and causation ids). Commands are never dressed up as
events: nothing here is an instruction.

The log writes each event once, as the canonical JSON line determinism is judged on. A
long run streams: the lines go to a sink the shell opened (a file), the sha256 of the
JSONL grows line by line, and observers (the incremental invariant checker) see each
event as it is appended, so nothing grows with the number of events ever seen.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable, Iterator
from typing import Any, ClassVar, Literal, Protocol

from pydantic import BaseModel, ConfigDict, Field

from cpqsim.canonical import CANONICAL_ENCODER, canonical_json, to_plain
from cpqsim.context import Context, iso


class DomainEvent(BaseModel):
    """A fact that happened. Subclasses set ``type_name`` and ``aggregate``."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    type_name: ClassVar[str] = "event"
    aggregate: ClassVar[str] = "platform"
    version: ClassVar[int] = 1

    def subject(self) -> str:  # pragma: no cover - overridden
        return self.aggregate

    @classmethod
    def cloudevent_type(cls) -> str:
        return f"cpqsim.{cls.aggregate}.{cls.type_name}.v{cls.version}"


class CloudEvent(BaseModel):
    """CloudEvents 1.0 structured-mode envelope (JSON format).

    Extension attribute names follow the spec (lower-case alphanumerics only), hence
    ``correlationid`` and ``causationid``. ``causationid`` is the id of what caused the
    fact: the command (``cmd-...``) or, for facts of fulfilment, the event whose effect
    was answered (the dispatch a reply answers, the retry a timer fires). ``actor`` is
    the party on whose authority the fact happened (a seller, an approver, the
    orchestrator).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    specversion: Literal["1.0"] = "1.0"
    id: str
    type: str
    source: str
    subject: str
    time: str
    datacontenttype: Literal["application/json"] = "application/json"
    correlationid: str
    causationid: str | None = None
    actor: str = "system"
    data: dict[str, Any] = Field(default_factory=dict)

    @property
    def name(self) -> str:
        """The bare fact name, e.g. ``quote.accepted``."""
        return self.type.removeprefix("cpqsim.").rsplit(".", 1)[0]

    def to_json(self) -> str:
        """The canonical JSON line of this envelope (sorted keys, compact, UTF-8).

        An envelope made by :func:`envelope` (or read back from JSON) already holds plain
        data, so its fields are encoded as they are: the same bytes as
        ``canonical_json(self.model_dump())`` without rebuilding the tree first. Data that
        is not plain yet (Decimals, models, dates put in by hand) takes that exact path.
        """
        try:
            return CANONICAL_ENCODER.encode(self.__dict__)
        except TypeError:
            return canonical_json(self.model_dump())


def envelope(event: DomainEvent, ctx: Context, source: str = "/cpqsim") -> CloudEvent:
    """Wrap a fact with its metadata, taking id and time from the context only.

    Every fact of every run passes here, so the envelope is assembled from values that
    already have their types (the fact was validated when it was made, its data is
    reduced to plain JSON values, the context holds strings) instead of being validated
    again; a context holding anything but strings takes the validating constructor and
    is refused as before.
    """
    subject = event.subject()
    values = {
        "specversion": "1.0",
        "id": ctx.ids.next("evt"),
        "type": event.cloudevent_type(),
        "source": f"{source}/{event.aggregate}",
        "subject": subject,
        "time": _time_text(ctx.now),
        "datacontenttype": "application/json",
        "correlationid": ctx.correlation_id or subject,
        "causationid": ctx.causation_id,
        "actor": ctx.actor,
        "data": to_plain(event.model_dump()),
    }
    if (
        type(values["correlationid"]) is not str
        or type(ctx.actor) is not str
        or not (ctx.causation_id is None or type(ctx.causation_id) is str)
    ):
        del values["specversion"], values["datacontenttype"]
        return CloudEvent(**values)
    built = _new(CloudEvent)
    _set_dict(built, values)
    _set_fields(built, set(_ENVELOPE_FIELDS))
    _set_extra(built, None)
    _set_private(built, None)
    return built


# What the validating constructor marks as set: every field but the two constants.
_ENVELOPE_FIELDS = frozenset(CloudEvent.model_fields) - {"specversion", "datacontenttype"}
_new = object.__new__
_set_dict = BaseModel.__dict__["__dict__"].__set__
_set_fields = BaseModel.__dict__["__pydantic_fields_set__"].__set__
_set_extra = BaseModel.__dict__["__pydantic_extra__"].__set__
_set_private = BaseModel.__dict__["__pydantic_private__"].__set__

# The facts of one decision share one instant: its text is made once.
_last_time: tuple[Any, str] = (None, "")


def _time_text(now: Any) -> str:
    global _last_time
    instant, text = _last_time
    if now != instant:
        text = iso(now)
        _last_time = (now, text)
    return text


class LineSink(Protocol):
    """Where a streamed log's lines go; the shell implements it over a file."""

    def write(self, line: str) -> None:
        """Keep one line (its newline included)."""

    def lines(self) -> Iterable[str]:
        """Every line kept so far, in order (read back, e.g. for a restart's replay)."""


Observer = Callable[["CloudEvent"], None]


class EventLog:
    """Append-only log of envelopes; its canonical JSONL is what determinism is judged on.

    Without a sink it keeps every event in memory (tests, notebooks, short runs). With a
    :class:`LineSink` it keeps none: each event is written once, as its canonical JSON
    line, the sha256 of the JSONL is updated as it goes, and iterating reads the lines
    back. Either way, observers see each event once, in order, as it is appended.
    """

    def __init__(self, sink: LineSink | None = None) -> None:
        self._sink = sink
        self._events: list[CloudEvent] | None = [] if sink is None else None
        self._digest = hashlib.sha256() if sink is not None else None
        self._count = 0
        self._observers: list[Observer] = []

    @property
    def streaming(self) -> bool:
        return self._sink is not None

    def subscribe(self, observer: Observer) -> None:
        """Call ``observer`` with every event appended from now on."""
        self._observers.append(observer)

    def append(self, event: CloudEvent) -> CloudEvent:
        self.extend((event,))
        return event

    def extend(self, events: Iterable[CloudEvent]) -> None:
        kept, sink, digest, observers = self._events, self._sink, self._digest, self._observers
        for event in events:
            if kept is not None:
                kept.append(event)
            else:
                line = event.to_json() + "\n"
                digest.update(line.encode("utf-8"))  # type: ignore[union-attr]
                sink.write(line)  # type: ignore[union-attr]
            self._count += 1
            for observe in observers:
                observe(event)

    def __iter__(self) -> Iterator[CloudEvent]:
        if self._events is not None:
            return iter(self._events)
        return (CloudEvent.model_validate_json(line) for line in self._lines())

    def __len__(self) -> int:
        return self._count

    def _lines(self) -> Iterable[str]:
        assert self._sink is not None
        return self._sink.lines()

    def of_type(self, name: str) -> list[CloudEvent]:
        return [e for e in self if e.name == name]

    def of_subject(self, subject: str) -> list[CloudEvent]:
        """The events about one subject (e.g. ``order/ord-000012``), in order."""
        return [e for e in self.about(subject) if e.subject == subject]

    def about(self, prefix: str) -> Iterator[CloudEvent]:
        """The events whose subject starts with ``prefix`` (``order/``), in order.

        A streamed log is scanned line by line and only the lines that name such a
        subject are parsed, so one order's timeline, or the order side's journal for a
        restart, is found in a long run without parsing every event.
        """
        if self._events is not None:
            return (e for e in self._events if e.subject.startswith(prefix))
        needle = '"subject":' + json.dumps(prefix, ensure_ascii=False)[:-1]
        found = (CloudEvent.model_validate_json(x) for x in self._lines() if needle in x)
        return (e for e in found if e.subject.startswith(prefix))

    def sha256(self) -> str:
        """Hex sha256 of the canonical JSONL (kept up to date line by line when streaming)."""
        if self._digest is not None:
            return self._digest.hexdigest()
        return hashlib.sha256(self.to_jsonl().encode("utf-8")).hexdigest()

    def to_jsonl(self) -> str:
        if self._events is None:
            return "".join(self._lines())
        return "".join(e.to_json() + "\n" for e in self._events)

    @classmethod
    def from_jsonl(cls, text: str) -> EventLog:
        log = cls()
        for line in text.splitlines():
            if line.strip():
                log.append(CloudEvent.model_validate(json.loads(line)))
        return log
