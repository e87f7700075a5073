"""Deterministic pricing with a full trace and a fingerprint.

A price is a commitment that must be reproducible months later (approval, conversion to
order, audit), so: amounts are Decimals computed under a private decimal context (the
caller's thread context cannot leak in), rounding is explicit and stated in the result,
every applied rule leaves a trace step (and every promotion that was considered but not
applied says why), and the result carries sha256 fingerprints of its canonical input and
output. Same catalog version + pricing rules version + request + policy versions -> same
fingerprints.

Rule-resolution order, per quote line and per charge (each step works on the running
amount left by the previous one, so the trace reads as a calculation):

1. **Price source** — the highest-ranked price book in force on the business date for the
   request's currency, region and channel that prices the offering (rank: ``priority``
   desc, then scope specificity: region+channel > region > channel > none, then id);
   otherwise the offering's own catalog prices, only when the request currency is the
   catalog currency. No price in the currency -> :class:`PricingError`.
2. **Contract price** — the account's negotiated unit amount replaces the list unit
   amount; a contracted charge takes no automatic discount (volume, promotion, bundle):
   the negotiation already was the discount. The manual discount still applies.
3. **List amount** — unit x quantity, or the usage tiers over the line's usage estimate.
4. **Included component** — an item contained (transitively) in another item selected on
   the same line is charged 0: the bundle's price already pays for it.
5. **Volume discount** — the highest ``min_quantity`` reached by the quote-wide quantity of
   the offering (one-time and recurring charges).
6. **Promotions** — resolved per line by :mod:`cpqsim.pricing_promotions`.
7. **Bundle discounts** — every one in force whose ``when_all`` offerings are all in the
   quote, in id order.
8. **Manual discount** — the request's ``discount_pct`` on what is left (this is what
   approval thresholds judge).
9. **Proration** — the partial first month of monthly recurring charges
   (:mod:`cpqsim.pricing_periods`), reported beside the full monthly amount.

Rounding (mode, places per currency, ``line`` or ``total``) comes from the catalog's
pricing rules unless the :class:`PricingPolicy` overrides it; with ``line`` every amount a
step produces is quantized at once, with ``total`` only the totals are.

The result is kept per quote line (:mod:`cpqsim.pricing_result`): a line's price depends
on its content, its usage estimates and quote-wide facts only, so each distinct line
content is priced once per request and lines that repeat it share the same immutable
:class:`PricedLine`; within lines, charges with equal inputs are shared the same way.
"""

from __future__ import annotations

import contextlib
import decimal
import gc
import hashlib
import inspect
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, PlainSerializer

from cpqsim.approval import ApprovalPolicy, required_approvals
from cpqsim.catalog import Catalog, Money
from cpqsim.configuration import (
    ConfigurationViolation,
    QuoteLine,
    check_configuration,
    line_key,
)
from cpqsim.money import CURRENCY_PLACES
from cpqsim.pricebook import PriceBook, PriceEntry, PricingRules, Promotion, RoundingMode
from cpqsim.pricing_canonical import (
    Escapes,
    charge_json,
    line_json,
    object_json,
    quote_line_json,
    step_json,
    usage_json,
)
from cpqsim.pricing_periods import FirstPeriod, ProrationError, first_period
from cpqsim.pricing_promotions import PromotionContext, resolve_promotions
from cpqsim.pricing_result import (
    LineCharge,
    PricedCharge,
    PricedLine,
    PriceResult,
    PriceStep,
    TraceStep,
    build,
    build_all,
)
from cpqsim.pricing_tiers import TierError, tiered_amount

