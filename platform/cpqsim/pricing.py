"""Deterministic pricing with a full trace and a fingerprint: the public entry point.

A price is a commitment that must be reproducible months later (approval, conversion to
order, audit), so: amounts are Decimals computed under a private decimal context (the
caller's thread context cannot leak in), rounding is explicit and stated in the result,
every applied rule leaves a trace step (and every promotion that was considered but not
applied says why), and the result carries sha256 fingerprints of its canonical input and
output. Same catalog version + pricing rules version + request + policy versions -> same
fingerprints.

How a request is priced:

1. **Checks** — the manual discount within the policy, Decimal inputs pricing can carry
   exactly, the configuration against the catalog (every violation at once).
2. **Plan** — the catalog's pricing view (:mod:`cpqsim.pricing_view`, built when the
   catalog is published) gives the evaluation plan of the request's scope
   (:mod:`cpqsim.pricing_plan`): which price book prices each offering, contracts, volume
   discounts and promotions in force, rounding. No price in force for an item that is
   priced elsewhere (another currency, region, channel, or dates) is an error naming the
   item, what was looked for and where prices exist: pricing never quotes for free by
   accident.
3. **Rules** — every charge goes through the rule steps of
   :data:`cpqsim.pricing_rules.RULE_STEPS`, in order: list price (price book or catalog
   price; usage tiers), contract price, list amount rounding, included component,
   volume discount, promotions, bundle discounts, manual discount, proration, recurring
   equivalents. Rounding (mode, places per currency, ``line`` or ``total``) comes from the
   catalog's pricing rules unless the :class:`PricingPolicy` overrides it; with ``line``
   every amount a step produces is quantized at once, with ``total`` only the totals are.
4. **Result** — kept per quote line (:mod:`cpqsim.pricing_result`); each distinct line
   content is priced once per request (:mod:`cpqsim.pricing_run`) and lines that repeat it
   share the same immutable :class:`PricedLine`; totals and fingerprints
   (:mod:`cpqsim.pricing_totals`).
"""

from __future__ import annotations

import decimal
import hashlib
import json
from datetime import date
from decimal import Decimal
from typing import Annotated, Any, ClassVar, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, PlainSerializer

from cpqsim.approval import ApprovalPolicy, required_approvals
from cpqsim.catalog import Catalog, Money
from cpqsim.configuration import QuoteLine, check_configuration, line_key
from cpqsim.omit_defaults import OmitsDefaults
from cpqsim.pricebook import MAX_DIGITS, PricingRules, RoundingMode, decimal_problem
from cpqsim.pricing_canonical import Escapes, object_json, quote_line_json, usage_json
from cpqsim.pricing_change import (
    PRICED_AS_CONFIGURATION,
    check_change_configuration,
    price_changes,
)
from cpqsim.pricing_change_terms import AssetTerms, ContractTerms
from cpqsim.pricing_charge import EXACT, ChargeContext
from cpqsim.pricing_errors import PricingError
from cpqsim.pricing_periods import FirstPeriod, ProrationError, first_period
from cpqsim.pricing_plan import Scope
from cpqsim.pricing_result import (
    LineCharge,
    PricedCharge,
    PricedLine,
    PriceResult,
    PriceStep,
    TraceStep,
)
from cpqsim.pricing_run import PricingRun
from cpqsim.pricing_totals import Totals

__all__ = [
    "MAX_DIGITS",
    "LineCharge",
    "PriceRequest",
    "PriceResult",
    "PriceStep",
    "PricedCharge",
    "PricedLine",
    "PricingError",
    "PricingPolicy",
    "TraceStep",
    "UsageEstimate",
    "input_fingerprint",
    "line_fingerprint",
    "price_quote",
    "reprice_matches",
    "result_fingerprint",
]


def _normalized(value: Decimal) -> Decimal:
    return value.normalize(decimal.Context(prec=50))


def _plain(value: Decimal) -> str:
    return format(value, "f")


