"""The gateway's declared shapes: compact request bodies and the TMF resources it answers.

Request bodies are validated here (field by field, unknown fields refused). Response
models are *declarations* for the OpenAPI document, so client generators and the schema
fuzzer know what comes back; the gateway renders its answers with ``cpqsim_actors.tmf``
and returns them directly (no second validation pass on the hot path). The tests check
every answer against these models and against the official TMF definitions.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, WithJsonSchema

from cpqsim.configuration import LineAction, QuoteLine
from cpqsim.invariants import InvariantResult
from cpqsim.order_policy import RepairAction

# A discount is a fraction with a few decimals; 50 significant digits is an attack, not a
# discount, and is refused at the door (the pricing core would otherwise work it out).
DISCOUNT = {"ge": 0, "le": 1, "allow_inf_nan": False, "max_digits": 12, "decimal_places": 10}
DISCOUNT_SCHEMA = {
    "anyOf": [
        {"type": "number", "minimum": 0, "maximum": 1},
        {"type": "string", "pattern": r"^(0(\.[0-9]{1,10})?|1(\.0{1,10})?|\.[0-9]{1,10})$"},
    ],
    "description": 'a fraction from 0 to 1 with at most 10 decimals, e.g. "0.15"',
}
Discount = Annotated[Decimal, Field(**DISCOUNT), WithJsonSchema(DISCOUNT_SCHEMA)]

# Listeners are on loopback only (the gateway never sends traffic off the machine).
PORT = r"(:([0-9]{1,4}|[1-5][0-9]{4}|6[0-4][0-9]{3}|65[0-4][0-9]{2}|655[0-2][0-9]|6553[0-5]))?"
LOOPBACK_URL = (
    r"^https?://(127(\.(25[0-5]|2[0-4][0-9]|1?[0-9]{1,2})){3}|localhost|\[::1\])"
    + PORT
    + r"(/[A-Za-z0-9._~!$&'()*+,;=:@%/-]*)?$"
)

# ------------------------------------------------------------------------ request bodies


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class LineIn(Body):
    offering: str = Field(min_length=1, max_length=200)
    quantity: int = Field(default=1, ge=1, le=1_000_000)
    options: list[str] = Field(default_factory=list, max_length=100)
    addOns: list[str] = Field(default_factory=list, max_length=100)
    characteristics: dict[str, str] = Field(default_factory=dict, max_length=100)
    action: LineAction = Field(
        default="add", description="add (a new sale) or a change of the installed asset"
    )
    assetId: str | None = Field(
        default=None,
        min_length=1,
        max_length=200,
        description="the installed asset changed (for add: the parent of a new add-on)",
    )
    assetVersion: int | None = Field(
        default=None, ge=1, description="the asset version the change is quoted against"
    )

    def to_core(self) -> QuoteLine:
        return QuoteLine(
            offering=self.offering,
            quantity=self.quantity,
            options=self.options,
            add_ons=self.addOns,
            characteristics=self.characteristics,
            action=self.action,
            asset_id=self.assetId,
            asset_version=self.assetVersion,
        )


class QuoteCreateIn(Body):
    """The compact quote request (the TMF648 ``Quote_Create`` body is accepted as well)."""

    accountId: str = Field(min_length=1, max_length=200)
    requester: str | None = Field(
        default=None,
        min_length=1,
        max_length=200,
        description="optional: if given, must be the caller (the requester is always the "
        "authenticated principal)",
    )
    lines: list[LineIn] = Field(min_length=1, max_length=50)
    discountPct: Discount = Decimal("0")
    region: str | None = Field(default=None, max_length=100)


class ApprovalIn(Body):
    """An approval decision. The approver is always the caller: ``approver`` may only
    repeat the caller's id (anyone else is a 403), ``role`` picks one the caller holds."""

    approver: str | None = Field(
        default=None, min_length=1, max_length=200, description="optional: must be the caller"
    )
    role: str | None = Field(
        default=None,
        min_length=1,
        max_length=100,
        description="the caller's role this decision is made under (needed only when the "
        "caller holds several approval roles)",
    )
    reason: str = Field(default="", max_length=2000)
    onBehalfOf: str | None = Field(
        default=None,
        min_length=1,
        max_length=200,
        description="the delegator (principal or role) the approver acts for, under a "
        "delegation of the approval policy in force",
    )


