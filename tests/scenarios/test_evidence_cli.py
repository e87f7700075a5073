"""``cpqsim evidence``: a quote's evidence package read from a run folder, and re-verified.

Given a run written to disk, when a quote's evidence is asked for, then the package holds
the accepted snapshot, fingerprints, approvals, proposal, acceptance and conversion; and
``--verify`` recomputes each fingerprint from the stored inputs, failing (exit 1) on an
edited log and naming the check that broke.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cpqsim_scenarios.cli import app
from cpqsim_scenarios.model import load_scenario
from cpqsim_scenarios.runner import run_scenario

LIBRARY = Path(__file__).resolve().parents[2] / "scenarios" / "library"
runner = CliRunner()


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory) -> Path:
    loaded = load_scenario(LIBRARY / "happy_path.yaml")
    short = loaded.scenario.model_copy(update={"duration_s": 4 * 3600.0, "drain_s": 4 * 3600.0})
    target = tmp_path_factory.mktemp("evidence") / "run"
    run_scenario(loaded.model_copy(update={"scenario": short}), out_dir=target)
    return target


def _events(run: Path) -> list[dict]:
    return [json.loads(line) for line in (run / "events.jsonl").read_text().splitlines()]


def _approved_quote(run: Path) -> str:
    return next(e["data"]["quote_id"] for e in _events(run) if e["type"].endswith("approved.v1"))


def evidence(*args: str):
    return runner.invoke(app, ["evidence", *args])


def test_the_package_of_an_approved_converted_quote_holds_every_piece(run_dir):
    quote = _approved_quote(run_dir)
    answer = evidence(quote, "--run", str(run_dir), "--json")
    assert answer.exit_code == 0, answer.output
    body = json.loads(answer.output)
    assert body["status"] == "converted"
    assert body["snapshot_fingerprint"].startswith("sha256:")
    assert body["configuration_fingerprint"].startswith("sha256:")
    assert body["price"]["fingerprint"] == body["price_fingerprint"]
    (decision,) = body["approvals"]
    assert decision["decision"] == "approved" and decision["policy_version"]
    assert decision["actor"].startswith("manager-") and decision["role"]
    assert body["proposal"]["sha256"] == body["acceptance"]["proposal_sha256"]
    assert body["conversion"]["order_id"] == body["order_id"]
    assert body["conversion"]["order_created"] is not None


def test_verify_recomputes_every_fingerprint_and_they_hold(run_dir):
    answer = evidence(_approved_quote(run_dir), "--run", str(run_dir), "--verify")
    assert answer.exit_code == 0, answer.output
    assert "every fingerprint holds" in answer.output
    for check in ("snapshot fingerprint", "price fingerprint", "proposal hash", "approval by"):
        assert f"[ok] {check}" in answer.output


def _tampered(run_dir: Path, tmp_path: Path, quote: str, fact: str, change) -> Path:
    copy = tmp_path / "tampered"
    shutil.copytree(run_dir, copy)
    lines = []
    for event in _events(copy):
        if event["subject"] == f"quote/{quote}" and event["type"].endswith(f".{fact}.v1"):
            change(event["data"])
        lines.append(json.dumps(event, sort_keys=True, separators=(",", ":")))
    (copy / "events.jsonl").write_text("\n".join(lines) + "\n")
    return copy


def test_an_accepted_snapshot_edited_in_the_log_fails_verification(run_dir, tmp_path):
    quote = _approved_quote(run_dir)

    def cheaper(data):
        data["snapshot"]["discount_pct"] = "0.5"

    copy = _tampered(run_dir, tmp_path, quote, "accepted", cheaper)
    answer = evidence(quote, "--run", str(copy), "--verify")
    assert answer.exit_code == 1, answer.output
    assert "[FAIL] snapshot fingerprint" in answer.output
    assert "[FAIL] the price request prices the snapshot's content" in answer.output
    assert "[FAIL] proposal hash" in answer.output  # the edited content renders otherwise


def test_a_presented_proposal_hash_edited_in_the_log_fails_verification(run_dir, tmp_path):
    quote = _approved_quote(run_dir)

    def other(data):
        data["proposal_sha256"] = "0" * 64

    copy = _tampered(run_dir, tmp_path, quote, "presented", other)
    answer = evidence(quote, "--run", str(copy), "--verify")
    assert answer.exit_code == 1, answer.output
    assert "[FAIL] proposal hash" in answer.output


def test_an_unknown_quote_is_bad_input_with_a_guess(run_dir):
    answer = evidence("Q00001", "--run", str(run_dir))
    assert answer.exit_code == 2
    assert "no quote 'Q00001'" in answer.output and "did you mean" in answer.output


def test_a_folder_that_is_no_run_is_bad_input(tmp_path):
    answer = evidence("Q000001", "--run", str(tmp_path))
    assert answer.exit_code == 2
    assert "has no events.jsonl" in answer.output


def test_the_proposal_is_printed_on_request(run_dir):
    answer = evidence(_approved_quote(run_dir), "--run", str(run_dir), "--proposal")
    assert answer.exit_code == 0
    assert "PROPOSAL for quote" in answer.output and "Validity:" in answer.output
