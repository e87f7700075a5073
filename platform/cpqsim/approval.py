"""Approval policy as data, and the questions asked of it.

*Which approvals does this price need, in which order?* *May this person approve this
step today?* *May this seller give this discount at all?* Rules are plain data (conditions
on discount, margin, deal size, product family and region; an ordered chain of approving
roles), so a policy change is a data change with a version, and every decision records
the version it used. The policy is read from a file by the shell (or sent over HTTP to
the live platform); the embedded default below is what runs when nobody names one.

How rules combine: every rule whose conditions all hold is a *trigger* (kept as evidence
of why approval was needed); the chain the quote must pass is the chain of the most
demanding trigger (highest role, then most steps, then the first in the file). A policy
in which some rule could never decide a chain — every quote it matches is also matched by
another rule whose chain is at least as demanding — is contradictory and refused whole,
with both rules named (see :func:`policy_problems`).
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, model_validator

from cpqsim.events import DomainEvent
from cpqsim.omit_defaults import OmitsDefaults
from cpqsim.principals import same_principal

Fraction = Decimal  # 0.15 means 15 %


class _Data(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)


class ApprovalRule(_Data):
    """When all of its conditions hold, a quote needs the approvals of ``chain`` in order."""

    id: str = Field(min_length=1, max_length=100)
    discount_above: Fraction | None = Field(
        default=None, ge=0, le=1, description="fraction, e.g. 0.15 means above 15 %"
    )
    margin_below: Fraction | None = Field(
        default=None,
        ge=-1,
        le=1,
        description="fraction; a quote whose margin is unknown (no costs) counts as below",
    )
    deal_size_above: Decimal | None = Field(
        default=None, ge=0, description="net total of the quote, in the policy's currency"
    )
    families: list[str] | None = Field(default=None, description="None means every family")
    regions: list[str] | None = Field(default=None, description="None means every region")
    role: str | None = Field(
        default=None, description="a one-step chain (shorthand for chain: [role])"
    )
    chain: list[str] | None = Field(
        default=None,
        min_length=1,
        max_length=10,
        description="roles that must approve, in this order (each step by another person)",
    )

    @model_validator(mode="after")
    def _one_chain_and_a_condition(self) -> ApprovalRule:
        if (self.role is None) == (self.chain is None):
            raise ValueError(f"rule {self.id!r}: give either 'role' or 'chain' (exactly one)")
        if self.chain is not None and len(set(self.chain)) != len(self.chain):
            raise ValueError(f"rule {self.id!r}: a role appears twice in its chain")
        if (
            self.discount_above is None
            and self.margin_below is None
            and self.deal_size_above is None
        ):
            raise ValueError(
                f"rule {self.id!r}: needs a threshold (discount_above, margin_below or "
                "deal_size_above); a rule without one would stop every quote"
            )
        return self

    @property
    def steps(self) -> list[str]:
        return list(self.chain) if self.chain is not None else [self.role or ""]

    def covers(self, other: ApprovalRule) -> bool:
        """True when every quote ``other`` matches is also matched by this rule."""

        def weaker(mine, theirs, stricter) -> bool:
            return mine is None or (theirs is not None and stricter(theirs, mine))

        def wider(mine, theirs) -> bool:
            return mine is None or (theirs is not None and set(theirs) <= set(mine))

        return (
            weaker(self.discount_above, other.discount_above, lambda t, m: t >= m)
            and weaker(self.margin_below, other.margin_below, lambda t, m: t <= m)
            and weaker(self.deal_size_above, other.deal_size_above, lambda t, m: t >= m)
            and wider(self.families, other.families)
            and wider(self.regions, other.regions)
        )


class Delegation(_Data):
    """``delegate`` may approve as ``role`` on behalf of ``delegator`` (a principal or a
    role) on every business date from ``valid_from`` to ``valid_until`` inclusive."""

    delegator: str = Field(min_length=1, max_length=100)
    delegate: str = Field(min_length=1, max_length=100)
    role: str = Field(min_length=1, max_length=100)
    valid_from: date
    valid_until: date


class Escalation(_Data):
    """A step still undecided ``after_hours`` after submission goes to ``to_role``
    (and its case to ``owner``): either the original role or ``to_role`` may decide it."""

    after_hours: Decimal = Field(gt=0, le=24 * 366)
    to_role: str = Field(min_length=1, max_length=100)
    owner: str = Field(default="approvals-desk", min_length=1, max_length=100)


class ApprovalPolicy(_Data):
    version: str = Field(default="approval-policy-v1", min_length=1, max_length=100)
    description: str = Field(default="", max_length=20_000)
    currency: str | None = Field(
        default=None,
        description="currency of deal_size_above; a quote in another currency counts as "
        "above (the size cannot be compared, so the approval is asked for)",
    )
    rules: list[ApprovalRule] = Field(
        default_factory=lambda: [
            ApprovalRule(
                id="discount-over-10pct", discount_above=Decimal("0.10"), role="sales_manager"
            ),
            ApprovalRule(
                id="discount-over-25pct", discount_above=Decimal("0.25"), role="finance_director"
            ),
        ],
        max_length=1_000,
    )
    # Roles ranked low to high: a higher role may approve what a lower one may.
    role_rank: list[str] = Field(
        default_factory=lambda: ["sales_manager", "finance_director"], max_length=100
    )
    discount_authority: dict[str, Fraction] = Field(
        default_factory=dict,
        description="role -> the deepest discount it may give on its own quotes",
    )
    requester_role: str = Field(
        default="seller", description="role of a requester whose role is not stated"
    )
    beyond_authority: Literal["approve", "refuse"] = Field(
        default="approve",
        description="a discount beyond the requester's authority needs approval by the "
        "lowest role whose authority covers it ('approve') or is refused ('refuse')",
    )
    delegations: list[Delegation] = Field(default_factory=list, max_length=1_000)
    escalation: Escalation | None = None

    @model_validator(mode="after")
    def _consistent(self, info: ValidationInfo) -> ApprovalPolicy:
        if info.context and info.context.get("shape_only"):
            return self  # the file reader places each problem itself
        problems = policy_problems(self)
        if problems:
            raise ValueError("; ".join(message for _, message in problems))
        return self

    def rank(self, role: str) -> int:
        """Position in ``role_rank`` (-1: not an approval role)."""
        return self.role_rank.index(role) if role in self.role_rank else -1

    def authority_of(self, role: str) -> Fraction | None:
        return self.discount_authority.get(role)


def policy_problems(policy: ApprovalPolicy) -> list[tuple[tuple[str | int, ...], str]]:
    """Every contradiction in ``policy``, as (place in the file, message)."""
    problems: list[tuple[tuple[str | int, ...], str]] = []
    known = set(policy.role_rank)
    if len(known) != len(policy.role_rank):
        problems.append((("role_rank",), "a role appears twice in role_rank"))
    seen: dict[str, int] = {}
    for i, rule in enumerate(policy.rules):
        if rule.id in seen:
            problems.append(
                ((("rules", i, "id")), f"rule id {rule.id!r} repeats rules[{seen[rule.id]}]")
            )
        seen.setdefault(rule.id, i)
        for k, role in enumerate(rule.steps):
            if role not in known:
                where = ("rules", i, "chain", k) if rule.chain is not None else ("rules", i, "role")
                problems.append(
                    (
                        where,
                        f"rule {rule.id!r}: role {role!r} has no approval authority "
                        f"(not in role_rank: {', '.join(policy.role_rank) or 'empty'})",
                    )
                )
    for i, a in enumerate(policy.rules):
        for j in range(i + 1, len(policy.rules)):
            b = policy.rules[j]
            a_covers_b, b_covers_a = a.covers(b), b.covers(a)
            if a_covers_b and b_covers_a:
                problems.append(
                    (
                        ("rules", j),
                        f"rules {a.id!r} and {b.id!r} match exactly the same quotes "
                        f"(chains {a.steps} and {b.steps}): overlapping or contradictory rules",
                    )
                )
            elif a_covers_b and demand(policy, a.steps) >= demand(policy, b.steps):
                problems.append((("rules", j), _shadowed(b, a)))
            elif b_covers_a and demand(policy, b.steps) >= demand(policy, a.steps):
                problems.append((("rules", i), _shadowed(a, b)))
    previous: tuple[str, Fraction] | None = None
    for role in policy.role_rank:
        limit = policy.discount_authority.get(role)
        if limit is None:
            continue
        if previous is not None and limit < previous[1]:
            problems.append(
                (
                    ("discount_authority", role),
                    f"role {role!r} ranks above {previous[0]!r} but may give less discount "
                    f"({limit} < {previous[1]})",
                )
            )
        previous = (role, limit)
    for role, limit in policy.discount_authority.items():
        if not Decimal(0) <= limit <= 1:
            problems.append((("discount_authority", role), f"{limit} is not a fraction 0..1"))
    if policy.discount_authority and policy.requester_role not in policy.discount_authority:
        problems.append(
            (
                ("requester_role",),
                f"the default requester role {policy.requester_role!r} has no discount_authority",
            )
        )
    for i, d in enumerate(policy.delegations):
        if d.valid_until < d.valid_from:
            problems.append((("delegations", i, "valid_until"), "ends before it starts"))
        if d.role not in known:
            problems.append(
                (
                    ("delegations", i, "role"),
                    f"role {d.role!r} is not in role_rank: nothing to delegate",
                )
            )
        if same_principal(d.delegator, d.delegate):
            problems.append(
                (("delegations", i, "delegate"), "a principal cannot delegate to itself")
            )
    if policy.escalation is not None and policy.escalation.to_role not in known:
        problems.append(
            (("escalation", "to_role"), f"role {policy.escalation.to_role!r} is not in role_rank")
        )
    return problems


def _shadowed(rule: ApprovalRule, by: ApprovalRule) -> str:
    return (
        f"rule {rule.id!r} can never decide a chain: every quote it matches also matches "
        f"rule {by.id!r}, whose chain {by.steps} is at least as demanding as {rule.steps} "
        "(overlapping or contradictory rules)"
    )


def demand(policy: ApprovalPolicy, steps: list[str]) -> tuple[int, int]:
    """How demanding a chain is: its highest role's rank, then its number of steps."""
    return (max((policy.rank(r) for r in steps), default=-1), len(steps))


