"""The scenario model: catalog, traffic, downstream capacity and faults, policy, seed.

A scenario is the unit an architect reasons about: *this* traffic against *these*
downstream systems under *this* resilience policy. Every runtime runs the same model;
reading it from a file (and refusing a bad one with every problem placed) is the
shell's job (:mod:`cpqsim_scenarios.model`).
"""

from __future__ import annotations

import difflib
import itertools
from collections.abc import Iterable
from decimal import Decimal
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from cpqsim.approval import ApprovalPolicy
from cpqsim.asset import AssetEvent
from cpqsim.catalog import Catalog
from cpqsim.configuration import QuoteLine
from cpqsim.decomposition import Cutoff
from cpqsim.downstream import DownstreamProfile, ServiceTime
from cpqsim.orchestration import NAIVE, ROBUST, ResiliencePolicy
from cpqsim.order_policy import OrderPolicy
from cpqsim.principals import Principal
from cpqsim.quote_policy import QuotePolicy
from cpqsim_host.cast import cast_problems

REQUIRED_SYSTEMS = ("billing",)
POLICIES = {"robust": ROBUST, "naive": NAIVE}

# Bounds on every size-like field: a scenario is a small file, and a typo must not be
# able to ask for a run that exhausts the machine. They are part of the JSON Schema.
DAY_S = 86_400
MAX_DURATION_S = 366 * DAY_S
MAX_DRAIN_S = 31 * DAY_S
MAX_ARRIVALS_PER_HOUR = 1_000_000
MAX_MIX_ENTRIES = 1_000
MAX_LINES_PER_QUOTE = 1_000
MAX_BUNDLE_DEPTH = 8
MAX_WEIGHT = 1_000_000
MAX_SYSTEMS = 100


def suggestion(word: str, choices: Iterable[str]) -> str | None:
    """The closest of ``choices`` to a misspelt ``word`` (for "did you mean")."""
    found = difflib.get_close_matches(word, sorted(set(choices)), n=1, cutoff=0.6)
    return found[0] if found else None


class _Input(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)


def _bundle_depth(line: QuoteLine) -> int:
    return 1 + max((_bundle_depth(c) for c in line.contents), default=0)


class WeightedMix(_Input):
    name: str = Field(min_length=1, max_length=200)
    weight: int = Field(default=1, ge=1, le=MAX_WEIGHT)
    lines: list[QuoteLine] = Field(min_length=1, max_length=MAX_LINES_PER_QUOTE)

    @field_validator("lines")
    @classmethod
    def _bundles_nest_shallowly(cls, lines: list[QuoteLine]) -> list[QuoteLine]:
        for line in lines:
            if _bundle_depth(line) > MAX_BUNDLE_DEPTH:
                raise ValueError(
                    f"bundle contents nest {_bundle_depth(line)} levels deep; "
                    f"at most {MAX_BUNDLE_DEPTH}"
                )
            if line.quantity < 1 or line.quantity > 1_000_000:
                raise ValueError(f"quantity must be 1..1,000,000 (got {line.quantity})")
        return lines


class WeightedDiscount(_Input):
    pct: Decimal = Field(ge=0, le=1, max_digits=12, decimal_places=6)
    weight: int = Field(default=1, ge=1, le=MAX_WEIGHT)


class Spike(_Input):
    start_s: float = Field(ge=0, le=MAX_DURATION_S)
    end_s: float = Field(gt=0, le=MAX_DURATION_S)
    multiplier: float = Field(gt=0, le=100)

    @model_validator(mode="after")
    def _ordered(self) -> Spike:
        if self.end_s <= self.start_s:
            raise ValueError("a spike's end_s must be after its start_s")
        return self


class Operations(_Input):
    """The operations team that repairs fallout cases: its staff, how long a repair
    takes, and its playbook (which action the n-th case of the same task gets)."""

    staff: int = Field(default=2, ge=0, le=10_000, description="0: nobody repairs anything")
    role: str = Field(default="operations_lead", min_length=1, max_length=100)
    repair_time: ServiceTime = Field(
        default_factory=lambda: ServiceTime(distribution="lognormal", mean_s=1800, sigma=0.8)
    )
    playbook: list[Literal["reconcile", "retry", "abandon_item", "cancel_order"]] = Field(
        default_factory=lambda: ["reconcile", "retry", "abandon_item"],
        min_length=1,
        max_length=10,
        description="action for the 1st, 2nd, ... case of the same task (the last repeats)",
    )
    wrong_repair_rate: float = Field(
        default=0.0,
        ge=0,
        le=1,
        description="share of repairs marked done without checking the downstream",
    )


class CatalogChange(_Input):
    """A new catalog version published mid-run: quotes priced before it are stale."""

    at_s: float = Field(ge=0, le=MAX_DURATION_S + MAX_DRAIN_S)
    catalog: str = Field(
        min_length=1, max_length=4096, description="catalog YAML, relative to the scenario file"
    )


