"""Scenario files: catalog, traffic, downstream capacity and faults, policy, seed.

A scenario is the unit an architect reasons about: *this* traffic against *these*
downstream systems under *this* resilience policy. Files are YAML validated by pydantic;
a bad file is refused whole with every problem named by field.
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from cpqsim.catalog import Catalog
from cpqsim.configuration import QuoteLine, check_configuration
from cpqsim.downstream import DownstreamProfile, ServiceTime
from cpqsim.orchestration import NAIVE, ROBUST, ResiliencePolicy
from cpqsim_scenarios.documents import read_document
from cpqsim_scenarios.errors import InputInvalid, suggestion
from cpqsim_scenarios.files import catalog_beside, validate_document

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
    time_scale: float = Field(
        default=0.0005,
        gt=0,
        le=10,
        description="live runtime: wall seconds per simulated second",
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
    """A validated scenario with its catalog resolved and loaded."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    path: str
    scenario: Scenario
    catalog: Catalog


def load_scenario(path: str | Path) -> LoadedScenario:
    """Read, validate and cross-check a scenario; raise ``InputInvalid`` naming file+field."""
    document = read_document(path, "scenario")
    scenario = validate_document(document, Scenario, "scenario")
    catalog = catalog_beside(document, scenario.catalog)
    problems = []
    systems_needed = {step.system for o in catalog.offerings for step in o.decomposition} | set(
        REQUIRED_SYSTEMS
    )
    for system in sorted(systems_needed - set(scenario.downstream)):
        problems.append(
            document.problem(
                ("downstream",), f"no profile for system {system!r}, which the catalog uses"
            )
        )
    for i, mix in enumerate(scenario.traffic.mix):
        for v in check_configuration(catalog, mix.lines):
            problems.append(document.problem(f"traffic.mix[{i}].{v.path}", v.message, code=v.rule))
    if problems:
        raise InputInvalid(document.path, problems)
    return LoadedScenario(path=str(path), scenario=scenario, catalog=catalog)
