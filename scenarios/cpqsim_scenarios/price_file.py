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

from pydantic import BaseModel, ConfigDict, Field, field_validator

from cpqsim.catalog import Catalog
from cpqsim.pricing import PriceRequest
from cpqsim_scenarios.documents import read_document
from cpqsim_scenarios.files import catalog_beside, validate_document

MAX_REQUEST_LINES = 20_000
MAX_SIGNIFICANT_DIGITS = 28  # the decimal context's precision: more cannot be exact


class PriceRequestFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    catalog: str = Field(
        min_length=1, max_length=4096, description="catalog YAML, relative to this file"
    )
    request: PriceRequest

    @field_validator("request")
    @classmethod
    def _bounded(cls, request: PriceRequest) -> PriceRequest:
        digits = len(request.discount_pct.as_tuple().digits)
        if digits > MAX_SIGNIFICANT_DIGITS:
            raise ValueError(
                f"discount_pct has {digits} significant digits; at most "
                f"{MAX_SIGNIFICANT_DIGITS} can be priced exactly"
            )
        if len(request.lines) > MAX_REQUEST_LINES:
            raise ValueError(
                f"{len(request.lines):,} lines, over the limit of {MAX_REQUEST_LINES:,}"
            )
        return request


def load_price_request(path: str | Path) -> tuple[Catalog, PriceRequest]:
    document = read_document(path, "quote-request")
    parsed = validate_document(document, PriceRequestFile, "quote-request")
    return catalog_beside(document, parsed.catalog), parsed.request
