"""TM Forum request bodies in: TMF648 ``Quote_Create`` and TMF622 ``ProductOrder_Create``.

A client that speaks TMF sends what the standard says: quote items with
``productOffering`` references and nested quote items for the chosen options and add-ons,
parties by role, and an order whose items point back at the accepted quote. This module
validates those bodies (standard fields accepted, unknown ones refused, ``@``-prefixed
polymorphism attributes allowed) and turns them into core commands, naming the TMF path
of anything it cannot map (``quoteItem[0].quoteItem[1].productOffering.id``).

Items may also act on what the customer already has (a TMF637 ``product``):

* ``add`` with ``product.productRelationship`` ``reliesOn`` a product: a new add-on under
  that installed product;
* ``delete`` with ``product.id``: disconnect it;
* ``modify`` with ``product.id``: the item states the product as it should be (offering,
  nested options, quantity, ``product.productCharacteristic``); what is not stated stays
  as installed. Which change that is follows from what moves: ``product.status``
  ``suspended`` suspends an active product and ``active`` resumes a suspended one; a
  changed offering or option is an upgrade or a downgrade as the catalog's
  ``upgradesTo`` / ``downgradesTo`` relations say (no relation: judged as an upgrade, and
  refused for want of a path); anything else is a modify. The extension ``cpqsimAction``
  names the change outright (the only way to say ``renew``).

The change is quoted against the product's version as read when the quote is made (our
``assetVersion`` extension may name it instead); the gateway then judges every change
line against the installed base (:func:`cpqsim.change.check_change_lines`).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from cpqsim.asset import Asset, AssetStatus
from cpqsim.catalog import Catalog, stable_id
from cpqsim.configuration import QuoteLine
from cpqsim.quote import CreateQuote, Quote
from cpqsim_actors.api_models import Discount
from cpqsim_actors.tmf import TMF_ACTION

CUSTOMER_ROLES = frozenset({"customer", "buyer"})
SELLER_ROLES = frozenset({"seller", "salesrep", "sales representative", "requester"})

# TMF fields the standard defines that we accept and do not act on (kept for round trips).
_Ignored = Any


class TmfBody(BaseModel):
    """Standard fields typed; ``@type``/``@baseType``/... allowed; anything else refused."""

    model_config = ConfigDict(extra="allow", populate_by_name=True)

    @model_validator(mode="after")
    def _only_polymorphism_extras(self) -> TmfBody:
        unknown = [k for k in (self.model_extra or {}) if not k.startswith("@")]
        if unknown:
            raise ValueError(f"unknown field(s): {', '.join(sorted(unknown))[:200]}")
        return self


class EntityRef(TmfBody):
    id: str = Field(min_length=1, max_length=200)
    href: str | None = Field(default=None, max_length=500)
    name: str | None = Field(default=None, max_length=200)


class PartyRef(EntityRef):
    role: str | None = Field(default=None, max_length=100)


class CharacteristicIn(TmfBody):
    name: str = Field(min_length=1, max_length=100)
    value: str | int | float | bool = Field(description="the value wanted (sent as text)")
    valueType: str | None = Field(default=None, max_length=50)


class ProductRefIn(TmfBody):
    """A product by reference (``id``: the installed product acted on)."""

    id: str = Field(min_length=1, max_length=200)
    href: str | None = Field(default=None, max_length=500)
    name: str | None = Field(default=None, max_length=200)


class ProductRelationshipIn(TmfBody):
    relationshipType: str = Field(max_length=50)
    product: ProductRefIn


class ProductIn(TmfBody):
    """TMF ``ProductRefOrValue`` on an item: the installed product acted on, as wanted."""

    id: str | None = Field(default=None, min_length=1, max_length=200)
    href: str | None = Field(default=None, max_length=500)
    name: str | None = Field(default=None, max_length=200)
    status: str | None = Field(default=None, max_length=50)
    productCharacteristic: list[CharacteristicIn] | None = Field(default=None, max_length=100)
    productRelationship: list[ProductRelationshipIn] | None = Field(default=None, max_length=20)


ChangeName = Literal["modify", "upgrade", "downgrade", "suspend", "resume", "renew"]


class QuoteItemIn(TmfBody):
    id: str | None = Field(default=None, max_length=50)
    action: str = Field(default="add", max_length=20)
    quantity: int | None = Field(default=None, ge=1, le=1_000_000)
    state: str | None = Field(default=None, max_length=50)
    productOffering: EntityRef | None = None
    product: ProductIn | None = None
    quoteItem: list[QuoteItemIn] = Field(default_factory=list, max_length=100)
    note: list[_Ignored] | None = Field(default=None, max_length=20)
    relatedParty: list[PartyRef] | None = Field(default=None, max_length=20)
    cpqsimAction: ChangeName | None = Field(
        default=None, description="extension: the exact change a 'modify' item makes"
    )
    assetVersion: int | None = Field(
        default=None, ge=1, description="extension: the product version the change is for"
    )


class QuoteCreateTmf(TmfBody):
    """TMF648 ``Quote_Create``; extensions ``discountPct`` and ``region`` as in our answers."""

    quoteItem: list[QuoteItemIn] = Field(min_length=1, max_length=50)
    relatedParty: list[PartyRef] = Field(
        min_length=1,
        max_length=20,
        description="needs a party with role Customer (the account); a Seller party, if "
        "given, must be the caller (the requester is always the authenticated principal)",
    )
    category: str | None = Field(default=None, max_length=100)
    description: str | None = Field(default=None, max_length=2000)
    externalId: str | None = Field(default=None, max_length=200)
    version: str | None = Field(default=None, max_length=20)
    instantSyncQuote: bool | None = None
    requestedQuoteCompletionDate: str | None = Field(default=None, max_length=40)
    expectedFulfillmentStartDate: str | None = Field(default=None, max_length=40)
    note: list[_Ignored] | None = Field(default=None, max_length=20)
    discountPct: Discount = Decimal("0")
    region: str | None = Field(default=None, max_length=100)


class QuoteItemRefIn(TmfBody):
    id: str = Field(min_length=1, max_length=50)
    quoteId: str | None = Field(default=None, max_length=200)
    quoteHref: str | None = Field(default=None, max_length=500)


class ProductOrderItemIn(TmfBody):
    id: str = Field(min_length=1, max_length=50)
    action: str = Field(max_length=20)
    quantity: int | None = Field(default=None, ge=1, le=1_000_000)
    productOffering: EntityRef | None = None
    product: ProductIn | None = None
    quoteItem: QuoteItemRefIn | None = None
    productOrderItem: list[_Ignored] | None = Field(default=None, max_length=100)
    cpqsimAction: ChangeName | None = Field(
        default=None, description="extension: the exact change, as on the quote item"
    )


class ProductOrderCreateTmf(TmfBody):
    """TMF622 ``ProductOrder_Create`` that orders exactly one accepted quote."""

    productOrderItem: list[ProductOrderItemIn] = Field(min_length=1, max_length=50)
    quote: list[EntityRef] = Field(
        min_length=1, max_length=1, description="the accepted quote this order fulfils"
    )
    relatedParty: list[PartyRef] | None = Field(default=None, max_length=20)
    category: str | None = Field(default=None, max_length=100)
    description: str | None = Field(default=None, max_length=2000)
    externalId: str | None = Field(default=None, max_length=200)
    priority: str | None = Field(default=None, max_length=20)
    requestedCompletionDate: str | None = Field(default=None, max_length=40)
    requestedStartDate: str | None = Field(default=None, max_length=40)
    note: list[_Ignored] | None = Field(default=None, max_length=20)


class CancelProductOrderCreateTmf(TmfBody):
    """TMF622 ``CancelProductOrder_Create``; extension ``requestedBy`` says on whose behalf.

    A cancellation takes effect when it is accepted (the wind-down starts at once), so a
    ``requestedCancellationDate`` is kept only as the client's wish, never scheduled.
    """

    productOrder: EntityRef
    cancellationReason: str | None = Field(default=None, max_length=2000)
    requestedCancellationDate: str | None = Field(default=None, max_length=40)
    requestedBy: Literal["customer", "operations"] = Field(
        default="customer", description="extension: the customer, or operations on its behalf"
    )


QuoteItemIn.model_rebuild()


class TmfBodyInvalid(Exception):
    """The body is well-formed but cannot be mapped; ``violations`` name TMF paths."""

    def __init__(self, violations: list[dict[str, str]]) -> None:
        super().__init__(violations[0]["reason"] if violations else "invalid")
        self.violations = violations


def _party(parties: list[PartyRef] | None, roles: frozenset[str]) -> str | None:
    for party in parties or []:
        if party.role is not None and party.role.casefold() in roles:
            return party.id
    return None


def _violation(field: str, reason: str, rule: str = "tmf_mapping") -> dict[str, str]:
    return {"field": field, "reason": reason, "rule": rule}


def seller_party(body: QuoteCreateTmf) -> str | None:
    """The id of the body's Seller party, if it names one (the gateway checks it is the
    caller: a body never chooses who acts)."""
    return _party(body.relatedParty, SELLER_ROLES)


def products_named(body: QuoteCreateTmf) -> list[str]:
    """The installed products the body's items act on (the gateway fetches them first)."""
    named = []
    for item in body.quoteItem:
        if item.product is None:
            continue
        if item.product.id is not None:
            named.append(item.product.id)
        named += [r.product.id for r in item.product.productRelationship or []]
    return sorted(set(named))