class RejectionIn(ApprovalIn):
    reason: str = Field(min_length=1, max_length=2000)


class ReviseIn(Body):
    lines: list[LineIn] | None = Field(default=None, min_length=1, max_length=50)
    discountPct: Discount | None = None
    reason: str = Field(default="", max_length=2000)


class AcceptIn(Body):
    revision: int | None = Field(default=None, ge=1, le=1_000_000, description="expected revision")
    proposalSha256: str | None = Field(
        default=None,
        pattern="^[0-9a-f]{64}$",
        description="the presented proposal the customer accepts (its sha256)",
    )


class CancelIn(Body):
    reason: str = Field(default="", max_length=2000)


class CloneIn(Body):
    requester: str | None = Field(
        default=None, min_length=1, max_length=100, description="default: the source's"
    )
    supersede: bool = Field(
        default=False, description="the clone replaces the source (which goes superseded)"
    )


def _event_filter(*types: str) -> str:
    one = "(" + "|".join(types) + ")"
    return f"^eventType={one}(,{one})*$"


class SubscriptionIn(Body):
    """TMF ``EventSubscriptionInput``: where to deliver, and an optional filter."""

    callback: str = Field(
        max_length=500,
        pattern=LOOPBACK_URL,
        description="listener base URL on loopback (http://127.0.0.1:PORT/path); events are "
        "POSTed to {callback}/listener/{eventType}",
    )


class QuoteSubscriptionIn(SubscriptionIn):
    query: str | None = Field(
        default=None,
        max_length=500,
        pattern=_event_filter("QuoteCreateEvent", "QuoteStateChangeEvent"),
        description="optional filter, e.g. eventType=QuoteStateChangeEvent",
    )


class OrderSubscriptionIn(SubscriptionIn):
    query: str | None = Field(
        default=None,
        max_length=500,
        pattern=_event_filter(
            "ProductOrderCreateEvent",
            "ProductOrderStateChangeEvent",
            "ProductOrderAttributeValueChangeEvent",
        ),
        description="optional filter, e.g. eventType=ProductOrderStateChangeEvent",
    )


# ------------------------------------------------------------------------ responses


class Open(BaseModel):
    """TMF resources allow extension attributes: declared fields are typed, more may come."""

    model_config = ConfigDict(extra="allow", populate_by_name=True)


class Money(Open):
    unit: str
    value: float


class Price(Open):
    dutyFreeAmount: Money


class QuotePrice(Open):
    name: str
    priceType: str
    recurringChargePeriod: str | None = None
    price: Price
    type_: str = Field(alias="@type")


class ProductOfferingRef(Open):
    id: str
    href: str
    name: str
    referredType: str = Field(alias="@referredType")


class RelatedParty(Open):
    id: str
    role: str
    referredType: str = Field(alias="@referredType")


class QuoteItem(Open):
    id: str
    action: str
    quantity: int
    state: str
    productOffering: ProductOfferingRef
    quoteItem: list[QuoteItem] | None = None
    quoteItemPrice: list[QuotePrice] | None = None
    type_: str = Field(alias="@type")


class Authorization(Open):
    name: str
    state: str
    type_: str = Field(alias="@type")


class ResourceRef(Open):
    id: str
    href: str


class Quote(Open):
    """TMF648 ``Quote`` as this gateway renders it (extensions: ``cpqsimStatus`` and more)."""

    id: str
    href: str
    version: str
    state: str
    category: str
    quoteItem: list[QuoteItem]
    relatedParty: list[RelatedParty]
    type_: str = Field(alias="@type")
    cpqsimStatus: str
    accountId: str
    discountPct: str
    approvalRequired: bool
    requiredApprovalRole: str | None = None
    priceFingerprint: str | None = None
    catalogVersion: str | None = None
    quoteDate: str | None = None
    effectiveQuoteCompletionDate: str | None = None
    quoteTotalPrice: list[QuotePrice] | None = None
    authorization: list[Authorization] | None = None
    region: str | None = None
    productOrder: ResourceRef | None = None


class QuoteItemRef(Open):
    id: str
    quoteId: str
    quoteHref: str


class ProductRef(Open):
    id: str
    status: str
    productOffering: ProductOfferingRef


class ProductOrderItem(Open):
    id: str
    action: str
    quantity: int
    state: str
    productOffering: ProductOfferingRef
    quoteItem: QuoteItemRef | None = None
    productOrderItem: list[ProductOrderItem] | None = None
    product: ProductRef | None = None
    type_: str = Field(alias="@type")


