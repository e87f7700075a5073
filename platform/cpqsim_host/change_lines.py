"""The quote line a customer writes to change one installed asset.

Why its own module: the journeys that quote changes, the benchmark that asks "is this
change allowed" and the notebook all need the same answer to "what does an upgrade (or a
renewal, a suspension...) of *this* asset look like as a quote line". The convention is
the core's (:mod:`cpqsim.configuration`): a modify, upgrade or downgrade line states the
asset's *desired* configuration; suspend, resume, disconnect and renew lines name the
asset's offering and the asset. Every line carries the asset version it was written
against, so a change overtaken by another one is refused, never applied to the wrong
state.

:func:`change_line` returns None when the action has nowhere to go for the asset (no
upgrade path, nothing to modify); it does not judge status or locks: that is
:func:`cpqsim.change.check_change_lines`'s job, at quote time, against the asset as it
is then.
"""

from __future__ import annotations

import random

from cpqsim.asset import Asset
from cpqsim.catalog import Catalog, Offering, stable_id
from cpqsim.configuration import QuoteLine

__all__ = ["MOVES", "change_line", "moves_of"]

#: The catalog relation an upgrade or downgrade of an option follows.
MOVES = {"upgrade": "upgradesTo", "downgrade": "downgradesTo"}


def change_line(
    catalog: Catalog,
    asset: Asset,
    action: str,
    rng: random.Random,
    to: str | None = None,
) -> QuoteLine | None:
    """A line that ``action``s ``asset`` (``to``: the upgrade/downgrade target wanted)."""
    same = {
        "offering": asset.offering,
        "quantity": asset.quantity,
        "action": action,
        "asset_id": asset.asset_id,
        "asset_version": asset.version,
    }
    if action in ("renew", "suspend", "resume", "disconnect"):
        return QuoteLine(**same)
    desired = {
        **same,
        "options": list(asset.options),
        "characteristics": dict(asset.characteristics),
    }
    if action == "modify":
        return _modified(catalog, asset, desired, rng)
    if action in MOVES:
        found = moves_of(catalog, asset, action)
        if to is not None:
            found = [m for m in found if m[1] == to or ("@" not in to and stable_id(m[1]) == to)]
        if not found:
            return None
        old, new = found[rng.randrange(len(found))]
        if stable_id(old) == stable_id(asset.offering):  # the offering's own version moves
            return QuoteLine(**{**desired, "offering": new})
        options = [new if o == old else o for o in asset.options]
        return QuoteLine(**{**desired, "options": options})
    raise ValueError(f"not a change action: {action!r}")


def moves_of(catalog: Catalog, asset: Asset, action: str) -> list[tuple[str, str]]:
    """Every (old, new) step ``action`` may take on the asset: an option along the
    catalog's upgradesTo/downgradesTo, or (upgrade) the offering to the version that
    replaces the one the asset runs."""
    kind = MOVES[action]
    offering = catalog.resolve(asset.offering)
    if offering is None:
        return []
    found: list[tuple[str, str]] = []
    if action == "upgrade" and "@" in asset.offering:
        for newer in catalog.versions_of(offering.id):
            replaces = any(
                r.kind == "replaces" and r.target in (asset.offering, offering.id)
                for r in newer.relations
            )
            if replaces and newer.allows("new_quote"):
                found.append((asset.offering, newer.version_id))
    held = {stable_id(o) for o in asset.options}
    for option in asset.options:
        source = catalog.resolve(option)
        group = offering.group_of(option)
        if source is None or group is None:
            continue
        members = {stable_id(o) for o in group.options}
        for rel in source.relations:
            target = stable_id(rel.target)
            if rel.kind == kind and target in members and target not in held:
                pinned = catalog.resolve(target)  # the version a quote would pin
                found.append((option, pinned.version_id if pinned is not None else target))
    return found


def _modified(catalog: Catalog, asset: Asset, desired: dict, rng: random.Random) -> QuoteLine:
    """More or fewer units, or one characteristic to another allowed value."""
    offering = catalog.resolve(asset.offering)
    choices = _other_values(catalog, offering, asset) if offering is not None else []
    low, high = (offering.quantity_min, offering.quantity_max) if offering else (1, 1)
    if choices and (high <= low or rng.random() < 0.5):
        name, value = choices[rng.randrange(len(choices))]
        return QuoteLine(**{**desired, "characteristics": {**asset.characteristics, name: value}})
    step = max(1, asset.quantity // 5)
    quantity = asset.quantity + step if rng.random() < 0.7 else asset.quantity - step
    if not low <= quantity <= high:
        quantity = asset.quantity - step if quantity > high else asset.quantity + step
    return QuoteLine(**{**desired, "quantity": max(low, min(high, quantity))})


def _other_values(catalog: Catalog, offering: Offering, asset: Asset) -> list[tuple[str, str]]:
    """(characteristic, value) pairs a modify may move to: listed values only (the
    contract length changes at renewal, not by a modify)."""
    if not catalog.has_specification(offering.specification):
        return []
    spec = catalog.specification(offering.specification)
    return [
        (c.name, v)
        for c in spec.characteristics
        if c.values and not c.name.startswith("term")
        for v in c.values
        if v != asset.characteristics.get(c.name)
    ]
