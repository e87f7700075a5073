"""Quote-request files for ``cpqsim price``: a catalog reference plus a price request.

The shell reads files; the core only prices. A request file is YAML or JSON::

    catalog: catalog/enterprise.yaml   # relative to this file
    request:                            # a cpqsim.pricing.PriceRequest
      lines: [{offering: saas-suite, quantity: 25, options: [saas-edition-standard]}]
      discount_pct: "0.05"

A **change request** has lines that act on installed assets (``action`` and
``asset_id``) and states those assets, inline (``installed_base:``, in the shape
``cpqsim assets --json`` prints) or with ``--installed-base`` (such a file, or a run
folder). It is prepared the way the quote side prepares a change quote, so the price is
the one a quote would get: the change lines are judged against the installed base
(:func:`cpqsim.change.check_change_lines`: every refusal with its code and line), pinned
to the asset versions they act on, and the request states what the quote side's
:func:`cpqsim.quote.price_request_for` derives for them (each asset's terms, the contract
terms: none stated, the default contract; what else the account has installed) before
it is priced.

Problems are reported with the file and the field, never as a traceback.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, time
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, field_validator

from cpqsim.asset import InstalledBase
from cpqsim.catalog import Catalog
from cpqsim.context import Context, IdSource
from cpqsim.pricing import PriceRequest
from cpqsim.pricing_change_terms import AssetTerms, ContractBook, ContractTerms
from cpqsim.quote import ChangeRefused, CreateQuote, QuoteServices, price_request_for
from cpqsim_scenarios.documents import Document, read_document
from cpqsim_scenarios.errors import InputInvalid, Problem
from cpqsim_scenarios.files import catalog_beside, validate_document
from cpqsim_scenarios.stated_assets import (
    StatedAsset,
    StatedAssets,
    installed_base_of,
    read_stated_installed_base,
    unique_ids,
)

MAX_REQUEST_LINES = 20_000
MAX_SIGNIFICANT_DIGITS = 28  # the decimal context's precision: more cannot be exact


class PriceRequestFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    catalog: str = Field(
        min_length=1, max_length=4096, description="catalog YAML, relative to this file"
    )
    installed_base: StatedAssets | None = Field(
        default=None,
        description="the installed assets the request's change lines act on (the shape "
        "`cpqsim assets --json` prints); or give them with --installed-base",
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

    @field_validator("installed_base")
    @classmethod
    def _ids_unique(cls, assets: list[StatedAsset] | None) -> list[StatedAsset] | None:
        return unique_ids(assets) if assets is not None else None


@dataclass(frozen=True)
class PriceJob:
    """What ``cpqsim price`` prices: the catalog and the request as prepared."""

    catalog: Catalog
    request: PriceRequest


def load_price_job(path: str | Path, installed_base: Path | None = None) -> PriceJob:
    """The request file, read and prepared for pricing (see the module docstring).

    ``installed_base``: the ``--installed-base`` file or run folder. Raises
    :class:`InputInvalid` naming the file, line and field of every problem; a change the
    installed base refuses is a problem with the change check's code.
    """
    document = read_document(path, "quote-request")
    parsed = validate_document(document, PriceRequestFile, "quote-request")
    if parsed.installed_base is not None and installed_base is not None:
        raise InputInvalid(
            document.path,
            [
                document.problem(
                    ("installed_base",),
                    f"the installed base is given twice (here and --installed-base "
                    f"{installed_base}): give it once",
                )
            ],
        )
    catalog = catalog_beside(document, parsed.catalog)
    base = (
        installed_base_of(parsed.installed_base)
        if parsed.installed_base is not None
        else read_stated_installed_base(installed_base)
        if installed_base is not None
        else None
    )
    request = parsed.request
    if not request.changes_assets:
        return PriceJob(catalog, request)
    if request.assets:
        if base is not None:
            raise InputInvalid(
                document.path,
                [
                    document.problem(
                        "request.assets",
                        "states asset terms itself; with an installed base they are "
                        "read from it: give one or the other",
                    )
                ],
            )
        # A quote's own price request (asset terms stated): priced as it stands.
        return PriceJob(catalog, request)
    return PriceJob(catalog, _prepared(document, catalog, request, base or InstalledBase()))


def _prepared(
    document: Document, catalog: Catalog, request: PriceRequest, base: InstalledBase
) -> PriceRequest:
    """The change request as the quote side would price it (see the module docstring)."""
    account, day = request.account_id, request.business_date
    missing = []
    if account is None:
        missing.append(
            document.problem(
                "request.account_id",
                "a request that changes installed assets names the account they belong to",
            )
        )
    if day is None:
        missing.append(
            document.problem(
                "request.business_date",
                "a request that changes installed assets needs its business date (the "
                "changes take effect on it unless change_date says otherwise)",
            )
        )
    if missing or account is None or day is None:
        raise InputInvalid(document.path, missing)
    services = QuoteServices(
        catalog=catalog,
        installed_base=base,
        contract_terms=ContractBook(default=request.contract_terms or ContractTerms()),
    )
    try:
        lines = services.lines_for(account, list(request.lines), day)
    except ChangeRefused as exc:
        raise InputInvalid(
            document.path,
            [document.problem(f"request.{r.path}", r.message, code=r.code) for r in exc.refusals],
        ) from None
    unpriceable = _unpriceable(document, base, lines)
    if unpriceable:
        raise InputInvalid(document.path, unpriceable)
    # The quote side's own request for these lines on that day: what it derives from the
    # installed base and the contract (asset terms, contract terms, what else the account
    # has installed) replaces the file's; what it does not derive (usage, proration,
    # change_date) stays as the file states it.
    quote = CreateQuote(
        quote_id="cpqsim-price",
        account_id=account,
        requester="cpqsim-price",
        lines=lines,
        discount_pct=request.discount_pct,
        region=request.region,
        currency=request.currency,
        channel=request.channel,
        segment=request.segment,
    )
    on_the_day = Context(now=datetime.combine(day, time(), tzinfo=UTC), ids=IdSource())
    derived = price_request_for(quote, on_the_day, services)
    return request.model_copy(
        update={name: getattr(derived, name) for name in derived.model_fields_set}
    )


def _unpriceable(document: Document, base: InstalledBase, lines: list) -> list[Problem]:
    """Change lines whose asset passed the check but lacks what pricing needs."""
    out = []
    for i, line in enumerate(lines):
        asset = base.get(line.asset_id) if line.asset_id and line.action != "add" else None
        if asset is None:
            continue
        try:
            AssetTerms.of(asset)
        except ValueError as exc:
            out.append(document.problem(f"request.lines[{i}]", f"cannot price the change: {exc}"))
    return out
