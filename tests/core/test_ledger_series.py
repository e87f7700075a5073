"""Queue and busy servers over time, read exactly from a downstream's ledger."""

from __future__ import annotations

from cpqsim.downstream import DownstreamLedger, DownstreamProfile, DownstreamRequest, Fault
from cpqsim.ledger_series import busy_steps, queue_steps


def request(n: int) -> DownstreamRequest:
    return DownstreamRequest(
        system="p", operation="x", reference=f"r{n}", order_id="o", task_id=f"t{n}", attempt=1
    )


def test_a_queue_that_forms_and_drains_between_samples_is_seen():
    ledger = DownstreamLedger(DownstreamProfile(name="p", servers=1))
    # three requests arrive at once; one server takes them one after another
    entries = [ledger.accept(request(n), 1000) for n in range(3)]
    for n, entry in enumerate(entries):
        ledger.start(entry, 1000 + 500 * n)
        ledger.finish(entry, 1500 + 500 * n, Fault.NONE)
    ledger.reject(request(9), 1200, Fault.ERROR)  # refused at the door: never queued
    snapshot = ledger.snapshot()

    assert queue_steps(snapshot) == [(1.0, 2), (1.5, 1), (2.0, 0)]
    assert busy_steps(snapshot) == [(1.0, 1), (2.5, 0)]


def test_requests_never_taken_wait_until_the_end():
    ledger = DownstreamLedger(DownstreamProfile(name="p", servers=1))
    ledger.accept(request(1), 0)
    assert queue_steps(ledger.snapshot()) == []
    assert queue_steps(ledger.snapshot(), end_ms=4000) == [(0.0, 1), (4.0, 0)]
