"""The quote totals of priced lines, and the result with its fingerprint.

Totals add one occurrence of each distinct line price times the number of lines that
share it. Under ``total`` rounding this is where amounts are rounded, each total with a
step in ``totals_trace`` when rounding changed it; under ``line`` rounding the totals are
sums of amounts already rounded.
"""

from __future__ import annotations

import hashlib
from decimal import Decimal
from typing import Any

from cpqsim.pricing_canonical import object_json
from cpqsim.pricing_charge import QUANTIZE, ZERO, Step, step
from cpqsim.pricing_plan import Rounding
from cpqsim.pricing_result import PriceResult, build
from cpqsim.pricing_writer import SUMS, LinePrice, Writer

__all__ = ["Totals"]

_INDEX = {name: n for n, name in enumerate(SUMS)}


class Totals:
    """The rounded totals of one request's lines, in the order the result states them."""

    def __init__(self, distinct: dict[tuple, list[Any]], rounding: Rounding) -> None:
        """``distinct``: content key -> [line price, number of lines sharing it]."""
        self.rounding = rounding
        self.steps: list[Step] = []
        self.distinct = [line for line, _ in distinct.values()]  # first appearance order
        scaled = [
            line.sums if count == 1 else tuple([v * count for v in line.sums])
            for line, count in distinct.values()
        ]
        self.sums = [sum(column, ZERO) for column in zip(*scaled, strict=True)] or [ZERO] * len(
            SUMS
        )

    def rounded(self, name: str, what: str) -> Decimal:
        """One total, rounded (a step in ``totals_trace`` under total rounding)."""
        r = self.rounding
        exact = self.sums[_INDEX[name]]
        out = exact.quantize(r.quantum, rounding=r.mode, context=QUANTIZE)
        if not r.per_line and out != exact:
            self.steps.append(
                step("rounding", "rounding", r.policy_version, "total", exact, out, r.detail(what))
            )
        return out

    def applied_rules(self) -> list[str]:
        """Rule ids applied anywhere, once, in the order the lines first apply them."""
        seen: dict[str, None] = {}
        for line in self.distinct:
            for rule_id in line.applied:
                seen.setdefault(rule_id, None)
        return list(seen)

    def result(
        self,
        scalars: dict[str, Any],
        priced: list[LinePrice],
        writer: Writer,
    ) -> PriceResult:
        """The result: ``scalars`` (every field but lines, totals trace and fingerprint)
        and the priced lines, fingerprinted as a hash tree over the line fingerprints."""
        totals_models, totals_texts = writer.seal(self.steps)
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
        # Fields a request does not use (a new sale has no changes) take their default:
        # they are not in the hashed text either, so existing fingerprints keep their bytes.
        return build(
            PriceResult,
            {
                name: data[name] if name in data else (factory() if factory else default)
                for name, factory, default in _FIELDS
            },
        )


#: PriceResult's fields in order, with their default factory or default value (read once:
#: pydantic's ``get_default`` inspects the factory's signature on every call).
_FIELDS = tuple(
    (name, field.default_factory, field.default) for name, field in PriceResult.model_fields.items()
)
