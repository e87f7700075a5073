"""Delta pricing: what a change to an installed asset costs, old charge against new.

A change line (modify, upgrade, downgrade, suspend, resume, disconnect, renew) is priced
against the asset's current subscription as the request states it
(:class:`cpqsim.pricing_change_terms.AssetTerms`), under the customer's contract terms:

* **monthly charges, old and new.** Old: the asset's per-unit recurring charge times its
  quantity (times the hold share while it is suspended). New: for modify, upgrade and
  downgrade, the monthly equivalent of the recurring charges of the configuration the
  line asks for, priced by the ordinary rule steps (that priced line is ``lines[i]`` of
  the result); suspend bills the hold share, resume the full charge again, disconnect
  nothing; a renewal keeps the charge (times ``1 + uplift``).
* **the billing month the change falls in.** Subscriptions bill monthly in advance, so a
  change effective mid-month credits the unused part of the old charge and charges the
  new one for the same days: ``monthly x days / days of that billing month``
  (:mod:`cpqsim.pricing_change_periods`). A downgrade comes out as a credit.
* **contract charges.** A disconnect before the term end pays the early-termination
  charge the contract names for the offering or its family (none by default).
* **renewals** start when the term ends and run to the account's co-termination date
  when the contract says to co-terminate and the date falls within one renewal term
  (a shorter term, its last month by actual days), else a full term.

Every amount is rounded once, to the currency's places with the stated mode. Catalog
one-time charges of a change line are not charged again: they were paid at the sale.
Each change carries its own trace (old and new side by side) and what billing needs
(:class:`ChangeBilling`: subscription, start date, term end, proration basis, amounts).
"""

from __future__ import annotations

import decimal
from collections.abc import Sequence
from datetime import date
from decimal import Decimal
from typing import Any

from cpqsim.catalog import Catalog, stable_id
from cpqsim.catalog_lifecycle import Intent
from cpqsim.configuration import (
    ConfigurationViolation,
    QuoteLine,
    check_configuration,
    line_key,
)
from cpqsim.pricing_change_periods import BASIS, add_months, billing_month, term_span
from cpqsim.pricing_change_terms import AssetTerms, ContractTerms
from cpqsim.pricing_charge import DIVISION, QUANTIZE
from cpqsim.pricing_errors import PricingError
from cpqsim.pricing_plan import Rounding
from cpqsim.pricing_result import ChangeBilling, ChangePrice, PricedLine, PriceStep

__all__ = [
    "CHANGE_ACTIONS",
    "PRICED_AS_CONFIGURATION",
    "ChangeBilling",
    "ChangePrice",
    "check_change_configuration",
    "price_changes",
    "subscription_of",
]

#: Actions that change an installed asset (``add`` sells something new).
CHANGE_ACTIONS = frozenset(
    {"modify", "upgrade", "downgrade", "suspend", "resume", "disconnect", "renew"}
)
#: Actions whose new monthly charge is the price of the configuration the line states.
PRICED_AS_CONFIGURATION = frozenset({"modify", "upgrade", "downgrade"})

_ZERO = Decimal(0)


def subscription_of(asset_id: str) -> str:
    """The billing subscription of an asset (the agreed naming)."""
    return f"sub-{asset_id}"