MAX_INSTALLED_ASSETS = 2_000_000
ChangeAction = Literal["renew", "upgrade", "downgrade", "modify", "suspend", "resume", "disconnect"]


class InstalledBaseProfile(_Input):
    """The installed base a run starts from, generated from the seed and the catalog.

    Why generated, not listed: an established business has tens of thousands of assets,
    and what a scenario needs to say is their *shape* (how many, over how many accounts,
    how much came from a legacy system and how much of that arrived with gaps), not each
    one. :mod:`cpqsim_host.installed_base_gen` turns the profile into asset facts.
    """

    assets: int = Field(
        ge=1,
        le=MAX_INSTALLED_ASSETS,
        description="main assets (their add-ons and bundle components come on top)",
    )
    accounts: int = Field(ge=1, le=10_000_000, description="accounts acct-0001.. holding them")
    migrated_fraction: float = Field(
        default=0.0, ge=0, le=1, description="share of assets migrated from a legacy system"
    )
    incomplete_fraction: float = Field(
        default=0.0,
        ge=0,
        le=1,
        description="share of the migrated assets that arrived without metadata a change "
        "needs (offering version, characteristics or term)",
    )
    suspended_fraction: float = Field(
        default=0.02, ge=0, le=1, description="share of assets suspended at the start"
    )
    add_on_rate: float = Field(
        default=0.4, ge=0, le=1, description="chance that each allowed add-on is installed"
    )
    offerings: dict[str, int] = Field(
        default_factory=dict,
        max_length=MAX_MIX_ENTRIES,
        description="weight per offering (stable id); default: every offering that can be "
        "kept as an asset, equally",
    )
    term_months: list[int] = Field(
        default_factory=lambda: [12, 24, 36],
        min_length=1,
        max_length=20,
        description="contract lengths drawn from when the offering has no term characteristic",
    )
    terms_end_within_days: int = Field(
        default=365,
        ge=1,
        le=3660,
        description="term ends are spread evenly over this many days from the run's start",
    )
    discounts: list[WeightedDiscount] = Field(
        default_factory=lambda: [WeightedDiscount(pct=0)], min_length=1, max_length=100
    )

    @field_validator("term_months")
    @classmethod
    def _terms_are_months(cls, months: list[int]) -> list[int]:
        if any(m < 1 or m > 120 for m in months):
            raise ValueError("term_months must each be 1..120")
        return months

    @field_validator("offerings")
    @classmethod
    def _weights_are_positive(cls, weights: dict[str, int]) -> dict[str, int]:
        for key, weight in weights.items():
            if not 1 <= weight <= MAX_WEIGHT:
                raise ValueError(f"offerings.{key}: weight must be 1..{MAX_WEIGHT}")
        return weights


class ChangeMix(_Input):
    """One kind of change customers (or a campaign) quote against installed assets.

    Each journey picks an asset the change can apply to (``offering`` narrows the pool)
    and quotes it against the asset's version in the installed base the run starts from
    (as a campaign or a renewal worklist is written). An entry draws its assets without
    replacement; two entries may draw the same asset, which is how a campaign races
    with customers.
    """

    name: str = Field(min_length=1, max_length=200)
    action: ChangeAction
    weight: int = Field(default=1, ge=1, le=MAX_WEIGHT)
    offering: str | None = Field(
        default=None, min_length=1, max_length=200, description="only assets of this offering"
    )
    to: str | None = Field(
        default=None,
        min_length=1,
        max_length=200,
        description="upgrade/downgrade: the option or offering version to move to "
        "(default: any the catalog allows)",
    )
    within_days: int | None = Field(
        default=None,
        ge=1,
        le=3660,
        description="renew: only assets whose term ends within this many days of the quote",
    )


class ChangeTraffic(_Input):
    """Change journeys: Poisson arrivals of quotes against the installed base."""

    arrivals_per_hour: float = Field(gt=0, le=MAX_ARRIVALS_PER_HOUR)
    mix: list[ChangeMix] = Field(min_length=1, max_length=MAX_MIX_ENTRIES)
    start_s: float = Field(default=0, ge=0, le=MAX_DURATION_S)
    end_s: float | None = Field(
        default=None, gt=0, le=MAX_DURATION_S, description="default: the scenario's duration_s"
    )


