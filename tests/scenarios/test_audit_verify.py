"""``cpqsim audit verify RUN_DIR``: a run folder's audit chain, and any tampering with it.

Given a run folder written by ``cpqsim run --out``, when its audit chain is verified,
then an untouched folder exits 0 with the entry count, and a changed byte, a deleted
entry, two reordered entries or entries cut off the end exit 4 naming ``audit.jsonl``
and the index of the first bad entry. Something that is not a run folder exits 2 with a
clear message, and nothing is ever written.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from cpqsim_scenarios.runner import run_scenario

REPO = Path(__file__).resolve().parents[2]
LIBRARY = REPO / "scenarios" / "library"
CPQSIM = [sys.executable, "-m", "cpqsim_scenarios"]


@pytest.fixture(scope="module")
def written_run(tmp_path_factory) -> Path:
    """A one-hour day with a manual repair desk, written to a run folder (once)."""
    folder = tmp_path_factory.mktemp("scenario")
    text = (LIBRARY / "manual_repair_wrong.yaml").read_text()
    text = text.replace("catalog: catalog/", f"catalog: {LIBRARY / 'catalog'}/")
    path = folder / "short.yaml"
    path.write_text(text)
    run = run_scenario(path, seed=3, out_dir=folder / "run")
    assert run.out_dir is not None
    return run.out_dir


@pytest.fixture
def run_dir(written_run, tmp_path) -> Path:
    copy = tmp_path / "run"
    shutil.copytree(written_run, copy)
    return copy


def verify(folder: Path | str, cwd: Path = REPO) -> subprocess.CompletedProcess:
    return subprocess.run(
        [*CPQSIM, "audit", "verify", str(folder)], capture_output=True, text=True, cwd=cwd
    )


def entries(folder: Path) -> list[bytes]:
    return (folder / "audit.jsonl").read_bytes().splitlines(keepends=True)


def rewrite(folder: Path, lines: list[bytes]) -> None:
    (folder / "audit.jsonl").write_bytes(b"".join(lines))


def snapshot(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


def test_a_run_writes_its_decisions_chained_and_says_so_in_result_json(written_run):
    result = json.loads((written_run / "result.json").read_text())
    lines = entries(written_run)
    assert "audit.jsonl" in result["files"]
    assert result["audit_chain"]["entries"] == len(lines) > 10
    actions = {json.loads(x)["entry"]["action"] for x in lines}
    assert {"quote.accepted", "quote.converted_to_order", "order.fallout_resolved"} <= actions
    verdicts = {i["name"]: i for i in result["invariants"]}
    assert verdicts["audit_chain_verifies"]["holds"]


def test_an_untouched_run_verifies_with_its_entry_count(run_dir):
    before = snapshot(run_dir)
    done = verify(run_dir)
    assert done.returncode == 0, done.stderr
    assert f"{len(entries(run_dir)):,} entries" in done.stdout
    assert snapshot(run_dir) == before  # nothing written


def test_one_changed_byte_is_found_at_its_entry(run_dir):
    lines = entries(run_dir)
    lines[7] = lines[7].replace(b'"reason":"', b'"reason":"X', 1)
    rewrite(run_dir, lines)
    done = verify(run_dir)
    assert done.returncode == 4
    assert "audit.jsonl" in done.stderr and "entry 7 (line 8)" in done.stderr


def test_a_deleted_entry_is_found_where_it_was(run_dir):
    lines = entries(run_dir)
    del lines[5]
    rewrite(run_dir, lines)
    done = verify(run_dir)
    assert done.returncode == 4 and "entry 5 (line 6)" in done.stderr


def test_two_reordered_entries_are_found_at_the_first_of_them(run_dir):
    lines = entries(run_dir)
    lines[3], lines[9] = lines[9], lines[3]
    rewrite(run_dir, lines)
    done = verify(run_dir)
    assert done.returncode == 4 and "entry 3 (line 4)" in done.stderr


def test_entries_cut_off_the_end_are_found_against_result_json(run_dir):
    lines = entries(run_dir)
    rewrite(run_dir, lines[:-2])
    done = verify(run_dir)
    assert done.returncode == 4
    assert f"entry {len(lines) - 2}" in done.stderr and "cut off the end" in done.stderr


def test_an_edited_decision_in_the_event_log_is_found_by_its_digest(run_dir):
    # Given the event log's line of the fact behind entry 4, with its data edited
    fact_id = json.loads(entries(run_dir)[4])["entry"]["fact_id"]
    log = (run_dir / "events.jsonl").read_text().splitlines(keepends=True)
    at = next(i for i, x in enumerate(log) if f'"id":"{fact_id}"' in x)
    log[at] = log[at].replace('"time":"', '"time":"1', 1)
    (run_dir / "events.jsonl").write_text("".join(log))
    done = verify(run_dir)
    assert done.returncode == 4
    assert "entry 4 (line 5)" in done.stderr and "events.jsonl" in done.stderr


@pytest.mark.parametrize("what", ["file", "dot", "missing", "no audit file"])
def test_something_that_is_not_a_run_folder_exits_2_with_a_clear_message(tmp_path, what):
    (tmp_path / "notes.txt").write_text("mine")
    target, cwd, expect = {
        "file": (tmp_path / "notes.txt", REPO, "is a file"),
        "dot": (".", tmp_path, "holds no audit.jsonl"),
        "missing": (tmp_path / "nowhere", REPO, "no such folder"),
        "no audit file": (tmp_path, REPO, "holds no audit.jsonl"),
    }[what]
    before = snapshot(tmp_path)
    done = verify(target, cwd=cwd)
    assert done.returncode == 2
    assert expect in done.stderr and "Traceback" not in done.stderr
    assert snapshot(tmp_path) == before
