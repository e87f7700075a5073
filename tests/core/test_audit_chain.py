"""The audit chain: every decision hash-chained, and any edit found at its first bad entry."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest

from cpqsim.audit import (
    GENESIS_HASH,
    AuditChain,
    AuditEntry,
    ChainSummary,
    verify_chain,
    walk_chain,
)
from cpqsim.audit_facts import AuditRecorder, decision, fact_digest
from cpqsim.canonical import canonical_json
from cpqsim.configuration import QuoteLine
from cpqsim.context import Context, IdSource, at
from cpqsim.events import CloudEvent, envelope
from cpqsim.invariants import InvariantJudge
from cpqsim.order import FalloutCaseResolved, OrderCompleted
from cpqsim.quote import QuoteApproved, QuoteCreated, QuoteRejected

LINE = QuoteLine(offering="saas-suite", quantity=5)


def chain_of(n: int) -> list[str]:
    chain = AuditChain()
    return [
        chain.append(
            time=f"2026-01-05T08:00:{i:02d}.000Z",
            actor=f"manager-{i}",
            authority="sales_manager",
            action="quote.approved",
            subject=f"quote/Q{i}",
            reason="within authority",
            fact_id=f"evt-{i}",
            fact_digest="sha256:" + "ab" * 32,
        )
        for i in range(n)
    ]


def decisions() -> list[CloudEvent]:
    ctx = Context(now=at(0), ids=IdSource(), actor="seller-1")
    made = [
        QuoteCreated(
            quote_id="Q1",
            revision=1,
            account_id="acct-1",
            requester="seller-1",
            lines=[LINE],
            discount_pct=Decimal("0.15"),
            catalog_version="1",
        ),
        QuoteCreated(
            quote_id="Q2",
            revision=1,
            account_id="acct-1",
            requester="seller-1",
            lines=[LINE],
            discount_pct=Decimal("0"),
            catalog_version="1",
        ),
        QuoteApproved(
            quote_id="Q1",
            revision=1,
            approver="mgr-1",
            role="sales_manager",
            requester="seller-1",
            reason="strategic account",
            snapshot_fingerprint="sha256:x",
            policy_version="v1",
        ),
        QuoteRejected(quote_id="Q3", revision=1, approver="fin-1", role="finance", reason="margin"),
        OrderCompleted(order_id="o-1"),
        FalloutCaseResolved(
            order_id="o-1",
            case_id="c-1",
            task_id="t-1",
            action="retry",
            actor="ops-1",
            role="operations",
            reason="provisioning back",
        ),
    ]
    out = []
    for i, fact in enumerate(made):
        ctx.now = at(i)
        out.append(envelope(fact, ctx))
    return out


# ---------------------------------------------------------------------- the chain


def test_an_entry_is_the_canonical_json_of_its_content_and_hash():
    # Given one appended entry (with text that needs escaping)
    chain = AuditChain()
    line = chain.append(
        time="t",
        actor='\uff41lice "the boss"\n',
        authority="r",
        action="a",
        subject="s",
        reason="é ✓",
        fact_id="f",
        fact_digest="d",
    )
    # Then the line is the canonical JSON of {entry, hash}, the hash covers the content
    parsed = json.loads(line)
    assert line == canonical_json(parsed)
    assert parsed["entry"]["previous_hash"] == GENESIS_HASH and parsed["entry"]["position"] == 0
    assert parsed["hash"] == chain.head
    assert AuditEntry.from_line(line).line() == line


def test_an_untouched_chain_verifies_and_reports_its_length_and_head():
    lines = chain_of(5)
    assert verify_chain(lines) is None
    summary = walk_chain(line.encode() + b"\n" for line in lines)
    assert summary == ChainSummary(entries=5, head=json.loads(lines[-1])["hash"])
    assert verify_chain([AuditEntry.from_line(x) for x in lines]) is None


@pytest.mark.parametrize("at_byte", [30, 120, 200, -20])
def test_one_changed_byte_is_found_at_its_entry(at_byte):
    # Given a chain of six entries, and one byte of entry 3 changed
    lines = [line.encode() for line in chain_of(6)]
    broken = bytearray(lines[3])
    broken[at_byte] = ord("Z") if broken[at_byte] != ord("Z") else ord("Y")
    lines[3] = bytes(broken)
    # When it is verified, then entry 3 is the first bad one
    found = verify_chain(lines)
    assert found is not None and found.position == 3
    assert "edited" in found.why


def test_a_deleted_entry_is_found_where_it_was():
    lines = chain_of(6)
    del lines[2]
    found = verify_chain(lines)
    assert found is not None and found.position == 2
    assert "position gap" in found.why


def test_two_reordered_entries_are_found_at_the_first_of_them():
    lines = chain_of(6)
    lines[1], lines[4] = lines[4], lines[1]
    found = verify_chain(lines)
    assert found is not None and found.position == 1


def test_an_entry_rewritten_with_a_fresh_hash_breaks_the_link_after_it():
    # Given entry 2's reason rewritten and its hash recomputed, as a careful forger would
    lines = chain_of(5)
    forged = AuditChain(head=json.loads(lines[1])["hash"], length=2)
    entry = AuditEntry.from_line(lines[2])
    lines[2] = forged.append(
        **entry.model_dump(exclude={"hash", "position", "previous_hash"}) | {"reason": "ok"}
    )
    # Then entry 2 verifies by itself, but entry 3 no longer follows it
    found = verify_chain(lines)
    assert found is not None and found.position == 3
    assert "previous-hash gap" in found.why


# ---------------------------------------------------------------------- decisions


def test_decisions_take_actor_and_authority_from_the_fact_and_its_envelope():
    facts = decisions()
    whos = [decision(e) for e in facts]
    assert whos[0] == ("seller-1", "seller", "manual discount 15%")
    assert whos[1] is None  # no discount: not a decision anyone answers for
    assert whos[2] == ("mgr-1", "sales_manager", "strategic account")
    assert whos[3] == ("fin-1", "finance", "margin")
    assert whos[4] is None
    assert whos[5] == ("ops-1", "operations", "retry on case c-1: provisioning back")


def test_the_recorder_chains_each_decision_with_its_fact_digest():
    written: list[str] = []
    recorder = AuditRecorder(written.append)
    facts = decisions()
    for e in facts:
        recorder.observe(e)
    assert len(written) == 4 and recorder.chain.length == 4
    entries = [AuditEntry.from_line(x) for x in written]
    assert [e.action for e in entries] == [
        "quote.created",
        "quote.approved",
        "quote.rejected",
        "order.fallout_resolved",
    ]
    assert entries[1].fact_id == facts[2].id and entries[1].fact_digest == fact_digest(facts[2])
    assert entries[1].time == facts[2].time  # the fact's time, never a clock
    assert verify_chain(written) is None


# ---------------------------------------------------------------------- the invariant


def judged(facts, audit_lines=None):
    judge = InvariantJudge(audit_lines=audit_lines)
    for e in facts:
        judge.observe(e)
    return {r.name: r for r in judge.verdict({})}["audit_chain_verifies"]


def test_the_invariant_holds_when_the_written_chain_is_this_runs():
    written: list[str] = []
    recorder = AuditRecorder(written.append)
    facts = decisions()
    for e in facts:
        recorder.observe(e)
    assert judged(facts, lambda: written).holds


def test_the_invariant_fails_naming_the_entry_when_the_written_chain_was_edited():
    # Given the chain a run wrote, with one approval's reason edited afterwards
    written: list[str] = []
    recorder = AuditRecorder(written.append)
    facts = decisions()
    for e in facts:
        recorder.observe(e)
    written[1] = written[1].replace("strategic account", "strategic accounT")
    # Then "the audit chain verifies" is broken at entry 1
    result = judged(facts, lambda: written)
    assert not result.holds
    assert "entry 1" in result.examples[0] and "edited" in result.examples[0]


def test_the_invariant_fails_when_the_written_chain_lacks_the_last_decision():
    written: list[str] = []
    recorder = AuditRecorder(written.append)
    facts = decisions()
    for e in facts:
        recorder.observe(e)
    result = judged(facts, lambda: written[:-1])
    assert not result.holds and "3 entries" in result.examples[0]


def test_the_invariant_fails_when_a_decision_names_no_authority():
    ctx = Context(now=at(0), ids=IdSource(), actor="mgr-1")
    fact = QuoteRejected(quote_id="Q9", revision=1, approver="mgr-1", role="", reason="no")
    result = judged([envelope(fact, ctx)])
    assert not result.holds and "records no authority" in result.examples[0]


def test_a_broken_chain_is_counted_as_its_own_kind_on_the_platform():
    written: list[str] = []
    recorder = AuditRecorder(written.append)
    facts = decisions()
    for e in facts:
        recorder.observe(e)
    del written[0]
    result = judged(facts, lambda: written)
    assert result.by_kind == {"chain broken": 1} and result.by_downstream == {"platform": 1}