def _carried(value: Decimal) -> Decimal:
    """Refuse what pricing cannot carry exactly: not finite, or too many digits."""
    problem = decimal_problem(value)
    if problem:
        raise ValueError(problem)
    return value


_Fraction = Annotated[
    Money,
    AfterValidator(_carried),
    AfterValidator(_normalized),
    PlainSerializer(_plain, return_type=str, when_used="json"),
]
_Units = Annotated[
    Money,
    Field(ge=0, le=Decimal(10) ** 15),
    AfterValidator(_carried),
    PlainSerializer(_plain, return_type=str, when_used="json"),
]


class PricingPolicy(BaseModel):
    """The caller's versioned pricing policy: discount limit and rounding overrides.

    Rounding normally comes from the catalog's pricing rules (per-currency places, mode,
    line or total); a field set here overrides it for every currency, and the result
    states which source was used.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    version: str = "pricing-v1"
    currency_places: Annotated[int, Field(ge=0, le=8)] | None = None
    rounding_mode: RoundingMode | None = None
    rounding_applies: Literal["line", "total"] | None = None
    max_discount_pct: _Fraction = Decimal("0.5")


class UsageEstimate(BaseModel):
    """Estimated units per month of one usage charge of one line (the whole line)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    line: int = Field(ge=0, description="index into PriceRequest.lines")
    price_entry: str = Field(description="id of the usage PriceEntry")
    units: _Units


