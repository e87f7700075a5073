"""A generated installed base: N assets over M accounts, from a seed and the catalog.

Why generate one: change orders are most of an established business's traffic, and a
scenario about renewals, upgrade campaigns or a legacy migration needs a customer base
that already exists when the run starts. Writing 100,000 assets by hand is not a
scenario; stating their shape is (:class:`cpqsim_host.scenario.InstalledBaseProfile`).

What the generator promises:

* **deterministic** — the same profile, catalog and seed give the same facts, byte for
  byte (its own named random stream; nothing else's draws move);
* **valid** — every configuration it installs passes the configurator for an installed
  asset (intent ``keep_asset``: a grandfathered version is fine, a retired one is not),
  and an offering that requires another (a firewall needs an internet line) is only
  installed for an account that has that other one;
* **realistic in shape** — offering versions, options and add-ons drawn from the catalog,
  a few large accounts and many small ones, contract terms ending all through the year,
  a share suspended, a share migrated from a legacy system (no order made them), and of
  those a share with gaps (``missing_metadata``) that a change must not guess around.

Facts only: the output is the list of :class:`cpqsim.asset.AssetEvent` a runtime folds
into its :class:`cpqsim.asset.InstalledBase` (a suspended asset comes with the history
of the earlier order that suspended it, so its version and status are honest).
"""

from __future__ import annotations

import random
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal

from cpqsim.asset import (
    AssetChangeApplied,
    AssetChangeLocked,
    AssetCreated,
    AssetEvent,
    InstalledBase,
)
from cpqsim.catalog import Catalog, Characteristic, Offering, stable_id
from cpqsim.configuration import QuoteLine, check_configuration, line_key
from cpqsim.context import EPOCH, rng_stream
from cpqsim_host.scenario import InstalledBaseProfile

__all__ = [
    "MISSING_KINDS",
    "InstalledBaseError",
    "account_name",
    "generate_installed_base",
    "installable_offerings",
    "installed_base",
]

#: What a migrated asset may lack, each a real gap of a legacy export: the version it
#: runs (only the product name survived), a characteristic the offering requires, or
#: its contract dates.
MISSING_KINDS = ("offering_version", "characteristics", "term")
CENT = Decimal("0.01")
DRAWS_PER_CONFIGURATION = 40  # attempts at a valid configuration before giving up
SITES_PER_ACCOUNT = 3


class InstalledBaseError(ValueError):
    """The profile asks for something the catalog cannot give (names what and why)."""


def account_name(n: int) -> str:
    """``acct-0001``: the same names the traffic's quote journeys use."""
    return f"acct-{n:04d}"


def installable_offerings(catalog: Catalog) -> list[Offering]:
    """Offering versions an account may hold as a main asset: sellable on their own and
    kept for the installed base by their lifecycle status (grandfathered yes, retired no)."""
    return [o for o in catalog.offerings if o.sellable and o.allows("keep_asset")]


def installed_base(
    profile: InstalledBaseProfile, catalog: Catalog, seed: int, start: date | None = None
) -> InstalledBase:
    """The read model over :func:`generate_installed_base`'s facts."""
    return InstalledBase(generate_installed_base(profile, catalog, seed, start))


def generate_installed_base(
    profile: InstalledBaseProfile, catalog: Catalog, seed: int, start: date | None = None
) -> list[AssetEvent]:
    """The facts of an installed base shaped by ``profile`` (``start``: the run's first
    business day; term ends fall within ``profile.terms_end_within_days`` of it)."""
    return _Generator(profile, catalog, seed, start or EPOCH.date()).facts()


