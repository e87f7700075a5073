"""What a change against an installed asset is priced from: the asset's terms and the contract.

Two kinds of input, both carried *in the price request* so that a change price is a
function of its request alone and re-pricing the accepted snapshot months later (after
the asset moved on) reproduces its fingerprint:

* :class:`AssetTerms` — the asset as it stood when the change was quoted: version,
  configuration, status, per-unit recurring charge, currency, term, and the account's
  co-termination date (the quote side works it out from the installed base).
* :class:`ContractTerms` — what the customer's agreement says about changes: an
  early-termination charge per offering or family (none unless the contract says so),
  what a suspended subscription is billed, and how a renewal is priced and aligned.

Why contract terms are not catalog data: the catalog says what may be sold and at what
list price; what ending a subscription early costs is what *this* customer signed.
A :class:`ContractBook` holds the default terms and the accounts that negotiated their
own; the quote side copies the account's terms into the request, so they are versioned
with the price they produced.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import TYPE_CHECKING, Annotated, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from cpqsim.omit_defaults import OmitsDefaults

if TYPE_CHECKING:
    from cpqsim.asset import Asset

__all__ = [
    "AssetTerms",
    "ContractBook",
    "ContractTerms",
    "EarlyTermination",
    "RenewalTerms",
    "SuspensionTerms",
]

_Fraction = Annotated[Decimal, Field(ge=0, le=1, allow_inf_nan=False)]
_Money = Annotated[Decimal, Field(ge=0, allow_inf_nan=False, max_digits=30)]


class EarlyTermination(BaseModel):
    """The charge for disconnecting before the term ends, for the offerings it names.

    ``applies_to`` names offerings by stable id, families as ``family:<id>``, or ``*``.
    ``remaining_pct``: that fraction of the recurring charges left in the term (from the
    end of the billing month the disconnect falls in to the term end, the last partial
    month by actual days); ``fixed``: ``amount`` per unit. The first rule that names the
    asset's offering (offering before family before ``*``) applies.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str = Field(min_length=1, max_length=100)
    applies_to: list[str] = Field(min_length=1, max_length=100)
    kind: Literal["remaining_pct", "fixed"]
    pct: _Fraction | None = None
    amount: _Money | None = None

    @model_validator(mode="after")
    def _one_measure(self) -> EarlyTermination:
        if self.kind == "remaining_pct" and (self.pct is None or self.amount is not None):
            raise ValueError(f"early termination {self.id}: remaining_pct needs pct (only)")
        if self.kind == "fixed" and (self.amount is None or self.pct is not None):
            raise ValueError(f"early termination {self.id}: fixed needs amount (only)")
        return self


class SuspensionTerms(BaseModel):
    """What a suspended subscription is billed: ``hold_pct`` of its monthly charge.

    0 (the default) bills nothing while suspended. Suspending credits the rest of the
    billing month down to the hold charge; resuming charges the rest of the month back up.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    hold_pct: _Fraction = Decimal(0)


class RenewalTerms(BaseModel):
    """How a renewal is priced and how long it runs.

    The renewal starts when the current term ends. With ``coterminate`` it ends on the
    account's co-termination date when that falls within one renewal term (a shorter,
    prorated term that lines the subscription up with the others); otherwise it runs
    ``term_months`` (None: as long as the current term). The renewed monthly charge is
    the current one times ``1 + uplift_pct``.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    coterminate: bool = True
    term_months: int | None = Field(default=None, ge=1, le=120)
    uplift_pct: _Fraction = Decimal(0)


class ContractTerms(BaseModel):
    """One agreement's terms for changes (the default: no early-termination charge,
    nothing billed while suspended, renewals co-terminated at the same price)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    version: str = Field(default="contract-terms-1", min_length=1, max_length=100)
    early_termination: list[EarlyTermination] = Field(default_factory=list, max_length=1000)
    suspension: SuspensionTerms = Field(default_factory=SuspensionTerms)
    renewal: RenewalTerms = Field(default_factory=RenewalTerms)

    def early_termination_for(self, offering_id: str, family: str) -> EarlyTermination | None:
        """The early-termination rule for an offering (by stable id), most specific first."""
        for wanted in (offering_id, f"family:{family}", "*"):
            for rule in self.early_termination:
                if wanted in rule.applies_to:
                    return rule
        return None


class ContractBook(BaseModel):
    """The contract terms in force: a default, and the accounts with their own."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    default: ContractTerms = Field(default_factory=ContractTerms)
    accounts: dict[str, ContractTerms] = Field(default_factory=dict, max_length=100_000)

    def for_account(self, account_id: str) -> ContractTerms:
        return self.accounts.get(account_id, self.default)


class AssetTerms(OmitsDefaults):
    """An installed asset as a change to it was priced: what the delta is measured from."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    omit_when_default: ClassVar[frozenset[str]] = frozenset(
        {"coterm_date", "options", "characteristics"}
    )

    asset_id: str = Field(min_length=1, max_length=200)
    version: int = Field(ge=1)
    offering: str
    status: Literal["active", "suspended"]
    quantity: int = Field(ge=1)
    options: list[str] = Field(default_factory=list)
    characteristics: dict[str, str] = Field(default_factory=dict)
    recurring_monthly: _Money  # per unit, after discount
    currency: str = Field(min_length=3, max_length=3)
    term_start: date
    term_end: date | None = None  # exclusive; None: month to month
    coterm_date: date | None = None  # the account's co-termination date, if it has one

    @classmethod
    def of(cls, asset: Asset, coterm_date: date | None = None) -> AssetTerms:
        """The terms of ``asset`` (an asset changed under a lock reads as it was before)."""
        status = asset.status_before_lock or asset.status
        missing = [
            name
            for name in ("recurring_monthly", "currency", "term_start")
            if getattr(asset, name) is None
        ]
        if missing:
            raise ValueError(f"asset {asset.asset_id} lacks {', '.join(missing)} to price a change")
        return cls(
            asset_id=asset.asset_id,
            version=asset.version,
            offering=asset.offering,
            status=status.value,  # type: ignore[arg-type]  # changeable: active/suspended
            quantity=asset.quantity,
            options=list(asset.options),
            characteristics=dict(asset.characteristics),
            recurring_monthly=asset.recurring_monthly,  # type: ignore[arg-type]
            currency=asset.currency,  # type: ignore[arg-type]
            term_start=asset.term_start,  # type: ignore[arg-type]
            term_end=asset.term_end,
            coterm_date=coterm_date,
        )
