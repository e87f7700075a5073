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