class Traffic(_Input):
    arrivals_per_hour: float = Field(
        gt=0, le=MAX_ARRIVALS_PER_HOUR, description="Poisson rate of quote journeys"
    )
    mix: list[WeightedMix] = Field(min_length=1, max_length=MAX_MIX_ENTRIES)
    discounts: list[WeightedDiscount] = Field(
        default_factory=lambda: [WeightedDiscount(pct=0)], min_length=1, max_length=MAX_MIX_ENTRIES
    )
    approval_latency: ServiceTime = Field(
        default_factory=lambda: ServiceTime(distribution="lognormal", mean_s=1800, sigma=0.6)
    )
    rejection_rate: float = Field(default=0.1, ge=0, le=1)
    convert_retry_rate: float = Field(
        default=0.1, ge=0, le=1, description="client repeats conversion with the same key"
    )
    second_conversion_rate: float = Field(
        default=0.02, ge=0, le=1, description="someone tries to convert again with a new key"
    )
    accounts: int = Field(default=200, ge=1, le=10_000_000)
    sellers: int = Field(default=20, ge=1, le=100_000)
    spikes: list[Spike] = Field(
        default_factory=list,
        max_length=100,
        description="windows where arrivals come `multiplier` times as fast (load spikes)",
    )
    cancel_rate: float = Field(
        default=0.0, ge=0, le=1, description="share of converted orders the customer cancels"
    )
    cancel_after: ServiceTime = Field(
        default_factory=lambda: ServiceTime(distribution="exponential", mean_s=600),
        description="how long after conversion a cancelling customer cancels",
    )
    customer_decision_s: float = Field(
        default=0,
        ge=0,
        le=MAX_DRAIN_S,
        description="how long a customer takes to accept a presented proposal",
    )
    approval_loss_rate: float = Field(
        default=0.0,
        ge=0,
        le=1,
        description="share of approval decisions whose callback never reaches the platform",
    )
    changes: ChangeTraffic | None = Field(
        default=None, description="change quotes against the installed base (needs installed_base)"
    )

    @model_validator(mode="after")
    def _spikes_do_not_overlap(self) -> Traffic:
        ordered = sorted(self.spikes, key=lambda s: s.start_s)
        for a, b in itertools.pairwise(ordered):
            if b.start_s < a.end_s:
                raise ValueError(f"spikes overlap: {a.start_s:g}-{a.end_s:g} and {b.start_s:g}")
        return self


class PlatformFault(_Input):
    """A failure of the platform itself, injected at ``at_s`` on every runtime.

    ``restart: orders`` kills the order executors (Ray: a real ``ray.kill``; in-process:
    the actor object is thrown away; sim: the order state is dropped and rebuilt from the
    event log); in-flight replies and timers die with them, and each restarts from its
    journal by itself. ``restart: quotes`` does the same to the quote shards.
    ``unavailable: pricing`` takes pricing down for ``for_s`` seconds: quotes cannot be
    priced meanwhile (and no price is guessed).
    ``unreachable: <system>`` cuts the order executors off from a downstream system for
    ``for_s`` seconds: calls are never answered, queries fail.
    """

    at_s: float = Field(ge=0, le=MAX_DURATION_S + MAX_DRAIN_S)
    restart: Literal["quotes", "orders"] | None = None
    unreachable: str | None = Field(default=None, min_length=1, max_length=100)
    unavailable: Literal["pricing"] | None = None
    for_s: float = Field(default=0, ge=0, le=MAX_DRAIN_S)

    @model_validator(mode="after")
    def _one_kind(self) -> PlatformFault:
        kinds = [k for k in (self.restart, self.unreachable, self.unavailable) if k is not None]
        if len(kinds) != 1:
            raise ValueError("a platform fault is one of 'restart', 'unreachable' or 'unavailable'")
        if self.restart is None and self.for_s <= 0:
            raise ValueError("'unreachable' and 'unavailable' need for_s > 0 (how long)")
        return self


