"""The event log: written once per event as canonical JSON, streamed or kept, observed."""

from __future__ import annotations

import hashlib
from decimal import Decimal

from cpqsim.canonical import canonical_json
from cpqsim.context import Context, IdSource, at
from cpqsim.events import CloudEvent, EventLog, envelope
from cpqsim.order import FulfillmentTaskCompleted, OrderCompleted


class ListSink:
    """A sink as the shell's file is, in memory."""

    def __init__(self) -> None:
        self.written: list[str] = []

    def write(self, line: str) -> None:
        self.written.append(line)

    def lines(self):
        return iter(list(self.written))


def facts(n: int = 6) -> list[CloudEvent]:
    ctx = Context(now=at(0), ids=IdSource(), actor="orchestrator")
    out = []
    for i in range(n):
        ctx.now = at(i * 1.5)
        oid = f"ord-{i % 2}"
        out.append(
            envelope(
                FulfillmentTaskCompleted(order_id=oid, task_id="t", attempt=1, via="reply"), ctx
            )
        )
        out.append(envelope(OrderCompleted(order_id=oid), ctx))
    return out


def test_a_streamed_log_writes_each_event_once_as_the_jsonl_a_kept_log_would_give():
    events = facts()
    kept, sink = EventLog(), ListSink()
    streamed = EventLog(sink=sink)

    kept.extend(events)
    streamed.extend(events)

    assert "".join(sink.written) == kept.to_jsonl()
    assert streamed.sha256() == kept.sha256()
    assert kept.sha256() == hashlib.sha256(kept.to_jsonl().encode("utf-8")).hexdigest()
    assert len(streamed) == len(kept) == len(events)
    assert list(streamed) == events  # read back from its lines


def test_one_subjects_events_are_found_without_reading_the_others():
    sink = ListSink()
    streamed, kept = EventLog(sink=sink), EventLog()
    streamed.extend(facts())
    kept.extend(facts())

    assert [e.id for e in streamed.of_subject("order/ord-1")] == [
        e.id for e in kept.of_subject("order/ord-1")
    ]
    assert {e.subject for e in streamed.of_subject("order/ord-1")} == {"order/ord-1"}
    assert len(list(streamed.about("order/"))) == len(kept)
    assert list(streamed.about("quote/")) == []


def test_observers_see_every_event_once_in_order():
    seen: list[str] = []
    log = EventLog(sink=ListSink())
    log.subscribe(lambda e: seen.append(e.id))
    events = facts()

    log.extend(events[:3])
    log.append(events[3])
    log.extend(events[4:])

    assert seen == [e.id for e in events]


def test_an_envelopes_line_is_the_canonical_json_of_its_fields():
    for event in facts():
        assert event.to_json() == canonical_json(event.model_dump())


def test_data_put_in_by_hand_that_is_not_plain_yet_is_still_written_canonically():
    event = CloudEvent(
        id="evt-1",
        type="cpqsim.quote.priced.v1",
        source="/cpqsim/quote",
        subject="quote/Q1",
        time="2026-01-05T08:00:00.000Z",
        correlationid="Q1",
        data={"amount": Decimal("1E+2"), "when": at(0)},
    )

    line = event.to_json()

    assert line == canonical_json(event.model_dump())
    assert '"amount":"100"' in line and '"when":"2026-01-05T08:00:00+00:00"' in line


def test_an_envelope_is_what_the_validating_constructor_would_build():
    event = facts(1)[0]

    rebuilt = CloudEvent(**{k: v for k, v in event.__dict__.items()})

    assert rebuilt == event
    assert rebuilt.model_fields_set - {"specversion", "datacontenttype"} == event.model_fields_set
