"""Who the load test calls as: a seller, an approver per role, and operations.

Every gateway request carries a bearer token, and the token decides who acts: the seller
creates quotes for its own accounts, the approver with the role the price requires
approves, operations read the fallout queue and ask for the verdict. By default these are
the demo principals ``cpqsim serve`` prints at start-up (local use only); against a
gateway started with ``--principals FILE``, set the tokens (and the seller's accounts)
through the environment variables named below.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

# The demo principals of ``cpqsim serve`` (cpqsim_actors.auth.DEMO_PRINCIPALS): public on
# purpose, and only ever served on loopback.
DEMO = {
    "CPQSIM_SELLER_TOKEN": "demo-seller-alice",
    "CPQSIM_SELLER_ACCOUNTS": "acct-0001,acct-0002",
    "CPQSIM_SALES_MANAGER_TOKEN": "demo-manager-bob",
    "CPQSIM_FINANCE_DIRECTOR_TOKEN": "demo-finance-carol",
    "CPQSIM_OPERATIONS_TOKEN": "demo-operations-olga",
}


@dataclass(frozen=True)
class Callers:
    seller_token: str
    seller_accounts: tuple[str, ...]
    approver_tokens: Mapping[str, str]  # approval role -> token of a principal holding it
    operations_token: str

    def seller(self) -> dict[str, str]:
        return bearer(self.seller_token)

    def approver(self, role: str) -> dict[str, str]:
        return bearer(self.approver_tokens[role])

    def operations(self) -> dict[str, str]:
        return bearer(self.operations_token)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def from_environment(env: Mapping[str, str] = os.environ) -> Callers:
    """The callers named by the environment, each defaulting to its demo principal."""

    def get(name: str) -> str:
        return env.get(name) or DEMO[name]

    accounts = tuple(a.strip() for a in get("CPQSIM_SELLER_ACCOUNTS").split(",") if a.strip())
    if not accounts:
        raise ValueError("CPQSIM_SELLER_ACCOUNTS: name at least one account of the seller")
    return Callers(
        seller_token=get("CPQSIM_SELLER_TOKEN"),
        seller_accounts=accounts,
        approver_tokens={
            "sales_manager": get("CPQSIM_SALES_MANAGER_TOKEN"),
            "finance_director": get("CPQSIM_FINANCE_DIRECTOR_TOKEN"),
        },
        operations_token=get("CPQSIM_OPERATIONS_TOKEN"),
    )
