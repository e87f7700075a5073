"""TM Forum request bodies in: TMF648 ``Quote_Create`` and TMF622 ``ProductOrder_Create``.

A client that speaks TMF sends what the standard says: quote items with
``productOffering`` references and nested quote items for the chosen options and add-ons,
parties by role, and an order whose items point back at the accepted quote. This module
validates those bodies (standard fields accepted, unknown ones refused, ``@``-prefixed
polymorphism attributes allowed) and turns them into core commands, naming the TMF path
of anything it cannot map (``quoteItem[0].quoteItem[1].productOffering.id``).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from cpqsim.catalog import Catalog, stable_id
from cpqsim.configuration import QuoteLine
from cpqsim.quote import CreateQuote, Quote
from cpqsim_actors.api_models import Discount

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


class QuoteItemIn(TmfBody):
    id: str | None = Field(default=None, max_length=50)
    action: str = Field(default="add", max_length=20)
    quantity: int = Field(default=1, ge=1, le=1_000_000)
    state: str | None = Field(default=None, max_length=50)
    productOffering: EntityRef | None = None
    quoteItem: list[QuoteItemIn] = Field(default_factory=list, max_length=100)
    note: list[_Ignored] | None = Field(default=None, max_length=20)
    relatedParty: list[PartyRef] | None = Field(default=None, max_length=20)


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
    quoteItem: QuoteItemRefIn | None = None
    productOrderItem: list[_Ignored] | None = Field(default=None, max_length=100)


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


def quote_command(
    body: QuoteCreateTmf, quote_id: str, catalog: Catalog, requester: str
) -> CreateQuote:
    """The core command for a TMF648 quote request by ``requester`` (the authenticated
    caller), or :class:`TmfBodyInvalid`."""
    problems: list[dict[str, str]] = []
    account = _party(body.relatedParty, CUSTOMER_ROLES)
    if account is None:
        problems.append(_violation("relatedParty", "needs a party with role Customer"))
    lines: list[QuoteLine] = []
    for i, item in enumerate(body.quoteItem):
        line = _quote_line(item, f"quoteItem[{i}]", catalog, problems)
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
    if item.action != "add":
        problems.append(
            _violation(f"{path}.action", "a new quote can only add offerings (action 'add')")
        )
        return None
    if item.productOffering is None:
        problems.append(_violation(f"{path}.productOffering", "required for action 'add'"))
        return None
    offering_id = item.productOffering.id
    if not catalog.has_offering(offering_id):
        problems.append(
            _violation(f"{path}.productOffering.id", "no such product offering in the catalog")
        )
        return None
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
    return QuoteLine(offering=offering_id, quantity=item.quantity, options=options, add_ons=add_ons)


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
        if item.action != "add":
            problems.append(_violation(f"{path}.action", "ordering a quote adds its items ('add')"))
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
