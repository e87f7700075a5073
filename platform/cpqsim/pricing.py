"""Deterministic pricing with a full trace and a fingerprint.

A price is a commitment that must be reproducible months later (approval, conversion to
order, audit), so: amounts are Decimals computed under a private decimal context (the
caller's thread context cannot leak in), rounding is explicit and stated in the result,
every applied rule leaves a trace step, and the result carries a sha256 fingerprint of
its canonical JSON. Same catalog version + request + rule versions -> same fingerprint.
"""

from __future__ import annotations

import decimal
from decimal import Decimal
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from cpqsim import canonical
from cpqsim.approval import ApprovalPolicy, ApprovalTrigger, required_approvals
from cpqsim.catalog import Catalog, Money
from cpqsim.configuration import ConfigurationViolation, QuoteLine, check_configuration

__all__ = [
    "PriceRequest",
    "PriceResult",
    "PricedCharge",
    "PricingError",
    "PricingPolicy",
    "TraceStep",
    "price_quote",
    "reprice_matches",
    "result_fingerprint",
]

RoundingMode = Literal[
    "ROUND_HALF_EVEN",
    "ROUND_HALF_UP",
    "ROUND_HALF_DOWN",
    "ROUND_UP",
    "ROUND_DOWN",
    "ROUND_CEILING",
    "ROUND_FLOOR",
    "ROUND_05UP",
]

# Wide enough that no intermediate product of amount x quantity x discount is ever
# rounded before the one explicit quantize step.
_CONTEXT = decimal.Context(prec=50, rounding=decimal.ROUND_HALF_EVEN, traps=[decimal.Inexact])


def _normalized(value: Decimal) -> Decimal:
    return value.normalize(decimal.Context(prec=50)) if value.is_finite() else value


class PricingError(ValueError):
    """The request cannot be priced; ``violations`` lists configuration problems, if any."""

    def __init__(self, message: str, violations: list[ConfigurationViolation] | None = None):
        self.violations = list(violations or [])
        if self.violations:
            message += "".join(f"\n  - {v.path}: [{v.rule}] {v.message}" for v in self.violations)
        super().__init__(message)


class PricingPolicy(BaseModel):
    """The versioned rules for rounding and discount limits."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    version: str = "pricing-v1"
    currency_places: Annotated[int, Field(ge=0, le=8)] = 2
    rounding_mode: RoundingMode = "ROUND_HALF_EVEN"
    max_discount_pct: Money = Decimal("0.5")


class PriceRequest(BaseModel):
    """What to price: configured lines, one discount fraction for every charge, region."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    lines: list[QuoteLine]
    # Normalized (0.120 -> 0.12) so equal discounts give equal fingerprints.
    discount_pct: Annotated[Money, AfterValidator(_normalized)] = Decimal("0")
    region: str | None = None


class PricedCharge(BaseModel):
    """One price of one item (line offering, option or add-on) times the line quantity."""

    model_config = ConfigDict(frozen=True)

    line_index: int
    item: str
    price_id: str
    kind: Literal["recurring", "one_time"]
    unit_amount: Decimal
    quantity: int
    list_amount: Decimal
    discount_amount: Decimal
    net_amount: Decimal


class TraceStep(BaseModel):
    """One rule application, in order: what it touched and the amount before and after."""

    model_config = ConfigDict(frozen=True)

    step: int
    rule: str
    rule_version: str
    subject: str
    before: Decimal
    after: Decimal
    detail: str


class PriceResult(BaseModel):
    """A priced quote: charges, monthly recurring and one-time totals, trace, triggers."""

    model_config = ConfigDict(frozen=True)

    currency: str
    catalog_version: str
    pricing_version: str
    charges: list[PricedCharge]
    recurring_total: Decimal
    one_time_total: Decimal
    discount_total: Decimal
    list_total: Decimal
    rounding: dict[str, str | int]
    discount_pct: Decimal
    trace: list[TraceStep]
    warnings: list[str]
    approval_triggers: list[ApprovalTrigger]
    input_fingerprint: str
    fingerprint: str


def result_fingerprint(result: PriceResult) -> str:
    """Fingerprint of everything in ``result`` except the fingerprint field itself."""
    return canonical.fingerprint(result.model_dump(mode="python", exclude={"fingerprint"}))


def input_fingerprint(
    catalog: Catalog,
    request: PriceRequest,
    policy: PricingPolicy,
    approval_policy: ApprovalPolicy,
) -> str:
    """What the price was computed *from*: request, catalog version, rule versions."""
    return canonical.fingerprint(
        {
            "request": request,
            "catalog": {"id": catalog.id, "version": catalog.version},
            "pricing_version": policy.version,
            "approval_policy_version": approval_policy.version,
        }
    )


def _check_discount(request: PriceRequest, policy: PricingPolicy) -> None:
    d = request.discount_pct
    if not d.is_finite() or d < 0:
        raise PricingError(
            f"discount_pct must be a fraction between 0 and {policy.max_discount_pct}, got {d}"
        )
    if d > policy.max_discount_pct:
        raise PricingError(
            f"discount_pct {d} ({d:%}) exceeds the maximum {policy.max_discount_pct} "
            f"({policy.max_discount_pct:%}) allowed by {policy.version}"
        )


