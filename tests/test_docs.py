"""Documentation generated from data stays in sync with the data."""

from __future__ import annotations

from pathlib import Path

from cpqsim_scenarios.cli import LIFECYCLES, lifecycle_table

REPO = Path(__file__).resolve().parents[1]


def test_lifecycle_diagrams_in_docs_match_the_transition_tables():
    doc = (REPO / "docs" / "lifecycles.md").read_text()
    for name in LIFECYCLES:
        assert f"## {name}\n\n```mermaid\n{lifecycle_table(name).to_mermaid()}```" in doc, (
            f"docs/lifecycles.md is stale for {name}: regenerate with `cpqsim lifecycle {name}`"
        )


def _readme_commands() -> list[str]:
    text = (REPO / "README.md").read_text()
    section = text.split("## Two commands", 1)[1].split("\n## ", 1)[0]
    return [block.split("```", 1)[0].strip() for block in section.split("```bash\n")[1:]]


def test_ci_runs_the_readme_test_command():
    first, second = _readme_commands()[:2]
    ci = (REPO / ".ci" / "run").read_text()
    install, _ = second.split(" && .venv/bin/python -m pytest")
    assert install in ci and ".venv/bin/python -m pytest" in ci
    assert "-c constraints.txt" in first and "-c constraints.txt" in second


def test_the_first_command_installs_what_a_learner_needs_for_the_notebooks():
    import tomllib

    first = _readme_commands()[0]
    assert '".[notebooks]"' in first
    extras = tomllib.loads((REPO / "pyproject.toml").read_text())["project"][
        "optional-dependencies"
    ]
    assert any(req.startswith("jupyterlab") for req in extras["notebooks"])


def test_direct_dependencies_are_ranges_and_exact_pins_live_in_constraints():
    import tomllib

    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    requirements = project["dependencies"] + [
        r for extra in project["optional-dependencies"].values() for r in extra
    ]
    assert not [r for r in requirements if "==" in r], "pin exact versions in constraints.txt"
    pinned = {
        line.split("==")[0].lower().replace("_", "-")
        for line in (REPO / "constraints.txt").read_text().splitlines()
        if "==" in line
    }
    for requirement in requirements:
        name = requirement.split(">")[0].split("<")[0].split("[")[0].strip().lower()
        assert name.replace("_", "-") in pinned, f"{name} has no exact pin in constraints.txt"


def test_the_architecture_page_lists_every_host_module_and_runtime():
    import pkgutil

    import cpqsim_host
    from cpqsim_host import registry

    doc = (REPO / "docs" / "architecture.md").read_text()
    for module in pkgutil.iter_modules(cpqsim_host.__path__):
        assert f"`cpqsim_host.{module.name}`" in doc, f"docs/architecture.md: {module.name}"
    for name in registry.names():
        assert f"| `{name}` |" in doc, f"docs/architecture.md: runtime {name}"
    assert "docs/architecture.md" in (REPO / "README.md").read_text()
