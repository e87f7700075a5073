"""What the quote side reads from the installed base to price and judge a change.

Pricing never reads the installed base: the quote side copies what a change is priced
from into the price request (:class:`cpqsim.pricing_change_terms.AssetTerms`), so the
price can be reproduced from the request alone. This module is that copy:

* the terms of every asset the quote's change lines act on;
* the account's co-termination date — the latest term end among the account's *other*
  live subscriptions (active, suspended, or held by a change), so a renewal can line up
  with them;
* the offerings the account really has (its active assets), which eligibility rules such
  as ``dependsOnAsset`` are answered from.
"""

from __future__ import annotations

from datetime import date

from cpqsim.asset import Asset, AssetStatus, InstalledBase
from cpqsim.configuration import QuoteLine
from cpqsim.pricing_change import CHANGE_ACTIONS
from cpqsim.pricing_change_terms import AssetTerms

__all__ = ["assets_priced", "coterm_date", "installed_offerings"]

_LIVE = frozenset({AssetStatus.ACTIVE, AssetStatus.SUSPENDED, AssetStatus.PENDING_CHANGE})


def coterm_date(base: InstalledBase, account_id: str, asset_id: str) -> date | None:
    """The latest term end among the account's other live subscriptions (None: none)."""
    ends = [
        a.term_end
        for a in base.of_account(account_id)
        if a.asset_id != asset_id
        and a.status in _LIVE
        and a.subscription_id is not None
        and a.term_end is not None
    ]
    return max(ends, default=None)


def assets_priced(base: InstalledBase, account_id: str, lines: list[QuoteLine]) -> list[AssetTerms]:
    """The terms of each asset the change lines act on, in line order, each once.

    Assets the base does not know, or that lack what pricing needs, are left out: the
    change check refuses them with reasons before anything is priced.
    """
    out: dict[str, AssetTerms] = {}
    for line in lines:
        if line.action not in CHANGE_ACTIONS or line.asset_id is None or line.asset_id in out:
            continue
        asset = base.get(line.asset_id)
        if asset is None or asset.account_id != account_id or not _priceable(asset):
            continue
        out[asset.asset_id] = AssetTerms.of(asset, coterm_date(base, account_id, asset.asset_id))
    return list(out.values())


def _priceable(asset: Asset) -> bool:
    status = asset.status_before_lock or asset.status
    return (
        status in (AssetStatus.ACTIVE, AssetStatus.SUSPENDED)
        and asset.recurring_monthly is not None
        and asset.currency is not None
        and asset.term_start is not None
    )


def installed_offerings(base: InstalledBase, account_id: str) -> list[str] | None:
    """Offering version ids of the account's active assets (None: the base does not know
    the account, so eligibility must not read "owns nothing" into it)."""
    assets = base.of_account(account_id)
    if not assets:
        return None
    owned = {
        a.offering
        for a in assets
        if a.status is AssetStatus.ACTIVE
        or (a.status is AssetStatus.PENDING_CHANGE and a.status_before_lock is AssetStatus.ACTIVE)
    }
    return sorted(owned)
