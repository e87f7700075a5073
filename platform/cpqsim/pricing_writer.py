"""Writing out priced charges and lines: result models, canonical JSON and line hashes.

Each trace step, charge and line is written once, when it is priced, both as the result's
model (built without re-validation, :func:`cpqsim.pricing_result.build`) and as its
canonical JSON (:mod:`cpqsim.pricing_canonical`); a charge or line shared by several lines
carries its written form to each of them. A line's fingerprint is the sha256 of its JSON.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from decimal import Decimal
from json.encoder import encode_basestring
from typing import TYPE_CHECKING, Any, NamedTuple

from cpqsim.pricing_canonical import ChargeTexts, Escapes, StepTexts, fixed, line_json
from cpqsim.pricing_charge import ZERO, ChargeState, Step, StepSite
from cpqsim.pricing_result import LineCharge, PricedLine, PriceStep, build, build_all

if TYPE_CHECKING:
    from cpqsim.pricing_line_plan import ChargePlan

__all__ = ["SUMS", "LinePrice", "PricedCharge", "Writer"]

#: The amounts a line sums (one occurrence of each charge) and the quote totals add up.
SUMS = (
    "list", "discount", "net", "one_time", "usage", "month", "year", "monthly_eq", "term",
    "prorated",
)  # fmt: skip
_LIST, _DISCOUNT, _NET, _ONE_TIME, _USAGE, _MONTH, _YEAR, _MONTHLY_EQ, _TERM, _PRORATED = range(
    len(SUMS)
)


class PricedCharge(NamedTuple):
    """A charge once priced and written: its row, its steps, its warnings, its amounts."""

    model: Any  # LineCharge
    text: str
    step_models: list[Any]
    step_texts: list[str]
    warnings: list[str] | tuple[()]


class LinePrice(NamedTuple):
    """A quote line once priced: the shared ``PricedLine``, its fingerprint as JSON text
    (how the line enters the quote's hash tree), the rule ids applied to its charges in
    trace order (repeats kept), its warnings (relative to the line), its sums by kind
    (in the order of :data:`SUMS`)."""

    model: Any  # PricedLine
    digest: str
    applied: tuple[str, ...]
    warnings: tuple[str, ...]
    sums: tuple[Decimal, ...]


class Writer:
    """Writes the rows of one request (escaped texts and the constant pieces of steps
    and charges are shared)."""

    def __init__(self) -> None:
        self.escapes = Escapes()
        self.step_text = StepTexts(self.escapes)
        self.charge_text = ChargeTexts(self.escapes)
        self._sites: dict[tuple, StepSite] = {}
        self._rule_ids: dict[tuple[str, ...], str] = {}  # applied rule ids as JSON

    def site(
        self, rule: str, rule_id: str, version: str, subject: str, applied: bool = True
    ) -> StepSite:
        """The constant part of the steps ``rule_id`` writes about ``subject``, with its
        constant JSON pieces (one per request: every line of a kind shares it)."""
        key = (rule, rule_id, version, subject, applied)
        hit = self._sites.get(key)
        if hit is None:
            middle, tail = self.step_text.pieces(rule, rule_id, version, subject, applied)
            hit = self._sites[key] = StepSite(
                rule, version, subject, rule_id, applied, middle, tail
            )
        return hit

    def seal(self, steps: Iterable[Step]) -> tuple[list[Any], list[str]]:
        steps = list(steps)
        text = self.step_text
        return build_all(PriceStep, steps), [text(s) for s in steps]

    def rows(
        self, steps: list[tuple[StepSite, Decimal, Decimal, str]], models: list, texts: list
    ) -> None:
        """Append the models and canonical JSON of steps as rules write them
        (``(site, before, after, detail)``) to ``models`` and ``texts``."""
        rows = []
        # A step usually starts from the amount the step before it left (the same
        # Decimal): its text is written once.
        last: Decimal | None = None
        last_text = ""
        for site, before, after, detail in steps:
            rule, version, subject, rule_id, flag, middle, tail = site
            # Field order of PriceStep: this dict becomes the model's __dict__.
            rows.append(
                {
                    "rule": rule,
                    "rule_version": version,
                    "subject": subject,
                    "before": before,
                    "after": after,
                    "detail": detail,
                    "rule_id": rule_id,
                    "applied": flag,
                }
            )
            a = str(after)
            if "E" in a:
                a = format(after, "f")
            if before is last:
                b = last_text
            else:
                b = str(before)
                if "E" in b:
                    b = format(before, "f")
            last, last_text = after, a
            texts.append(
                "".join(
                    ('{"after":"', a, middle, b, '","detail":', encode_basestring(detail), tail)
                )
            )
        models += build_all(PriceStep, rows)

    def charge_pieces(self, fields: dict[str, Any]) -> tuple[str, ...]:
        """The constant JSON pieces of a charge's rows (see :class:`ChargeTexts`)."""
        return self.charge_text.pieces(fields)

    def charge(self, plan: ChargePlan, charge: ChargeState, quantity: int) -> PricedCharge:
        """A charge priced under ``plan``: its row from the plan's constant fields and
        the charge's amounts, as a model and as canonical JSON, with its steps."""
        applied = charge.applied
        unit_amount = charge.unit_amount
        list_amount = charge.list_amount
        discount_amount = charge.discount_amount
        net_amount = charge.running
        monthly = charge.monthly
        term = charge.term
        usage_units = charge.usage_units
        prorated = charge.prorated
        # Field order of LineCharge: this dict becomes the model's __dict__.
        values = {
            "item": plan.item,
            "price_id": plan.price_id,
            "kind": plan.kind,
            "unit_amount": unit_amount,
            "quantity": quantity,
            "list_amount": list_amount,
            "discount_amount": discount_amount,
            "net_amount": net_amount,
            "period": plan.period,
            "term_months": plan.term_months,
            "monthly_equivalent": monthly,
            "term_amount": term,
            "usage_unit": plan.usage_unit,
            "usage_units": usage_units,
            "prorated_amount": prorated,
            "price_source": plan.price_source,
            "price_source_version": plan.price_source_version,
            "included_in": plan.included_in,
            "applied_rules": list(applied),
            "path": plan.path,
        }
        rule_ids = self._rule_ids.get(key := tuple(applied))
        if rule_ids is None:
            esc = self.escapes
            rule_ids = self._rule_ids[key] = ",".join([esc[r] for r in applied])
        d, li, n, u = str(discount_amount), str(list_amount), str(net_amount), str(unit_amount)
        if "E" in d:
            d = fixed(discount_amount)
        if "E" in li:
            li = fixed(list_amount)
        if "E" in n:
            n = fixed(net_amount)
        if "E" in u:
            u = fixed(unit_amount)
        p = plan.pieces
        text = "".join(
            (
                p[0], rule_ids, p[1], d, p[2], li, p[3],
                "null" if monthly is None else '"' + fixed(monthly) + '"', p[4], n, p[5],
                "null" if prorated is None else '"' + fixed(prorated) + '"', p[6],
                str(quantity), p[7], "null" if term is None else '"' + fixed(term) + '"',
                p[8], u, p[9],
                "null" if usage_units is None else '"' + fixed(usage_units) + '"', p[10],
            )
        )  # fmt: skip
        models: list[Any] = []
        texts: list[str] = []
        self.rows(charge.steps, models, texts)
        return PricedCharge(
            build(LineCharge, values),
            text,
            models,
            texts,
            charge.warnings or (),
        )

    def line(
        self,
        step_models: list[Any],
        step_texts: list[str],
        warnings: list[str],
        charges: list[PricedCharge],
    ) -> LinePrice:
        sums = [ZERO] * len(SUMS)
        applied: list[str] = []
        for priced in charges:
            c = priced.model
            sums[_LIST] += c.list_amount
            sums[_DISCOUNT] += c.discount_amount
            sums[_NET] += c.net_amount
            kind = c.kind
            if kind == "recurring":
                sums[_YEAR if c.period == "year" else _MONTH] += c.net_amount
                sums[_MONTHLY_EQ] += c.monthly_equivalent
                if c.term_amount is not None:
                    sums[_TERM] += c.term_amount
                if c.prorated_amount is not None:
                    sums[_PRORATED] += c.prorated_amount
            else:
                sums[_ONE_TIME if kind == "one_time" else _USAGE] += c.net_amount
            applied += c.applied_rules
        text = line_json(
            [c.text for c in charges], step_texts, sums[_LIST], sums[_DISCOUNT], sums[_NET]
        )
        fingerprint = "sha256:" + hashlib.sha256(text.encode("utf-8")).hexdigest()
        values = {
            "charges": [c.model for c in charges],
            "trace": step_models,
            "list_amount": sums[_LIST],
            "discount_amount": sums[_DISCOUNT],
            "net_amount": sums[_NET],
            "fingerprint": fingerprint,
        }
        return LinePrice(
            build(PricedLine, values),
            f'"{fingerprint}"',
            tuple(applied),
            tuple(warnings),
            tuple(sums),
        )
