"""Quote-request files for ``cpqsim price``: a catalog reference plus a price request.

The shell reads files; the core only prices. A request file is YAML or JSON::

    catalog: catalog/enterprise.yaml   # relative to this file
    request:                            # a cpqsim.pricing.PriceRequest
      lines: [{offering: saas-suite, quantity: 25, options: [saas-edition-standard]}]
      discount_pct: "0.05"

Problems are reported with the file and the field, never as a traceback.
"""

from __future__ import annotations

from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError

from cpqsim.catalog import Catalog, CatalogInvalid, load_catalog
from cpqsim.pricing import PriceRequest
from cpqsim_scenarios.errors import InputInvalid, pydantic_problems


class PriceRequestFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    catalog: str
    request: PriceRequest


def load_price_request(path: str | Path) -> tuple[Catalog, PriceRequest]:
    path = Path(path)
    try:
        data = yaml.load(path.read_text(encoding="utf-8"), Loader=_DecimalSafeLoader)
    except OSError as exc:
        raise InputInvalid(str(path), [("", f"cannot read file: {exc.strerror}")]) from exc
    except yaml.YAMLError as exc:
        raise InputInvalid(str(path), [("", f"not valid YAML/JSON: {exc}")]) from exc
    try:
        parsed = PriceRequestFile.model_validate(data)
    except ValidationError as exc:
        raise InputInvalid(str(path), pydantic_problems(exc)) from exc
    catalog_path = (path.parent / parsed.catalog).resolve()
    try:
        catalog = load_catalog(catalog_path)
    except CatalogInvalid as exc:
        raise InputInvalid(
            str(path),
            [("catalog", f"{catalog_path}: {p.location}: {p.message}") for p in exc.problems],
        ) from exc
    return catalog, parsed.request


class _DecimalSafeLoader(yaml.SafeLoader):
    """YAML floats become exact Decimal text, so '19.99' and 19.99 price the same."""


def _decimal(loader: yaml.SafeLoader, node: yaml.Node):
    from decimal import Decimal

    return Decimal(loader.construct_scalar(node))


_DecimalSafeLoader.add_constructor("tag:yaml.org,2002:float", _decimal)
