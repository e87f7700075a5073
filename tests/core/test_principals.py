"""Principal ids are compared in one canonical form, so no spelling evades an identity rule."""

from decimal import Decimal

import pytest

from cpqsim.approval import ApprovalPolicy, approval_refusal, required_approvals
from cpqsim.principals import Principal, principal_key, same_principal

FULL_WIDTH_ALICE = "\uff41\uff4c\uff49\uff43\uff45"


@pytest.mark.parametrize(
    "spelling", ["alice", "Alice", "alice ", " ALICE\t", FULL_WIDTH_ALICE, "\uff21lice"]
)
def test_every_spelling_of_a_principal_is_the_same_principal(spelling):
    assert same_principal(spelling, "alice")
    assert principal_key(spelling) == "alice"


def test_different_people_stay_different():
    assert not same_principal("alice", "alicia")


@pytest.mark.parametrize("approver", ["Alice", "alice ", FULL_WIDTH_ALICE])
def test_given_alice_requested_when_she_approves_under_another_spelling_then_refused(approver):
    policy = ApprovalPolicy()
    triggers = required_approvals(policy, Decimal("0.15"), ["broadband"])
    refusal = approval_refusal(policy, triggers, approver, "sales_manager", "alice")
    assert refusal is not None and "segregation of duties" in refusal


def test_a_principal_id_is_stored_canonical_and_scoped_to_its_accounts():
    seller = Principal(id=" Bob ", roles=frozenset({"seller"}), accounts=frozenset({"acc-1"}))
    assert seller.id == "bob"
    assert seller.may_see("acc-1") and not seller.may_see("acc-2")
    assert seller.has_role("Seller")
    assert Principal(id="ops", accounts=None).may_see("anything")


def test_a_blank_principal_id_is_refused():
    with pytest.raises(ValueError, match="blank"):
        Principal(id="   ")
