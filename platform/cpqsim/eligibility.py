"""May *this customer* order an offering? Rules as data, answers with reasons.

Configuration answers "is this a valid product?"; eligibility answers "may this
customer have it, here, through this channel, given what they already own and their
credit?". The two are kept apart on purpose: a perfectly valid configuration can be
not orderable for one customer, and :func:`assess_order` reports both answers side by
side rather than folding one into the other.

Rules come from two places, both data:

* the catalog itself — an offering's ``markets``/``channels``/``segments`` scope and its
  ``dependsOnAsset`` / ``conflictsWith`` relations (rule ids ``catalog:<what>``, versioned
  by the catalog version);
* an :class:`EligibilityPolicy` — region, segment, channel, required installed asset and
  minimum credit standing rules, each with an id and a version.

Each rule gives one outcome. A fact the rule needs but the context lacks gives UNKNOWN
(never a guess). The verdict: any NOT_ELIGIBLE wins (one definite refusal suffices);
else any UNKNOWN (cannot promise anything yet); else any CONDITIONALLY_ELIGIBLE (the
required actions, e.g. "credit check", must be done first); else ELIGIBLE.

Evaluation time is injected (``evaluated_at``), never read from a clock.
"""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from cpqsim.catalog import Catalog, Offering, stable_id
from cpqsim.configuration import ConfigurationViolation, QuoteLine, check_configuration
from cpqsim.configuration import selected_items as _selected_items

__all__ = [
    "CustomerContext",
    "Eligibility",
    "EligibilityPolicy",
    "EligibilityResult",
    "EligibilityRule",
    "Finding",
    "Orderability",
    "assess_order",
    "evaluate_eligibility",
]


class Eligibility(StrEnum):
    ELIGIBLE = "ELIGIBLE"
    NOT_ELIGIBLE = "NOT_ELIGIBLE"
    CONDITIONALLY_ELIGIBLE = "CONDITIONALLY_ELIGIBLE"
    UNKNOWN = "UNKNOWN"


#: Verdict precedence: the first outcome present among the findings wins.
_PRECEDENCE = (
    Eligibility.NOT_ELIGIBLE,
    Eligibility.UNKNOWN,
    Eligibility.CONDITIONALLY_ELIGIBLE,
)

CreditStanding = Literal["poor", "watch", "good"]
_CREDIT_RANK = {"poor": 0, "watch": 1, "good": 2}


class _Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class CustomerContext(_Frozen):
    """What is known about the customer; None means *not known* (not "none")."""

    account_id: str | None = None
    region: str | None = None
    segment: str | None = None
    channel: str | None = None
    #: Offering ids (stable or version ids) of the customer's active assets.
    installed_assets: list[str] | None = None
    credit_standing: CreditStanding | None = None


class EligibilityRule(_Frozen):
    """One rule. ``applies_to`` lists offering stable ids, or ``*`` for every offering.

    * ``region`` / ``segment`` / ``channel``: the context value must be in ``allowed``;
    * ``installed_asset``: the customer must own ``asset``;
    * ``credit``: the credit standing must be at least ``min_credit``.

    When the rule fails, the outcome is ``when_failed``: ``not_eligible``, or
    ``conditional`` with a required ``action`` (e.g. "credit check", "site survey").
    """

    id: str
    version: str = "1"
    kind: Literal["region", "segment", "channel", "installed_asset", "credit"]
    applies_to: list[str] = Field(default_factory=lambda: ["*"])
    allowed: list[str] = Field(default_factory=list)
    asset: str | None = None
    min_credit: CreditStanding | None = None
    when_failed: Literal["not_eligible", "conditional"] = "not_eligible"
    action: str = ""
    reason: str = ""

    def applies(self, offering: Offering) -> bool:
        return "*" in self.applies_to or offering.id in self.applies_to


class EligibilityPolicy(_Frozen):
    id: str = "eligibility"
    version: str = "1"
    rules: list[EligibilityRule] = Field(default_factory=list)


class Finding(_Frozen):
    """The outcome of one rule for one offering."""

    rule_id: str
    rule_version: str
    outcome: Eligibility
    message: str
    action: str | None = None
    missing_fact: str | None = None


