"""Approval policy as data, and the two questions asked of it.

*Which approvals does this price need?* and *may this person give one?* Rules are plain
data (threshold, role, optional families and regions) so a policy change is a data change
with a version, and every decision records the policy version it used.
"""

from __future__ import annotations

from decimal import Decimal

from pydantic import BaseModel, ConfigDict, Field

from cpqsim.principals import same_principal


class ApprovalRule(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str
    discount_above: Decimal = Field(description="fraction, e.g. 0.15 means above 15 %")
    role: str = Field(description="role that may approve an exception under this rule")
    families: list[str] | None = Field(default=None, description="None means every family")
    regions: list[str] | None = Field(default=None, description="None means every region")


class ApprovalPolicy(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    version: str = "approval-policy-v1"
    rules: list[ApprovalRule] = Field(
        default_factory=lambda: [
            ApprovalRule(
                id="discount-over-10pct", discount_above=Decimal("0.10"), role="sales_manager"
            ),
            ApprovalRule(
                id="discount-over-25pct", discount_above=Decimal("0.25"), role="finance_director"
            ),
        ]
    )
    # Roles ranked low to high: a higher role may approve what a lower one may.
    role_rank: list[str] = Field(default_factory=lambda: ["sales_manager", "finance_director"])


class ApprovalTrigger(BaseModel):
    model_config = ConfigDict(frozen=True)

    rule_id: str
    rule_version: str
    required_role: str
    reason: str


def required_approvals(
    policy: ApprovalPolicy,
    discount_pct: Decimal,
    families: list[str],
    region: str | None = None,
) -> list[ApprovalTrigger]:
    """Every rule the discount crosses, in policy order (empty when none)."""
    triggers: list[ApprovalTrigger] = []
    for rule in policy.rules:
        if rule.families is not None and not set(rule.families) & set(families):
            continue
        if rule.regions is not None and region not in rule.regions:
            continue
        if discount_pct > rule.discount_above:
            triggers.append(
                ApprovalTrigger(
                    rule_id=rule.id,
                    rule_version=policy.version,
                    required_role=rule.role,
                    reason=f"discount {discount_pct:%} exceeds {rule.discount_above:%} "
                    f"(needs {rule.role})",
                )
            )
    return triggers


def highest_required_role(policy: ApprovalPolicy, triggers: list[ApprovalTrigger]) -> str | None:
    ranks = {role: i for i, role in enumerate(policy.role_rank)}
    roles = sorted({t.required_role for t in triggers}, key=lambda r: ranks.get(r, len(ranks)))
    return roles[-1] if roles else None


def approval_refusal(
    policy: ApprovalPolicy,
    triggers: list[ApprovalTrigger],
    approver_id: str,
    approver_role: str,
    requester_id: str,
) -> str | None:
    """Why this approver may not approve, or ``None`` when they may.

    Segregation of duties: whoever asked for the exception can never grant it, under any
    spelling of their id (see :func:`cpqsim.principals.principal_key`).
    """
    if same_principal(approver_id, requester_id):
        return f"segregation of duties: {approver_id} requested this quote and cannot approve it"
    needed = highest_required_role(policy, triggers)
    if needed is None:
        return None
    ranks = {role: i for i, role in enumerate(policy.role_rank)}
    if approver_role not in ranks:
        return f"role {approver_role!r} is not an approval role in {policy.version}"
    if ranks[approver_role] < ranks.get(needed, len(ranks)):
        return f"role {approver_role!r} is below the required role {needed!r}"
    return None