class _Pricer:
    """The changes of one request (see the module docstring)."""

    def __init__(
        self,
        catalog: Catalog,
        rounding: Rounding,
        terms: ContractTerms,
        effective: date,
        policy_version: str,
    ) -> None:
        self.catalog = catalog
        self.rounding = rounding
        self.terms = terms
        self.effective = effective
        self.policy_version = policy_version

    def money(self, value: Decimal) -> Decimal:
        r = self.rounding
        return value.quantize(r.quantum, rounding=r.mode, context=QUANTIZE)

    def part(self, monthly: Decimal, days: int, period_days: int) -> Decimal:
        """``monthly x days / period_days``, rounded once."""
        return self.money(DIVISION.divide(monthly * days, Decimal(period_days)))

    def step(
        self,
        steps: list[dict[str, Any]],
        rule: str,
        before: Decimal,
        after: Decimal,
        detail: str,
        rule_id: str | None = None,
        version: str | None = None,
    ) -> None:
        steps.append(
            {
                "rule": rule,
                "rule_version": version or self.policy_version,
                "subject": "/change",
                "before": before,
                "after": after,
                "detail": detail,
                "rule_id": rule_id or rule,
                "applied": True,
            }
        )

    def new_monthly(
        self, index: int, line: QuoteLine, asset: AssetTerms, full: Decimal, new_line: Any
    ) -> tuple[Decimal, Decimal, int, str]:
        """The monthly charge after the change, the renewed full charge (renewals), the
        quantity after the change, and the trace's sentence for it."""
        action, hold = line.action, self.terms.suspension.hold_pct
        quantity = asset.quantity
        renewed = full
        if action in PRICED_AS_CONFIGURATION:
            assert isinstance(new_line, PricedLine)
            recurring = [
                c.monthly_equivalent
                for c in new_line.charges
                if c.kind == "recurring" and c.monthly_equivalent is not None
            ]
            new = self.money(sum(recurring, _ZERO))
            quantity = line.quantity
            why = (
                f"{action} to {line.offering} x {line.quantity}: the monthly equivalent of "
                f"the recurring charges of lines[{index}] = {new}"
            )
        elif action == "suspend":
            new = self.money(full * hold)
            why = f"suspended: hold share {hold} of {full} = {new}"
        elif action == "resume":
            new = full
            why = f"resumed: the full monthly charge {full}"
        elif action == "renew":
            uplift = self.terms.renewal.uplift_pct
            renewed = new = self.money(full * (1 + uplift))
            why = f"renewed at {full} x (1 + uplift {uplift}) = {renewed}"
            if asset.status == "suspended":  # a renewal keeps a suspended asset suspended
                new = self.money(renewed * hold)
                why += f"; still suspended: hold share {hold} = {new}"
        else:  # disconnect
            new = self.rounding.zero
            why = "disconnected: nothing billed from the effective date"
        return new, renewed, quantity, why

    def price(self, index: int, line: QuoteLine, asset: AssetTerms, new_line: Any) -> ChangePrice:
        """The delta price of one change line: old and new monthly charges, then the
        billing month's credit and charge (or the renewal term), contract charges, due."""
        action = line.action
        hold = self.terms.suspension.hold_pct
        full = self.money(asset.recurring_monthly * asset.quantity)
        old = full if asset.status == "active" else self.money(full * hold)
        steps: list[dict[str, Any]] = []
        applied: list[str] = []
        state = "" if asset.status == "active" else f", suspended: hold share {hold}"
        self.step(
            steps,
            "change_old_charge",
            _ZERO,
            old,
            f"asset {asset.asset_id} v{asset.version} ({asset.offering}): {asset.quantity} x "
            f"{asset.recurring_monthly} per month = {full}{state}",
        )
        new, renewed, quantity, why = self.new_monthly(index, line, asset, full, new_line)
        self.step(steps, "change_new_charge", old, new, why)
        out: dict[str, Any] = {
            "line": index,
            "asset_id": asset.asset_id,
            "asset_version": asset.version,
            "action": action,
            "subscription_id": subscription_of(asset.asset_id),
            "currency": asset.currency,
            "effective_date": self.effective,
            "quantity": quantity,
            "old_monthly": old,
            "new_monthly": new,
            "monthly_delta": new - old,
            "unit_monthly": self.money(DIVISION.divide(new, Decimal(quantity))),
            "credit": self.rounding.zero,
            "charge": self.rounding.zero,
            "one_time": self.rounding.zero,
            "term_start": asset.term_start,
            "term_end": asset.term_end,
        }
        if action == "renew":
            self.renew(asset, renewed, out, steps, applied)
        else:
            self.prorate(asset, old, new, out, steps)
            if action == "disconnect":
                out["term_end"] = self.effective
                self.early_termination(asset, full, out, steps, applied)
        due = out["charge"] + out["one_time"] - out["credit"]
        out["due"] = due
        self.step(
            steps,
            "change_due",
            _ZERO,
            due,
            f"charge {out['charge']} + one-time {out['one_time']} - credit {out['credit']} = {due}",
        )
        out["applied_rules"] = applied
        out["trace"] = [PriceStep(**s) for s in steps]
        return ChangePrice(**out)

    def prorate(
        self,
        asset: AssetTerms,
        old: Decimal,
        new: Decimal,
        out: dict[str, Any],
        steps: list[dict[str, Any]],
    ) -> None:
        try:
            month = billing_month(asset.term_start, self.effective)
        except ValueError as exc:
            raise PricingError(f"asset {asset.asset_id}: {exc}") from None
        days, period_days = month.days, month.period_days
        where = (
            f"{month.effective}..{month.end} is {days} of the {period_days} days of the "
            f"billing month {month.start}..{month.end} ({BASIS})"
        )
        credit = self.part(old, days, period_days)
        charge = self.part(new, days, period_days)
        self.step(
            steps,
            "change_credit",
            old,
            credit,
            f"unused part of the old charge credited: {where}: {old} x {days}/{period_days}",
        )
        self.step(
            steps,
            "change_charge",
            new,
            charge,
            f"new charge for the rest of the month: {new} x {days}/{period_days}",
        )
        out.update(
            credit=credit,
            charge=charge,
            proration_basis=BASIS,
            period_start=month.start,
            period_end=month.end,
            days=days,
            period_days=period_days,
        )

    def early_termination(
        self,
        asset: AssetTerms,
        full: Decimal,
        out: dict[str, Any],
        steps: list[dict[str, Any]],
        applied: list[str],
    ) -> None:
        """The contract's early-termination charge, when it names the offering and the
        disconnect comes before the term ends."""
        try:
            family = self.catalog.offering(asset.offering).family
        except KeyError:
            family = ""
        rule = self.terms.early_termination_for(stable_id(asset.offering), family)
        version = self.terms.version
        if rule is None or asset.term_end is None or self.effective >= asset.term_end:
            why = (
                "the contract names no early-termination charge for it"
                if rule is None
                else "the term has no end to terminate early"
                if asset.term_end is None
                else f"the term ended on {asset.term_end}"
            )
            steps.append(
                {
                    "rule": "early_termination",
                    "rule_version": version,
                    "subject": "/change",
                    "before": _ZERO,
                    "after": _ZERO,
                    "detail": f"no early-termination charge: {why}",
                    "rule_id": rule.id if rule is not None else "early_termination",
                    "applied": False,
                }
            )
            return
        if rule.kind == "fixed":
            assert rule.amount is not None
            fee = self.money(rule.amount * asset.quantity)
            detail = f"{rule.amount} per unit x {asset.quantity} = {fee}"
        else:
            assert rule.pct is not None
            start = max(out.get("period_end") or self.effective, self.effective)
            if start >= asset.term_end:
                remaining = _ZERO
                detail = f"nothing of the term is left after {start}"
            else:
                span = term_span(start, asset.term_end)
                stub = DIVISION.divide(full * span.stub_days, Decimal(span.stub_period_days))
                remaining = full * span.months + stub
                detail = (
                    f"remaining term {start}..{asset.term_end}: {span.months} months x {full}"
                    f"{_stub_text(full, span.stub_days, span.stub_period_days)} = "
                    f"{self.money(remaining)}; x {rule.pct}"
                )
            fee = self.money(remaining * rule.pct)
            detail += f" = {fee}"
        out["one_time"] = fee
        applied.append(rule.id)
        self.step(
            steps,
            "early_termination",
            _ZERO,
            fee,
            f"early termination before {asset.term_end}: {detail}",
            rule_id=rule.id,
            version=version,
        )

    def renew(
        self,
        asset: AssetTerms,
        new: Decimal,
        out: dict[str, Any],
        steps: list[dict[str, Any]],
        applied: list[str],
    ) -> None:
        """The renewal term and its recurring value at the renewed charge ``new`` (the
        full charge: a term's value is what the contract commits to, suspended or not)."""
        if asset.term_end is None:
            raise PricingError(
                f"asset {asset.asset_id} runs month to month: there is no term to renew"
            )
        renewal = self.terms.renewal
        start = asset.term_end
        current = term_span(asset.term_start, asset.term_end)
        length = renewal.term_months or (current.months if current.whole and current.months else 12)
        full_end = add_months(start, length)
        coterm = asset.coterm_date
        cotermed = renewal.coterminate and coterm is not None and start < coterm <= full_end
        end = coterm if cotermed and coterm is not None else full_end
        span = term_span(start, end)
        stub = DIVISION.divide(new * span.stub_days, Decimal(span.stub_period_days))
        amount = self.money(new * span.months + stub)
        if cotermed:
            applied.append("renewal_cotermination")
            why = (
                f"co-terminated with the account's subscriptions on {end} "
                f"(within one {length}-month term)"
            )
        else:
            reason = (
                "the contract does not co-terminate renewals"
                if not renewal.coterminate
                else "the account has no co-termination date"
                if coterm is None
                else f"the co-termination date {coterm} is not within one {length}-month term"
            )
            why = f"a full {length}-month term ({reason})"
        self.step(
            steps,
            "renewal_term",
            _ZERO,
            amount,
            f"renewal {start}..{end}, {why}: {span.months} months x {new}"
            f"{_stub_text(new, span.stub_days, span.stub_period_days)} = {amount}",
            rule_id="renewal_cotermination" if cotermed else "renewal_term",
            version=self.terms.version,
        )
        out.update(
            effective_date=start,
            term_start=start,
            term_end=end,
            term_months=span.months,
            term_amount=amount,
            coterminated=cotermed,
            proration_basis=BASIS if span.stub_days else None,
        )


