"""Output folders that never destroy anything cpqsim did not write.

A run (or sweep) folder carries a marker file (``result.json`` / ``sweep.json``) that
names the tool, its version and the files it wrote. That manifest is the only licence to
replace anything: a new folder is created whole (written to a staging folder, then
renamed into place), an empty folder is filled, a previous run is replaced only with
``--overwrite`` and only file by file from its manifest, and a folder of somebody else's
files is refused — with ``--overwrite``, the run's files are added beside them, and any
name clash with a file cpqsim did not write is refused. Nothing is ever deleted that a
manifest does not list.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

from cpqsim_scenarios.errors import InputInvalid, Problem

TOOL = "cpqsim"
RESULT_SCHEMA_VERSION = 2
STAGING_PREFIX = ".cpqsim-staging-"

# Folders written before manifests existed are still recognised as ours, by shape.
_LEGACY_FILES = {
    "result.json": (
        {"scenario", "event_log_sha256", "invariants"},
        [
            "result.json",
            "events.jsonl",
            "report.md",
            "orders_by_state.png",
            "downstream_queues.png",
            "downstream_latency.png",
        ],
    ),
    "sweep.json": (
        {"per_seed", "invariant_broken_in_runs"},
        ["sweep.json", "violations_per_seed.png"],
    ),
}


def tool_version() -> str:
    try:
        return version(TOOL)
    except PackageNotFoundError:  # pragma: no cover - running from a bare checkout
        return "0+unknown"


def tool_stamp() -> dict[str, str]:
    return {"name": TOOL, "version": tool_version()}


@dataclass(frozen=True)
class OutputPlan:
    """Where output goes, decided (and refused if need be) before any work starts."""

    target: Path
    marker: str
    exists: bool
    replaceable: frozenset[str] = field(default_factory=frozenset)
    previous: str | None = None  # what the previous run was, for messages


def _refuse(option: str, target: Path, reason: str) -> InputInvalid:
    return InputInvalid(option, [Problem(str(target), reason)])


def previous_manifest(folder: Path, marker: str) -> tuple[list[str], str] | None:
    """The files a previous cpqsim output in ``folder`` wrote, or None if it is not one."""
    path = folder / marker
    if not path.is_file():
        return None
    try:
        data: Any = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError):
        return None
    if not isinstance(data, dict):
        return None
    label = str(data.get("scenario", "?"))
    if "seed" in data:
        label += f", seed {data['seed']}"
    tool = data.get("tool")
    if isinstance(tool, dict) and tool.get("name") == TOOL:
        files = data.get("files")
        if isinstance(files, list) and all(isinstance(f, str) for f in files):
            return [f for f in files if _plain_name(f)], label
        return None
    keys, files = _LEGACY_FILES.get(marker, (set(), []))
    if keys and keys <= set(data):
        return list(files), label
    return None


def _plain_name(name: str) -> bool:
    return bool(name) and "/" not in name and "\\" not in name and name not in (".", "..")


def plan_output(
    target: str | Path, *, marker: str, overwrite: bool, option: str = "--out"
) -> OutputPlan:
    """Decide whether ``target`` may receive output; refuse (exit 2) with the reason."""
    target = Path(target)
    if target.exists() and not target.is_dir():
        raise _refuse(option, target, "is a file, not a folder: choose a folder for the output")
    for ancestor in target.parents:
        if ancestor.exists():
            if not ancestor.is_dir():
                raise _refuse(option, target, f"{ancestor} is a file, so no folder can go there")
            break
    if not target.exists():
        return OutputPlan(target=target, marker=marker, exists=False)
    entries = sorted(p.name for p in target.iterdir())
    if not entries:
        return OutputPlan(target=target, marker=marker, exists=True)
    manifest = previous_manifest(target, marker)
    if manifest is not None:
        files, label = manifest
        if not overwrite:
            raise _refuse(
                option,
                target,
                f"holds a previous cpqsim output ({label}); pass --overwrite to replace its "
                "files, or choose another folder",
            )
        return OutputPlan(
            target=target, marker=marker, exists=True, replaceable=frozenset(files), previous=label
        )
    if not overwrite:
        shown = ", ".join(entries[:3]) + (
            f" and {len(entries) - 3} more" if len(entries) > 3 else ""
        )
        raise _refuse(
            option,
            target,
            f"is not empty and is not a cpqsim output folder (it holds {shown}); choose a new "
            "or empty folder, or pass --overwrite to add the output beside those files "
            "(none of them is replaced)",
        )
    return OutputPlan(target=target, marker=marker, exists=True)


def write_output(
    plan: OutputPlan,
    write: Callable[[Path], dict[str, Any]],
    option: str = "--out",
) -> list[str]:
    """Stage the output, then move it into place; returns the names written.

    ``write(staging)`` writes every file except the marker and returns the marker's
    content; the manifest (``files``) and tool stamp are added here, and the marker is
    moved in last, so a folder is only ever recognised as a run once it is complete.
    """
    target = plan.target
    parent = target if plan.exists else target.parent
    parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=STAGING_PREFIX, dir=parent))
    try:
        marker_content = write(staging)
        names = sorted({p.name for p in staging.iterdir() if p.is_file()} | {plan.marker})
        marker_content = {**marker_content, "tool": tool_stamp(), "files": names}
        (staging / plan.marker).write_text(
            json.dumps(marker_content, indent=2, sort_keys=True) + "\n", encoding="utf-8"
        )
        if not plan.exists:
            if target.exists():
                raise _refuse(option, target, "appeared while the run was going; nothing written")
            staging.rename(target)
            return names
        clashes = [n for n in names if (target / n).exists() and n not in plan.replaceable]
        if clashes:
            raise _refuse(
                option,
                target,
                f"already holds {', '.join(clashes)}, which cpqsim did not write; nothing written",
            )
        for name in [n for n in names if n != plan.marker] + [plan.marker]:
            os.replace(staging / name, target / name)
        for stale in sorted(plan.replaceable - set(names)):
            old = target / stale
            if old.is_file() and not old.is_symlink():
                old.unlink()  # listed in the previous run's own manifest: ours to remove
        staging.rmdir()
        return names
    except BaseException:
        with contextlib.suppress(OSError):
            if staging.exists():
                shutil.rmtree(staging)  # the staging folder is ours, created above
        raise


def plan_file(target: str | Path, *, overwrite: bool, option: str) -> Path:
    """A single output file (e.g. a picture): never replace somebody's file unasked."""
    target = Path(target)
    if target.is_dir():
        raise _refuse(option, target, "is a folder: give a file name such as catalog.png")
    if target.exists() and not overwrite:
        raise _refuse(option, target, "already exists; pass --overwrite to replace it")
    return target


def write_file(target: Path, write: Callable[[Path], None]) -> None:
    """Write through a temporary file in the same folder, then move it into place."""
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=STAGING_PREFIX, suffix=target.suffix, dir=target.parent)
    os.close(fd)
    try:
        write(Path(tmp))
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
