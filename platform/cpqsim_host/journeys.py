"""Quote-to-order journeys planned from the scenario and the seed.

Planning is separated from execution so both runtimes replay *the same* customer
behaviour: Poisson arrivals, the product mix, requested discounts, approval latency and
decisions, and the impatient clients who repeat a conversion. Nothing here depends on
SimPy or Ray.
"""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal

from pydantic import BaseModel, Field

from cpqsim.asset import InstalledBase
from cpqsim.configuration import QuoteLine
from cpqsim.context import rng_stream
from cpqsim.downstream import DownstreamProfile, sample_service_time
from cpqsim_host.cast import APPROVAL_ROLES, cast_of, default_approver, default_seller
from cpqsim_host.scenario import LoadedScenario, Scenario

# Discount a seller falls back to after a rejection: the no-approval ceiling.
FALLBACK_DISCOUNT = Decimal("0.10")


class JourneyPlan(BaseModel):
    index: int
    arrival_s: float
    quote_id: str
    account_id: str
    requester: str
    mix: str
    lines: list[QuoteLine]
    discount_pct: Decimal
    approval_delay_s: float
    approver: str
    approve: bool
    convert_retries: int
    second_conversion: bool
    cancel_after_s: float | None = None  # the customer cancels the order this long after
    approval_lost: bool = False  # the approver's decision never reaches the platform
    escalation_after_s: float | None = None  # the platform escalates overdue approvals
    # Listed principals: who decides an approval needing each role (else ``approver``).
    approvers_by_role: dict[str, str] = Field(default_factory=dict)

    def approver_for(self, role: str) -> str:
        return self.approvers_by_role.get(role, self.approver)

    decision_s: float = 0.0  # the customer accepts the proposal this long after it is shown

    @property
    def idempotency_key(self) -> str:
        return f"convert:{self.quote_id}"


def plan_journeys(
    scenario: Scenario | LoadedScenario, seed: int | None = None
) -> list[JourneyPlan]:
    """Every journey of the run: new sales, then (given the loaded scenario, whose
    catalog and installed base they need) the change journeys of ``traffic.changes``.

    The change journeys draw from streams of their own, so a scenario without them plans
    exactly the same day as before they existed.
    """
    loaded = scenario if isinstance(scenario, LoadedScenario) else None
    scenario = loaded.scenario if loaded is not None else scenario
    seed = scenario.seed if seed is None else seed
    plans = _new_sales(scenario, seed)
    if loaded is not None and scenario.traffic.changes is not None:
        from cpqsim_host.change_journeys import plan_change_journeys

        base = InstalledBase(loaded.installed_base)
        plans += plan_change_journeys(scenario, loaded.catalog, base, seed, len(plans))
    return plans


def _new_sales(scenario: Scenario, seed: int) -> list[JourneyPlan]:
    t = scenario.traffic
    arrivals = rng_stream(seed, "traffic.arrivals")
    choices = rng_stream(seed, "traffic.choices")
    approvals = rng_stream(seed, "traffic.approvals")
    approval_model = DownstreamProfile(name="approvers", service_time=t.approval_latency)
    mix_weights = [m.weight for m in t.mix]
    discount_weights = [d.weight for d in t.discounts]
    exceptions = rng_stream(seed, "traffic.exceptions")  # new draws, other streams untouched
    cancel_model = DownstreamProfile(name="cancellations", service_time=t.cancel_after)
    cast = cast_of(scenario.principals) if scenario.principals is not None else None
    plans: list[JourneyPlan] = []
    for now in _arrival_times(scenario, arrivals, rng_stream(seed, "traffic.spikes")):
        i = len(plans)
        mix = choices.choices(t.mix, weights=mix_weights)[0]
        discount = choices.choices(t.discounts, weights=discount_weights)[0].pct
        by_role: dict[str, str] = {}
        if cast is None:  # the draws runs always made, so their logs stay byte-identical
            requester_n = choices.randrange(t.sellers)
            approver_n = (requester_n + 1 + choices.randrange(max(t.sellers - 1, 1))) % t.sellers
            requester, approver = default_seller(requester_n), default_approver(approver_n)
            account = f"acct-{choices.randrange(t.accounts) + 1:04d}"
        else:
            seller = cast.sellers[choices.randrange(len(cast.sellers))]
            requester = seller.id
            for role in APPROVAL_ROLES:
                deciders = cast.approvers_for(role, requester)
                by_role[role] = deciders[choices.randrange(len(deciders))].id
            approver = by_role[APPROVAL_ROLES[0]]
            account = (
                sorted(seller.accounts)[choices.randrange(len(seller.accounts))]
                if seller.accounts
                else f"acct-{choices.randrange(t.accounts) + 1:04d}"
            )
        plans.append(
            JourneyPlan(
                index=i,
                arrival_s=round(now, 3),
                quote_id=f"Q{i + 1:06d}",
                account_id=account,
                requester=requester,
                mix=mix.name,
                lines=mix.lines,
                discount_pct=discount,
                approval_delay_s=round(sample_service_time(approval_model, approvals), 3),
                approver=approver,
                approvers_by_role=by_role,
                approve=approvals.random() >= t.rejection_rate,
                convert_retries=1 if choices.random() < t.convert_retry_rate else 0,
                second_conversion=choices.random() < t.second_conversion_rate,
                cancel_after_s=(
                    round(sample_service_time(cancel_model, exceptions), 3)
                    if exceptions.random() < t.cancel_rate
                    else None
                ),
                approval_lost=exceptions.random() < t.approval_loss_rate,
                escalation_after_s=scenario.approval_timeout_s,
                decision_s=t.customer_decision_s,
            )
        )
    return plans


def _arrival_times(scenario: Scenario, arrivals, thinning) -> Iterator[float]:
    """Poisson arrivals; with spikes, a non-homogeneous Poisson process by thinning.

    Without spikes the draws are exactly those of a plain Poisson process, so a scenario
    that states none plans the same day as before spikes existed.
    """
    t = scenario.traffic
    rate_per_s = t.arrivals_per_hour / 3600.0
    peak = max([1.0, *(s.multiplier for s in t.spikes)])
    now = 0.0
    while True:
        now += arrivals.expovariate(rate_per_s * peak)
        if now >= scenario.duration_s:
            return
        if t.spikes:
            factor = next((s.multiplier for s in t.spikes if s.start_s <= now < s.end_s), 1.0)
            if thinning.random() >= factor / peak:
                continue
        yield now
