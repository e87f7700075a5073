"""Change journeys: customers (and campaigns) quoting changes to what they already have.

Planned up front from the seed, like every other journey, so each runtime replays the
same customers: Poisson arrivals (``traffic.changes``), a kind of change drawn by weight,
and an asset drawn from those the change can apply to in the installed base as it stood
at the start. The quote line names the asset and the version the plan saw
(:mod:`cpqsim_host.change_lines`); the journey then goes the usual way (create, price,
approval if the price needs one, present, accept, convert).

Why the version from the start: that is what a campaign mailed to customers, or a
renewal desk's worklist, is written from. When another order changed or holds the asset
meanwhile, the platform refuses the late one (``stale_asset_version``,
``asset_pending_change``) instead of applying it to a state nobody quoted: the race is
visible, never silently won twice.

Each mix entry draws its assets without replacement (one renewal per asset), in the
order its worker would: renewals soonest term end first, other changes at random. Two
entries may draw the same asset: that is how a campaign races with customers. An asset
whose change the catalog would refuse outright (no upgrade path, a value the
configurator forbids) is passed over at planning, as a seller's configurator would; an
asset whose metadata has gaps is *not*: the platform must refuse it, and the scenario
shows that it does.
"""

from __future__ import annotations

import random
from datetime import timedelta
from decimal import Decimal

from cpqsim.asset import Asset, InstalledBase
from cpqsim.catalog import Catalog, stable_id
from cpqsim.change import ACTION_FROM, check_change_lines
from cpqsim.configuration import QuoteLine
from cpqsim.context import EPOCH, rng_stream
from cpqsim.downstream import DownstreamProfile, sample_service_time
from cpqsim_host.cast import cast_of, default_approver, default_seller
from cpqsim_host.change_lines import change_line
from cpqsim_host.scenario import ChangeMix, Scenario

__all__ = ["PLANNING_REFUSALS_KEPT", "plan_change_journeys"]

#: Refusals at planning that do not stop a journey: the platform must say them itself.
PLANNING_REFUSALS_KEPT = frozenset({"incomplete_asset_metadata"})


def plan_change_journeys(
    scenario: Scenario,
    catalog: Catalog,
    base: InstalledBase,
    seed: int,
    first_index: int,
) -> list:
    """The change journeys of ``scenario.traffic.changes`` (empty without them)."""
    from cpqsim_host.journeys import JourneyPlan  # journeys imports this module

    changes = scenario.traffic.changes
    if changes is None:
        return []
    arrivals = rng_stream(seed, "changes.arrivals")
    choices = rng_stream(seed, "changes.choices")
    approvals = rng_stream(seed, "changes.approvals")
    approval_model = DownstreamProfile(
        name="approvers", service_time=scenario.traffic.approval_latency
    )
    pools = [_Pool(entry, catalog, base, choices) for entry in changes.mix]
    weights = [entry.weight for entry in changes.mix]
    cast = cast_of(scenario.principals) if scenario.principals is not None else None
    sellers = scenario.traffic.sellers
    end = changes.end_s if changes.end_s is not None else scenario.duration_s
    plans = []
    now = changes.start_s
    while True:
        now += arrivals.expovariate(changes.arrivals_per_hour / 3600.0)
        if now >= min(end, scenario.duration_s):
            break
        pool = choices.choices(pools, weights=weights)[0]
        picked = pool.next()
        if picked is None:
            continue  # every asset this kind of change could touch has had its turn
        asset, line = picked
        if cast is None:
            requester_n = choices.randrange(sellers)
            approver_n = (requester_n + 1 + choices.randrange(max(sellers - 1, 1))) % sellers
            requester, approver = default_seller(requester_n), default_approver(approver_n)
        else:
            entitled = [s for s in cast.sellers if not s.accounts or asset.account_id in s.accounts]
            if not entitled:
                continue  # nobody may quote for this account
            requester = entitled[choices.randrange(len(entitled))].id
            deciders = cast.approvers_for("sales_manager", requester)
            approver = deciders[choices.randrange(len(deciders))].id
        n = len(plans) + 1
        plans.append(
            JourneyPlan(
                index=first_index + len(plans),
                arrival_s=round(now, 3),
                quote_id=f"QC{n:06d}",
                account_id=asset.account_id,
                requester=requester,
                mix=pool.entry.name,
                lines=[line],
                discount_pct=Decimal(0),
                approval_delay_s=round(sample_service_time(approval_model, approvals), 3),
                approver=approver,
                approve=True,
                convert_retries=0,
                second_conversion=False,
                escalation_after_s=scenario.approval_timeout_s,
                decision_s=scenario.traffic.customer_decision_s,
            )
        )
    return plans


class _Pool:
    """The assets one kind of change may still draw, in its worker's order."""

    def __init__(
        self, entry: ChangeMix, catalog: Catalog, base: InstalledBase, rng: random.Random
    ) -> None:
        self.entry = entry
        self.catalog = catalog
        self.base = base
        self.rng = random.Random(rng.random())  # its own draws: entries do not shift each other
        wanted = stable_id(entry.offering) if entry.offering else None
        allowed = ACTION_FROM[entry.action]
        candidates = [
            a
            for a in base
            if a.role == "main"
            and a.status in allowed
            and (wanted is None or stable_id(a.offering) == wanted)
        ]
        if entry.action == "renew":
            horizon = EPOCH.date() + timedelta(days=entry.within_days or 3660)
            due = [a for a in candidates if a.term_end is None or a.term_end <= horizon]
            # soonest first; an asset without dates turns up anywhere in the worklist
            span = (horizon - EPOCH.date()).days + 1
            undated = {
                a.asset_id: EPOCH.date() + timedelta(days=self.rng.randrange(span))
                for a in due
                if a.term_end is None
            }
            due.sort(key=lambda a: (a.term_end or undated[a.asset_id], a.asset_id))
            self.order = due[::-1]  # popped from the end
        else:
            self.rng.shuffle(candidates)
            self.order = candidates

    def next(self) -> tuple[Asset, QuoteLine] | None:
        while self.order:
            asset = self.order.pop()
            line = change_line(self.catalog, asset, self.entry.action, self.rng, self.entry.to)
            if line is None:
                continue
            refusals = check_change_lines(
                self.catalog, self.base, asset.account_id, [line], EPOCH.date()
            )
            if all(r.code in PLANNING_REFUSALS_KEPT for r in refusals):
                return asset, line
        return None
