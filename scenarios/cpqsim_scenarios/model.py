"""Scenario files: read, validate and cross-check a scenario against its catalog.

The model itself (:mod:`cpqsim_host.scenario`) is shared by every runtime; this module
reads it from a file and refuses a bad one whole, every problem placed by file, line and
field.
"""

from __future__ import annotations

from pathlib import Path

from cpqsim_host.scenario import (
    REQUIRED_SYSTEMS,
    LoadedScenario,
    Scenario,
    Traffic,
    WeightedDiscount,
    WeightedMix,
)

from cpqsim.configuration import check_configuration
from cpqsim_scenarios.documents import read_document
from cpqsim_scenarios.errors import InputInvalid
from cpqsim_scenarios.files import catalog_beside, validate_document

__all__ = [
    "REQUIRED_SYSTEMS",
    "LoadedScenario",
    "Scenario",
    "Traffic",
    "WeightedDiscount",
    "WeightedMix",
    "load_scenario",
]


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
