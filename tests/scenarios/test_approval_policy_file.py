"""Approval policy files: read beside the catalog, refused with places, used by a scenario."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cpqsim_scenarios.approval_policy_file import load_approval_policy
from cpqsim_scenarios.cli import app
from cpqsim_scenarios.errors import InputInvalid
from cpqsim_scenarios.model import load_scenario
from cpqsim_scenarios.runner import run_scenario

REPO = Path(__file__).resolve().parents[2]
LIBRARY = REPO / "scenarios" / "library"
SAMPLE = LIBRARY / "catalog" / "approval_policy.yaml"
runner = CliRunner()

OVERLAPPING = """\
version: bad-1
role_rank: [sales_manager, finance_director]
rules:
  - id: wide
    discount_above: 0.10
    role: finance_director
  - id: narrow
    discount_above: 0.20
    regions: [EMEA]
    role: sales_manager
"""


def test_the_sample_policy_is_valid_and_has_a_two_step_chain():
    policy = load_approval_policy(SAMPLE)
    assert policy.version == "enterprise-approval-2026.11"
    chains = {rule.id: rule.steps for rule in policy.rules}
    assert chains["discount-over-25pct"] == ["sales_manager", "finance_director"]


def test_overlapping_rules_are_refused_with_the_rule_named_and_placed(tmp_path):
    # Given a policy whose narrow rule can never decide a chain
    path = tmp_path / "policy.yaml"
    path.write_text(OVERLAPPING)
    # When it is read, then it is refused at the narrow rule's line, both rules named
    with pytest.raises(InputInvalid) as info:
        load_approval_policy(path)
    [problem] = info.value.problems
    assert problem.where == "rules[1]" and problem.line == 7
    assert "'narrow'" in problem.message and "'wide'" in problem.message


def test_a_bad_field_names_file_line_and_field(tmp_path):
    path = tmp_path / "policy.yaml"
    path.write_text("version: v\nrules:\n  - id: a\n    discount_abov: 0.1\n    role: x\n")
    with pytest.raises(InputInvalid) as info:
        load_approval_policy(path)
    rendered = "\n".join(p.render(str(path)) for p in info.value.problems)
    assert f"{path}:4" in rendered and "did you mean 'discount_above'" in rendered


def test_a_policy_without_a_version_is_refused(tmp_path):
    path = tmp_path / "policy.yaml"
    path.write_text("rules: []\n")
    with pytest.raises(InputInvalid, match="version"):
        load_approval_policy(path)


def test_the_validate_command_exits_2_with_the_place(tmp_path):
    path = tmp_path / "policy.yaml"
    path.write_text(OVERLAPPING)
    result = runner.invoke(app, ["approval-policy", "validate", str(path), "--json"])
    assert result.exit_code == 2
    [problem] = json.loads(result.stdout)["problems"]
    assert problem["line"] == 7 and "narrow" in problem["message"]
    ok = runner.invoke(app, ["approval-policy", "validate", str(SAMPLE)])
    assert ok.exit_code == 0 and "sales_manager then finance_director" in ok.stdout


def test_a_scenario_naming_a_missing_policy_is_refused_at_its_field(tmp_path):
    shutil.copytree(LIBRARY / "catalog", tmp_path / "catalog")
    text = (LIBRARY / "approval_two_step.yaml").read_text()
    scenario = tmp_path / "s.yaml"
    scenario.write_text(text.replace("catalog/approval_policy.yaml", "catalog/nope.yaml"))
    with pytest.raises(InputInvalid) as info:
        load_scenario(scenario)
    [problem] = info.value.problems
    assert problem.where == "approval_policy" and "does not exist" in problem.message


def test_a_scenario_with_a_contradictory_policy_exits_2(tmp_path):
    shutil.copytree(LIBRARY / "catalog", tmp_path / "catalog")
    (tmp_path / "catalog" / "approval_policy.yaml").write_text(OVERLAPPING)
    shutil.copy(LIBRARY / "approval_two_step.yaml", tmp_path / "s.yaml")
    result = runner.invoke(app, ["run", str(tmp_path / "s.yaml"), "--json", "--quiet"])
    assert result.exit_code == 2
    assert "approval_policy.yaml" in result.stdout and "narrow" in result.stdout


def test_the_policy_escalation_sets_the_watch_when_the_scenario_names_none():
    loaded = load_scenario(LIBRARY / "approval_two_step.yaml")
    assert loaded.approval_policy.version == "enterprise-approval-2026.11"
    assert loaded.scenario.approval_timeout_s == 8 * 3600


@pytest.fixture(scope="module")
def two_step():
    return run_scenario(LIBRARY / "approval_two_step.yaml")


def test_the_two_step_library_scenario_holds_and_passes_two_approvers(two_step):
    # Every invariant holds (repricing included: it prices under the scenario's policy)
    assert two_step.exit_code == 0, [i for i in two_step.result["invariants"] if not i["holds"]]
    events = two_step.output.events
    steps = [e for e in events if e.name == "quote.approval_step_approved"]
    finals = {
        (e.data["quote_id"], e.data["revision"]): e for e in events if e.name == "quote.approved"
    }
    assert len(steps) > 10
    for step in steps:
        # Then every first step is followed by the second, by another person
        final = finals[(step.data["quote_id"], step.data["revision"])]
        assert (step.data["step"], final.data["step"], final.data["steps"]) == (1, 2, 2)
        assert step.data["approver"] != final.data["approver"]
        assert final.data["role"] in ("finance_director", "sales_director")
        assert final.data["policy_version"] == "enterprise-approval-2026.11"
    # And quotes at 30 % on the security family still name the finance chain
    chains = {
        tuple(e.data.get("approval_chain") or [e.data["required_role"]])
        for e in events
        if e.name == "quote.priced" and e.data["approval_required"]
    }
    assert ("sales_manager", "finance_director") in chains
    assert ("sales_manager", "sales_director") in chains


def test_every_step_of_a_chain_is_an_audited_decision_with_its_policy_version(tmp_path):
    # Given the two-step day written to a run folder
    run = run_scenario(LIBRARY / "approval_two_step.yaml", out_dir=tmp_path / "run")
    entries = [json.loads(line)["entry"] for line in (run.out_dir / "audit.jsonl").open()]

    # Then each first step is in the audit chain, by its approver under their role and
    # naming the policy version it was decided under
    steps = [e for e in entries if e["action"] == "quote.approval_step_approved"]
    facts = [e for e in run.output.events if e.name == "quote.approval_step_approved"]
    assert len(steps) == len(facts) > 10
    for entry, fact in zip(steps, facts, strict=True):
        assert (entry["actor"], entry["authority"]) == (fact.data["approver"], fact.data["role"])
        assert (
            entry["reason"].startswith("step 1")
            and "[enterprise-approval-2026.11]" in entry["reason"]
        )
