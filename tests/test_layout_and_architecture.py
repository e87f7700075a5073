"""Layout and architecture guards: the stdlib ``platform`` is never shadowed, the core stays
pure (no runtime libraries, no clock, no global randomness), and the tree is lint-clean."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
CORE = REPO / "platform" / "cpqsim"
BIN = Path(sys.executable).parent


def test_there_is_no_platform_package_at_the_top_level():
    assert not (REPO / "platform" / "__init__.py").exists()
    assert not (REPO / "platform.py").exists()


def test_stdlib_platform_still_works_with_the_repo_root_on_sys_path():
    code = "import platform, uuid; print(platform.system(), uuid.UUID(int=1).version is None)"
    proc = subprocess.run(
        [sys.executable, "-c", code],
        cwd=REPO,
        capture_output=True,
        text=True,
        env={"PYTHONPATH": str(REPO)},
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split()[0] in {"Linux", "Darwin", "Windows"}


def test_the_fixed_top_level_layout_is_present():
    for name in (
        "pyproject.toml",
        "platform",
        "actors",
        "scenarios",
        "loadtests",
        "notebooks",
        "tests",
        "README.md",
        ".ci/run",
    ):
        assert (REPO / name).exists(), name


def test_the_core_imports_no_runtime_server_or_load_test_library():
    """import-linter contracts in pyproject.toml (follows indirect imports too)."""
    proc = subprocess.run(
        [str(BIN / "lint-imports"), "--config", "pyproject.toml"],
        cwd=REPO,
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


FORBIDDEN_IN_CORE = {
    r"\bdatetime\.now\(|\bdate\.today\(|\butcnow\(": "reads the clock",
    r"\btime\.(time|monotonic|perf_counter|sleep)\(": "reads the clock or sleeps",
    r"\buuid\d?\(|\bimport uuid\b": "random identifiers",
    r"\brandom\.(random|randint|randrange|choice|choices|uniform|shuffle|seed|gauss)\(": (
        "draws from the global random generator"
    ),
    r"\bos\.environ\b|\brequests\.|\bsocket\.": "reads the environment or the network",
}


def test_the_core_never_reads_the_clock_the_global_rng_or_the_network():
    offences = []
    for path in sorted(CORE.rglob("*.py")):
        for lineno, line in enumerate(path.read_text().splitlines(), 1):
            for pattern, why in FORBIDDEN_IN_CORE.items():
                if re.search(pattern, line):
                    offences.append(f"{path.relative_to(REPO)}:{lineno}: {why}: {line.strip()}")
    assert not offences, "\n".join(offences)


def test_the_tree_is_ruff_clean():
    proc = subprocess.run(
        [str(BIN / "ruff"), "check", "."], cwd=REPO, capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stdout[-3000:]