class FulfillmentTask(Open):
    taskId: str
    system: str
    operation: str
    status: str
    attempts: int


class ProductOrder(Open):
    """TMF622 ``ProductOrder`` as rendered here (extensions: fulfilment tasks, fingerprints)."""

    id: str
    href: str
    state: str
    category: str
    externalId: str
    productOrderItem: list[ProductOrderItem]
    quote: list[ResourceRef]
    relatedParty: list[RelatedParty]
    type_: str = Field(alias="@type")
    quoteRevision: int
    snapshotFingerprint: str
    priceFingerprint: str
    fulfillment: list[FulfillmentTask]
    falloutCases: list[dict[str, Any]]
    openTasks: int
    orderDate: str | None = None
    completionDate: str | None = None


class CancelProductOrder(Open):
    """TMF622 ``CancelProductOrder``: one per order (a second one is refused, 409)."""

    id: str
    href: str
    productOrder: ResourceRef
    state: str = Field(description="acknowledged, inProgress, done or terminatedWithError")
    cancellationReason: str | None = None
    requestedCancellationDate: str | None = None
    effectiveCancellationDate: str | None = None
    type_: str = Field(alias="@type")


class FalloutCase(BaseModel):
    """A case for a person: what failed, who owns it, what may be done, and what was."""

    id: str
    orderId: str
    taskId: str
    kind: str = Field(description="task (work that failed) or compensation (undo that failed)")
    owner: str
    reason: str
    repairActions: list[str]
    status: str = Field(description="open or resolved")
    openedAt: str | None
    resolvedAt: str | None = None
    resolution: str | None = None
    resolvedBy: str | None = None


class RepairIn(Body):
    """An operations decision on a fallout case, by the caller, under one of its roles."""

    action: RepairAction
    actor: str | None = Field(
        default=None, min_length=1, max_length=100, description="optional: must be the caller"
    )
    role: str | None = Field(
        default=None,
        min_length=1,
        max_length=100,
        description="the caller's role this repair is made under (needed only when the "
        "caller holds several operations roles)",
    )
    reason: str = Field(default="", max_length=2000)
    evidence: str | None = Field(
        default=None, max_length=2000, description="mark_done: the reference that proves it"
    )


class ProductOffering(Open):
    """TMF620 ``ProductOffering`` (the full document is validated in the catalog tests)."""

    id: str
    href: str
    name: str
    version: str
    lifecycleStatus: str
    type_: str = Field(alias="@type")


class Characteristic(Open):
    name: str
    value: Any
    valueType: str | None = None


class ProductRelationship(Open):
    relationshipType: str
    product: ResourceRef


class RelatedProductOrderItem(Open):
    productOrderId: str
    orderItemId: str
    orderItemAction: str
    productOrderHref: str | None = None
    role: str | None = None


class Product(Open):
    """TMF637 ``Product``: one installed asset (extensions: our status, the asset version a
    change is quoted against, quantity, options, billing subscription, pending change)."""

    id: str
    href: str
    name: str | None = None
    status: str | None = Field(
        default=None, description="active, suspended, pendingTerminate or terminated"
    )
    productOffering: ProductOfferingRef | None = None
    productCharacteristic: list[Characteristic] | None = None
    productRelationship: list[ProductRelationship] | None = None
    productOrderItem: list[RelatedProductOrderItem] | None = None
    billingAccount: dict[str, Any] | None = None
    relatedParty: list[RelatedParty] | None = None
    type_: str = Field(alias="@type")
    cpqsimStatus: str | None = None
    assetVersion: int | None = None
    quantity: int | None = None


class EventSubscription(BaseModel):
    """TMF ``EventSubscription``: the registration, with its id for DELETE /hub/{id}."""

    id: str
    callback: str
    query: str | None = None


class Health(BaseModel):
    status: str


class Verdict(BaseModel):
    """The invariant checker's judgement of everything the live platform did so far."""

    holds: bool = Field(description="every invariant holds")
    violations: int
    unsettled_orders: int = Field(description="orders still neither terminal nor in fallout")
    settled_within_s: float | None = Field(description="wait until none was unsettled, if ever")
    orders_by_state: dict[str, int]
    events: int
    invariants: list[InvariantResult]


QuoteItem.model_rebuild()
ProductOrderItem.model_rebuild()
