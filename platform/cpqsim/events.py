"""Business facts and their CloudEvents envelope.

Domain events are small frozen pydantic models named in the past tense; the envelope
adds what every consumer needs to route, trace and deduplicate them (id, versioned type,
source, subject, time, correlation and causation ids). Commands are never dressed up as
events: nothing here is an instruction.
"""

from __future__ import annotations

import json
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field

from cpqsim.canonical import canonical_json, to_plain
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
        return canonical_json(self.model_dump())


def envelope(event: DomainEvent, ctx: Context, source: str = "/cpqsim") -> CloudEvent:
    """Wrap a fact with its metadata, taking id and time from the context only."""
    event_id = ctx.ids.next("evt")
    return CloudEvent(
        id=event_id,
        type=event.cloudevent_type(),
        source=f"{source}/{event.aggregate}",
        subject=event.subject(),
        time=iso(ctx.now),
        correlationid=ctx.correlation_id or event.subject(),
        causationid=ctx.causation_id,
        actor=ctx.actor,
        data=to_plain(event.model_dump()),
    )


class EventLog:
    """Append-only list of envelopes; its canonical JSONL is what determinism is judged on."""

    def __init__(self) -> None:
        self._events: list[CloudEvent] = []

    def append(self, event: CloudEvent) -> CloudEvent:
        self._events.append(event)
        return event

    def extend(self, events: list[CloudEvent]) -> None:
        self._events.extend(events)

    def __iter__(self):
        return iter(self._events)

    def __len__(self) -> int:
        return len(self._events)

    def of_type(self, name: str) -> list[CloudEvent]:
        return [e for e in self._events if e.name == name]

    def to_jsonl(self) -> str:
        return "".join(e.to_json() + "\n" for e in self._events)

    @classmethod
    def from_jsonl(cls, text: str) -> EventLog:
        log = cls()
        for line in text.splitlines():
            if line.strip():
                log.append(CloudEvent.model_validate(json.loads(line)))
        return log