class _Trace:
    def __init__(self, version: str) -> None:
        self.version = version
        self.steps: list[TraceStep] = []

    def add(self, rule: str, subject: str, before: Decimal, after: Decimal, detail: str) -> None:
        self.steps.append(
            TraceStep(
                step=len(self.steps) + 1,
                rule=rule,
                rule_version=self.version,
                subject=subject,
                before=before,
                after=after,
                detail=detail,
            )
        )


def price_quote(
    catalog: Catalog,
    request: PriceRequest,
    policy: PricingPolicy | None = None,
    approval_policy: ApprovalPolicy | None = None,
) -> PriceResult:
    """Price every charge of every selected item, discount it, round it, total it.

    Each charge is ``unit amount x line quantity``; the discount fraction applies to
    every charge; list and discount amounts are each quantized to the currency places
    with the policy's rounding mode, and net = rounded list - rounded discount, so
    ``list_total - discount_total == recurring_total + one_time_total`` exactly.
    Raises :class:`PricingError` for a discount outside [0, max] or an invalid
    configuration (with every violation attached).
    """
    policy = policy or PricingPolicy()
    approval_policy = approval_policy or ApprovalPolicy()
    _check_discount(request, policy)
    violations = check_configuration(catalog, request.lines)
    if violations:
        raise PricingError(
            f"the configuration is not valid against catalog {catalog.id} {catalog.version}",
            violations,
        )

    with decimal.localcontext(_CONTEXT):
        return _price(catalog, request, policy, approval_policy)


def _price(
    catalog: Catalog,
    request: PriceRequest,
    policy: PricingPolicy,
    approval_policy: ApprovalPolicy,
) -> PriceResult:
    quantum = Decimal(1).scaleb(-policy.currency_places)
    zero = Decimal(0).quantize(quantum)
    rate = request.discount_pct
    trace = _Trace(policy.version)
    charges: list[PricedCharge] = []
    warnings: list[str] = []
    families: set[str] = set()

    def rounded(amount: Decimal, subject: str, what: str) -> Decimal:
        out = amount.quantize(quantum, rounding=policy.rounding_mode, context=_rounding_ctx())
        if out != amount:
            trace.add(
                "rounding",
                subject,
                amount,
                out,
                f"{what} rounded to {policy.currency_places} places, {policy.rounding_mode}",
            )
        return out

    for i, line in enumerate(request.lines):
        items = [(line.offering, f"lines[{i}].offering")]
        items += [(o, f"lines[{i}].options[{j}]") for j, o in enumerate(line.options)]
        items += [(a, f"lines[{i}].add_ons[{k}]") for k, a in enumerate(line.add_ons)]
        for item, path in items:
            offering = catalog.offering(item)
            families.add(offering.family)
            if not offering.prices and item != line.offering:
                warnings.append(f"{path}: {item} has no price; included at no charge")
            for price in offering.prices:
                subject = f"lines[{i}]/{item}/{price.id}"
                list_exact = price.amount * line.quantity
                trace.add(
                    "list_price",
                    subject,
                    Decimal(0),
                    list_exact,
                    f"{price.kind} {price.amount} x {line.quantity}",
                )
                list_amount = rounded(list_exact, subject, "list amount")
                discount_amount = zero
                if rate:
                    discount_exact = list_amount * rate
                    discount_amount = rounded(discount_exact, subject, "discount")
                    trace.add(
                        "discount",
                        subject,
                        list_amount,
                        list_amount - discount_amount,
                        f"{rate} of {list_amount} = {discount_exact}",
                    )
                charges.append(
                    PricedCharge(
                        line_index=i,
                        item=item,
                        price_id=price.id,
                        kind=price.kind,
                        unit_amount=price.amount,
                        quantity=line.quantity,
                        list_amount=list_amount,
                        discount_amount=discount_amount,
                        net_amount=list_amount - discount_amount,
                    )
                )

    def total(values: list[Decimal]) -> Decimal:
        return sum(values, zero).quantize(quantum)

    result = PriceResult(
        currency=catalog.currency,
        catalog_version=catalog.version,
        pricing_version=policy.version,
        charges=charges,
        recurring_total=total([c.net_amount for c in charges if c.kind == "recurring"]),
        one_time_total=total([c.net_amount for c in charges if c.kind == "one_time"]),
        discount_total=total([c.discount_amount for c in charges]),
        list_total=total([c.list_amount for c in charges]),
        rounding={
            "mode": policy.rounding_mode,
            "places": policy.currency_places,
            "applies": "line",
        },
        discount_pct=rate,
        trace=trace.steps,
        warnings=warnings,
        approval_triggers=required_approvals(
            approval_policy, rate, sorted(families), request.region
        ),
        input_fingerprint=input_fingerprint(catalog, request, policy, approval_policy),
        fingerprint="",
    )
    return result.model_copy(update={"fingerprint": result_fingerprint(result)})


def _rounding_ctx() -> decimal.Context:
    # quantize must not trap Inexact: rounding is exactly what it is asked to do.
    return decimal.Context(prec=_CONTEXT.prec)


def reprice_matches(
    catalog: Catalog,
    request: PriceRequest,
    expected_fingerprint: str,
    policy: PricingPolicy | None = None,
    approval_policy: ApprovalPolicy | None = None,
) -> bool:
    """Does pricing ``request`` again reproduce ``expected_fingerprint``?

    A request that no longer prices (e.g. the configuration became invalid) does not
    reproduce anything, so it answers False rather than raising.
    """
    try:
        result = price_quote(catalog, request, policy, approval_policy)
    except PricingError:
        return False
    return result.fingerprint == expected_fingerprint