def quote_command(
    body: QuoteCreateTmf,
    quote_id: str,
    catalog: Catalog,
    requester: str,
    assets: dict[str, Asset] | None = None,
) -> CreateQuote:
    """The core command for a TMF648 quote request by ``requester`` (the authenticated
    caller), or :class:`TmfBodyInvalid`.

    ``assets`` are the installed products the items name, as the caller may see them (one
    it may not see is absent: reported as no such product).
    """
    problems: list[dict[str, str]] = []
    account = _party(body.relatedParty, CUSTOMER_ROLES)
    if account is None:
        problems.append(_violation("relatedParty", "needs a party with role Customer"))
    lines: list[QuoteLine] = []
    # Another account's product is no product of this quote's customer.
    known = {a: x for a, x in (assets or {}).items() if x.account_id == account}
    for i, item in enumerate(body.quoteItem):
        path = f"quoteItem[{i}]"
        if item.action == "add":
            line = _quote_line(item, path, catalog, problems)
        else:
            line = _change_line(item, path, catalog, known, problems)
        if line is not None:
            lines.append(line)
    if problems:
        raise TmfBodyInvalid(problems)

    assert account is not None
    return CreateQuote(
        quote_id=quote_id,
        account_id=account,
        requester=requester,
        lines=lines,
        discount_pct=body.discountPct,
        region=body.region,
    )