class ApprovalTrigger(OmitsDefaults):
    """One rule a price crosses. ``chain`` is written only when it is more than the one
    step ``required_role`` (the form every log before multi-step chains has)."""

    model_config = ConfigDict(frozen=True)
    omit_when_default = frozenset({"chain"})

    rule_id: str
    rule_version: str
    required_role: str
    reason: str
    chain: list[str] = Field(default_factory=list)

    @property
    def steps(self) -> list[str]:
        return list(self.chain) if self.chain else [self.required_role]


def _pct(value: Decimal) -> str:
    return f"{value:%}"


def required_approvals(
    policy: ApprovalPolicy,
    discount_pct: Decimal,
    families: list[str],
    region: str | None = None,
    *,
    deal_size: Decimal | None = None,
    currency: str | None = None,
    margin_pct: Decimal | None = None,
) -> list[ApprovalTrigger]:
    """Every rule the price crosses, in policy order (empty when none)."""
    triggers: list[ApprovalTrigger] = []
    for rule in policy.rules:
        if rule.families is not None and not set(rule.families) & set(families):
            continue
        if rule.regions is not None and region not in rule.regions:
            continue
        reasons = []
        if rule.discount_above is not None:
            if not discount_pct > rule.discount_above:
                continue
            reasons.append(f"discount {_pct(discount_pct)} exceeds {_pct(rule.discount_above)}")
        if rule.margin_below is not None:
            if margin_pct is None:
                reasons.append("margin unknown (no costs priced)")
            elif margin_pct < rule.margin_below:
                reasons.append(f"margin {_pct(margin_pct)} is below {_pct(rule.margin_below)}")
            else:
                continue
        if rule.deal_size_above is not None:
            if deal_size is None or (policy.currency is not None and currency != policy.currency):
                reasons.append(f"deal size not comparable in {policy.currency}")
            elif deal_size > rule.deal_size_above:
                reasons.append(f"deal size {deal_size} exceeds {rule.deal_size_above}")
            else:
                continue
        steps = rule.steps
        triggers.append(
            ApprovalTrigger(
                rule_id=rule.id,
                rule_version=policy.version,
                required_role=max(steps, key=policy.rank),
                reason=f"{'; '.join(reasons)} (needs {' then '.join(steps)})",
                chain=steps if len(steps) > 1 else [],
            )
        )
    return triggers


