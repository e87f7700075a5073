"""Reading files: exact numbers, places to point at, JSON Schemas kept current, CLI polish."""

from __future__ import annotations

import datetime
import json
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import jsonschema
import pytest
from typer.testing import CliRunner

from cpqsim_scenarios.cli import app
from cpqsim_scenarios.documents import Limits, parse_path, read_document
from cpqsim_scenarios.errors import InputInvalid
from cpqsim_scenarios.schemas import NAMES, schema_json, stored_path

REPO = Path(__file__).resolve().parents[2]
LIBRARY = REPO / "scenarios" / "library"
runner = CliRunner()


def test_yaml_numbers_are_exact_decimals(tmp_path):
    path = tmp_path / "n.yaml"
    path.write_text("a: 0.12345678901234567891\nb: 19.99\nc: 1_000.5\nd: 3\n")
    data = read_document(path).data
    assert data["a"] == Decimal("0.12345678901234567891")
    assert data["b"] == Decimal("19.99") and data["c"] == Decimal("1000.5") and data["d"] == 3


def test_every_value_keeps_its_line_and_column(tmp_path):
    path = tmp_path / "m.yaml"
    path.write_text("traffic:\n  mix:\n    - name: a\n      lines: []\n")
    doc = read_document(path)
    assert doc.mark(("traffic", "mix", 0, "lines")) == (4, 7)
    assert doc.mark(("traffic", "mix", 0, "lines", 3, "quantity")) == (4, 7)  # nearest place
    assert parse_path("traffic.mix[0].lines") == ("traffic", "mix", 0, "lines")


def test_alias_expansion_is_measured_before_anything_is_built(tmp_path):
    path = tmp_path / "bomb.yaml"
    levels = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    levels += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]" for i in range(1, 5)]
    path.write_text("\n".join(levels) + "\n")
    with pytest.raises(InputInvalid, match="expands to more than 1,000 values"):
        read_document(path, limits=Limits(max_nodes=1_000))
    assert read_document(path, limits=Limits(max_nodes=200_000)).data["a4"][0][0][0][0][0] == "x"


def test_a_repeated_key_is_refused_with_both_lines(tmp_path):
    path = tmp_path / "dup.yaml"
    path.write_text("seed: 1\nname: x\nseed: 2\n")
    with pytest.raises(InputInvalid) as info:
        read_document(path)
    problem = info.value.problems[0]
    assert problem.line == 3 and "first on line 1" in problem.message


@pytest.mark.parametrize("name", NAMES)
def test_stored_schemas_are_current(name):
    assert stored_path(name).read_text(encoding="utf-8") == schema_json(name), (
        "regenerate with: python -m cpqsim_scenarios.schemas"
    )


def _plain(value):
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, datetime.date):
        return value.isoformat()  # YAML dates are strings to an editor
    return value


@pytest.mark.parametrize(
    ("kind", "pattern", "header"),
    [
        ("scenario", "*.yaml", "../../docs/schemas/scenario.schema.json"),
        ("catalog", "catalog/enterprise.yaml", "../../../docs/schemas/catalog.schema.json"),
        ("request", "requests/*.yaml", "../../../docs/schemas/request.schema.json"),
        (
            "approval_policy",
            "catalog/approval_policy.yaml",
            "../../../docs/schemas/approval_policy.schema.json",
        ),
    ],
)
def test_library_files_point_at_their_schema_and_conform_to_it(kind, pattern, header):
    schema = json.loads(stored_path(kind).read_text())
    validator = jsonschema.Draft202012Validator(schema)
    files = sorted(LIBRARY.glob(pattern))
    assert files
    for path in files:
        first = path.read_text().splitlines()[0]
        assert first == f"# yaml-language-server: $schema={header}", path
        assert (path.parent / header).resolve() == stored_path(kind).resolve()
        errors = list(validator.iter_errors(_plain(read_document(path, kind).data)))
        assert not errors, f"{path}: {[e.message for e in errors[:3]]}"


def test_schema_command_prints_the_schema():
    result = runner.invoke(app, ["schema", "scenario"])
    assert result.exit_code == 0
    doc = json.loads(result.stdout)
    assert doc["properties"]["duration_s"]["maximum"] > 0  # bounds are stated in the schema


def test_version_is_printed():
    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0 and result.stdout.startswith("cpqsim ")


def test_choices_are_listed_in_help():
    result = runner.invoke(app, ["run", "--help"])
    assert "sim" in result.stdout and "ray" in result.stdout


def test_piped_tables_are_full_width_and_free_of_dict_reprs(tmp_path):
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "cpqsim_scenarios",
            "catalog",
            "show",
            str(LIBRARY / "catalog" / "enterprise.yaml"),
        ],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0
    assert "…" not in proc.stdout and "requires business-internet" in proc.stdout
    scenario = tmp_path / "short.yaml"
    scenario.write_text(
        (LIBRARY / "happy_path.yaml")
        .read_text()
        .replace("duration_s: 28800", "duration_s: 1800")
        .replace(
            "catalog: catalog/enterprise.yaml",
            f"catalog: {LIBRARY / 'catalog' / 'enterprise.yaml'}",
        )
    )
    out = tmp_path / "run"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "cpqsim_scenarios",
            "run",
            str(scenario),
            "--out",
            str(out),
            "--quiet",
        ],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stderr
    assert "{'" not in proc.stdout and "…" not in proc.stdout
    result = json.loads((out / "result.json").read_text())
    assert result["tool"]["name"] == "cpqsim" and result["tool"]["version"]
    assert result["schema_version"] >= 2 and result["started_at"] and result["wall_s"] > 0
    assert set(result["files"]) == {p.name for p in out.iterdir()}
    assert "{'" not in (out / "report.md").read_text()
