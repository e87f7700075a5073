"""Installed assets stated in a file, for pricing a change request with ``cpqsim price``.

A change line acts on an asset, and is judged and priced against the asset as it stands.
Outside a run there is no installed base to read, so a request states the assets it
changes, either inline (``installed_base:`` beside ``request:``) or in a file given with
``--installed-base``: a list of assets in the shape ``cpqsim assets --json`` prints
(:class:`cpqsim.asset.Asset`'s fields), or a run folder, whose installed base is read
back from its event log.

Why the asset's own shape and not the price request's asset terms: the change check
needs what the quote side sees (account, status, version, parent, lock, metadata gaps)
to refuse what a quote would refuse, and the priced terms are then derived from it the
way the quote side derives them. The stated assets become asset facts folded into an
:class:`cpqsim.asset.InstalledBase`, so the lifecycle's own rules apply to them.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from cpqsim.asset import (
    AssetChangeApplied,
    AssetChangeLocked,
    AssetCreated,
    AssetEvent,
    AssetHeldAsParent,
    AssetRole,
    InstalledBase,
)
from cpqsim_scenarios.documents import Limits, read_document
from cpqsim_scenarios.errors import InputInvalid, Problem, problems_from_validation

__all__ = [
    "MAX_STATED_ASSETS",
    "InstalledBaseFile",
    "StatedAsset",
    "StatedAssets",
    "installed_base_of",
    "read_stated_installed_base",
    "unique_ids",
]

MAX_STATED_ASSETS = 100_000
#: A stated installed base is a few values per asset; a run folder is read as a log.
INSTALLED_BASE_LIMITS = Limits(max_bytes=64 * 1024 * 1024, max_nodes=5_000_000)

_Id = Annotated[str, Field(min_length=1, max_length=200)]
_Money = Annotated[Decimal, Field(ge=0, allow_inf_nan=False, max_digits=30)]
_Standing = Literal["active", "suspended", "disconnected"]
#: The earlier change that left a stated asset in its standing status at its version.
_SETTLED_BY: dict[str, Literal["modify", "suspend", "disconnect"]] = {
    "active": "modify",
    "suspended": "suspend",
    "disconnected": "disconnect",
}


class StatedAsset(BaseModel):
    """One installed asset as a file states it (the fields of :class:`cpqsim.asset.Asset`).

    Only ``asset_id``, ``account_id`` and ``offering`` are required; pricing a change to
    the asset also needs ``recurring_monthly`` (per unit, after discount), ``currency``
    and ``term_start``. ``subscription_id`` defaults to ``sub-<asset_id>`` for an asset
    that is billed (has a ``recurring_monthly``).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    asset_id: _Id
    account_id: _Id
    offering: _Id = Field(description="the version id it runs (saas-suite@2)")
    role: AssetRole = "main"
    parent_id: _Id | None = None
    site: _Id | None = None
    quantity: int = Field(default=1, ge=1, le=1_000_000_000)
    options: list[_Id] = Field(default_factory=list, max_length=1000)
    characteristics: dict[str, Annotated[str, Field(max_length=4096)]] = Field(
        default_factory=dict, max_length=1000
    )
    status: Literal["active", "suspended", "pending_change", "disconnected"] = "active"
    version: int = Field(default=1, ge=1, le=1_000_000_000)
    order_id: _Id | None = None
    last_order_id: _Id | None = None
    subscription_id: _Id | None = None
    recurring_monthly: _Money | None = None
    currency: str | None = Field(default=None, pattern=r"^[A-Z]{3}$")
    term_start: date | None = None
    term_end: date | None = Field(default=None, description="exclusive")
    missing_metadata: list[_Id] = Field(default_factory=list, max_length=100)
    locked_by: _Id | None = Field(
        default=None, description="the order holding a pending change (status pending_change)"
    )
    status_before_lock: Literal["active", "suspended"] | None = None
    held_by: list[_Id] = Field(
        default_factory=list,
        max_length=1000,
        description="orders adding an add-on under it (a shared hold, not a status)",
    )

    @model_validator(mode="after")
    def _consistent(self) -> StatedAsset:
        locked = self.status == "pending_change"
        if locked and self.locked_by is None:
            raise ValueError("a pending_change asset names the order holding it (locked_by)")
        if not locked and (self.locked_by is not None or self.status_before_lock is not None):
            raise ValueError("locked_by and status_before_lock belong to a pending_change asset")
        if self.term_start and self.term_end and self.term_end <= self.term_start:
            raise ValueError(f"term_end {self.term_end} is not after term_start {self.term_start}")
        return self

    def facts(self) -> list[AssetEvent]:
        """The facts that leave the asset as stated: created, then (for a status other
        than active, or a later version) the change that settled it, then its lock."""
        billed = self.recurring_monthly is not None
        out: list[AssetEvent] = [
            AssetCreated(
                asset_id=self.asset_id,
                account_id=self.account_id,
                offering=self.offering,
                role=self.role,
                parent_id=self.parent_id,
                site=self.site,
                quantity=self.quantity,
                options=list(self.options),
                characteristics=dict(self.characteristics),
                order_id=self.order_id,
                subscription_id=self.subscription_id
                or (f"sub-{self.asset_id}" if billed else None),
                recurring_monthly=self.recurring_monthly,
                currency=self.currency,
                term_start=self.term_start,
                term_end=self.term_end,
                missing_metadata=list(self.missing_metadata),
            )
        ]
        standing: _Standing = (
            (self.status_before_lock or "active")
            if self.status == "pending_change"
            else self.status  # type: ignore[assignment]
        )
        if standing != "active" or self.version > 1:
            order = self.last_order_id or f"stated-{self.asset_id}"
            action = _SETTLED_BY[standing]
            out += [
                AssetChangeLocked(
                    asset_id=self.asset_id,
                    order_id=order,
                    item_id="1",
                    action=action,
                    asset_version=max(self.version - 1, 1),
                ),
                AssetChangeApplied(
                    asset_id=self.asset_id,
                    order_id=order,
                    item_id="1",
                    action=action,
                    asset_version=self.version,
                ),
            ]
        out += [
            AssetHeldAsParent(asset_id=self.asset_id, order_id=order_id, item_id="1")
            for order_id in self.held_by
        ]
        if self.locked_by is not None:
            out.append(
                AssetChangeLocked(
                    asset_id=self.asset_id,
                    order_id=self.locked_by,
                    item_id="1",
                    action="modify",
                    asset_version=self.version,
                )
            )
        return out