class PriceRequest(OmitsDefaults):
    """What to price, for whom, where and when.

    Only ``lines`` is required; the defaults price in the catalog currency with no region,
    channel, segment or account. ``business_date`` is required as soon as the catalog has
    pricing rules (they are effective-dated and pricing never reads a clock).

    A request with change lines also states the terms of every asset they act on
    (``assets``), the contract terms in force (``contract_terms``, default: none) and the
    day the changes take effect (``change_date``, default: the business date): a change
    is priced from what the request says, so pricing it again reproduces it.
    ``installed_offerings`` are the offerings the account has installed outside the assets
    changed: a change line's quote-scoped requirement met by one of them holds (a firewall
    changed on its own keeps the internet line the customer runs). The four are left out
    of the JSON while unset, so new-sale requests keep their bytes.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")
    omit_when_default: ClassVar[frozenset[str]] = frozenset(
        {"assets", "contract_terms", "change_date", "installed_offerings"}
    )

    lines: list[QuoteLine]
    # Normalized (0.120 -> 0.12) so equal discounts give equal fingerprints.
    discount_pct: _Fraction = Decimal("0")
    region: str | None = None
    currency: str | None = Field(default=None, min_length=3, max_length=3)
    channel: str | None = None
    segment: str | None = None
    account_id: str | None = None
    business_date: date | None = None
    usage: list[UsageEstimate] = Field(default_factory=list)
    service_start: date | None = None
    billing_cycle_day: int | None = Field(default=None, ge=1, le=28)
    period_end: date | None = Field(
        default=None, description="exclusive end of the first (partial) billing month"
    )
    assets: list[AssetTerms] = Field(default_factory=list, max_length=100_000)
    contract_terms: ContractTerms | None = None
    change_date: date | None = Field(
        default=None, description="the day the change lines take effect (default: business_date)"
    )
    installed_offerings: list[str] = Field(default_factory=list, max_length=100_000)

    @property
    def changes_assets(self) -> bool:
        return bool(self.assets) or any(line.changes_asset for line in self.lines)


def _sha256(plain: Any) -> str:
    text = json.dumps(plain, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return "sha256:" + hashlib.sha256(text.encode("utf-8")).hexdigest()


def line_fingerprint(line: PricedLine) -> str:
    """Fingerprint of one priced line: its canonical JSON without its fingerprint field."""
    return _sha256(line.model_dump(mode="json", exclude={"fingerprint"}))


def result_fingerprint(result: PriceResult) -> str:
    """The fingerprint ``result`` should carry, recomputed from its content (slow path).

    Everything except the fingerprint field itself, each line standing as its
    :func:`line_fingerprint` (computed again, not read from the line).
    """
    plain = result.model_dump(mode="json", exclude={"fingerprint"})
    plain["lines"] = [line_fingerprint(line) for line in result.lines]
    return _sha256(plain)


def _rules_of(catalog: Catalog) -> PricingRules:
    return catalog.pricing or PricingRules()


def _input_plain(
    catalog: Catalog,
    request: PriceRequest,
    policy: PricingPolicy,
    approval_policy: ApprovalPolicy,
    *,
    with_request: bool = True,
) -> dict[str, Any]:
    out: dict[str, Any] = {
        "catalog": {"id": catalog.id, "version": catalog.version},
        "pricing_rules_version": _rules_of(catalog).version,
        "pricing_policy": policy.model_dump(mode="json"),
        "approval_policy_version": approval_policy.version,
    }
    if with_request:
        out["request"] = request.model_dump(mode="json")
    return out


def input_fingerprint(
    catalog: Catalog,
    request: PriceRequest,
    policy: PricingPolicy,
    approval_policy: ApprovalPolicy,
) -> str:
    """What the price was computed *from*: request, catalog and rule versions, policy.

    The sha256 of the canonical JSON of ``_input_plain(...)`` (tests prove it).
    """
    keys = [line_key(line) for line in request.lines]
    return request_fingerprint(catalog, request, policy, approval_policy, keys)


def request_fingerprint(
    catalog: Catalog,
    request: PriceRequest,
    policy: PricingPolicy,
    approval_policy: ApprovalPolicy,
    line_keys: list[tuple],
) -> str:
    """:func:`input_fingerprint` given each line's content key: the canonical JSON of a
    line is written once per distinct content (large quotes repeat a few lines)."""
    memo: dict[tuple, str] = {}
    esc = Escapes()
    texts = []
    for key, line in zip(line_keys, request.lines, strict=True):
        text = memo.get(key)
        if text is None:
            text = memo[key] = quote_line_json(line, esc)
        texts.append(text)
    rest = request.model_dump(mode="json", exclude={"lines", "usage"})
    usage = ",".join([usage_json(u.line, u.price_entry, u.units, esc) for u in request.usage])
    request_text = object_json(
        rest, {"lines": "[" + ",".join(texts) + "]", "usage": "[" + usage + "]"}
    )
    outer = _input_plain(catalog, request, policy, approval_policy, with_request=False)
    text = object_json(outer, {"request": request_text})
    return "sha256:" + hashlib.sha256(text.encode("utf-8")).hexdigest()


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


def _check_inputs(request: PriceRequest, policy: PricingPolicy) -> None:
    """Decimal inputs pricing cannot carry exactly are refused naming the field.

    The models refuse them when they are read; this catches requests built without
    validation (``model_copy(update=...)``, ``model_construct``).
    """
    fields = [
        ("discount_pct", request.discount_pct),
        ("pricing_policy.max_discount_pct", policy.max_discount_pct),
    ]
    fields += [(f"usage[{k}].units", u.units) for k, u in enumerate(request.usage)]
    for name, value in fields:
        problem = decimal_problem(value) if isinstance(value, Decimal) else "must be a Decimal"
        if problem:
            raise PricingError(f"{name} {problem}")


def _first_period(request: PriceRequest) -> FirstPeriod | None:
    if request.billing_cycle_day is None and request.period_end is None:
        return None
    if request.service_start is None:
        raise PricingError("billing_cycle_day/period_end need service_start to prorate")
    try:
        return first_period(request.service_start, request.billing_cycle_day, request.period_end)
    except ProrationError as exc:
        raise PricingError(f"cannot prorate: {exc}") from None


def _usage_index(request: PriceRequest) -> dict[tuple[int, str], Decimal]:
    index: dict[tuple[int, str], Decimal] = {}
    n = len(request.lines)
    for k, u in enumerate(request.usage):
        if u.line >= n:
            raise PricingError(
                f"usage[{k}] refers to lines[{u.line}], but the request has {n} lines"
            )
        if (u.line, u.price_entry) in index:
            raise PricingError(
                f"usage[{k}] repeats the estimate for lines[{u.line}] {u.price_entry}"
            )
        index[(u.line, u.price_entry)] = u.units
    return index


def price_quote(
    catalog: Catalog,
    request: PriceRequest,
    policy: PricingPolicy | None = None,
    approval_policy: ApprovalPolicy | None = None,
) -> PriceResult:
    """Price every charge of every selected item through the rule steps, in order.

    Raises :class:`PricingError` for a discount outside [0, max], a Decimal input pricing
    cannot carry exactly, an invalid configuration (with every violation attached), a
    missing business date when the catalog has pricing rules, an item with no price in
    force in the request's scope (naming what was looked for), or contradictory
    usage/proration inputs.
    """
    policy = policy or PricingPolicy()
    approval_policy = approval_policy or ApprovalPolicy()
    _check_inputs(request, policy)
    _check_discount(request, policy)
    # Content keys, computed once: the configuration check, the pricer and the input
    # fingerprint each do their per-line work once per distinct line content.
    keys = [line_key(line) for line in request.lines]
    if request.changes_assets:
        violations = check_change_configuration(
            catalog,
            request.lines,
            request.business_date,
            keys,
            assets=request.assets,
            installed=request.installed_offerings,
        )
    else:
        violations = check_configuration(
            catalog, request.lines, request.business_date, line_keys=keys
        )
    if violations:
        raise PricingError(
            f"the configuration is not valid against catalog {catalog.id} {catalog.version}",
            violations,
        )
    with decimal.localcontext(EXACT):
        return _price(catalog, request, policy, approval_policy, keys)


def _price(
    catalog: Catalog,
    request: PriceRequest,
    policy: PricingPolicy,
    approval_policy: ApprovalPolicy,
    keys: list[tuple],
) -> PriceResult:
    currency = request.currency or catalog.currency
    scope = Scope(
        currency=currency,
        region=request.region,
        channel=request.channel,
        segment=request.segment,
        account_id=request.account_id,
        business_date=request.business_date,
        policy=policy,
    )
    plan = catalog.pricing_view.plan(scope)
    fp = _first_period(request)
    usage = _usage_index(request)
    rounding = plan.rounding
    ctx = ChargeContext(
        rounding=rounding,
        catalog_version=catalog.version,
        policy_version=policy.version,
        discount_rate=request.discount_pct,
        first_period=fp,
    )
    if request.changes_assets:
        run, priced, distinct, quote_warnings = _run_with_changes(request, plan, ctx, keys, usage)
    else:
        run = PricingRun(plan, ctx, request.lines, keys, usage)
        priced, distinct, quote_warnings = run.price()
    totals = Totals(distinct, rounding)
    warnings = list(quote_warnings)
    for i, line in enumerate(priced):
        if line.warnings:
            prefix = f"lines[{i}]"
            warnings.extend([prefix + w for w in line.warnings])
    subtotal = totals.rounded("list", "subtotal")
    discount_total = totals.rounded("discount", "discount total")
    net_total = totals.rounded("net", "net total")
    rules_version = plan.view.rules_version
    # Key order is the order the totals are rounded in (and their steps recorded).
    scalars: dict[str, Any] = {
        "currency": currency,
        "catalog_version": catalog.version,
        "pricing_version": policy.version,
        "recurring_total": totals.rounded("monthly_eq", "monthly-equivalent recurring total"),
        "one_time_total": totals.rounded("one_time", "one-time total"),
        "discount_total": discount_total,
        "list_total": subtotal,
        "rounding": {
            "mode": rounding.mode,
            "places": rounding.places,
            "applies": rounding.applies,
            "currency": currency,
            "source": rounding.source,
        },
        "discount_pct": request.discount_pct,
        "warnings": warnings,
        "approval_triggers": required_approvals(
            approval_policy,
            request.discount_pct,
            sorted(run.families),
            request.region,
            deal_size=net_total,
            currency=currency,
        ),
        "input_fingerprint": request_fingerprint(catalog, request, policy, approval_policy, keys),
        "subtotal": subtotal,
        "net_total": net_total,
        "usage_total": totals.rounded("usage", "usage total"),
        "recurring_by_period": {
            "month": totals.rounded("month", "monthly recurring total"),
            "year": totals.rounded("year", "annual recurring total"),
        },
        "recurring_term_total": totals.rounded("term", "recurring term total"),
        "prorated_first_period_total": (
            totals.rounded("prorated", "prorated first period total")
            if fp is not None and fp.partial
            else None
        ),
        "proration": (
            {
                "service_start": fp.service_start.isoformat(),
                "period_start": fp.period_start.isoformat(),
                "period_end": fp.period_end.isoformat(),
                "days": fp.days,
                "period_days": fp.period_days,
            }
            if fp is not None
            else None
        ),
        "applied_rules": totals.applied_rules(),
        "rules_version": rules_version,
        "price_version": f"catalog {catalog.version} + rules {rules_version}",
        "business_date": request.business_date,
        "region": request.region,
        "channel": request.channel,
        "account_id": request.account_id,
    }
    if request.changes_assets:
        scalars.update(_changes(catalog, request, policy, rounding, currency, priced))
    return totals.result(scalars, priced, run.writer)


def _engine_line(line: QuoteLine) -> bool:
    """Does the rule engine price this line (a new sale, or the configuration a
    modify/upgrade/downgrade asks for)? Suspend, resume, disconnect and renew configure
    nothing new: their price comes from the asset's own charge."""
    return line.action == "add" or line.action in PRICED_AS_CONFIGURATION


