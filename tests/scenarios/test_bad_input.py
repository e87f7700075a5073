"""Every bad input of every command exits 2 with a message a person can act on.

A table of hostile inputs (the kinds a new user or a typo produces) runs through every
command. For each: exit code 2, no traceback, the message names the place (file, line,
field or option) and says what is wrong. Exit 1 is reserved for "an invariant broke".
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cpqsim_scenarios.cli import app

REPO = Path(__file__).resolve().parents[2]
LIBRARY = REPO / "scenarios" / "library"
CATALOG = LIBRARY / "catalog" / "enterprise.yaml"
REQUEST = LIBRARY / "requests" / "saas_and_internet.yaml"
CYCLE = LIBRARY / "catalog" / "broken_requires_cycle.yaml"
runner = CliRunner()


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict[str, Path]:
    """Bad files, each a small edit of a good library file."""
    d = tmp_path_factory.mktemp("bad")
    scenario = (LIBRARY / "happy_path.yaml").read_text()
    scenario = scenario.replace("catalog: catalog/enterprise.yaml", f"catalog: {CATALOG}")
    request = REQUEST.read_text().replace(
        "catalog: ../catalog/enterprise.yaml", f"catalog: {CATALOG}"
    )
    catalog = CATALOG.read_text()

    def write(name: str, text: str | bytes) -> Path:
        path = d / name
        path.write_bytes(text if isinstance(text, bytes) else text.encode())
        return path

    bomb = ["x: &a0 [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]"]
    bomb += [f"x{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]" for i in range(1, 9)]
    out = {
        "good": write("good.yaml", scenario),
        "policy_typo": write("policy.yaml", scenario.replace("policy: robust", "policy: robus")),
        "field_typo": write("field.yaml", scenario.replace("rejection_rate:", "rejectoin_rate:")),
        "inf_duration": write(
            "inf.yaml", scenario.replace("duration_s: 28800 ", "duration_s: .inf ")
        ),
        "nan_rate": write(
            "nan.yaml", scenario.replace("rejection_rate: 0.15", "rejection_rate: .nan")
        ),
        "huge_rate": write(
            "huge.yaml", scenario.replace("arrivals_per_hour: 40", "arrivals_per_hour: 1.0e12")
        ),
        "too_big": write(
            "big.yaml", scenario.replace("arrivals_per_hour: 40", "arrivals_per_hour: 200000.0")
        ),
        "tiny_sample": write(
            "sample.yaml", scenario.replace("sample_every_s: 300", "sample_every_s: 1.0e-9")
        ),
        "long_decimal": write(
            "digits.yaml",
            scenario.replace(
                '{pct: "0.05", weight: 3}',
                "{pct: 0.0500000000000000000000000000000000000000000000001, weight: 3}",
            ),
        ),
        "bad_name": write("name.yaml", scenario.replace("name: happy_path", "name: ../../etc")),
        "non_utf8": write("latin1.yaml", scenario.encode() + "# café\n".encode("latin-1")),
        "syntax": write("syntax.yaml", "name: [unclosed\n"),
        "not_mapping": write("list.yaml", "- just\n- a list\n"),
        "empty": write("empty.yaml", ""),
        "duplicate_key": write("dup.yaml", scenario + "seed: 2\n"),
        "alias_bomb": write("bomb.yaml", "\n".join(bomb) + "\n"),
        "recursive_alias": write("rec.yaml", "a: &a [*a]\n"),
        "deep": write("deep.yaml", "a: " + "[" * 200 + "]" * 200 + "\n"),
        "missing_catalog": write(
            "nocat.yaml", scenario.replace(f"catalog: {CATALOG}", "catalog: nowhere.yaml")
        ),
        "broken_catalog": write(
            "brokencat.yaml",
            scenario.replace(
                f"catalog: {CATALOG}",
                f"catalog: {LIBRARY / 'catalog' / 'broken_requires_cycle.yaml'}",
            ),
        ),
        "catalog_not_utf8": write(
            "cat-latin1.yaml", catalog.encode() + "# naïve\n".encode("latin-1")
        ),
        "unknown_cutoff_task": write(
            "cutoff.yaml", scenario + "cutoffs:\n  saas-suite/activate-tenantt: on_dispatch\n"
        ),
        "request_bad_qty": write("req.yaml", request.replace("quantity: 25", "quantity: zero")),
        "request_long_decimal": write(
            "req-digits.yaml",
            request.replace('discount_pct: "0.12"', 'discount_pct: "0.' + "1" * 60 + '"'),
        ),
    }
    return out


def cases(f: dict[str, Path], tmp: Path) -> list[tuple[str, list[str], str]]:
    """(case, argv, text the message must contain)."""
    afile = tmp / "a-file.txt"
    afile.write_text("x")
    userdir = tmp / "userdir"
    userdir.mkdir(exist_ok=True)
    (userdir / "keep.txt").write_text("x")
    s = lambda k: str(f[k])  # noqa: E731
    return [
        ("run: no such file", ["run", str(tmp / "nope.yaml")], "no such file"),
        ("run: a folder", ["run", str(tmp)], "is a folder"),
        ("run: policy typo", ["run", s("policy_typo")], "did you mean 'robust'"),
        ("run: field typo", ["run", s("field_typo")], "did you mean 'rejection_rate'"),
        ("run: infinite duration", ["run", s("inf_duration")], "duration_s"),
        ("run: NaN rate", ["run", s("nan_rate")], "traffic.rejection_rate"),
        ("run: absurd rate", ["run", s("huge_rate")], "less than or equal to 1000000"),
        ("run: projected too big", ["run", s("too_big")], "over the memory limit"),
        ("run: tiny sample interval", ["run", s("tiny_sample")], "sample_every_s"),
        ("run: 50-digit decimal", ["run", s("long_decimal")], "traffic.discounts[1].pct"),
        ("run: path-like name", ["run", s("bad_name")], "name"),
        ("run: not UTF-8", ["run", s("non_utf8")], "not UTF-8"),
        ("run: YAML syntax", ["run", s("syntax")], "syntax.yaml:2"),
        ("run: not a mapping", ["run", s("not_mapping")], "must be a mapping"),
        ("run: empty file", ["run", s("empty")], "is empty"),
        ("run: duplicate key", ["run", s("duplicate_key")], "appears twice"),
        ("run: alias bomb", ["run", s("alias_bomb")], "expands to more than"),
        ("run: recursive alias", ["run", s("recursive_alias")], "refers to itself"),
        ("run: nested too deep", ["run", s("deep")], "nested deeper"),
        ("run: missing catalog", ["run", s("missing_catalog")], "does not exist"),
        ("run: broken catalog", ["run", s("broken_catalog")], "[requires_cycle]"),
        (
            "run: cutoff for an unknown task",
            ["run", s("unknown_cutoff_task")],
            "cutoffs.saas-suite/activate-tenantt: no task",
        ),
        (
            "capacity: a target below a service time",
            ["capacity", s("good"), "--target-s", "1"],
            "downstream.provisioning.service_time",
        ),
        ("capacity: negative target", ["capacity", s("good"), "--target-s", "-5"], "target"),
        ("capacity: bad scenario", ["capacity", s("policy_typo")], "did you mean"),
        ("run: unknown runtime", ["run", s("good"), "--runtime", "spark"], "runtime"),
        ("run: negative seed", ["run", s("good"), "--seed", "-1"], "seed"),
        ("run: --out is a file", ["run", s("good"), "--out", str(afile)], "is a file"),
        ("run: --out user folder", ["run", s("good"), "--out", str(userdir)], "not empty"),
        ("sweep: absurd range", ["sweep", s("good"), "--seeds", "1-100000000000"], "10,000"),
        ("sweep: reversed range", ["sweep", s("good"), "--seeds", "5-1"], "reversed"),
        ("sweep: not a seed", ["sweep", s("good"), "--seeds", "x"], "not a seed"),
        ("sweep: grid of a text field", ["sweep", s("good"), "--grid", "name=1,2"], "names a str"),
        (
            "sweep: empty grid",
            ["sweep", s("good"), "--grid", "traffic.arrivals_per_hour="],
            "no values",
        ),
        (
            "sweep: huge grid",
            ["sweep", s("good"), "--seeds", "1-5000", "--grid", "traffic.arrivals_per_hour=1,2,3"],
            "at most 10,000",
        ),
        ("sweep: no workers", ["sweep", s("good"), "--workers", "0"], "workers"),
        ("sweep: bad scenario", ["sweep", s("policy_typo")], "did you mean"),
        ("catalog validate: missing", ["catalog", "validate", str(tmp / "no.yaml")], "no such"),
        ("catalog validate: cycle", ["catalog", "validate", str(CYCLE)], "cycle"),
        ("catalog validate: not UTF-8", ["catalog", "validate", s("catalog_not_utf8")], "UTF-8"),
        ("catalog show: a scenario", ["catalog", "show", s("good")], "unknown field"),
        (
            "catalog show: picture dir",
            ["catalog", "show", str(CATALOG), "--picture", str(tmp)],
            "is a folder",
        ),
        ("price: bad quantity", ["price", s("request_bad_qty")], "request.lines[0].quantity"),
        ("price: 60-digit discount", ["price", s("request_long_decimal")], "discount"),
        ("price: a folder", ["price", str(tmp)], "is a folder"),
        ("lifecycle: unknown", ["lifecycle", "invoice"], "invoice"),
        ("schema: unknown", ["schema", "invoice"], "invoice"),
        ("serve: negative time scale", ["serve", "--time-scale", "-1"], "time-scale"),
        ("serve: port zero", ["serve", "--port", "0"], "port"),
        ("serve: broken catalog", ["serve", "--catalog", str(CYCLE)], "cycle"),
        ("serve: missing scenario", ["serve", "--scenario", str(tmp / "no.yaml")], "no such"),
    ]


def test_every_bad_input_of_every_command_exits_2_with_an_actionable_message(files, tmp_path):
    failures = []
    for name, argv, expected in cases(files, tmp_path):
        result = runner.invoke(app, argv, catch_exceptions=True)
        text = result.stdout + result.stderr
        if result.exception is not None and not isinstance(result.exception, SystemExit):
            failures.append(f"{name}: raised {result.exception!r}")
        elif result.exit_code != 2:
            failures.append(f"{name}: exit {result.exit_code}: {text[-300:]}")
        elif expected not in text:
            failures.append(f"{name}: message lacks {expected!r}: {text[-400:]}")
        elif "Traceback" in text:
            failures.append(f"{name}: printed a traceback")
    assert not failures, "\n".join(failures)


def test_messages_name_line_and_column_and_echo_the_value(files):
    result = runner.invoke(app, ["run", str(files["huge_rate"])])
    assert result.exit_code == 2
    line = next(ln for ln in result.stderr.splitlines() if "arrivals_per_hour" in ln)
    assert "huge.yaml:" in line and "(got" in line
    location = line.split("huge.yaml:")[1].split(":")
    assert location[0].isdigit() and location[1].isdigit()  # file:line:column


def test_codes_in_messages_are_printed_literally(files):
    result = runner.invoke(app, ["catalog", "validate", str(CYCLE)])
    assert "[requires_cycle]" in result.stderr


def test_long_problem_lists_are_capped_on_screen_and_complete_in_json(tmp_path):
    offerings = "\n".join(
        f"  - {{id: o{i}, name: O{i}, version: 1, status: active, "
        f"relations: [{{kind: requires, target: missing-{i}}}]}}"
        for i in range(60)
    )
    catalog = tmp_path / "dangling.yaml"
    catalog.write_text(f"id: c\nversion: '1'\ncurrency: USD\nofferings:\n{offerings}\n")
    shown = runner.invoke(app, ["catalog", "validate", str(catalog)])
    assert shown.exit_code == 2
    assert "more (--json lists every problem)" in shown.stderr
    assert len(shown.stderr.splitlines()) < 30
    full = runner.invoke(app, ["catalog", "validate", str(catalog), "--json"])
    import json

    problems = json.loads(full.stdout)["problems"]
    assert len(problems) >= 60 and all(p["line"] for p in problems)


def test_the_installed_command_exits_2_without_a_traceback_on_a_non_utf8_file(files):
    proc = subprocess.run(
        [sys.executable, "-m", "cpqsim_scenarios", "run", str(files["non_utf8"])],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert "latin1.yaml:" in proc.stderr and "not UTF-8" in proc.stderr
