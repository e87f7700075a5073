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
from typing import Any, NamedTuple

from cpqsim.pricing_canonical import ChargeTexts, Escapes, StepTexts, line_json
from cpqsim.pricing_charge import ZERO, Charge, Step
from cpqsim.pricing_result import LineCharge, PricedLine, PriceStep, build, build_all

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
    warnings: tuple[str, ...]
    charge: Charge


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
    """Writes the rows of one request (escaped texts and step templates are shared)."""

    def __init__(self) -> None:
        self.escapes = Escapes()
        self.step_text = StepTexts(self.escapes)
        self.charge_text = ChargeTexts(self.escapes)

    def seal(self, steps: Iterable[Step]) -> tuple[list[Any], list[str]]:
        steps = list(steps)
        text = self.step_text
        return build_all(PriceStep, steps), [text(s) for s in steps]

    def seal_into(self, steps: list[Step], models: list[Any], texts: list[str]) -> None:
        """Append the models and JSON of ``steps`` to a line's trace, in order."""
        text = self.step_text
        models += build_all(PriceStep, steps)
        texts += [text(s) for s in steps]

    def charge(self, charge: Charge, steps: list[Step]) -> PricedCharge:
        f = charge.facts
        source = f.source
        entry = source.entry
        kind = entry.kind
        # Field order of LineCharge: this dict becomes the model's __dict__.
        values = {
            "item": f.item,
            "price_id": entry.id,
            "kind": kind,
            "unit_amount": charge.unit_amount,
            "quantity": f.quantity,
            "list_amount": charge.list_amount,
            "discount_amount": charge.discount_amount,
            "net_amount": charge.running,
            "period": entry.period if kind == "recurring" else None,
            "term_months": getattr(entry, "term_months", None),
            "monthly_equivalent": charge.monthly,
            "term_amount": charge.term,
            "usage_unit": getattr(entry, "usage_unit", None),
            "usage_units": charge.usage_units,
            "prorated_amount": charge.prorated,
            "price_source": source.source,
            "price_source_version": source.version,
            "included_in": f.included_in,
            "applied_rules": list(charge.applied),
            "path": f.path,
        }
        models, texts = self.seal(steps)
        return PricedCharge(
            build(LineCharge, values),
            self.charge_text(values),
            models,
            texts,
            charge.warnings,
            charge,
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
            c = priced.charge
            sums[_LIST] += c.list_amount
            sums[_DISCOUNT] += c.discount_amount
            sums[_NET] += c.running
            kind = c.facts.source.entry.kind
            if kind == "recurring":
                sums[_YEAR if c.facts.source.entry.period == "year" else _MONTH] += c.running
                sums[_MONTHLY_EQ] += c.monthly  # type: ignore[operator]
                if c.term is not None:
                    sums[_TERM] += c.term
                if c.prorated is not None:
                    sums[_PRORATED] += c.prorated
            else:
                sums[_ONE_TIME if kind == "one_time" else _USAGE] += c.running
            applied += c.applied
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