class _Generator:
    def __init__(
        self, profile: InstalledBaseProfile, catalog: Catalog, seed: int, start: date
    ) -> None:
        self.profile = profile
        self.catalog = catalog
        self.start = start
        self.rng = rng_stream(seed, "installed_base")
        self.versions = self._versions_by_offering()
        self.offering_ids = sorted(self.versions)
        self.weights = [profile.offerings.get(o, 1) for o in self.offering_ids]
        self.valid: dict[tuple, bool] = {}  # configuration (no quantity) -> passes
        self.events: list[AssetEvent] = []
        self.held: dict[str, set[str]] = {}  # account -> offering ids it has
        self.suspensions = 0

    # ------------------------------------------------------------------ what may be held

    def _versions_by_offering(self) -> dict[str, list[Offering]]:
        by_id: dict[str, list[Offering]] = {}
        for o in installable_offerings(self.catalog):
            by_id.setdefault(o.id, []).append(o)
        if not by_id:
            raise InstalledBaseError(
                f"catalog {self.catalog.id} {self.catalog.version} has no offering an "
                "account can hold as an asset (sellable, not retired)"
            )
        for key in sorted(self.profile.offerings):
            if key not in by_id:
                raise InstalledBaseError(
                    f"installed_base.offerings: {key!r} is not an offering an account can "
                    f"hold in catalog {self.catalog.id} (choose from {', '.join(sorted(by_id))})"
                )
        if self.profile.offerings:
            by_id = {k: v for k, v in by_id.items() if k in self.profile.offerings}
        return by_id

    def _requires(self, offering: Offering) -> list[str]:
        """Main offerings this one needs somewhere on the account (quote-scoped requires)."""
        return sorted(
            stable_id(r.target)
            for r in offering.relations
            if r.kind == "requires"
            and r.applies_within == "quote"
            and stable_id(r.target) in self.versions
        )

    # ------------------------------------------------------------------------ the facts

    def facts(self) -> list[AssetEvent]:
        p = self.profile
        accounts = [account_name(n + 1) for n in range(p.accounts)]
        for n in range(p.assets):
            # Every account holds something; the rest lean towards the big accounts.
            if n < len(accounts):
                account = accounts[n]
            else:
                account = accounts[int(len(accounts) * self.rng.random() ** 1.5)]
            self._install(account, f"ib-{n + 1:06d}")
        return self.events

    def _install(self, account: str, asset_id: str) -> None:
        rng = self.rng
        offering_id = rng.choices(self.offering_ids, weights=self.weights)[0]
        version = rng.choice(self.versions[offering_id])
        held = self.held.setdefault(account, set())
        missing = [r for r in self._requires(version) if r not in held]
        if missing:  # what it needs comes first (a firewall protects an internet line)
            version = rng.choice(self.versions[missing[0]])
        line = self._configuration(version)
        held.add(version.id)
        migrated = rng.random() < self.profile.migrated_fraction
        gaps: list[str] = []
        if migrated and rng.random() < self.profile.incomplete_fraction:
            kinds = [k for k in MISSING_KINDS if k != "characteristics" or line.characteristics]
            gaps = sorted(rng.sample(kinds, rng.choice((1, 1, 2))))
        discount = rng.choices(
            [d.pct for d in self.profile.discounts],
            weights=[d.weight for d in self.profile.discounts],
        )[0]
        term_end = self.start + timedelta(days=rng.randrange(self.profile.terms_end_within_days))
        months = _term_months(line, self.profile.term_months, rng)
        term = (_months_before(term_end, months), term_end)
        site = f"{account}-site-{rng.randrange(SITES_PER_ACCOUNT) + 1}"
        order_id = None if migrated else f"hist-order-{asset_id.removeprefix('ib-')}"
        created = [
            self._created(
                asset_id, account, version, line, site, order_id, discount, term, gaps, "main"
            )
        ]
        children = [(a, "add_on") for a in line.add_ons] + [(c, "component") for c in line.contents]
        for n, (child, role) in enumerate(children, start=1):
            if isinstance(child, QuoteLine):
                child_line = child.model_copy(update={"quantity": child.quantity * line.quantity})
            else:
                child_line = QuoteLine(offering=child, quantity=line.quantity)
            child_version = self.catalog.offering(child_line.offering)
            created.append(
                self._created(
                    f"{asset_id}.{n}",
                    account,
                    child_version,
                    child_line,
                    site,
                    order_id,
                    discount,
                    term,
                    gaps,
                    role,
                    parent_id=asset_id,
                )
            )
        self.events.extend(created)
        if rng.random() < self.profile.suspended_fraction:
            self._suspended(created)

    def _created(
        self,
        asset_id: str,
        account: str,
        version: Offering,
        line: QuoteLine,
        site: str,
        order_id: str | None,
        discount: Decimal,
        term: tuple[date, date],
        gaps: list[str],
        role: str,
        parent_id: str | None = None,
    ) -> AssetCreated:
        characteristics = dict(line.characteristics)
        offering = version.version_id
        if "offering_version" in gaps:
            offering = version.id  # only the product name survived the export
        if "characteristics" in gaps and characteristics:
            characteristics.pop(sorted(characteristics)[0])
        dated = "term" not in gaps
        return AssetCreated(
            asset_id=asset_id,
            account_id=account,
            offering=offering,
            role=role,
            parent_id=parent_id,
            site=site,
            quantity=line.quantity,
            options=list(line.options),
            characteristics=characteristics,
            order_id=order_id,
            subscription_id=f"sub-{asset_id}",
            recurring_monthly=self._monthly(version, line, discount),
            currency=self.catalog.currency,
            term_start=term[0] if dated else None,
            term_end=term[1] if dated else None,
            missing_metadata=gaps,
        )

    def _suspended(self, created: list[AssetCreated]) -> None:
        """An earlier order suspended the asset (and its children with it): its history."""
        self.suspensions += 1
        order_id = f"hist-suspend-{self.suspensions:06d}"
        for asset in created:
            self.events.append(
                AssetChangeLocked(
                    asset_id=asset.asset_id,
                    order_id=order_id,
                    item_id="1",
                    action="suspend",
                    asset_version=1,
                )
            )
            self.events.append(
                AssetChangeApplied(
                    asset_id=asset.asset_id,
                    order_id=order_id,
                    item_id="1",
                    action="suspend",
                    asset_version=2,
                )
            )

    def _monthly(self, version: Offering, line: QuoteLine, discount: Decimal) -> Decimal:
        """Recurring charge per unit: the offering's and its options', after discount."""
        total = sum((p.amount for p in version.prices if p.kind == "recurring"), start=Decimal(0))
        for option in line.options:
            chosen = self.catalog.resolve(option)
            if chosen is not None:
                total += sum(
                    (p.amount for p in chosen.prices if p.kind == "recurring"), start=Decimal(0)
                )
        return (total * (1 - discount)).quantize(CENT, rounding=ROUND_HALF_UP)

    # ------------------------------------------------------------------ configurations

    def _configuration(self, version: Offering, depth: int = 0) -> QuoteLine:
        """A valid configuration of ``version``: options per group, add-ons, contents."""
        for _ in range(DRAWS_PER_CONFIGURATION):
            line = self._draw(version, depth)
            if self._passes(line):
                return line
        raise InstalledBaseError(
            f"no valid configuration of {version.version_id} found in "
            f"{DRAWS_PER_CONFIGURATION} draws: check its option groups and relations"
        )

    def _draw(self, version: Offering, depth: int) -> QuoteLine:
        rng = self.rng
        options: list[str] = []
        for group in version.option_groups:
            low, high = max(group.min, 0), min(group.max, len(group.options))
            options += rng.sample(group.options, rng.randint(low, max(low, high)))
        add_ons = [a for a in version.add_ons if rng.random() < self.profile.add_on_rate]
        contents: list[QuoteLine] = []
        if depth < 4:
            for rel in version.contained():
                target = self.catalog.resolve(rel.target)
                if target is None:
                    continue
                inner = self._configuration(target, depth + 1)
                quantity = rng.randint(rel.quantity_min, rel.quantity_max)
                contents.append(inner.model_copy(update={"quantity": quantity}))
        return QuoteLine(
            offering=version.version_id,
            quantity=_quantity(version, rng),
            options=[self._pinned(o) for o in options],
            add_ons=[stable_id(a) for a in add_ons],
            characteristics=self._characteristics(version),
            contents=contents,
        )

    def _pinned(self, key: str) -> str:
        """The version id an option runs (as a quote pins it when it is sold)."""
        found = self.catalog.resolve(key)
        return found.version_id if found is not None else key

    def _characteristics(self, version: Offering) -> dict[str, str]:
        if not self.catalog.has_specification(version.specification):
            return {}
        spec = self.catalog.specification(version.specification)
        values: dict[str, str] = {}
        for c in spec.characteristics:
            value = _value(c, self.rng, self.profile.term_months)
            if value is not None:
                values[c.name] = value
        return values

    def _passes(self, line: QuoteLine) -> bool:
        """The configurator's verdict for an installed asset, asked once per content.

        A requirement on another main offering (a firewall needs an internet line) is
        met by the account, which the generator makes sure of; it is judged here with a
        configuration of that offering beside the line.
        """
        key = line_key(line.model_copy(update={"quantity": 1}))
        known = self.valid.get(key)
        if known is None:
            version = self.catalog.offering(line.offering)
            companions = [
                self._configuration(self.versions[r][-1], depth=4) for r in self._requires(version)
            ]
            found = check_configuration(self.catalog, [line, *companions], intent="keep_asset")
            known = self.valid[key] = not [v for v in found if v.rule != "quantity"]
        return known


