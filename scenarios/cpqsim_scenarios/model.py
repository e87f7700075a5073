"""Scenario files: read, validate and cross-check a scenario against its catalog.

The model itself (:mod:`cpqsim_host.scenario`) is shared by every runtime; this module
reads it from a file and refuses a bad one whole, every problem placed by file, line and
field.
"""

from __future__ import annotations

from pathlib import Path

from cpqsim_host.installed_base_gen import InstalledBaseError, generate_installed_base
from cpqsim_host.scenario import (
    REQUIRED_SYSTEMS,
    LoadedScenario,
    Scenario,
    Traffic,
    WeightedDiscount,
    WeightedMix,
    suggestion,
)

from cpqsim.approval import ApprovalPolicy
from cpqsim.catalog import Catalog
from cpqsim.configuration import check_configuration
from cpqsim_scenarios.approval_policy_file import policy_beside
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
    catalog, problems = _with_cutoffs(document, scenario, catalog)
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
    later = {}
    for i, change in enumerate(scenario.catalog_changes):
        later[change.catalog] = catalog_beside(document, change.catalog, f"catalog_changes[{i}]")
        if later[change.catalog].version == catalog.version:
            problems.append(
                document.problem(
                    f"catalog_changes[{i}].catalog",
                    f"{change.catalog} has the same version ({catalog.version}) as the "
                    "catalog in force: a new publication needs a new version",
                )
            )
    changes = scenario.traffic.changes
    for i, entry in enumerate(changes.mix if changes is not None else []):
        for field in ("offering", "to"):
            key = getattr(entry, field)
            if key is not None and not catalog.has_offering(key):
                guess = suggestion(key, catalog.offering_ids())
                hint = f"; did you mean {guess!r}?" if guess else ""
                problems.append(
                    document.problem(
                        f"traffic.changes.mix[{i}].{field}",
                        f"{key!r} is not an offering of catalog {catalog.id}{hint}",
                    )
                )
    installed = []
    if scenario.installed_base is not None and not problems:
        try:  # the business as it stands: from the scenario's seed, whatever the run's
            installed = generate_installed_base(scenario.installed_base, catalog, scenario.seed)
        except InstalledBaseError as exc:
            problems.append(document.problem(("installed_base",), str(exc)))
    if problems:
        raise InputInvalid(document.path, problems)
    policy = ApprovalPolicy()
    if scenario.approval_policy is not None:
        policy = policy_beside(document, scenario.approval_policy)
        if scenario.approval_timeout_s is None and policy.escalation is not None:
            # The policy's escalation sets the watch when the scenario names none.
            timeout = float(policy.escalation.after_hours) * 3600
            scenario = scenario.model_copy(update={"approval_timeout_s": timeout})
    return LoadedScenario(
        path=str(path),
        scenario=scenario,
        catalog=catalog,
        later_catalogs=later,
        approval_policy=policy,
        installed_base=installed,
    )


def _with_cutoffs(document, scenario: Scenario, catalog: Catalog) -> tuple[Catalog, list]:
    """The catalog with the scenario's cutoff overrides applied (each task must exist)."""
    problems = []
    if not scenario.cutoffs:
        return catalog, problems
    offerings = []
    known = {f"{o.id}/{step.task}" for o in catalog.offerings for step in o.decomposition}
    for key in scenario.cutoffs:
        if key not in known:
            guess = suggestion(key, known)
            hint = f"; did you mean {guess!r}?" if guess else ""
            problems.append(
                document.problem(
                    ("cutoffs", key),
                    f"no task {key!r} in catalog {catalog.id} (expected '<offering>/<task>'){hint}",
                )
            )
    for o in catalog.offerings:
        steps = [
            step.model_copy(update={"cutoff": scenario.cutoffs[f"{o.id}/{step.task}"]})
            if f"{o.id}/{step.task}" in scenario.cutoffs
            else step
            for step in o.decomposition
        ]
        offerings.append(o.model_copy(update={"decomposition": steps}))
    return catalog.model_copy(update={"offerings": offerings}), problems