class Scenario(_Input):
    name: str = Field(
        min_length=1,
        max_length=100,
        pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$",
        description="letters, digits, '_', '.', '-' (it names the run folder)",
    )
    description: str = Field(default="", max_length=20_000)
    seed: int = Field(default=1, ge=0, le=2**63 - 1)
    catalog: str = Field(
        min_length=1,
        max_length=4096,
        description="path to the catalog YAML, relative to the scenario file",
    )
    duration_s: float = Field(
        gt=0, le=MAX_DURATION_S, description="how long traffic arrives (virtual seconds)"
    )
    drain_s: float = Field(
        default=7200, ge=0, le=MAX_DRAIN_S, description="extra time for orders to settle"
    )
    sample_every_s: float = Field(
        default=300, ge=1, le=DAY_S, description="how often plots sample the platform"
    )
    traffic: Traffic
    downstream: dict[str, DownstreamProfile] = Field(max_length=MAX_SYSTEMS)
    policy: Literal["robust", "naive"] | ResiliencePolicy = Field(
        default="robust",
        description="'robust', 'naive', or a full resilience policy (a mapping)",
    )
    order_policy: OrderPolicy = Field(default_factory=OrderPolicy)
    operations: Operations | None = Field(
        default=None, description="the team that repairs fallout cases (none: nobody does)"
    )
    approval_policy: str | None = Field(
        default=None,
        min_length=1,
        max_length=4096,
        description="path to an approval policy YAML, relative to the scenario file "
        "(default: the embedded policy, approval-policy-v1)",
    )
    approval_timeout_s: float | None = Field(
        default=None,
        gt=0,
        le=MAX_DRAIN_S,
        description="a quote pending approval this long is escalated to an owner",
    )
    catalog_changes: list[CatalogChange] = Field(default_factory=list, max_length=20)
    refuse_stale_prices: bool = Field(
        default=True,
        description="refuse acceptance of a price computed under a catalog version no "
        "longer in force (false is the misconfiguration that sells at yesterday's price)",
    )
    cutoffs: dict[str, Cutoff | None] = Field(
        default_factory=dict,
        max_length=1_000,
        description="override a task's point of no return: '<offering>/<task>': "
        "on_dispatch | on_completion | null",
    )
    platform_faults: list[PlatformFault] = Field(
        default_factory=list,
        max_length=100,
        description="failures of the platform itself (restarts, unreachable systems)",
    )
    quote_policy: QuotePolicy = Field(
        default_factory=QuotePolicy,
        description="quote validity, customer facts per account, eligibility rules and "
        "conversion guards",
    )
    time_scale: float = Field(
        default=0.0005,
        gt=0,
        le=10,
        description="live runtime: wall seconds per simulated second",
    )
    installed_base: InstalledBaseProfile | None = Field(
        default=None, description="the installed base the run starts from (generated)"
    )
    principals: list[Principal] | None = Field(
        default=None,
        min_length=1,
        max_length=100_000,
        description="who acts in the journeys: sellers (role 'seller', quoting on their "
        "accounts) and approvers (roles 'sales_manager', 'finance_director'); omitted: "
        "traffic.sellers sellers seller-NN and as many approvers manager-NN",
    )

    @field_validator("downstream", mode="before")
    @classmethod
    def _name_profiles(cls, value):
        if isinstance(value, dict):
            return {k: ({"name": k, **v} if isinstance(v, dict) else v) for k, v in value.items()}
        return value

    @field_validator("policy", mode="before")
    @classmethod
    def _known_policy_name(cls, value):
        if isinstance(value, str) and value not in POLICIES:
            guess = suggestion(value, POLICIES)
            hint = f"; did you mean {guess!r}?" if guess else ""
            raise ValueError(
                f"{value!r} is not a policy: expected one of {', '.join(map(repr, POLICIES))} "
                f"or a mapping with a full resilience policy{hint}"
            )
        return value

    @model_validator(mode="after")
    def _faults_name_known_systems(self) -> Scenario:
        for fault in self.platform_faults:
            if fault.unreachable is not None and fault.unreachable not in self.downstream:
                guess = suggestion(fault.unreachable, self.downstream)
                hint = f"; did you mean {guess!r}?" if guess else ""
                raise ValueError(
                    f"platform_faults: {fault.unreachable!r} is not a downstream system of "
                    f"this scenario ({', '.join(sorted(self.downstream))}){hint}"
                )
        return self

    @model_validator(mode="after")
    def _principals_can_play_the_journeys(self) -> Scenario:
        if self.principals is not None:
            problems = cast_problems(self.principals)
            if problems:
                raise ValueError("; ".join(problems))
        return self

    @model_validator(mode="after")
    def _changes_need_an_installed_base(self) -> Scenario:
        if self.traffic.changes is not None and self.installed_base is None:
            raise ValueError("traffic.changes quote changes to assets: it needs installed_base")
        return self

    @model_validator(mode="after")
    def _samples_fit_the_run(self) -> Scenario:
        if self.sample_every_s > self.duration_s + self.drain_s:
            raise ValueError(
                f"sample_every_s ({self.sample_every_s:g}) is longer than the whole run "
                f"(duration_s + drain_s = {self.duration_s + self.drain_s:g})"
            )
        return self

    def resilience_policy(self) -> ResiliencePolicy:
        if isinstance(self.policy, ResiliencePolicy):
            return self.policy
        return POLICIES[self.policy]


class LoadedScenario(BaseModel):
    """A validated scenario with its catalog resolved and loaded (and the catalogs it
    publishes mid-run, by their ``catalog_changes`` path)."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    path: str
    scenario: Scenario
    catalog: Catalog
    later_catalogs: dict[str, Catalog] = Field(default_factory=dict)
    approval_policy: ApprovalPolicy = Field(default_factory=ApprovalPolicy)
    #: The asset facts the run starts from (the installed base before the first order);
    #: every runtime creates its one installed base from them. Empty: a new business.
    #: Mostly AssetCreated; an asset suspended before the run brings its suspension too.
    installed_base: list[AssetEvent] = Field(default_factory=list)