def unique_ids(assets: list[StatedAsset]) -> list[StatedAsset]:
    """``assets``, or a ValueError naming an asset id stated twice (the later is not
    allowed to silently win)."""
    seen: dict[str, int] = {}
    for i, asset in enumerate(assets):
        if asset.asset_id in seen:
            raise ValueError(
                f"asset {asset.asset_id!r} is stated twice (entries {seen[asset.asset_id]} and {i})"
            )
        seen[asset.asset_id] = i
    return assets


StatedAssets = Annotated[list[StatedAsset], Field(max_length=MAX_STATED_ASSETS)]


class InstalledBaseFile(BaseModel):
    """A file of installed assets: ``installed_base: [...]`` (or the bare list)."""

    model_config = ConfigDict(extra="forbid")

    installed_base: StatedAssets

    @model_validator(mode="after")
    def _ids_unique(self) -> InstalledBaseFile:
        unique_ids(self.installed_base)
        return self


def installed_base_of(assets: list[StatedAsset]) -> InstalledBase:
    """The read model the stated assets make (each asset folded from its facts)."""
    return InstalledBase(fact for asset in unique_ids(assets) for fact in asset.facts())


def read_stated_installed_base(path: Path) -> InstalledBase:
    """``--installed-base``: a run folder's installed base, or a file of stated assets."""
    if path.is_dir():
        from cpqsim_scenarios.assets_file import read_installed_base

        return read_installed_base(path)
    document = read_document(path, "installed-base", INSTALLED_BASE_LIMITS)
    data: Any = document.data
    bare = isinstance(data, list)
    if not bare and not isinstance(data, dict):
        found = type(data).__name__
        raise InputInvalid(
            document.path,
            [Problem("", f"an installed-base file is a list of assets, not a {found}")],
        )
    wrapped = {"installed_base": data} if bare else data
    try:
        parsed = InstalledBaseFile.model_validate(wrapped)
    except ValidationError as exc:
        # A bare list's places are its own: [3].quantity, not installed_base[3].quantity.
        drop = 1 if bare else 0
        problems = problems_from_validation(
            exc, wrapped, InstalledBaseFile, locate=lambda loc: document.mark(tuple(loc[drop:]))
        )
        if bare:
            problems = [_unwrapped(p) for p in problems]
        raise InputInvalid(document.path, problems) from None
    return installed_base_of(parsed.installed_base)


def _unwrapped(problem: Problem) -> Problem:
    where = problem.where.removeprefix("installed_base")
    return Problem(where, problem.message, problem.line, problem.column, problem.code)