def _stub_text(monthly: Decimal, days: int, period_days: int) -> str:
    return f" + {monthly} x {days}/{period_days} ({BASIS})" if days else ""


def price_changes(
    catalog: Catalog,
    lines: list[QuoteLine],
    assets: list[AssetTerms],
    terms: ContractTerms,
    effective: date,
    new_lines: dict[int, PricedLine],
    rounding: Rounding,
    currency: str,
    policy_version: str,
) -> list[ChangePrice]:
    """The delta price of every change line, in line order.

    ``new_lines`` holds the priced configuration of each modify/upgrade/downgrade line by
    its index. Raises :class:`PricingError` naming the line when its asset's terms are
    not in the request or are in another currency.
    """
    by_id = {a.asset_id: a for a in assets}
    pricer = _Pricer(catalog, rounding, terms, effective, policy_version)
    out: list[ChangePrice] = []
    with decimal.localcontext(QUANTIZE):
        for i, line in enumerate(lines):
            if line.action not in CHANGE_ACTIONS:
                continue
            asset = by_id.get(line.asset_id or "")
            if asset is None:
                raise PricingError(
                    f"lines[{i}]: {line.action} of asset {line.asset_id}: the request does "
                    "not state the asset's terms (assets)"
                )
            if asset.currency != currency:
                raise PricingError(
                    f"lines[{i}]: asset {asset.asset_id} is billed in {asset.currency}; the "
                    f"quote is in {currency}"
                )
            out.append(pricer.price(i, line, asset, new_lines.get(i)))
    return out


