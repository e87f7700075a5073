"""Usage tiers: what an estimated number of units costs under graduated or volume tiers.

The two modes answer different commercial promises, and confusing them is a classic
billing dispute, so both are spelled out:

* **graduated** — each unit is charged at the rate of the tier it falls in (the first
  1,000 units at the first rate, the next ones at the second rate, ...); a tier's
  ``flat_amount`` is added once if any unit falls in that tier.
* **volume** — the *total* number of units picks one tier, and every unit is charged at
  that tier's rate (plus that tier's ``flat_amount`` once).

Tier bounds are inclusive upper bounds (``up_to``), ascending, the last one open
(``None``). Zero units cost nothing in either mode. Pure Decimal arithmetic: the result is
exact; rounding is the caller's explicit step.
"""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pricebook runs check_tiers when it reads an entry
    from cpqsim.pricebook import Tier

__all__ = ["TierError", "check_tiers", "tiered_amount"]


class TierError(ValueError):
    """The tiers cannot price this many units (e.g. the last tier has an upper bound)."""


def check_tiers(tiers: list[Tier]) -> None:
    """Raise :class:`TierError` unless the upper bounds ascend and only the last is open.

    ``PriceEntry`` runs this when a catalog is read, so a price book with tiers out of
    order is refused at the door (naming the entry), not when a quote happens to use it.
    """
    previous = 0
    for i, tier in enumerate(tiers):
        if tier.up_to is None:
            if i != len(tiers) - 1:
                raise TierError(f"tier {i + 1} has no upper bound but is not the last tier")
        elif tier.up_to <= previous:
            raise TierError(f"tier {i + 1} upper bound {tier.up_to} is not above {previous}")
        else:
            previous = tier.up_to


def tiered_amount(
    mode: str, tiers: list[Tier], units: Decimal, *, checked: bool = False
) -> tuple[Decimal, list[str]]:
    """Exact amount for ``units`` and one human-readable breakdown entry per tier used.

    ``checked``: the caller knows ``tiers`` passed :func:`check_tiers` (the tiers of a
    parsed ``PriceEntry`` did), so they are not checked again for every line priced.
    """
    if not checked:
        check_tiers(tiers)
    if units < 0:
        raise TierError(f"usage estimate must not be negative, got {units}")
    if units == 0:
        return Decimal(0), ["0 units: no charge"]
    last = tiers[-1].up_to
    if last is not None and units > last:
        raise TierError(f"{units} units exceed the last tier (up to {last})")
    if mode == "volume":
        lower = 0
        for tier in tiers:
            if tier.up_to is None or units <= tier.up_to:
                amount = units * tier.unit_amount + tier.flat_amount
                bound = "+" if tier.up_to is None else f"-{tier.up_to}"
                flat = f" + flat {tier.flat_amount}" if tier.flat_amount else ""
                return amount, [
                    f"volume tier {lower + 1}{bound}: {units!s} x {tier.unit_amount!s}{flat}"
                ]
            lower = tier.up_to
        raise AssertionError("unreachable: the last tier bound was checked")  # pragma: no cover
    if mode != "graduated":
        raise TierError(f"unknown tier mode {mode!r}")
    total = Decimal(0)
    parts: list[str] = []
    lower = 0
    for tier in tiers:
        upper = units if tier.up_to is None else min(units, Decimal(tier.up_to))
        in_tier = upper - lower
        if in_tier <= 0:
            break
        amount = in_tier * tier.unit_amount + tier.flat_amount
        total += amount
        bound = "+" if tier.up_to is None else f"-{tier.up_to}"
        flat = f" + flat {tier.flat_amount}" if tier.flat_amount else ""
        parts.append(
            f"tier {lower + 1}{bound}: {in_tier!s} x {tier.unit_amount!s}{flat} = {amount!s}"
        )
        if tier.up_to is None or units <= tier.up_to:
            break
        lower = tier.up_to
    return total, parts
