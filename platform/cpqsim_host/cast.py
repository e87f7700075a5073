"""Who acts in a scenario: its sellers and approvers, as principals with roles.

On the live gateway "who" comes from a bearer token; a scenario's simulated customers
carry no tokens, so the scenario names its people instead: ``principals`` in the
scenario file, each with an id, roles and (optionally) accounts, the same shape as a
principals file without the token. Journeys then draw their requester from the sellers,
quote on one of that seller's accounts, and have each approval decided by a principal
who holds the role the price needs and is not the requester.

A scenario that lists nobody gets the cast runs always had, so its event log does not
change by a byte: ``seller-01`` ... (``traffic.sellers`` of them, on any account) and as
many ``manager-NN`` approvers, who each hold every approval role (they always decided
under whichever role a price needed). The escalation desk (``approvals-desk``) and the
operations team (``ops:<its role>``, see ``cpqsim_host.operations_desk``) act for the
platform itself and are not drawn from the cast.
"""

from __future__ import annotations

from dataclasses import dataclass

from cpqsim.principals import Principal, same_principal

SELLER_ROLE = "seller"
APPROVAL_ROLES = ("sales_manager", "finance_director")  # low to high


def default_seller(n: int) -> str:
    return f"seller-{n + 1:02d}"


def default_approver(n: int) -> str:
    return f"manager-{n + 1:02d}"


@dataclass(frozen=True)
class Cast:
    """The scenario's listed principals, sorted into who sells and who approves what."""

    sellers: tuple[Principal, ...]
    approvers: dict[str, tuple[Principal, ...]]  # approval role -> who holds it

    def approvers_for(self, role: str, requester: str) -> tuple[Principal, ...]:
        """Who may decide an approval needing ``role`` on ``requester``'s quote."""
        return tuple(p for p in self.approvers[role] if not same_principal(p.id, requester))


def cast_problems(principals: list[Principal]) -> list[str]:
    """Why these principals cannot play a scenario's journeys (empty when they can)."""
    problems: list[str] = []
    if not any(p.has_role(SELLER_ROLE) for p in principals):
        problems.append("principals: nobody holds the role 'seller' (journeys need a requester)")
    for role in APPROVAL_ROLES:
        if not any(p.has_role(role) and not p.has_role(SELLER_ROLE) for p in principals):
            problems.append(
                f"principals: nobody but a seller holds the role {role!r} (an approval "
                "needing it could only be decided by its own requester)"
            )
    seen: dict[str, int] = {}
    for i, p in enumerate(principals):
        if p.id in seen:
            problems.append(f"principals[{i}].id: {p.id!r} is principals[{seen[p.id]}] again")
        seen[p.id] = i
    for i, p in enumerate(principals):
        if p.accounts is not None and not p.accounts and p.has_role(SELLER_ROLE):
            problems.append(f"principals[{i}].accounts: a seller needs at least one account")
    return problems


def cast_of(principals: list[Principal]) -> Cast:
    """The cast of listed principals (checked with :func:`cast_problems` first)."""
    return Cast(
        sellers=tuple(p for p in principals if p.has_role(SELLER_ROLE)),
        approvers={
            role: tuple(p for p in principals if p.has_role(role)) for role in APPROVAL_ROLES
        },
    )