def _quote_line(
    item: QuoteItemIn, path: str, catalog: Catalog, problems: list[dict[str, str]]
) -> QuoteLine | None:
    if item.productOffering is None:
        problems.append(_violation(f"{path}.productOffering", "required for action 'add'"))
        return None
    offering_id = item.productOffering.id
    if not catalog.has_offering(offering_id):
        problems.append(
            _violation(f"{path}.productOffering.id", "no such product offering in the catalog")
        )
        return None
    parent = _relied_on(item, path, problems)
    if item.product is not None and item.product.id is not None:
        problems.append(
            _violation(
                f"{path}.product.id",
                "an 'add' item sells something new; to change an installed product use "
                "'modify' or 'delete'",
            )
        )
        return None
    options, add_ons = _elements(item, path, catalog, offering_id, problems)
    return QuoteLine(
        offering=offering_id,
        quantity=item.quantity or 1,
        options=options,
        add_ons=add_ons,
        asset_id=parent,
    )


def _relied_on(item: QuoteItemIn, path: str, problems: list[dict[str, str]]) -> str | None:
    """The installed product a new add-on goes under (``reliesOn``), if any."""
    if item.product is None:
        return None
    parents = [
        r.product.id
        for r in item.product.productRelationship or []
        if r.relationshipType.casefold() == "relieson"
    ]
    if len(parents) > 1:
        problems.append(
            _violation(f"{path}.product.productRelationship", "an add-on relies on one product")
        )
    return parents[0] if parents else None