def authority_trigger(
    policy: ApprovalPolicy, requester_role: str | None, discount_pct: Decimal
) -> ApprovalTrigger | None:
    """The approval a discount beyond the requester's own authority needs (or None).

    Raises :class:`BeyondAuthority` when the policy refuses such discounts, or when no
    role has the authority to give it.
    """
    if not policy.discount_authority:
        return None
    role = requester_role or policy.requester_role
    own = policy.discount_authority.get(role, Decimal(0))
    if discount_pct <= own:
        return None
    if policy.beyond_authority == "refuse":
        raise BeyondAuthority(
            f"a {role} may give up to {_pct(own)} discount under {policy.version}, "
            f"not {_pct(discount_pct)}"
        )
    covering = [
        r for r in policy.role_rank if policy.discount_authority.get(r, Decimal(-1)) >= discount_pct
    ]
    if not covering:
        raise BeyondAuthority(
            f"no role may give {_pct(discount_pct)} discount under {policy.version}"
        )
    return ApprovalTrigger(
        rule_id=f"discount-authority-{role}",
        rule_version=policy.version,
        required_role=covering[0],
        reason=f"discount {_pct(discount_pct)} is beyond a {role}'s authority of {_pct(own)} "
        f"(needs {covering[0]})",
    )


class BeyondAuthority(ValueError):
    """A discount no role (or not this requester, by policy) may give."""