def _run_with_changes(
    request: PriceRequest,
    plan: Any,
    ctx: ChargeContext,
    keys: list[tuple],
    usage: dict[tuple[int, str], Decimal],
) -> tuple[PricingRun, list[Any], dict[tuple, list[Any]], list[str]]:
    """The rule engine over the lines it prices; the other change lines get a priced
    line with no charges (their amounts are in the result's ``changes``)."""
    engine = [i for i, line in enumerate(request.lines) if _engine_line(line)]
    position = {i: k for k, i in enumerate(engine)}
    engine_usage: dict[tuple[int, str], Decimal] = {}
    for (i, entry), units in usage.items():
        if i not in position:
            raise PricingError(
                f"usage for lines[{i}] {entry}: a {request.lines[i].action} line configures "
                "nothing to estimate usage for"
            )
        engine_usage[(position[i], entry)] = units
    run = PricingRun(
        plan,
        ctx,
        [request.lines[i] for i in engine],
        [keys[i] for i in engine],
        engine_usage,
        line_numbers=engine,
    )
    engine_priced, distinct, warnings = run.price()
    nothing = run.writer.line([], [], [], [])
    priced = [
        engine_priced[position[i]] if i in position else nothing for i in range(len(request.lines))
    ]
    return run, priced, distinct, warnings


def _changes(
    catalog: Catalog,
    request: PriceRequest,
    policy: PricingPolicy,
    rounding: Any,
    currency: str,
    priced: list[Any],
) -> dict[str, Any]:
    """The result's change fields: every change line's delta and what they come to."""
    effective = request.change_date or request.business_date
    if effective is None:
        raise PricingError("a change to an installed asset needs business_date or change_date")
    changes = price_changes(
        catalog,
        request.lines,
        request.assets,
        request.contract_terms or ContractTerms(),
        effective,
        {
            i: priced[i].model
            for i, line in enumerate(request.lines)
            if line.action in PRICED_AS_CONFIGURATION
        },
        rounding,
        currency,
        policy.version,
    )
    if not changes:
        return {}
    return {
        "changes": changes,
        "change_due_total": sum((c.due for c in changes), rounding.zero),
        "change_monthly_delta": sum((c.monthly_delta for c in changes), rounding.zero),
    }


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
