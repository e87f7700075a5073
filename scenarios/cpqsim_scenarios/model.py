"""Scenario files: catalog, traffic, downstream capacity and faults, policy, seed.

A scenario is the unit an architect reasons about: *this* traffic against *these*
downstream systems under *this* resilience policy. Files are YAML validated by pydantic;
a bad file is refused whole with every problem named by field.
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from cpqsim.catalog import Catalog
from cpqsim.configuration import QuoteLine, check_configuration
from cpqsim.downstream import DownstreamProfile, ServiceTime
from cpqsim.orchestration import NAIVE, ROBUST, ResiliencePolicy
from cpqsim_scenarios.errors import InputInvalid
from cpqsim_scenarios.files import catalog_beside, read_model

REQUIRED_SYSTEMS = ("billing",)


class WeightedMix(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str
    weight: int = Field(default=1, ge=1)
    lines: list[QuoteLine] = Field(min_length=1)


class WeightedDiscount(BaseModel):
    model_config = ConfigDict(extra="forbid")

    pct: Decimal = Field(ge=0, le=1)
    weight: int = Field(default=1, ge=1)


class Traffic(BaseModel):
    model_config = ConfigDict(extra="forbid")

    arrivals_per_hour: float = Field(gt=0, description="Poisson rate of quote journeys")
    mix: list[WeightedMix] = Field(min_length=1)
    discounts: list[WeightedDiscount] = Field(default_factory=lambda: [WeightedDiscount(pct=0)])
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
    accounts: int = Field(default=200, ge=1)
    sellers: int = Field(default=20, ge=1)


class Scenario(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str
    description: str = ""
    seed: int = 1
    catalog: str = Field(description="path to the catalog YAML, relative to the scenario file")
    duration_s: float = Field(gt=0, description="how long traffic arrives (virtual seconds)")
    drain_s: float = Field(default=7200, ge=0, description="extra time for orders to settle")
    sample_every_s: float = Field(default=300, gt=0)
    traffic: Traffic
    downstream: dict[str, DownstreamProfile]
    policy: Literal["robust", "naive"] | ResiliencePolicy = "robust"
    time_scale: float = Field(
        default=0.0005, gt=0, description="live runtime: wall seconds per simulated second"
    )

    @field_validator("downstream", mode="before")
    @classmethod
    def _name_profiles(cls, value):
        if isinstance(value, dict):
            return {k: ({"name": k, **v} if isinstance(v, dict) else v) for k, v in value.items()}
        return value

    def resilience_policy(self) -> ResiliencePolicy:
        if isinstance(self.policy, ResiliencePolicy):
            return self.policy
        return ROBUST if self.policy == "robust" else NAIVE


class LoadedScenario(BaseModel):
    """A validated scenario with its catalog resolved and loaded."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    path: str
    scenario: Scenario
    catalog: Catalog


def load_scenario(path: str | Path) -> LoadedScenario:
    """Read, validate and cross-check a scenario; raise ``InputInvalid`` naming file+field."""
    path = Path(path)
    scenario = read_model(path, Scenario, "scenario")
    catalog = catalog_beside(path, scenario.catalog)
    problems: list[tuple[str, str]] = []
    systems_needed = {step.system for o in catalog.offerings for step in o.decomposition} | set(
        REQUIRED_SYSTEMS
    )
    for system in sorted(systems_needed - set(scenario.downstream)):
        problems.append(("downstream", f"no profile for system {system!r} used by the catalog"))
    for i, mix in enumerate(scenario.traffic.mix):
        for v in check_configuration(catalog, mix.lines):
            problems.append((f"traffic.mix[{i}].{v.path}", v.message))
    if problems:
        raise InputInvalid(str(path), problems)
    return LoadedScenario(path=str(path), scenario=scenario, catalog=catalog)
