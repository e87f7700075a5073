"""Order validation before decomposition: the kinds of checks an order desk runs.

Each validation is a named pure function of the order being created; the list is data,
so a reader finds every rule by its kind, and an order that fails any is rejected (a
fact, with every reason) instead of decomposed. Configuration and eligibility reuse the
core's assessments at the order date.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime

from cpqsim.catalog import Catalog
from cpqsim.change import ChangeRefusal
from cpqsim.decomposition import DecompositionError, OrderItem, decompose
from cpqsim.eligibility import CustomerContext, assess_order
from cpqsim.order_policy import OrderPolicy
from cpqsim.quote import Quote


@dataclass(frozen=True)
class OrderToValidate:
    quote: Quote
    items: list[OrderItem]
    catalog: Catalog
    policy: OrderPolicy
    business_date: date
    at: datetime
    #: Why the installed base refused to lock the assets the order would change.
    asset_refusals: list[ChangeRefusal] = field(default_factory=list)


def _completeness(o: OrderToValidate) -> list[str]:
    problems = []
    if not o.items:
        problems.append("the order has no items")
    if not o.quote.account_id:
        problems.append("the order names no account")
    problems += [
        f"{i.item_id}: quantity {i.quantity} is not positive" for i in o.items if i.quantity < 1
    ]
    return problems


def _commercial(o: OrderToValidate) -> list[str]:
    problems = []
    if o.quote.accepted_snapshot is None or not o.quote.price_fingerprint:
        problems.append("the order carries no accepted, priced snapshot")
    if o.quote.approval_required and o.quote.approval is None:
        problems.append("the accepted quote needed an approval it does not carry")
    return problems


def _catalog(o: OrderToValidate) -> list[str]:
    """New sales against the catalog as sold today. Lines on installed assets are the
    installed base's to judge (a grandfathered version may be changed, an add-on goes
    under a parent the quote does not carry): see :func:`_assets`."""
    lines = [line for line in o.quote.lines if not line.changes_asset]
    if not lines:
        return []
    if len(lines) < len(o.quote.lines):
        return _renumbered(o, lines)
    assessment = assess_order(
        o.catalog,
        lines,
        CustomerContext(account_id=o.quote.account_id),
        business_date=o.business_date,
        evaluated_at=o.at,
    )
    problems = [f"{v.path}: {v.message}" for v in assessment.violations]
    problems += [
        f"{r.offering}: {reason}"
        for r in assessment.eligibility
        if r.status.value == "NOT_ELIGIBLE"
        for reason in r.reasons
    ]
    return problems


def _renumbered(o: OrderToValidate, lines: list) -> list[str]:
    """The catalog check of the new-sale lines alone, each path naming its quote line."""
    index = [i for i, line in enumerate(o.quote.lines) if not line.changes_asset]
    problems = _catalog(dataclasses.replace(o, quote=o.quote.model_copy(update={"lines": lines})))
    return [
        re.sub(r"^lines\[(\d+)\]", lambda m: f"lines[{index[int(m.group(1))]}]", p)
        for p in problems
    ]


def _feasibility(o: OrderToValidate) -> list[str]:
    try:
        decompose(o.catalog, o.items)
    except (DecompositionError, KeyError) as exc:
        return [f"no fulfilment plan: {exc}"]
    return []


def _assets(o: OrderToValidate) -> list[str]:
    """A change against an asset that is gone, held by another order, at another version
    than quoted... (the installed base said so when asked to lock it)."""
    return [f"{r.path}: {r.message}" for r in o.asset_refusals]


def _credit(o: OrderToValidate) -> list[str]:
    if o.quote.account_id in o.policy.credit_hold_accounts:
        return [f"account {o.quote.account_id} is on credit hold"]
    return []


def _billing(o: OrderToValidate) -> list[str]:
    if o.quote.account_id in o.policy.accounts_without_billing:
        return [f"account {o.quote.account_id} has no billing account to charge"]
    return []


VALIDATIONS: list[tuple[str, Callable[[OrderToValidate], list[str]]]] = [
    ("completeness", _completeness),
    ("commercial", _commercial),
    ("asset", _assets),
    ("catalog", _catalog),
    ("credit", _credit),
    ("billing", _billing),
    ("feasibility", _feasibility),
]


def validate_order(order: OrderToValidate) -> list[dict[str, str]]:
    """Every reason to reject the order, as ``{kind, message}`` (empty: valid)."""
    return [
        {"kind": kind, "message": message}
        for kind, check in VALIDATIONS
        for message in check(order)
    ]