def approval_chain(policy: ApprovalPolicy, triggers: list[ApprovalTrigger]) -> list[str]:
    """The roles that must approve, in order: the most demanding trigger's chain."""
    best: list[str] = []
    for trigger in triggers:
        if demand(policy, trigger.steps) > demand(policy, best):
            best = trigger.steps
    return best


def highest_required_role(policy: ApprovalPolicy, triggers: list[ApprovalTrigger]) -> str | None:
    chain = approval_chain(policy, triggers)
    return max(chain, key=policy.rank) if chain else None


def delegation_in_force(
    policy: ApprovalPolicy, delegator: str, delegate: str, role: str, on: date
) -> Delegation | None:
    for d in policy.delegations:
        if (
            d.role == role
            and (same_principal(d.delegator, delegator) or d.delegator == delegator)
            and same_principal(d.delegate, delegate)
            and d.valid_from <= on <= d.valid_until
        ):
            return d
    return None


def approval_refusal(
    policy: ApprovalPolicy,
    triggers: list[ApprovalTrigger],
    approver_id: str,
    approver_role: str,
    requester_id: str,
    *,
    step_role: str | None = None,
    escalated_to: str | None = None,
    earlier_approvers: tuple[str, ...] = (),
    on_behalf_of: str | None = None,
    business_date: date | None = None,
) -> str | None:
    """Why this approver may not approve (this step), or ``None`` when they may.

    Segregation of duties: whoever asked for the exception can never grant it, under any
    spelling of their id (see :func:`cpqsim.principals.principal_key`), nor through a
    delegate acting for them; and nobody approves two steps of the same chain.
    """
    if same_principal(approver_id, requester_id):
        return f"segregation of duties: {approver_id} requested this quote and cannot approve it"
    if on_behalf_of is not None and same_principal(on_behalf_of, requester_id):
        return (
            f"segregation of duties: {approver_id} acts for {on_behalf_of}, who requested "
            "this quote"
        )
    for earlier in earlier_approvers:
        if same_principal(approver_id, earlier) or (
            on_behalf_of is not None and same_principal(on_behalf_of, earlier)
        ):
            return (
                f"segregation of duties: {approver_id} already approved a step of this chain"
                if same_principal(approver_id, earlier)
                else f"segregation of duties: {on_behalf_of} already approved a step of this chain"
            )
    if on_behalf_of is not None:
        on = business_date or date.min
        if delegation_in_force(policy, on_behalf_of, approver_id, approver_role, on) is None:
            return (
                f"no delegation from {on_behalf_of} to {approver_id} as {approver_role} "
                f"in force on {on.isoformat()} under {policy.version}"
            )
    needed = step_role if step_role is not None else highest_required_role(policy, triggers)
    if needed is None:
        return None
    if approver_role not in policy.role_rank:
        return f"role {approver_role!r} is not an approval role in {policy.version}"
    if escalated_to is not None and policy.rank(approver_role) >= policy.rank(escalated_to):
        return None
    if policy.rank(approver_role) < policy.rank(needed):
        return f"role {approver_role!r} is below the required role {needed!r}"
    return None


class ApprovalPolicyPublished(DomainEvent):
    """A new approval policy version is in force from now on (live platform).

    It carries the whole policy, so a shard replaying its journal comes back under the
    policy it had, and evidence can show what a version said.
    """

    aggregate: ClassVar[str] = "approval_policy"
    type_name: ClassVar[str] = "published"
    policy_version: str
    policy: dict[str, Any]

    def subject(self) -> str:
        return f"approval-policy/{self.policy_version}"
