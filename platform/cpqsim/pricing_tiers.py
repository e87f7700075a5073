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

__all__ = ["TierError", "TierTable", "check_tiers", "tiered_amount"]


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


class TierTable:
    """The tiers of one usage price entry, prepared once when the pricing view is built.

    Why: a large quote prices the same usage entry on many lines with different unit
    counts. Under graduated tiers every tier *below* the one the units end in is charged
    in full, so its amount and its breakdown text are the same on every line; the table
    keeps them (and their running total) per tier, and pricing ``units`` only computes
    the tier it ends in. The answers are exactly :func:`tiered_amount`'s (same Decimals,
    same breakdown text; ``tests/core/test_pricing.py`` compares them).
    """

    __slots__ = ("_full", "_last", "mode", "tiers")

    def __init__(self, mode: str, tiers: list[Tier]) -> None:
        check_tiers(tiers)
        if mode not in ("graduated", "volume"):
            raise TierError(f"unknown tier mode {mode!r}")
        self.mode = mode
        self.tiers = tuple(tiers)
        self._last = tiers[-1].up_to if tiers else None
        # Per graduated tier k: (lower bound, upper bound, the parts and the total of
        # every tier before k charged in full).
        full: list[tuple[int, int | None, tuple[str, ...], Decimal]] = []
        parts: list[str] = []
        total = Decimal(0)
        lower = 0
        for tier in tiers:
            full.append((lower, tier.up_to, tuple(parts), total))
            if tier.up_to is None:
                break
            in_tier = Decimal(tier.up_to) - lower
            amount = in_tier * tier.unit_amount + tier.flat_amount
            total += amount
            parts.append(_graduated_part(lower, tier, in_tier, amount))
            lower = tier.up_to
        self._full = tuple(full)

    def price(self, units: Decimal) -> tuple[Decimal, list[str]]:
        """Exact amount for ``units`` and the breakdown, as :func:`tiered_amount`."""
        if units < 0:
            raise TierError(f"usage estimate must not be negative, got {units}")
        if units == 0:
            return Decimal(0), ["0 units: no charge"]
        last = self._last
        if last is not None and units > last:
            raise TierError(f"{units} units exceed the last tier (up to {last})")
        if self.mode == "volume":
            return tiered_amount("volume", list(self.tiers), units, checked=True)
        for k, (lower, upper, before, subtotal) in enumerate(self._full):
            if upper is None or units <= upper:
                tier = self.tiers[k]
                in_tier = (units if upper is None else min(units, Decimal(upper))) - lower
                amount = in_tier * tier.unit_amount + tier.flat_amount
                return subtotal + amount, [*before, _graduated_part(lower, tier, in_tier, amount)]
        raise AssertionError("unreachable: the last tier bound was checked")  # pragma: no cover


def _graduated_part(lower: int, tier: Tier, in_tier: Decimal, amount: Decimal) -> str:
    bound = "+" if tier.up_to is None else f"-{tier.up_to}"
    flat = f" + flat {tier.flat_amount}" if tier.flat_amount else ""
    return f"tier {lower + 1}{bound}: {in_tier!s} x {tier.unit_amount!s}{flat} = {amount!s}"