class EligibilityResult(_Frozen):
    offering: str
    status: Eligibility
    findings: list[Finding]
    required_actions: list[str]
    missing_facts: list[str]
    policy: str
    rule_version: str
    catalog_version: str
    business_date: date
    evaluated_at: datetime

    @property
    def reasons(self) -> list[str]:
        """The sentences of every finding that is not a plain pass."""
        return [f.message for f in self.findings if f.outcome != Eligibility.ELIGIBLE]


def _verdict(outcomes: list[Eligibility]) -> Eligibility:
    for outcome in _PRECEDENCE:
        if outcome in outcomes:
            return outcome
    return Eligibility.ELIGIBLE


def _owns(installed: list[str], key: str) -> bool:
    """Does the customer own ``key`` (stable id: any version; version id: that one)?"""
    if "@" in key:
        return key in installed
    return any(stable_id(asset) == key for asset in installed)


class _Rules:
    def __init__(self, context: CustomerContext) -> None:
        self.context = context
        self.findings: list[Finding] = []

    def add(
        self,
        rule: tuple[str, str],
        outcome: Eligibility,
        message: str,
        action: str | None = None,
        missing: str | None = None,
    ) -> None:
        self.findings.append(
            Finding(
                rule_id=rule[0],
                rule_version=rule[1],
                outcome=outcome,
                message=message,
                action=action,
                missing_fact=missing,
            )
        )

    def member(
        self,
        rule: tuple[str, str],
        fact: str,
        allowed: list[str],
        failed: Eligibility,
        who: str,
        action: str | None = None,
    ) -> None:
        value = getattr(self.context, fact)
        if value is None:
            self.add(rule, Eligibility.UNKNOWN, f"{who}: {fact} is not known", missing=fact)
        elif value in allowed:
            self.add(rule, Eligibility.ELIGIBLE, f"{who}: {fact} {value} is allowed")
        else:
            self.add(
                rule,
                failed,
                f"{who}: {fact} {value} is not one of {', '.join(allowed)}",
                action=action,
            )

    def owns(
        self, rule: tuple[str, str], asset: str, failed: Eligibility, who: str, action: str | None
    ) -> None:
        installed = self.context.installed_assets
        if installed is None:
            self.add(
                rule,
                Eligibility.UNKNOWN,
                f"{who}: installed assets are not known (needs {asset})",
                missing="installed_assets",
            )
        elif _owns(installed, asset):
            self.add(rule, Eligibility.ELIGIBLE, f"{who}: customer owns {asset}")
        else:
            self.add(rule, failed, f"{who}: customer does not own {asset}", action=action)


def _failed(rule: EligibilityRule) -> Eligibility:
    return (
        Eligibility.CONDITIONALLY_ELIGIBLE
        if rule.when_failed == "conditional"
        else Eligibility.NOT_ELIGIBLE
    )


