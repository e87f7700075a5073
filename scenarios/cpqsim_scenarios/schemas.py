"""JSON Schemas of the files people write, generated from the models that read them.

Editors (VS Code's YAML extension, JetBrains) complete and check a file against its
schema when the file's first line points at it::

    # yaml-language-server: $schema=../../docs/schemas/scenario.schema.json

The stored copies in ``docs/schemas/`` are kept current by a test.
"""

from __future__ import annotations

import json
from pathlib import Path

from pydantic import BaseModel

SCHEMA_DIR = Path(__file__).resolve().parents[2] / "docs" / "schemas"


def _models() -> dict[str, type[BaseModel]]:
    from cpqsim.approval import ApprovalPolicy
    from cpqsim.catalog import Catalog
    from cpqsim_scenarios.model import Scenario
    from cpqsim_scenarios.price_file import PriceRequestFile

    return {
        "scenario": Scenario,
        "catalog": Catalog,
        "request": PriceRequestFile,
        "approval_policy": ApprovalPolicy,
    }


NAMES = ("scenario", "catalog", "request", "approval_policy")


def schema(name: str) -> dict:
    model = _models()[name]
    doc = model.model_json_schema(mode="validation")
    profile = doc.get("$defs", {}).get("DownstreamProfile")
    if name == "scenario" and profile is not None:
        # In a scenario a downstream profile's name is its key under ``downstream``.
        profile["required"] = [f for f in profile.get("required", []) if f != "name"]
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": f"https://cpqsim.dev/schemas/{name}.schema.json",
        **doc,
    }


def schema_json(name: str) -> str:
    return json.dumps(schema(name), indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def stored_path(name: str) -> Path:
    return SCHEMA_DIR / f"{name}.schema.json"


def write_stored() -> list[Path]:
    """Regenerate ``docs/schemas/`` (``python -m cpqsim_scenarios.schemas``)."""
    SCHEMA_DIR.mkdir(parents=True, exist_ok=True)
    paths = []
    for name in NAMES:
        path = stored_path(name)
        path.write_text(schema_json(name), encoding="utf-8")
        paths.append(path)
    return paths


if __name__ == "__main__":  # pragma: no cover
    for p in write_stored():
        print(p)
