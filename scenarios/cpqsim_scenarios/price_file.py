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

from pydantic import BaseModel, ConfigDict

from cpqsim.catalog import Catalog
from cpqsim.pricing import PriceRequest
from cpqsim_scenarios.files import catalog_beside, read_model


class PriceRequestFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    catalog: str
    request: PriceRequest


def load_price_request(path: str | Path) -> tuple[Catalog, PriceRequest]:
    path = Path(path)
    parsed = read_model(path, PriceRequestFile, "quote-request", exact_numbers=True)
    return catalog_beside(path, parsed.catalog), parsed.request