def evaluate_eligibility(
    catalog: Catalog,
    offering: str,
    context: CustomerContext,
    policy: EligibilityPolicy | None = None,
    *,
    business_date: date,
    evaluated_at: datetime,
) -> EligibilityResult:
    """Is the customer in ``context`` eligible for ``offering`` on ``business_date``?

    ``offering`` is a stable id (resolved at the date) or a version id. Unknown
    offerings raise KeyError: that is a configuration error, not an eligibility answer.
    """
    policy = policy or EligibilityPolicy()
    o = catalog.offering(offering, business_date)
    rules = _Rules(context)
    cat = catalog.version
    who = o.version_id

    for fact, scope in (("region", o.markets), ("channel", o.channels), ("segment", o.segments)):
        if scope:
            rules.member((f"catalog:{fact}", cat), fact, scope, Eligibility.NOT_ELIGIBLE, who)
    for rel in o.relations:
        if not rel.in_force(business_date):
            continue  # a relation dated outside the business date does not apply
        if rel.kind == "dependsOnAsset":
            rules.owns(
                ("catalog:dependsOnAsset", cat), rel.target, Eligibility.NOT_ELIGIBLE, who, None
            )
        elif rel.kind == "conflictsWith":
            installed = context.installed_assets
            rule = ("catalog:conflictsWith", cat)
            if installed is None:
                rules.add(
                    rule,
                    Eligibility.UNKNOWN,
                    f"{who}: installed assets are not known (conflicts with {rel.target})",
                    missing="installed_assets",
                )
            elif _owns(installed, rel.target):
                rules.add(
                    rule,
                    Eligibility.CONDITIONALLY_ELIGIBLE,
                    f"{who}: customer owns {rel.target}, which conflicts with it"
                    + (f" ({rel.reason})" if rel.reason else ""),
                    action=f"migrate or terminate {rel.target}",
                )
            else:
                rules.add(rule, Eligibility.ELIGIBLE, f"{who}: no conflicting {rel.target}")

    for rule in policy.rules:
        if not rule.applies(o):
            continue
        key = (rule.id, rule.version)
        failed = _failed(rule)
        action = rule.action or None
        label = f"{who} [{rule.id}]" + (f" {rule.reason}" if rule.reason else "")
        if rule.kind in ("region", "segment", "channel"):
            rules.member(key, rule.kind, rule.allowed, failed, label, action)
        elif rule.kind == "installed_asset":
            rules.owns(key, rule.asset or "", failed, label, action)
        else:
            standing = context.credit_standing
            needed = rule.min_credit or "good"
            if standing is None:
                rules.add(
                    key,
                    Eligibility.UNKNOWN,
                    f"{label}: credit standing is not known",
                    missing="credit_standing",
                )
            elif _CREDIT_RANK[standing] >= _CREDIT_RANK[needed]:
                rules.add(key, Eligibility.ELIGIBLE, f"{label}: credit {standing} is enough")
            else:
                rules.add(
                    key,
                    failed,
                    f"{label}: credit {standing} is below {needed}",
                    action=action,
                )

    findings = rules.findings
    status = _verdict([f.outcome for f in findings])
    actions = sorted({f.action for f in findings if f.action and f.outcome == status})
    missing = sorted({f.missing_fact for f in findings if f.missing_fact})
    return EligibilityResult(
        offering=o.version_id,
        status=status,
        findings=findings,
        required_actions=actions if status == Eligibility.CONDITIONALLY_ELIGIBLE else [],
        missing_facts=missing,
        policy=policy.id,
        rule_version=policy.version,
        catalog_version=catalog.version,
        business_date=business_date,
        evaluated_at=evaluated_at,
    )


class Orderability(_Frozen):
    """Both answers, kept apart: is the configuration valid, and may this customer order it?"""

    configurable: bool
    violations: list[ConfigurationViolation]
    eligibility: list[EligibilityResult]
    status: Eligibility
    required_actions: list[str]

    @property
    def orderable(self) -> bool:
        """Valid *and* eligible now (conditional means: after the required actions)."""
        return self.configurable and self.status == Eligibility.ELIGIBLE


def assess_order(
    catalog: Catalog,
    lines: list[QuoteLine],
    context: CustomerContext,
    policy: EligibilityPolicy | None = None,
    *,
    business_date: date,
    evaluated_at: datetime,
) -> Orderability:
    """Check the configuration (intent ``new_order``) and every selected element's
    eligibility; elements that do not resolve are left to the configuration answer."""
    violations = check_configuration(catalog, lines, business_date, intent="new_order")
    results: list[EligibilityResult] = []
    seen: set[str] = set()
    for key, _ in _selected_items(lines):
        found = catalog.resolve(key, business_date)
        if found is None or found.version_id in seen:
            continue
        seen.add(found.version_id)
        results.append(
            evaluate_eligibility(
                catalog,
                found.version_id,
                context,
                policy,
                business_date=business_date,
                evaluated_at=evaluated_at,
            )
        )
    status = _verdict([r.status for r in results])
    return Orderability(
        configurable=not violations,
        violations=violations,
        eligibility=results,
        status=status,
        required_actions=sorted({a for r in results for a in r.required_actions}),
    )