def _quantity(version: Offering, rng: random.Random) -> int:
    """Seats run in the tens to hundreds; lines and appliances mostly come one or two."""
    low, high = version.quantity_min, version.quantity_max
    if high >= 1000:  # a per-seat offering
        drawn = int(rng.lognormvariate(3.2, 1.0))
    else:
        drawn = 1 if rng.random() < 0.8 else rng.randint(2, 4)
    return max(low, min(high, drawn))


def _value(c: Characteristic, rng: random.Random, term_months: list[int]) -> str | None:
    """A value the characteristic allows; optional free text is left unset."""
    if c.values:
        return rng.choice(c.values)
    if c.type == "boolean":
        return "true" if rng.random() < 0.3 else "false"
    if c.type in ("integer", "decimal"):
        low = c.min if c.min is not None else Decimal(0)
        high = c.max if c.max is not None else low + 100
        if c.name.startswith("term"):
            fitting = [m for m in term_months if low <= m <= high]
            if fitting:
                return str(rng.choice(fitting))
        return str(rng.randint(int(low), int(high))) if c.type == "integer" else str(low)
    if c.required:
        return c.default or f"{c.name}-{rng.randrange(10_000):04d}"
    return c.default


def _term_months(line: QuoteLine, term_months: list[int], rng: random.Random) -> int:
    """The contract length: the line's own term characteristic, else a drawn one."""
    stated = line.characteristics.get("term_months")
    if stated is not None and stated.isdigit():
        return int(stated)
    return rng.choice(term_months)


def _months_before(day: date, months: int) -> date:
    """The same day of the month ``months`` earlier (clamped to the month's length)."""
    year, month = divmod(day.year * 12 + day.month - 1 - months, 12)
    month += 1
    for d in (day.day, 30, 29, 28):
        try:
            return date(year, month, d)
        except ValueError:
            continue
    raise AssertionError("unreachable")  # pragma: no cover