def _elements(
    item: QuoteItemIn,
    path: str,
    catalog: Catalog,
    offering_id: str,
    problems: list[dict[str, str]],
) -> tuple[list[str], list[str]]:
    """The nested items: options and add-ons of ``offering_id``."""
    offering = catalog.offering(offering_id)
    option_ids = {o for group in offering.option_groups for o in group.options}
    add_on_ids = set(offering.add_ons)
    options, add_ons = [], []
    for k, child in enumerate(item.quoteItem):
        where = f"{path}.quoteItem[{k}].productOffering"
        if child.productOffering is None:
            problems.append(_violation(where, "a nested quote item names the option or add-on"))
            continue
        child_id = child.productOffering.id
        if stable_id(child_id) in option_ids:
            options.append(child_id)
        elif stable_id(child_id) in add_on_ids:
            add_ons.append(child_id)
        else:
            problems.append(
                _violation(
                    f"{where}.id",
                    f"neither an option nor an add-on of {stable_id(offering_id)}",
                )
            )
    return options, add_ons


def _change_line(
    item: QuoteItemIn,
    path: str,
    catalog: Catalog,
    assets: dict[str, Asset],
    problems: list[dict[str, str]],
) -> QuoteLine | None:
    """A ``modify`` or ``delete`` item as the change line it asks for."""
    if item.action not in ("modify", "delete"):
        problems.append(
            _violation(
                f"{path}.action",
                "an item adds ('add'), changes ('modify') or disconnects ('delete') a product",
            )
        )
        return None
    if item.product is None or item.product.id is None:
        problems.append(
            _violation(f"{path}.product.id", f"'{item.action}' names the installed product")
        )
        return None
    asset = assets.get(item.product.id)
    if asset is None:
        problems.append(
            _violation(f"{path}.product.id", "no such product installed for the Customer party")
        )
        return None
    version = item.assetVersion or asset.version
    if item.action == "delete":
        return _as_installed(asset, "disconnect", version)
    offering_id = item.productOffering.id if item.productOffering is not None else asset.offering
    if not catalog.has_offering(offering_id):
        problems.append(
            _violation(f"{path}.productOffering.id", "no such product offering in the catalog")
        )
        return None
    if stable_id(offering_id) == stable_id(asset.offering) and "@" not in offering_id:
        offering_id = asset.offering  # the same offering, as installed
    if item.quoteItem:
        options, add_ons = _elements(item, path, catalog, offering_id, problems)
        if add_ons:
            problems.append(
                _violation(
                    f"{path}.quoteItem",
                    "an add-on for an installed product is an 'add' item that relies on it",
                )
            )
            return None
    else:
        options = list(asset.options)
    wanted = {c.name: _text(c.value) for c in item.product.productCharacteristic or []}
    action = item.cpqsimAction or _change_kind(item, catalog, asset, offering_id, options)
    if action in ("suspend", "resume", "renew"):
        return _as_installed(asset, action, version)
    return QuoteLine(
        offering=offering_id,
        quantity=item.quantity or asset.quantity,
        options=options,
        characteristics={**asset.characteristics, **wanted},
        action=action,
        asset_id=asset.asset_id,
        asset_version=version,
    )


def _as_installed(asset: Asset, action: str, version: int) -> QuoteLine:
    """A line naming the asset as it is (suspend, resume, renew, disconnect change no
    configuration)."""
    return QuoteLine(
        offering=asset.offering,
        quantity=asset.quantity,
        options=list(asset.options),
        characteristics=dict(asset.characteristics),
        action=action,
        asset_id=asset.asset_id,
        asset_version=version,
    )


def _text(value: str | int | float | bool) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _change_kind(
    item: QuoteItemIn, catalog: Catalog, asset: Asset, offering_id: str, options: list[str]
) -> str:
    """Which change a 'modify' item makes, from what it moves (see the module docstring)."""
    status = item.product.status if item.product is not None else None
    if status == "suspended" and asset.status is AssetStatus.ACTIVE:
        return "suspend"
    if status == "active" and asset.status is AssetStatus.SUSPENDED:
        return "resume"
    moved: list[tuple[str, str]] = []
    if offering_id != asset.offering:
        moved.append((asset.offering, offering_id))
    old = {stable_id(o): o for o in asset.options}
    new = {stable_id(o): o for o in options}
    removed = [o for k, o in old.items() if k not in new]
    added = [o for k, o in new.items() if k not in old]
    moved += _pairs(catalog, asset.offering, removed, added)
    if not moved and not removed and not added:
        return "modify"
    for source, target in moved:
        kinds = _relation_kinds(catalog, source, target)
        if "downgradesTo" in kinds and "upgradesTo" not in kinds:
            return "downgrade"
    return "upgrade"


