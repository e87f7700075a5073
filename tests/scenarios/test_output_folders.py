"""Output folders: cpqsim never deletes or replaces a file it did not write.

Given a folder in some state, when a run is told to write there, then either it writes
(creating, filling or replacing only its own previous files) or it refuses with exit 2
before running, and every file that was there before is still there, unchanged.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from cpqsim_scenarios.errors import InputInvalid
from cpqsim_scenarios.output import plan_output, write_output

REPO = Path(__file__).resolve().parents[2]
LIBRARY = REPO / "scenarios" / "library"
CPQSIM = [sys.executable, "-m", "cpqsim_scenarios"]


def snapshot(folder: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()
    }


def fake_run(plan, files: dict[str, str], marker: dict | None = None) -> list[str]:
    def write(staging: Path) -> dict:
        for name, text in files.items():
            (staging / name).write_text(text)
        return marker or {"scenario": "s", "seed": 1}

    return write_output(plan, write)


@pytest.fixture(scope="module")
def short_scenario(tmp_path_factory) -> Path:
    """A one-hour happy path (quick), with its catalog path made absolute."""
    folder = tmp_path_factory.mktemp("scenario")
    text = (LIBRARY / "happy_path.yaml").read_text()
    text = text.replace("duration_s: 28800", "duration_s: 1800").replace(
        "catalog: catalog/enterprise.yaml", f"catalog: {LIBRARY / 'catalog' / 'enterprise.yaml'}"
    )
    path = folder / "short.yaml"
    path.write_text(text)
    return path


def cli(*args: str, cwd: Path = REPO) -> subprocess.CompletedProcess:
    return subprocess.run([*CPQSIM, *args], capture_output=True, text=True, cwd=cwd)


# ------------------------------------------------------------------------ the CLI itself


def test_out_dot_is_refused_before_running_and_nothing_is_touched(tmp_path, short_scenario):
    (tmp_path / "notes.txt").write_text("mine")
    (tmp_path / ".git").mkdir()
    (tmp_path / ".git" / "HEAD").write_text("ref: refs/heads/main\n")
    before = snapshot(tmp_path)
    proc = cli("run", str(short_scenario), "--out", ".", "--quiet", cwd=tmp_path)
    assert proc.returncode == 2, proc.stderr
    assert "not empty and is not a cpqsim output folder" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert snapshot(tmp_path) == before


def test_a_folder_of_user_files_is_refused_and_kept(tmp_path, short_scenario):
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "report.md").write_text("my own report")
    before = snapshot(mine)
    proc = cli("run", str(short_scenario), "--out", str(mine), "--quiet")
    assert proc.returncode == 2 and "holds report.md" in proc.stderr
    assert snapshot(mine) == before


def test_with_overwrite_a_user_folder_gets_the_run_beside_its_files_but_no_clash(tmp_path):
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("keep me")
    plan = plan_output(mine, marker="result.json", overwrite=True)
    fake_run(plan, {"events.jsonl": "{}\n"})
    assert (mine / "notes.txt").read_text() == "keep me"
    assert {"events.jsonl", "result.json", "notes.txt"} == {p.name for p in mine.iterdir()}
    # a clash with a file cpqsim did not write: refused, nothing written
    other = tmp_path / "other"
    other.mkdir()
    (other / "events.jsonl").write_text("somebody's data")
    plan = plan_output(other, marker="result.json", overwrite=True)
    with pytest.raises(InputInvalid, match="which cpqsim did not write"):
        fake_run(plan, {"events.jsonl": "{}\n"})
    assert (other / "events.jsonl").read_text() == "somebody's data"
    assert [p.name for p in other.iterdir()] == ["events.jsonl"]  # no staging left behind


def test_out_pointing_at_a_file_exits_2(tmp_path, short_scenario):
    target = tmp_path / "a-file"
    target.write_text("data")
    proc = cli("run", str(short_scenario), "--out", str(target), "--quiet")
    assert proc.returncode == 2 and "is a file, not a folder" in proc.stderr
    assert target.read_text() == "data"


def test_a_previous_run_is_replaced_only_with_overwrite_and_only_its_own_files(
    tmp_path, short_scenario
):
    run_dir = tmp_path / "run"
    first = cli("run", str(short_scenario), "--out", str(run_dir), "--quiet")
    assert first.returncode == 0, first.stderr
    manifest = json.loads((run_dir / "result.json").read_text())["files"]
    assert {"result.json", "events.jsonl", "report.md"} <= set(manifest)
    (run_dir / "my-notes.md").write_text("analysis of the first run")

    again = cli("run", str(short_scenario), "--out", str(run_dir), "--quiet")
    assert again.returncode == 2 and "--overwrite" in again.stderr

    replaced = cli("run", str(short_scenario), "--out", str(run_dir), "--quiet", "--overwrite")
    assert replaced.returncode == 0, replaced.stderr
    assert (run_dir / "my-notes.md").read_text() == "analysis of the first run"
    assert not [p for p in run_dir.iterdir() if p.name.startswith(".cpqsim-staging")]


def test_files_a_previous_run_listed_but_this_one_does_not_write_are_removed(tmp_path):
    folder = tmp_path / "run"
    fake_run(plan_output(folder, marker="result.json", overwrite=False), {"old.png": "x"})
    (folder / "user.txt").write_text("mine")
    plan = plan_output(folder, marker="result.json", overwrite=True)
    fake_run(plan, {"new.png": "y"})
    assert {p.name for p in folder.iterdir()} == {"new.png", "result.json", "user.txt"}


def test_a_new_folder_appears_whole_or_not_at_all(tmp_path):
    target = tmp_path / "deep" / "new"
    plan = plan_output(target, marker="result.json", overwrite=False)

    def broken(staging: Path) -> dict:
        (staging / "events.jsonl").write_text("partial")
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError):
        write_output(plan, broken)
    assert not target.exists()
    assert list((tmp_path / "deep").iterdir()) == []


def test_a_sweep_folder_follows_the_same_rules(tmp_path, short_scenario):
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "data.csv").write_text("1,2")
    proc = cli("sweep", str(short_scenario), "--seeds", "1", "--out", str(mine))
    assert proc.returncode == 2 and "not a cpqsim output folder" in proc.stderr
    assert [p.name for p in mine.iterdir()] == ["data.csv"]


def test_catalog_picture_never_replaces_an_existing_file_unasked(tmp_path):
    picture = tmp_path / "graph.png"
    picture.write_bytes(b"not mine to replace")
    catalog = str(LIBRARY / "catalog" / "enterprise.yaml")
    proc = cli("catalog", "show", catalog, "--picture", str(picture))
    assert proc.returncode == 2 and "already exists" in proc.stderr
    assert picture.read_bytes() == b"not mine to replace"
    proc = cli("catalog", "show", catalog, "--picture", str(tmp_path))
    assert proc.returncode == 2 and "is a folder" in proc.stderr
