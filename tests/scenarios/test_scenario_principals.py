"""The people of a scenario: sellers and approvers as principals with roles.

Given a scenario that lists no principals, its journeys keep the cast runs always had
(seller-NN requesters, manager-NN approvers), so its event log does not change. Given a
scenario that lists them, every quote is requested by a seller on one of that seller's
accounts, and every approval is decided by someone who holds the role the price needs and
did not request the quote. A list that cannot play the journeys is refused, named.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from cpqsim_host.journeys import plan_journeys

from cpqsim.principals import Principal, same_principal
from cpqsim_scenarios.errors import InputInvalid
from cpqsim_scenarios.model import load_scenario
from cpqsim_scenarios.runner import run_scenario

LIBRARY = Path(__file__).resolve().parents[2] / "scenarios" / "library"

PEOPLE = [
    Principal(id="Sam", roles=frozenset({"seller"}), accounts=frozenset({"acct-0007"})),
    Principal(
        id="sue", roles=frozenset({"seller"}), accounts=frozenset({"acct-0008", "acct-0009"})
    ),
    Principal(id="max", roles=frozenset({"sales_manager", "seller"})),
    Principal(id="mia", roles=frozenset({"sales_manager"})),
    Principal(id="fin", roles=frozenset({"finance_director"})),
]


def with_people(people):
    loaded = load_scenario(LIBRARY / "happy_path.yaml")
    scenario = loaded.scenario.model_validate(
        {**loaded.scenario.model_dump(), "principals": [p.model_dump() for p in people]}
    )
    return loaded.model_copy(update={"scenario": scenario})


def test_without_principals_the_cast_is_the_one_runs_always_had():
    plans = plan_journeys(load_scenario(LIBRARY / "happy_path.yaml").scenario)
    assert plans and all(p.requester.startswith("seller-") for p in plans)
    assert all(p.approver.startswith("manager-") and not p.approvers_by_role for p in plans)


def test_listed_principals_request_on_their_accounts_and_approve_by_role():
    plans = plan_journeys(with_people(PEOPLE).scenario)

    by_id = {p.id: p for p in PEOPLE}
    for plan in plans:
        seller = Principal.model_validate(by_id.get(plan.requester, {"id": plan.requester}))
        assert seller.has_role("seller")
        assert seller.accounts is None or plan.account_id in seller.accounts
        for role, approver in plan.approvers_by_role.items():
            assert by_id[approver].has_role(role)
            assert not same_principal(approver, plan.requester)
    assert {p.requester for p in plans} == {"sam", "sue", "max"}  # ids in canonical form


def test_a_run_with_listed_principals_records_them_as_requesters_and_approvers():
    run = run_scenario(with_people(PEOPLE))

    events = [e for e in run.events if e.name in ("quote.created", "quote.approved")]
    requesters = {e.data["requester"] for e in events if e.name == "quote.created"}
    approvals = [e for e in events if e.name == "quote.approved"]
    assert requesters <= {"sam", "sue", "max"} and approvals
    holders = {p.id: p for p in PEOPLE if p.id in ("mia", "fin", "max")}
    for event in approvals:
        approver, role = event.data["approver"], event.data["role"]
        if approver != "approvals-desk":  # the platform's own escalation owner
            assert holders[approver].has_role(role), (approver, role)
    assert all(i["holds"] for i in run.result["invariants"]), run.result["invariants"]


@pytest.mark.parametrize(
    ("people", "expected"),
    [
        (PEOPLE[3:], "nobody holds the role 'seller'"),
        (PEOPLE[:2] + PEOPLE[4:], "nobody but a seller holds the role 'sales_manager'"),
        ([*PEOPLE, Principal(id=" SAM", roles=frozenset({"seller"}))], "principals[5].id"),
    ],
)
def test_principals_that_cannot_play_the_journeys_are_refused_by_name(tmp_path, people, expected):
    source = (LIBRARY / "happy_path.yaml").read_text(encoding="utf-8")
    listed = "".join(
        f"\n  - id: {p.id!r}\n    roles: {sorted(p.roles)}"
        + (f"\n    accounts: {sorted(p.accounts)}" if p.accounts is not None else "")
        for p in people
    )
    path = tmp_path / "people.yaml"
    path.write_text(source + f"\nprincipals:{listed}\n", encoding="utf-8")
    (tmp_path / "catalog").symlink_to(LIBRARY / "catalog")

    with pytest.raises(InputInvalid) as refused:
        load_scenario(path)

    assert expected in str(refused.value)