def _pairs(
    catalog: Catalog, offering_id: str, removed: list[str], added: list[str]
) -> list[tuple[str, str]]:
    """Each added option with the removed option of its own group it replaces."""
    if not catalog.has_offering(offering_id):
        return []
    pairs = []
    for group in catalog.offering(offering_id).option_groups:
        members = set(group.options)
        gone = [o for o in removed if stable_id(o) in members]
        came = [o for o in added if stable_id(o) in members]
        pairs += list(zip(gone, came, strict=False))
    return pairs


def _relation_kinds(catalog: Catalog, source: str, target: str) -> set[str]:
    if not catalog.has_offering(source):
        return set()
    return {
        r.kind
        for r in catalog.offering(source).relations
        if stable_id(r.target) == stable_id(target)
    }


def check_order_matches_quote(body: ProductOrderCreateTmf, quote: Quote) -> None:
    """The order's items must be the quote's lines (an order never re-decides the deal)."""
    problems: list[dict[str, str]] = []
    account = _party(body.relatedParty, CUSTOMER_ROLES)
    if account is not None and account != quote.account_id:
        problems.append(_violation("relatedParty", "the Customer party is not the quote's account"))
    lines = quote.lines
    if len(body.productOrderItem) != len(lines):
        problems.append(
            _violation(
                "productOrderItem",
                f"the quote has {len(lines)} item(s); order each exactly once",
            )
        )
    seen: set[int] = set()
    for n, item in enumerate(body.productOrderItem):
        path = f"productOrderItem[{n}]"
        if item.action not in ("add", "modify", "delete"):
            problems.append(
                _violation(f"{path}.action", "an order item's action is add, modify or delete")
            )
            continue
        index = n
        if item.quoteItem is not None:
            if item.quoteItem.quoteId not in (None, quote.quote_id):
                problems.append(_violation(f"{path}.quoteItem.quoteId", "not the ordered quote"))
                continue
            try:
                index = int(item.quoteItem.id) - 1
            except ValueError:
                index = -1
            if not 0 <= index < len(lines):
                problems.append(_violation(f"{path}.quoteItem.id", "no such item in the quote"))
                continue
        if index >= len(lines):
            continue  # already reported as a count mismatch
        if index in seen:
            problems.append(_violation(f"{path}.quoteItem.id", "quote item ordered twice"))
            continue
        seen.add(index)
        line = lines[index]
        problems += _same_change(item, line, index, path)
        if item.productOffering is not None and stable_id(item.productOffering.id) != stable_id(
            line.offering
        ):
            problems.append(
                _violation(
                    f"{path}.productOffering.id",
                    f"quote item {index + 1} is {stable_id(line.offering)}",
                )
            )
        if item.quantity is not None and item.quantity != line.quantity:
            problems.append(
                _violation(
                    f"{path}.quantity", f"quote item {index + 1} has quantity {line.quantity}"
                )
            )
    if problems:
        raise TmfBodyInvalid(problems)


def _same_change(
    item: ProductOrderItemIn, line: QuoteLine, index: int, path: str
) -> list[dict[str, str]]:
    """An order item does to the installed product what its quote item said, no more."""
    expected = TMF_ACTION[line.action]
    if item.action != expected:
        return [_violation(f"{path}.action", f"quote item {index + 1} is '{expected}'")]
    if item.cpqsimAction is not None and item.cpqsimAction != line.action:
        return [_violation(f"{path}.cpqsimAction", f"quote item {index + 1} is a {line.action}")]
    named = item.product.id if item.product is not None else None
    if line.action != "add" and named not in (None, line.asset_id):
        return [_violation(f"{path}.product.id", f"quote item {index + 1} acts on {line.asset_id}")]
    return []