def check_change_configuration(
    catalog: Catalog,
    lines: list[QuoteLine],
    business_date: date | None,
    line_keys: list[tuple] | None = None,
    new_sale: Intent = "new_quote",
    assets: Sequence[AssetTerms] = (),
    installed: Sequence[str] | None = None,
) -> list[ConfigurationViolation]:
    """The configuration check of a quote that changes assets, each line for what it is.

    New-sale lines are checked for ``new_sale`` (a new quote, or at conversion a new
    order); modify/upgrade/downgrade lines as a change to an existing asset (a
    grandfathered version may be amended, not sold). Suspend, resume, disconnect and renew
    lines configure nothing, and an add-on added under an installed asset is no sale of
    its own: neither is checked here (the change check judges them against the asset, the
    add-on with its parent as it stands). Relations spanning the quote are judged within
    each group. Paths name the lines of the whole quote.

    A change that keeps the version its asset runs (``assets``: the request's asset
    terms) is judged without the date: that version's sales window may have closed (a
    grandfathered edition), which is no reason to refuse a change to it. ``installed``
    (the request's installed offerings) meets the change lines' quote-scoped requirements.
    """
    keys = line_keys if line_keys is not None else [line_key(line) for line in lines]
    runs = {a.asset_id: a.offering for a in assets}
    groups: dict[tuple[str, bool], list[int]] = {
        (new_sale, True): [],
        ("change_asset", True): [],
        ("change_asset", False): [],
    }
    for i, line in enumerate(lines):
        if line.action == "add" and line.asset_id is None:
            groups[(new_sale, True)].append(i)
        elif line.action in PRICED_AS_CONFIGURATION:
            dated = runs.get(line.asset_id or "") != line.offering
            groups[("change_asset", dated)].append(i)
    found: list[ConfigurationViolation] = []
    for (intent, dated), indexes in groups.items():
        if not indexes:
            continue
        violations = check_configuration(
            catalog,
            [lines[i] for i in indexes],
            business_date if dated else None,
            intent=intent,  # type: ignore[arg-type]
            line_keys=[keys[i] for i in indexes],
            installed=installed if intent == "change_asset" else None,
        )
        for v in violations:
            if v.path.startswith("lines["):
                k, _, rest = v.path.removeprefix("lines[").partition("]")
                v = v.model_copy(update={"path": f"lines[{indexes[int(k)]}]{rest}"})
            found.append(v)
    return sorted(found, key=lambda v: (_line_of(v.path), v.path, v.rule, v.message))


def _line_of(path: str) -> int:
    head = path.removeprefix("lines[").partition("]")[0]
    return int(head) if head.isdigit() else -1
