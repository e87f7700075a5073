"""Reading user files: YAML into validated models, catalogs relative to the file.

Every failure becomes :class:`InputInvalid` naming the file and the field, so the CLI can
exit 2 with a message instead of a traceback.
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from cpqsim.catalog import Catalog, CatalogInvalid, load_catalog
from cpqsim_scenarios.errors import InputInvalid, pydantic_problems

M = TypeVar("M", bound=BaseModel)


class DecimalSafeLoader(yaml.SafeLoader):
    """YAML floats become exact Decimals, so ``19.99`` and ``"19.99"`` mean the same."""


DecimalSafeLoader.add_constructor(
    "tag:yaml.org,2002:float", lambda loader, node: Decimal(loader.construct_scalar(node))
)


def read_model(path: Path, model: type[M], what: str, exact_numbers: bool = False) -> M:
    """Parse ``path`` (YAML or JSON) into ``model``; every problem names file and field."""
    loader = DecimalSafeLoader if exact_numbers else yaml.SafeLoader
    try:
        data = yaml.load(path.read_text(encoding="utf-8"), Loader=loader)
    except OSError as exc:
        raise InputInvalid(str(path), [("", f"cannot read file: {exc.strerror}")]) from exc
    except yaml.YAMLError as exc:
        raise InputInvalid(str(path), [("", f"not valid YAML: {exc}")]) from exc
    if not isinstance(data, dict):
        raise InputInvalid(str(path), [("", f"a {what} file must be a YAML mapping")])
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise InputInvalid(str(path), pydantic_problems(exc)) from exc


def catalog_beside(path: Path, reference: str) -> Catalog:
    """Load the catalog a file refers to, relative to that file."""
    catalog_path = (path.parent / reference).resolve()
    try:
        return load_catalog(catalog_path)
    except CatalogInvalid as exc:
        raise InputInvalid(
            str(path),
            [("catalog", f"{catalog_path}: {p.location}: {p.message}") for p in exc.problems],
        ) from exc