__all__ = [
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


# Wide enough that no intermediate product of amount x quantity x discount is ever
# rounded before an explicit quantize step; Inexact traps so silent rounding is a bug.
_CONTEXT = decimal.Context(prec=50, rounding=decimal.ROUND_HALF_EVEN, traps=[decimal.Inexact])
# Divisions (annual -> monthly equivalent, proration) cannot be exact; they are carried
# to 34 significant digits half-even, then quantized by the stated rounding policy.
_DIVISION = decimal.Context(prec=34, rounding=decimal.ROUND_HALF_EVEN)
# quantize must not trap Inexact: rounding is exactly what it is asked to do.
_QUANTIZE = decimal.Context(prec=50)
_ZERO = Decimal(0)


def _normalized(value: Decimal) -> Decimal:
    return value.normalize(decimal.Context(prec=50)) if value.is_finite() else value


def _plain(value: Decimal) -> str:
    return format(value, "f")


_Fraction = Annotated[
    Money, AfterValidator(_normalized), PlainSerializer(_plain, return_type=str, when_used="json")
]
_Units = Annotated[Money, Field(ge=0), PlainSerializer(_plain, return_type=str, when_used="json")]


class PricingError(ValueError):
    """The request cannot be priced; ``violations`` lists configuration problems, if any."""

    def __init__(self, message: str, violations: list[ConfigurationViolation] | None = None):
        self.violations = list(violations or [])
        if self.violations:
            message += "".join(f"\n  - {v.path}: [{v.rule}] {v.message}" for v in self.violations)
        super().__init__(message)


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


class PriceRequest(BaseModel):
    """What to price, for whom, where and when.

    Only ``lines`` is required; the defaults price in the catalog currency with no region,
    channel, segment or account. ``business_date`` is required as soon as the catalog has
    pricing rules (they are effective-dated and pricing never reads a clock).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

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
    return getattr(catalog, "pricing", None) or PricingRules()


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


def price_quote(
    catalog: Catalog,
    request: PriceRequest,
    policy: PricingPolicy | None = None,
    approval_policy: ApprovalPolicy | None = None,
) -> PriceResult:
    """Price every charge of every selected item through the rule order of this module.

    Raises :class:`PricingError` for a discount outside [0, max], an invalid configuration
    (with every violation attached), a missing business date when the catalog has pricing
    rules, a currency without a price, or contradictory usage/proration inputs.
    """
    policy = policy or PricingPolicy()
    approval_policy = approval_policy or ApprovalPolicy()
    _check_discount(request, policy)
    # Content keys, computed once: the configuration check, the pricer and the input
    # fingerprint each do their per-line work once per distinct line content.
    keys = [line_key(line) for line in request.lines]
    violations = check_configuration(catalog, request.lines, request.business_date, line_keys=keys)
    if violations:
        raise PricingError(
            f"the configuration is not valid against catalog {catalog.id} {catalog.version}",
            violations,
        )
    with decimal.localcontext(_CONTEXT), _no_cyclic_gc():
        return _Pricer(catalog, request, policy, approval_policy, keys).run()


@contextlib.contextmanager
def _no_cyclic_gc() -> Iterator[None]:
    """Pause the cyclic garbage collector while one request is priced.

    Why: a large quote allocates a few objects per trace step and charge (tuples, strings,
    the result's row models), all alive until the result is returned. Every 700 such
    allocations CPython runs a collection, and the older generations it sweeps hold
    everything allocated so far, so GC time grew faster than the quote (10,000 lines cost
    ~1.6x more per line than 1,000). Pricing makes next to no reference cycles (the few it
    makes are collected at the next collection after it); reference counting frees
    everything else as usual. Re-enabled in ``finally`` (also on PricingError), and only
    if it was enabled before.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


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


# ------------------------------------------------------------------------ internals


@dataclass(slots=True)
class _Charge:
    """A charge while it is being priced (plain and mutable: no models in the hot loop)."""

    path: str  # the segment's path relative to the quote line ("" or ".contents[k]")
    item: str
    keys: tuple[str, ...]
    price_id: str
    kind: str
    unit_amount: Decimal
    quantity: int
    period: str | None
    term_months: int | None
    usage_unit: str | None
    usage_units: Decimal | None
    source: str
    source_version: str
    list_amount: Decimal = _ZERO
    discount_amount: Decimal = _ZERO
    running: Decimal = _ZERO
    contract: bool = False
    included_in: str | None = None
    prorated: Decimal | None = None
    applied: list[str] = field(default_factory=list)
    subject: str = ""  # path/item/price_id: names the charge in trace steps and warnings


@dataclass(slots=True)
class _Segment:
    """A quote line or a bundle component line (``QuoteLine.contents``), flattened.

    ``path`` is relative to the quote line (``""``, ``.contents[0]``...). ``quantity`` is
    effective: a component's quantity counts per unit of its bundle, so it is multiplied
    down the nesting. ``parent`` is the containing bundle's segment.
    """

    path: str
    line: QuoteLine
    quantity: int
    parent: _Segment | None
    items: list[tuple[str, str, Any, tuple[str, ...]]]
    charged: bool = False  # has a charge of its own offering (even at 0 when included)
    included_in: str | None = None


@dataclass(slots=True)
class _Template:
    """What one distinct line content resolves to: its segments (pre-order, parents by
    index) and how much of each offering key it adds to the quote-wide quantities."""

    segments: list[tuple[str, QuoteLine, int, int | None, list]]
    quantities: list[tuple[str, int]]
    # Per segment, once known: (items contained in another item of the segment, the
    # promotion decisions). Lines of equal content differing in usage reuse them.
    resolved: list[tuple[dict[str, str], list] | None] = field(default_factory=list)


@dataclass(slots=True)
class _PricedCharge:
    """A charge once priced: its row, its steps, and the amounts the totals sum.

    Shared by every line whose charge has the same inputs (see ``_Pricer._charge_key``).
    """

    values: dict[str, Any]  # the LineCharge fields
    model: Any
    text: str
    step_models: list[Any]
    step_texts: list[str]
    warnings: list[str]
    kind: str
    period: str | None
    running: Decimal
    list_amount: Decimal
    discount_amount: Decimal
    monthly: Decimal | None
    term: Decimal | None
    prorated: Decimal | None


@dataclass(slots=True)
class _LinePrice:
    """A quote line once priced: the shared ``PricedLine`` model, its fingerprint, its
    warnings (relative to the line) and its sums by kind of amount (one occurrence each)."""

    model: Any
    digest: str  # the line's fingerprint as JSON text: how the line enters the quote's
    applied: list[str]  # rule ids applied to its charges, in trace order (repeats kept)
    warnings: list[str]
    sums: tuple[Decimal, ...]  # in the order of _SUMS


@dataclass(slots=True)
class _LineTrace:
    """A line's trace while it is priced: sealed steps (models and JSON, in order) and
    the line's own steps not sealed yet (``pending`` is the pricer's step sink)."""

    models: list[Any]
    texts: list[str]
    pending: list[dict[str, Any]]


@dataclass(frozen=True, slots=True)
class _Rounding:
    mode: str
    places: int
    applies: str
    source: str

    @property
    def quantum(self) -> Decimal:
        return Decimal(1).scaleb(-self.places)


_SIGNATURE_CACHE: dict[type, bool] = {}


def _accepts_business_date(catalog: Catalog) -> bool:
    kind = type(catalog)
    if kind not in _SIGNATURE_CACHE:
        try:
            params = inspect.signature(catalog.offering).parameters
        except (TypeError, ValueError):  # pragma: no cover - builtins without signature
            params = {}
        _SIGNATURE_CACHE[kind] = "business_date" in params
    return _SIGNATURE_CACHE[kind]


def _offering_keys(offering: Any, item: str) -> tuple[str, ...]:
    """Every id a pricing rule may use for this offering (as written, id, stable id)."""
    keys = [item]
    for attr in ("id", "stable_id", "version_id", "offering_id"):
        value = getattr(offering, attr, None)
        if isinstance(value, str) and value not in keys:
            keys.append(value)
    return tuple(keys)


def _stable(key: str) -> str:
    """Stable offering id of a stable or version id (``mail@2`` -> ``mail``)."""
    return key.split("@", 1)[0]


def _contained(offering: Any) -> list[str]:
    """Ids this offering contains (``contains`` relations; nested bundles recurse)."""
    out = [
        r.target
        for r in getattr(offering, "relations", ())
        if getattr(r, "kind", None) == "contains"
    ]
    extra = getattr(offering, "contains", None)
    if isinstance(extra, list | tuple):
        out += [c if isinstance(c, str) else getattr(c, "target", str(c)) for c in extra]
    return out


class _Pricer:
    """One pricing run. Holds the indexes built once per request, then prices lines."""

    def __init__(
        self,
        catalog: Catalog,
        request: PriceRequest,
        policy: PricingPolicy,
        approval_policy: ApprovalPolicy,
        line_keys: list[tuple] | None = None,
    ) -> None:
        self.catalog = catalog
        self.line_keys = line_keys or [line_key(line) for line in request.lines]
        self.request = request
        self.policy = policy
        self.approval_policy = approval_policy
        self.rules = _rules_of(catalog)
        self.currency = request.currency or catalog.currency
        self.day = request.business_date
        # Where steps and warnings go *now*: a charge's own lists while it is priced, its
        # line's lists between charges, the totals' lists at the end. Steps are the field
        # dicts of PriceStep: the result's models and its canonical JSON are both made
        # from them, with no copy in between.
        self.trace: list[dict[str, Any]] = []
        self.totals_trace: list[dict[str, Any]] = []
        self.quote_warnings: list[str] = []
        self.warnings: list[str] = self.quote_warnings
        self._usage_now: dict[str, Decimal] = {}
        self._charges_memo: dict[tuple, _PricedCharge] = {}
        self._escapes = Escapes()
        self.families: set[str] = set()
        self.charges: list[_Charge] = []
        self._offering_cache: dict[str, tuple[Any, tuple[str, ...]]] = {}
        self._closure_cache: dict[str, frozenset[str]] = {}
        self._rounded: dict[str, str] = {}  # rounding step detail per kind of amount
        # Per-request memos of quote-wide answers that many lines ask again.
        self._promo_memo: dict[tuple, list] = {}
        self._targets_memo: dict[tuple, bool] = {}
        self._bundle_memo: dict[tuple[str, ...], list] = {}
        self._volume_memo: dict[tuple[str, ...], Any] = {}
        self._entries_memo: dict[str, list] = {}
        self._applying_memo: dict[tuple, list] = {}
        self._inclusions_memo: dict[tuple[str, ...], dict[str, str]] = {}
        self.rounding = self._rounding()
        self.quantum = self.rounding.quantum
        self.per_line = self.rounding.applies == "line"
        self._mode = self.rounding.mode
        self.zero = _ZERO.quantize(self.quantum) if self.per_line else _ZERO
        self._check_dates()
        self.book_for = self._index_books()
        self.first_period = self._first_period()
        self.usage = self._usage_index()

    # ------------------------------------------------------------------ setup

    def _rounding(self) -> _Rounding:
        p, r = self.policy, self.rules.rounding
        places = p.currency_places
        if places is None:
            places = r.places.get(self.currency, CURRENCY_PLACES.get(self.currency))
        if places is None:
            raise PricingError(
                f"no minor-unit places known for currency {self.currency}; add it to "
                f"the rounding policy of pricing rules {self.rules.version}"
            )
        overridden = (p.currency_places, p.rounding_mode, p.rounding_applies) != (None,) * 3
        return _Rounding(
            mode=p.rounding_mode or r.mode,
            places=places,
            applies=p.rounding_applies or r.applies,
            source=f"policy {p.version}" if overridden else f"rules {self.rules.version}",
        )

    def _check_dates(self) -> None:
        r = self.rules
        has_rules = (
            r.price_books or r.volume_discounts or r.contract_prices or r.promotions
        ) or r.bundle_discounts
        if has_rules and self.day is None:
            raise PricingError(
                f"business_date is required: catalog {self.catalog.id} {self.catalog.version} "
                f"has effective-dated pricing rules ({r.version}) and pricing never "
                "assumes today"
            )

    def _scope(self) -> str:
        q = self.request
        return (
            f"currency {self.currency}, region {q.region or '-'}, channel "
            f"{q.channel or '-'}, business date {self.day or '-'}"
        )

    def _index_books(self) -> dict[str, tuple[PriceBook, list[PriceEntry]]]:
        """offering key -> (winning book, its entries for that offering)."""
        q = self.request
        if not self.rules.price_books:
            return {}
        assert self.day is not None
        matching = [
            b
            for b in self.rules.price_books
            if b.currency == self.currency
            and b.in_force(self.day)
            and b.region in (None, q.region)
            and b.channel in (None, q.channel)
        ]

        def rank(b: PriceBook) -> tuple[int, int, str]:
            specificity = 2 * (b.region is not None) + (b.channel is not None)
            return (-b.priority, -specificity, b.id)

        chosen: dict[str, tuple[PriceBook, list[PriceEntry]]] = {}
        for book in sorted(matching, key=rank):
            grouped: dict[str, list[PriceEntry]] = {}
            for entry in book.entries:
                grouped.setdefault(entry.offering, []).append(entry)
            for offering, entries in grouped.items():
                if offering not in chosen:
                    chosen[offering] = (book, entries)
                elif rank(chosen[offering][0])[:2] == rank(book)[:2]:
                    self.warnings.append(
                        f"price books {chosen[offering][0].id} and {book.id} tie for "
                        f"{offering} (same priority and scope); {chosen[offering][0].id} "
                        "wins by id"
                    )
        return chosen

    def _first_period(self) -> FirstPeriod | None:
        q = self.request
        if q.billing_cycle_day is None and q.period_end is None:
            return None
        if q.service_start is None:
            raise PricingError("billing_cycle_day/period_end need service_start to prorate")
        try:
            return first_period(q.service_start, q.billing_cycle_day, q.period_end)
        except ProrationError as exc:
            raise PricingError(f"cannot prorate: {exc}") from None

    def _usage_index(self) -> dict[tuple[int, str], Decimal]:
        index: dict[tuple[int, str], Decimal] = {}
        n = len(self.request.lines)
        for k, u in enumerate(self.request.usage):
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

    # ---------------------------------------------------------------- helpers

    def _offering(self, item: str) -> tuple[Any, tuple[str, ...]]:
        hit = self._offering_cache.get(item)
        if hit is None:
            try:
                if self.day is not None and _accepts_business_date(self.catalog):
                    offering = self.catalog.offering(item, business_date=self.day)
                else:
                    offering = self.catalog.offering(item)
            except KeyError as exc:
                raise PricingError(f"cannot price {item}: {exc.args[0]}") from None
            hit = (offering, _offering_keys(offering, item))
            self._offering_cache[item] = hit
        return hit

    def _closure(self, item: str) -> frozenset[str]:
        """Everything ``item`` contains, directly or through nested bundles."""
        hit = self._closure_cache.get(item)
        if hit is not None:
            return hit
        seen: set[str] = set()
        stack = [item]
        while stack:
            current = stack.pop()
            if not self.catalog.has_offering(current):
                continue
            for child in _contained(self._offering(current)[0]):
                if child not in seen and child != item:
                    seen.add(child)
                    stack.append(child)
        out = frozenset(seen)
        self._closure_cache[item] = out
        return out

    def step(
        self,
        rule: str,
        rule_id: str,
        version: str,
        subject: str,
        before: Decimal,
        after: Decimal,
        detail: str,
        applied: bool = True,
    ) -> None:
        self.trace.append(
            {
                "rule": rule,
                "rule_version": version,
                "subject": subject,
                "before": before,
                "after": after,
                "detail": detail,
                "rule_id": rule_id,
                "applied": applied,
            }
        )

    def q(self, amount: Decimal, subject: str, what: str) -> Decimal:
        """Quantize now (line rounding) or keep exact (total rounding)."""
        if not self.per_line:
            return amount
        out = amount.quantize(self.quantum, rounding=self._mode, context=_QUANTIZE)
        if out != amount:
            detail = self._rounded.get(what)
            if detail is None:
                detail = self._rounded[what] = (
                    f"{what} rounded to {self.rounding.places} places, {self.rounding.mode}"
                )
            self.step("rounding", "rounding", self.policy.version, subject, amount, out, detail)
        return out

    def discount(
        self, ch: _Charge, rule: str, rule_id: str, version: str, off: Decimal, detail: str
    ) -> None:
        subject = ch.subject
        if self.per_line:
            off = self.q(off, subject, "discount")
        before = ch.running
        if off > before:
            self.warnings.append(
                f"{subject}: {rule_id} would take {off} off {before}; capped at "
                f"{before} (no negative charge without an explicit credit)"
            )
            off = before
        ch.running = after = before - off
        ch.discount_amount += off
        ch.applied.append(rule_id)
        self.step(rule, rule_id, version, subject, before, after, detail)

    # ------------------------------------------------------------------- run

    def run(self) -> PriceResult:
        """Price each distinct line once, then assemble the quote.

        Why per distinct line: a line's price depends on its own content, its usage
        estimates and quote-wide facts (quantities, items present, date, scope, manual
        discount) that are the same for every line of the request. So lines with equal
        content and usage share one computed, immutable :class:`PricedLine`; a
        1,000-site quote that repeats a few configurations is priced a few times, not
        1,000. Inside a line, charges with equal inputs are shared the same way.
        """
        lines = self.request.lines
        keys = self.line_keys
        templates: dict[tuple, _Template] = {}
        counts: dict[tuple, int] = {}
        for key, line in zip(keys, lines, strict=True):
            if key not in templates:
                templates[key] = self._template(line)
            counts[key] = counts.get(key, 0) + 1
        quote_qty: dict[str, int] = {}
        for key, count in counts.items():
            for offering_key, qty in templates[key].quantities:
                quote_qty[offering_key] = quote_qty.get(offering_key, 0) + qty * count
        self.quote_items = frozenset(quote_qty)
        self.quote_qty = quote_qty
        self._index_rules()
        usage_of: dict[int, list[tuple[str, Decimal]]] = {}
        for (i, entry_id), units in self.usage.items():
            usage_of.setdefault(i, []).append((entry_id, units))
        usage_keys = {i: tuple(sorted(u)) for i, u in usage_of.items()}
        memo: dict[tuple, _LinePrice] = {}
        priced: list[_LinePrice] = []
        for i, key in enumerate(keys):
            usage = usage_keys.get(i, ())
            hit = memo.get((key, usage))
            if hit is None:
                hit = memo[(key, usage)] = self._price_line(templates[key], dict(usage))
            priced.append(hit)
        self.warnings = self.quote_warnings
        self._cross_line_inclusions(lines)
        return self._result(priced)

    def _template(self, line: QuoteLine) -> _Template:
        """Resolve the items of ``line`` and its bundle contents (pre-order).

        Iterative on purpose: a recursive closure would be a reference cycle holding the
        pricer, freed only by the cyclic GC (paused while pricing) instead of on return.
        """
        segments: list[tuple[str, QuoteLine, int, int | None, list]] = []
        quantities: list[tuple[str, int]] = []
        stack: list[tuple[QuoteLine, str, int, int | None]] = [(line, "", line.quantity, None)]
        while stack:
            sub, at, qty, parent = stack.pop()
            items = [(sub.offering, f"{at}.offering")]
            items += [(o, f"{at}.options[{j}]") for j, o in enumerate(sub.options)]
            items += [(a, f"{at}.add_ons[{k}]") for k, a in enumerate(sub.add_ons)]
            resolved = []
            for item, path in items:
                offering, keys = self._offering(item)
                self.families.add(offering.family)
                resolved.append((item, path, offering, keys))
                quantities.extend((key, qty) for key in keys)
            me = len(segments)
            segments.append((at, sub, qty, parent, resolved))
            children = [
                (child, f"{at}.contents[{k}]", qty * child.quantity, me)
                for k, child in enumerate(sub.contents)
            ]
            stack.extend(reversed(children))  # pre-order: first component next
        return _Template(segments, quantities)

    def _index_rules(self) -> None:
        day, rules = self.day, self.rules
        self.volume: dict[str, list] = {}
        self.contracts: dict[tuple[str, str], list] = {}
        self.promos_by_offering: dict[str, list[Promotion]] = {}
        self.bundles: list = []
        if day is None:
            return
        for vd in rules.volume_discounts:
            if vd.in_force(day):
                self.volume.setdefault(vd.offering, []).append(vd)
        account = self.request.account_id
        for cp in rules.contract_prices:
            if cp.account_id == account and cp.currency == self.currency and cp.in_force(day):
                self.contracts.setdefault((cp.offering, cp.price_entry), []).append(cp)
        for promo in rules.promotions:
            for off in promo.applies_to:
                self.promos_by_offering.setdefault(off, []).append(promo)
        self.bundles = sorted(rules.bundle_discounts, key=lambda b: b.id)

    def _entries(self, item: str, offering: Any, keys: tuple[str, ...]) -> list:
        """(price entry or catalog price, source, version) for the item, or raise."""
        hit = self._entries_memo.get(item)
        if hit is None:
            hit = self._entries_memo[item] = self._find_entries(item, offering, keys)
        return hit

    def _find_entries(self, item: str, offering: Any, keys: tuple[str, ...]) -> list:
        for key in keys:
            hit = self.book_for.get(key)
            if hit is not None:
                book, entries = hit
                return [(e, book.id, book.version) for e in entries]
        prices = list(getattr(offering, "prices", ()))
        if prices and self.currency != self.catalog.currency:
            raise PricingError(
                f"no price for offering {item} in {self._scope()}: no price book in force "
                f"prices it and its catalog prices are in {self.catalog.currency}"
            )
        return [(p, "catalog", self.catalog.version) for p in prices]

    def _price_line(self, template: _Template, usage: dict[str, Decimal]) -> _LinePrice:
        """Price one line (its segments in pre-order: a bundle before its components)."""
        self._usage_now = usage
        trace = _LineTrace([], [], [])
        warnings: list[str] = []
        charges: list[_PricedCharge] = []
        segments: list[_Segment] = []
        if not template.resolved:
            template.resolved = [None] * len(template.segments)
        for n, (at, sub, qty, parent, items) in enumerate(template.segments):
            seg = _Segment(at, sub, qty, None if parent is None else segments[parent], items)
            segments.append(seg)
            self.trace, self.warnings = trace.pending, warnings
            known = template.resolved[n]
            if known is None:
                known = template.resolved[n] = (self._inclusions(sub, items), self._promotions(seg))
            self._price_segment(seg, known, trace, warnings, charges)
        self._flush(trace)
        return self._line_price(trace, warnings, charges)

    def _price_segment(
        self,
        seg: _Segment,
        known: tuple[dict[str, str], list],
        trace: _LineTrace,
        warnings: list[str],
        charges: list[_PricedCharge],
    ) -> None:
        line, items = seg.line, seg.items
        included, decisions = known
        parent = seg.parent
        if parent is not None and (parent.charged or parent.included_in is not None):
            # A component of a priced bundle: the bundle's price already pays for it.
            included = dict(included)
            included[line.offering] = parent.included_in or parent.line.offering
            seg.included_in = included[line.offering]
        first = len(charges)
        for item, path, offering, keys in items:
            entries = self._entries(item, offering, keys)
            if not entries:
                if item != line.offering and item not in included:
                    warnings.append(f"{path}: {item} has no price; included at no charge")
                if item in included:
                    self.step(
                        "included",
                        "included-component",
                        self.catalog.version,
                        f"{seg.path}/{item}",
                        self.zero,
                        self.zero,
                        f"{item} is contained in {included[item]}; not charged",
                    )
                continue
            if item == line.offering:
                seg.charged = True
            for entry, source, version in entries:
                units = self._usage_now.get(entry.id) if entry.kind == "usage" else None
                memo_key = (
                    seg.path,
                    item,
                    id(entry),
                    seg.quantity,
                    id(decisions),
                    included.get(item),
                    units,
                )
                done = self._charges_memo.get(memo_key)
                if done is None:
                    done = self._charges_memo[memo_key] = self._priced_charge(
                        seg,
                        item,
                        offering,
                        keys,
                        (entry, source, version),
                        decisions,
                        included.get(item),
                    )
                    self.trace, self.warnings = trace.pending, warnings
                if trace.pending:
                    self._flush(trace)
                trace.models += done.step_models
                trace.texts += done.step_texts
                warnings += done.warnings
                charges.append(done)
        self._explain_unapplied(seg, charges[first:], decisions)

    def _priced_charge(
        self,
        seg: _Segment,
        item: str,
        offering: Any,
        keys: tuple[str, ...],
        priced_by: tuple[Any, str, str],
        decisions: list,
        container: str | None,
    ) -> _PricedCharge:
        """Price one charge into its own step and warning lists."""
        steps: list[dict[str, Any]] = []
        warnings: list[str] = []
        self.trace, self.warnings = steps, warnings
        entry, source, version = priced_by
        ch = self._charge(seg, item, offering, keys, entry, source, version)
        if container is not None:
            ch.included_in = container
            self.step(
                "included",
                "included-component",
                self.catalog.version,
                ch.subject,
                ch.list_amount,
                self.zero,
                f"{item} is contained in {container}, whose price covers it; "
                "charged 0 so it is never charged twice",
            )
            ch.list_amount = ch.running = self.zero
        else:
            self._discounts(ch, decisions)
        self._finish(ch)
        monthly = self._monthly(ch)
        term = self._term(ch)
        # Field order of LineCharge: this dict becomes the model's __dict__.
        values = {
            "item": ch.item,
            "price_id": ch.price_id,
            "kind": ch.kind,
            "unit_amount": ch.unit_amount,
            "quantity": ch.quantity,
            "list_amount": ch.list_amount,
            "discount_amount": ch.discount_amount,
            "net_amount": ch.running,
            "period": ch.period,
            "term_months": ch.term_months,
            "monthly_equivalent": monthly,
            "term_amount": term,
            "usage_unit": ch.usage_unit,
            "usage_units": ch.usage_units,
            "prorated_amount": ch.prorated,
            "price_source": ch.source,
            "price_source_version": ch.source_version,
            "included_in": ch.included_in,
            "applied_rules": ch.applied,
            "path": ch.path,
        }
        step_models, step_texts = self._seal(steps)
        return _PricedCharge(
            values=values,
            model=build(LineCharge, values),
            text=charge_json(values, self._escapes),
            step_models=step_models,
            step_texts=step_texts,
            warnings=warnings,
            kind=ch.kind,
            period=ch.period,
            running=ch.running,
            list_amount=ch.list_amount,
            discount_amount=ch.discount_amount,
            monthly=monthly,
            term=term,
            prorated=ch.prorated,
        )

    def _seal(self, steps: list[dict[str, Any]]) -> tuple[list[Any], list[str]]:
        """The PriceStep models and canonical JSON of ``steps`` (made once per step: a
        shared charge carries its sealed steps to every line that has it)."""
        esc = self._escapes
        return build_all(PriceStep, steps), [step_json(s, esc) for s in steps]

    def _flush(self, trace: _LineTrace) -> None:
        """Seal the line's own steps appended since the last flush, keeping trace order."""
        models, texts = self._seal(trace.pending)
        trace.models += models
        trace.texts += texts
        trace.pending.clear()

    def _line_price(
        self, trace: _LineTrace, warnings: list[str], charges: list[_PricedCharge]
    ) -> _LinePrice:
        sums = [_ZERO] * len(_SUMS)
        for c in charges:
            sums[_LIST] += c.list_amount
            sums[_DISCOUNT] += c.discount_amount
            sums[_NET] += c.running
            if c.kind == "recurring":
                sums[_YEAR if c.period == "year" else _MONTH] += c.running
                sums[_MONTHLY_EQ] += c.monthly  # type: ignore[operator]
                if c.term is not None:
                    sums[_TERM] += c.term
                if c.prorated is not None:
                    sums[_PRORATED] += c.prorated
            else:
                sums[_ONE_TIME if c.kind == "one_time" else _USAGE] += c.running
        text = line_json(
            [c.text for c in charges], trace.texts, sums[_LIST], sums[_DISCOUNT], sums[_NET]
        )
        fingerprint = "sha256:" + hashlib.sha256(text.encode("utf-8")).hexdigest()
        values = {
            "charges": [c.model for c in charges],
            "trace": trace.models,
            "list_amount": sums[_LIST],
            "discount_amount": sums[_DISCOUNT],
            "net_amount": sums[_NET],
            "fingerprint": fingerprint,
        }
        applied: list[str] = []
        for c in charges:
            applied += c.values["applied_rules"]
        return _LinePrice(
            build(PricedLine, values),
            f'"{fingerprint}"',
            applied,
            warnings,
            tuple(sums),
        )

    def _inclusions(self, line: QuoteLine, items: list) -> dict[str, str]:
        """item -> the item on the same line that contains it (line offering first).

        Compared by stable id: a bundle containing ``mail`` (or ``mail@2``) covers the
        ``mail`` selected on its line whichever version the date resolves.
        """
        ids = tuple([item for item, *_ in items])
        hit = self._inclusions_memo.get(ids)
        if hit is not None:
            return dict(hit)
        out: dict[str, str] = {}
        for container in ids:
            closure = {_stable(c) for c in self._closure(container)}
            if not closure:
                continue
            for item in ids:
                if item != container and _stable(item) in closure and item not in out:
                    out[item] = container
        self._inclusions_memo[ids] = out
        return dict(out)

    def _cross_line_inclusions(self, lines: list[QuoteLine]) -> None:
        """Warn when a line's offering is also contained in another line's bundle."""
        if not any(self._closure_cache.values()):
            return
        at: dict[str, list[int]] = {}
        for j, other in enumerate(lines):
            at.setdefault(_stable(other.offering), []).append(j)
        for i, line in enumerate(lines):
            closure = {_stable(c) for c in self._closure(line.offering)}
            for j in sorted(j for c in closure for j in at.get(c, ()) if j != i):
                self.warnings.append(
                    f"lines[{j}] {lines[j].offering} is also contained in {line.offering} "
                    f"on lines[{i}]; charged as an additional, separate purchase"
                )

    def _charge(
        self,
        seg: _Segment,
        item: str,
        offering: Any,
        keys: tuple[str, ...],
        entry: Any,
        source: str,
        version: str,
    ) -> _Charge:
        kind = entry.kind
        period = getattr(entry, "period", None)
        term = getattr(entry, "term_months", None)
        qty = seg.quantity
        ch = _Charge(
            path=seg.path,
            item=item,
            keys=keys,
            price_id=entry.id,
            kind=kind,
            unit_amount=entry.amount,
            quantity=qty,
            period=period if kind == "recurring" else None,
            term_months=term,
            usage_unit=getattr(entry, "usage_unit", None),
            usage_units=None,
            source=source,
            source_version=version,
            discount_amount=self.zero,
            subject=f"{seg.path}/{item}/{entry.id}",
        )
        contract = self._contract(keys, entry.id)
        if kind == "usage":
            units = self._usage_now.get(entry.id)
            if units is None:
                units = _ZERO
                self.warnings.append(
                    f"{ch.subject}: no usage estimate for {entry.id} on this line; priced at "
                    "0 units"
                )
            ch.usage_units = units
            if contract is not None:
                ch.unit_amount = contract.amount
                ch.contract = True
                exact = units * contract.amount
                unit = ch.usage_unit or "units"
                detail = f"contract {contract.id}: {units} {unit} x {contract.amount}"
                self._list_step(ch, exact, detail, source, version)
                self.step(
                    "contract_price",
                    contract.id,
                    contract.version,
                    ch.subject,
                    exact,
                    exact,
                    f"account {contract.account_id} contract price replaces the usage tiers",
                )
                ch.applied.append(contract.id)
            else:
                try:
                    exact, parts = tiered_amount(entry.tier_mode, entry.tiers, units, checked=True)
                except TierError as exc:
                    raise PricingError(f"{ch.subject}: {exc}") from None
                detail = (
                    f"usage {units} {ch.usage_unit or 'units'}, {entry.tier_mode}: "
                    + "; ".join(parts)
                )
                self._list_step(ch, exact, detail, source, version)
            ch.list_amount = ch.running = self.q(exact, ch.subject, "usage amount")
            return ch
        list_exact = entry.amount * qty
        detail = f"{kind} {entry.amount!s} x {qty}"
        if period == "year":
            detail += " per year"
        if term:
            detail += f", {term}-month term"
        self._list_step(ch, list_exact, detail, source, version)
        if contract is not None:
            ch.unit_amount = contract.amount
            ch.contract = True
            contracted = contract.amount * qty
            self.step(
                "contract_price",
                contract.id,
                contract.version,
                ch.subject,
                list_exact,
                contracted,
                f"account {contract.account_id} contract price {contract.amount} x "
                f"{qty} replaces list {entry.amount}",
            )
            ch.applied.append(contract.id)
            list_exact = contracted
        ch.list_amount = ch.running = self.q(list_exact, ch.subject, "list amount")
        return ch

    def _list_step(self, ch: _Charge, exact: Decimal, detail: str, source: str, version: str):
        rule_id = source if source != "catalog" else "catalog"
        if source != "catalog":
            detail += f" (price book {source} v{version}, entry {ch.price_id})"
            ch.applied.append(source)
        self.step("list_price", rule_id, version, ch.subject, _ZERO, exact, detail)

    def _contract(self, keys: tuple[str, ...], entry_id: str):
        if not self.contracts:
            return None
        for key in keys:
            found = self.contracts.get((key, entry_id))
            if found:
                return max(found, key=lambda c: (c.effective_from, c.id))
        return None

    def _promotions(self, seg: _Segment) -> list:
        """Decisions for the line; equal for equal selections at equal line quantity
        (everything else they depend on is quote-wide), so resolved once per request."""
        memo_key = (tuple([keys for *_, keys in seg.items]), seg.quantity)
        hit = self._promo_memo.get(memo_key)
        if hit is None:
            hit = self._promo_memo[memo_key] = self._resolve_promotions(seg)
        return hit

    def _resolve_promotions(self, seg: _Segment) -> list:
        seen: dict[str, Promotion] = {}
        for _item, _path, _off, keys in seg.items:
            for key in keys:
                for promo in self.promos_by_offering.get(key, ()):
                    seen.setdefault(promo.id, promo)
        if not seen:
            return []
        assert self.day is not None
        ctx = PromotionContext(
            business_date=self.day,
            region=self.request.region,
            channel=self.request.channel,
            segment=self.request.segment,
            line_quantity=seg.quantity,
            quote_items=self.quote_items,
        )
        return resolve_promotions([seen[k] for k in sorted(seen)], ctx)

    def _discounts(self, ch: _Charge, decisions: list) -> None:
        automatic = not ch.contract
        if automatic and ch.kind != "usage":
            hit = self._volume(ch)
            if hit is not None:
                vd, qty = hit
                self.discount(
                    ch,
                    "volume_discount",
                    vd.id,
                    vd.version,
                    ch.running * vd.pct,
                    f"{vd.pct!s} of {ch.running!s}: quote quantity {qty} of {vd.offering} "
                    f"reaches {vd.min_quantity}",
                )
        for d in self._applying(decisions, ch):
            p = d.promotion
            if not automatic:
                self.step(
                    "promotion",
                    p.id,
                    p.version,
                    ch.subject,
                    ch.running,
                    ch.running,
                    "not applied: contract price in force",
                    applied=False,
                )
                continue
            if p.pct_off is not None:
                off, how = ch.running * p.pct_off, f"{p.pct_off!s} of {ch.running!s}"
            else:
                assert p.amount_off is not None
                off, how = p.amount_off * ch.quantity, f"{p.amount_off!s} x {ch.quantity}"
            self.discount(ch, "promotion", p.id, p.version, off, f"{how} ({d.reason})")
        if automatic:
            for b in self._bundles_for(ch.keys):
                self.discount(
                    ch,
                    "bundle_discount",
                    b.id,
                    b.version,
                    ch.running * b.pct,
                    f"{b.pct!s} of {ch.running!s}: quote has all of {', '.join(b.when_all)}",
                )
        rate = self.request.discount_pct
        if rate:
            self.discount(
                ch,
                "discount",
                "manual-discount",
                self.policy.version,
                ch.running * rate,
                f"{rate!s} of {ch.running!s} = {ch.running * rate!s}",
            )

    def _targets(self, keys: tuple[str, ...], rule: Any) -> bool:
        """Does ``rule.applies_to`` name any of the offering ``keys``? (memoized)"""
        memo_key = (keys, rule.id, id(rule))
        hit = self._targets_memo.get(memo_key)
        if hit is None:
            hit = self._targets_memo[memo_key] = not set(keys).isdisjoint(rule.applies_to)
        return hit

    def _bundles_for(self, keys: tuple[str, ...]) -> list:
        """Bundle discounts in force that target ``keys`` and whose offerings are all in
        the quote (quote-wide facts: the same for every charge of these keys)."""
        hit = self._bundle_memo.get(keys)
        if hit is None:
            day = self.day
            hit = self._bundle_memo[keys] = [
                b
                for b in self.bundles
                if day is not None
                and b.in_force(day)
                and self._targets(keys, b)
                and all(o in self.quote_items for o in b.when_all)
            ]
        return hit

    def _applying(self, decisions: list, ch: _Charge) -> list:
        """The applied promotions among ``decisions`` that price this kind of charge of
        these offering keys (memoized: the decision lists are shared per request)."""
        memo_key = (id(decisions), ch.keys, ch.kind)
        hit = self._applying_memo.get(memo_key)
        if hit is None:
            hit = self._applying_memo[memo_key] = [
                d
                for d in decisions
                if d.applied
                and ch.kind in d.promotion.charge_kinds
                and self._targets(ch.keys, d.promotion)
            ]
        return hit

    def _volume(self, ch: _Charge) -> tuple[Any, int] | None:
        """(best volume discount, quote quantity of the keys) or None; per offering keys."""
        hit = self._volume_memo.get(ch.keys, self)
        if hit is self:
            vd = self._best_volume(ch)
            qty = max(self.quote_qty.get(k, 0) for k in ch.keys)
            hit = self._volume_memo[ch.keys] = None if vd is None else (vd, qty)
        return hit

    def _best_volume(self, ch: _Charge):
        best = None
        for key in ch.keys:
            for vd in self.volume.get(key, ()):
                qty = self.quote_qty.get(key, 0)
                if vd.min_quantity <= qty and (
                    best is None or (vd.min_quantity, best.id) > (best.min_quantity, vd.id)
                ):
                    best = vd
        return best

    def _explain_unapplied(
        self, seg: _Segment, charges: list[_PricedCharge], decisions: list
    ) -> None:
        if not self.bundles and all(d.applied for d in decisions):
            return
        net = sum((c.running for c in charges), _ZERO)
        for d in decisions:
            if not d.applied:
                p = d.promotion
                self.step(
                    "promotion",
                    p.id,
                    p.version,
                    seg.path,
                    net,
                    net,
                    f"not applied: {d.reason}",
                    applied=False,
                )
        if not self.bundles or self.day is None:
            return
        keys = {k for *_, ks in seg.items for k in ks}
        for b in self.bundles:
            if not keys & set(b.applies_to):
                continue
            missing = [o for o in b.when_all if o not in self.quote_items]
            if missing:
                why = f"needs {', '.join(missing)} in the quote"
            elif not b.in_force(self.day):
                why = f"not in force on {self.day}"
            else:
                continue
            self.step(
                "bundle_discount",
                b.id,
                b.version,
                seg.path,
                net,
                net,
                f"not applied: {why}",
                applied=False,
            )

    def _finish(self, ch: _Charge) -> None:
        """Proration of the first partial month (monthly recurring charges only)."""
        fp = self.first_period
        if fp is None or ch.kind != "recurring" or ch.period != "month" or not fp.partial:
            return
        exact = _DIVISION.divide(ch.running * fp.days, Decimal(fp.period_days))
        prorated = self.q(exact, ch.subject, "prorated amount")
        ch.prorated = prorated
        self.step(
            "proration",
            "proration",
            self.policy.version,
            ch.subject,
            ch.running,
            prorated,
            f"first period {fp.service_start}..{fp.period_end} is {fp.days} of "
            f"{fp.period_days} days ({fp.period_start}..{fp.period_end}): "
            f"{ch.running} x {fp.days}/{fp.period_days}",
        )

    # ---------------------------------------------------------------- result

    def _monthly(self, ch: _Charge) -> Decimal | None:
        if ch.kind != "recurring":
            return None
        if ch.period == "year":
            return self.q(
                _DIVISION.divide(ch.running, Decimal(12)), ch.subject, "monthly equivalent"
            )
        return ch.running

    def _term(self, ch: _Charge) -> Decimal | None:
        if ch.kind != "recurring" or not ch.term_months:
            return None
        if ch.period == "year":
            years = -(-ch.term_months // 12)
            if ch.term_months % 12:
                self.warnings.append(
                    f"{ch.subject}: {ch.term_months}-month term on an annual charge bills "
                    f"{years} whole prepaid years"
                )
            return ch.running * years
        return ch.running * ch.term_months

    def _total(self, exact: Decimal, what: str) -> Decimal:
        """Round one exact quote total (a step in ``totals_trace`` when rounding applies
        to totals and changed it)."""
        out = exact.quantize(self.quantum, rounding=self.rounding.mode, context=_QUANTIZE)
        if not self.per_line and out != exact:
            self.step(
                "rounding",
                "rounding",
                self.policy.version,
                "total",
                exact,
                out,
                f"{what} rounded to {self.rounding.places} places, {self.rounding.mode}",
            )
        return out

    def _result(self, priced: list[_LinePrice]) -> PriceResult:
        # Each distinct line price once, times the number of lines that share it.
        distinct: dict[int, list] = {}
        for line in priced:
            hit = distinct.get(id(line))
            if hit is None:
                distinct[id(line)] = [line, 1]
            else:
                hit[1] += 1
        # Column sums in C (zip + sum), each distinct line scaled by its count.
        scaled = [
            line.sums if count == 1 else tuple([v * count for v in line.sums])
            for line, count in distinct.values()
        ]
        sums = [sum(column, _ZERO) for column in zip(*scaled, strict=True)] or [_ZERO] * len(_SUMS)
        warnings = self.quote_warnings
        for i, line in enumerate(priced):
            if line.warnings:
                prefix = f"lines[{i}]"
                warnings.extend([prefix + w for w in line.warnings])
        self.trace = self.totals_trace
        subtotal = self._total(sums[_LIST], "subtotal")
        discount_total = self._total(sums[_DISCOUNT], "discount total")
        net_total = self._total(sums[_NET], "net total")
        fp = self.first_period
        applied: list[str] = []
        seen: set[str] = set()
        for line, _ in distinct.values():  # first appearance order (dicts keep it)
            for rule_id in line.applied:
                if rule_id not in seen:
                    seen.add(rule_id)
                    applied.append(rule_id)
        rules_version = self.rules.version
        scalars: dict[str, Any] = {
            "currency": self.currency,
            "catalog_version": self.catalog.version,
            "pricing_version": self.policy.version,
            "recurring_total": self._total(sums[_MONTHLY_EQ], "monthly-equivalent recurring total"),
            "one_time_total": self._total(sums[_ONE_TIME], "one-time total"),
            "discount_total": discount_total,
            "list_total": subtotal,
            "rounding": {
                "mode": self.rounding.mode,
                "places": self.rounding.places,
                "applies": self.rounding.applies,
                "currency": self.currency,
                "source": self.rounding.source,
            },
            "discount_pct": self.request.discount_pct,
            "warnings": warnings,
            "approval_triggers": required_approvals(
                self.approval_policy,
                self.request.discount_pct,
                sorted(self.families),
                self.request.region,
            ),
            "input_fingerprint": request_fingerprint(
                self.catalog, self.request, self.policy, self.approval_policy, self.line_keys
            ),
            "subtotal": subtotal,
            "net_total": net_total,
            "usage_total": self._total(sums[_USAGE], "usage total"),
            "recurring_by_period": {
                "month": self._total(sums[_MONTH], "monthly recurring total"),
                "year": self._total(sums[_YEAR], "annual recurring total"),
            },
            "recurring_term_total": self._total(sums[_TERM], "recurring term total"),
            "prorated_first_period_total": (
                self._total(sums[_PRORATED], "prorated first period total")
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
            "applied_rules": applied,
            "rules_version": rules_version,
            "price_version": f"catalog {self.catalog.version} + rules {rules_version}",
            "business_date": self.day,
            "region": self.request.region,
            "channel": self.request.channel,
            "account_id": self.request.account_id,
        }
        # The totals' steps exist only once the totals are computed (rounding of totals).
        totals_models, totals_texts = self._seal(self.totals_trace)
        text = object_json(
            scalars,
            {
                "lines": "[" + ",".join([line.digest for line in priced]) + "]",
                "totals_trace": "[" + ",".join(totals_texts) + "]",
            },
        )
        data = dict(scalars)
        data["lines"] = [line.model for line in priced]
        data["totals_trace"] = totals_models
        data["fingerprint"] = "sha256:" + hashlib.sha256(text.encode("utf-8")).hexdigest()
        return build(PriceResult, {name: data[name] for name in PriceResult.model_fields})


# The amounts a line sums (one occurrence of each charge) and the quote totals add up.
_SUMS = (
    "list", "discount", "net", "one_time", "usage", "month", "year", "monthly_eq", "term",
    "prorated",
)  # fmt: skip
_LIST, _DISCOUNT, _NET, _ONE_TIME, _USAGE, _MONTH, _YEAR, _MONTHLY_EQ, _TERM, _PRORATED = range(
    len(_SUMS)
)
