"""One pricing run: every line of a request through the rule steps, each distinct line once.

A line's price depends only on its content, its usage estimates and facts that are the
same for every line of the request (quote-wide quantities and items, the scope's plan),
so lines with equal content and usage share one priced line, and inside lines, charges
with equal inputs share one priced charge. Both memos are keyed by content and live only
as long as the run.

Order of work for a line (a quote line and its bundle contents, pre-order, a bundle
before its components): resolve which items contain which (inclusions), decide the
promotions of each segment, build each charge's facts, run the charge through
:data:`cpqsim.pricing_rules.RULE_STEPS`, then let the rules explain what did not apply
to the segment. The trace of the line is the concatenation, in that order.
"""

from __future__ import annotations

from decimal import Decimal, DecimalException
from typing import Any, NamedTuple

from cpqsim.configuration import QuoteLine
from cpqsim.pricing_charge import (
    ZERO,
    Charge,
    ChargeContext,
    ChargeFacts,
    SegmentOutcome,
    Step,
    step,
)
from cpqsim.pricing_errors import PricingError
from cpqsim.pricing_plan import ItemFacts, PricingPlan
from cpqsim.pricing_promotions import PromotionContext, PromotionDecision, resolve_promotions
from cpqsim.pricing_rules import RULE_STEPS
from cpqsim.pricing_view import PriceSource
from cpqsim.pricing_writer import LinePrice, PricedCharge, Writer

__all__ = ["LineTemplate", "PricingRun"]


class Selection(NamedTuple):
    """What one selection (offering, options, add-ons) resolves to in the run's scope;
    shared by every segment that selects the same, whatever its quantity or place."""

    items: tuple[tuple[ItemFacts, str], ...]  # (item, its path relative to the segment)
    item_keys: tuple[tuple[str, ...], ...]
    included: dict[str, str]  # item -> the item of the same selection containing it
    keys: frozenset[str]  # every id of every item
    families: frozenset[str]
    contains: bool  # does any item contain something?


class Segment(NamedTuple):
    """A quote line or one of its bundle component lines, resolved."""

    path: str  # relative to the quote line: "" or ".contents[k]..."
    line: QuoteLine
    quantity: int  # effective: a component's quantity counts per unit of its bundle
    parent: int | None  # index of the containing bundle's segment
    selection: Selection


class LineTemplate(NamedTuple):
    """What one distinct line content resolves to, before any amount is computed."""

    segments: tuple[Segment, ...]
    quantities: tuple[tuple[str, int], ...]  # offering key -> quantity it adds
    families: frozenset[str]
    contains: bool  # does any item of the line contain something?
    ties: tuple[str, ...]  # warnings: price books that tie for one of its items


class PricingRun:
    """The lines of one request priced in one scope (see the module docstring)."""

    def __init__(
        self,
        plan: PricingPlan,
        ctx: ChargeContext,
        lines: list[QuoteLine],
        line_keys: list[tuple],
        usage: dict[tuple[int, str], Decimal],
    ) -> None:
        self.plan = plan
        self.ctx = ctx
        self.lines = lines
        self.line_keys = line_keys
        self.usage = usage
        self.writer = Writer()
        self._included: dict[tuple[str, ...], tuple[dict[str, str], bool]] = {}
        self._selections: dict[tuple, Selection] = {}
        self.templates: dict[tuple, LineTemplate] = {}
        counts: dict[tuple, int] = {}
        for key, line in zip(line_keys, lines, strict=True):
            if key not in self.templates:
                self.templates[key] = self._template(line)
            counts[key] = counts.get(key, 0) + 1
        quantities: dict[str, int] = {}
        for key, count in counts.items():
            for offering_key, qty in self.templates[key].quantities:
                quantities[offering_key] = quantities.get(offering_key, 0) + qty * count
        self.quote_qty = quantities
        self.quote_items = frozenset(quantities)
        self.families = frozenset().union(*[t.families for t in self.templates.values()])
        self._decisions: dict[tuple, tuple[PromotionDecision, ...]] = {}
        self._applying_memo: dict[tuple, tuple[PromotionDecision, ...]] = {}
        self._volume: dict[tuple[str, ...], Any] = {}
        self._bundles: dict[tuple[str, ...], tuple] = {}
        self._charges: dict[tuple, PricedCharge] = {}

    # ------------------------------------------------------------------ lines

    def price(self) -> tuple[list[LinePrice], dict[tuple, list[Any]], list[str]]:
        """Each line's price (in line order), each distinct price with the number of lines
        sharing it (first appearance order, keyed by content), and the quote-wide
        warnings. Nothing per line is kept but the reference to its shared price."""
        usage_of: dict[int, list[tuple[str, Decimal]]] = {}
        for (i, entry_id), units in self.usage.items():
            usage_of.setdefault(i, []).append((entry_id, units))
        distinct: dict[tuple, list[Any]] = {}  # content key -> [price, lines sharing it]
        priced: list[LinePrice] = []
        warnings: list[str] = []
        seen_ties: set[str] = set()
        for i, key in enumerate(self.line_keys):
            usage = tuple(sorted(usage_of[i])) if i in usage_of else ()
            hit = distinct.get((key, usage))
            if hit is None:
                template = self.templates[key]
                hit = distinct[(key, usage)] = [self._price_line(i, template, dict(usage)), 0]
                for tie in template.ties:
                    if tie not in seen_ties:
                        seen_ties.add(tie)
                        warnings.append(tie)
            hit[1] += 1
            priced.append(hit[0])
        warnings += self._cross_line_inclusions()
        return priced, distinct, warnings

    def _template(self, line: QuoteLine) -> LineTemplate:
        """Resolve the items of ``line`` and of its bundle contents (pre-order)."""
        segments: list[Segment] = []
        quantities: list[tuple[str, int]] = []
        families: set[str] = set()
        contains = False
        stack: list[tuple[QuoteLine, str, int, int | None]] = [(line, "", line.quantity, None)]
        while stack:
            sub, at, qty, parent = stack.pop()
            selection = self._selection(sub)
            for keys in selection.item_keys:
                quantities.extend((key, qty) for key in keys)
            families |= selection.families
            contains = contains or selection.contains
            me = len(segments)
            segments.append(Segment(at, sub, qty, parent, selection))
            children = [
                (child, f"{at}.contents[{k}]", qty * child.quantity, me)
                for k, child in enumerate(sub.contents)
            ]
            stack.extend(reversed(children))  # pre-order: first component next
        ties = tuple(
            dict.fromkeys(
                tie for seg in segments for facts, _ in seg.selection.items for tie in facts.ties
            )
        )
        return LineTemplate(tuple(segments), tuple(quantities), frozenset(families), contains, ties)

    def _selection(self, line: QuoteLine) -> Selection:
        memo_key = (line.offering, tuple(line.options), tuple(line.add_ons))
        hit = self._selections.get(memo_key)
        if hit is not None:
            return hit
        plan = self.plan
        written = [(line.offering, ".offering")]
        written += [(o, f".options[{j}]") for j, o in enumerate(line.options)]
        written += [(a, f".add_ons[{k}]") for k, a in enumerate(line.add_ons)]
        items = tuple((plan.item(item), path) for item, path in written)
        item_keys = tuple(facts.keys for facts, _ in items)
        included, contains = self._inclusions(tuple(item for item, _ in written))
        hit = self._selections[memo_key] = Selection(
            items,
            item_keys,
            included,
            frozenset(k for keys in item_keys for k in keys),
            frozenset(facts.offering.family for facts, _ in items),
            contains,
        )
        return hit

    def _price_line(self, index: int, template: LineTemplate, usage: dict[str, Decimal]):
        writer = self.writer
        models: list[Any] = []
        texts: list[str] = []
        pending: list[Step] = []  # the line's own steps, not sealed yet
        warnings: list[str] = []
        charges: list[PricedCharge] = []
        states: list[tuple[bool, str | None]] = []  # per segment: (charged, included in)
        zero = self.ctx.rounding.zero
        for seg in template.segments:
            selection = seg.selection
            included = selection.included
            container = None
            if seg.parent is not None:
                parent_charged, parent_in = states[seg.parent]
                if parent_charged or parent_in is not None:
                    # A component of a priced bundle: the bundle's price pays for it.
                    container = parent_in or template.segments[seg.parent].line.offering
                    included = {**included, seg.line.offering: container}
            decisions_key, decisions = self._decisions_for(seg)
            charged = False
            first = len(charges)
            for facts, path in selection.items:
                item = facts.item
                if facts.missing is not None:
                    raise PricingError(f"lines[{index}]{seg.path}{path}: {facts.missing}")
                if not facts.sources:
                    if item != seg.line.offering and item not in included:
                        warnings.append(
                            f"{seg.path}{path}: {item} has no price; included at no charge"
                        )
                    if item in included:
                        pending.append(
                            step(
                                "included",
                                "included-component",
                                self.ctx.catalog_version,
                                f"{seg.path}/{item}",
                                zero,
                                zero,
                                f"{item} is contained in {included[item]}; not charged",
                            )
                        )
                    continue
                if item == seg.line.offering:
                    charged = True
                for source in facts.sources:
                    units = usage.get(source.entry.id) if source.entry.kind == "usage" else None
                    memo_key = (
                        seg.path,
                        item,
                        source.key,
                        seg.quantity,
                        selection.item_keys,
                        included.get(item),
                        units,
                    )
                    done = self._charges.get(memo_key)
                    if done is None:
                        done = self._charges[memo_key] = self._priced_charge(
                            seg,
                            facts,
                            source,
                            (decisions_key, decisions),
                            included.get(item),
                            units,
                        )
                    if pending:
                        writer.seal_into(pending, models, texts)
                        pending.clear()
                    models += done.step_models
                    texts += done.step_texts
                    warnings += done.warnings
                    charges.append(done)
            states.append((charged, container))
            if self.plan.bundles or any(not d.applied for d in decisions):
                outcome = SegmentOutcome(
                    seg.path,
                    sum((c.charge.running for c in charges[first:]), ZERO),
                    decisions,
                    selection.keys,
                    self.plan.bundles,
                    self.quote_items,
                    self.plan.day,
                )
                for rule in RULE_STEPS:
                    if rule.explain is not None:
                        pending += rule.explain(outcome)
        if pending:
            writer.seal_into(pending, models, texts)
        return writer.line(models, texts, warnings, charges)

    def _inclusions(self, ids: tuple[str, ...]) -> tuple[dict[str, str], bool]:
        """item -> the item of the same segment that contains it (first container in
        selection order wins), and whether any item contains anything at all.

        Compared by stable id: a bundle containing ``mail`` (or ``mail@2``) covers the
        ``mail`` selected beside it whichever version the date resolves.
        """
        hit = self._included.get(ids)
        if hit is None:
            out: dict[str, str] = {}
            contains = False
            for container in ids:
                closure = self.plan.closure(container)
                if not closure:
                    continue
                contains = True
                for item in ids:
                    if item != container and item.split("@", 1)[0] in closure and item not in out:
                        out[item] = container
            hit = self._included[ids] = (out, contains)
        return hit

    # ---------------------------------------------------------------- charges

    def _priced_charge(
        self,
        seg: Segment,
        item: ItemFacts,
        source: PriceSource,
        decisions: tuple[tuple, tuple[PromotionDecision, ...]],
        container: str | None,
        units: Decimal | None,
    ) -> PricedCharge:
        """Run one charge through the rule steps and seal what came out."""
        entry = source.entry
        kind = entry.kind
        keys = item.keys
        charged = container is None  # an included component takes no discount
        facts = ChargeFacts(  # positional, in field order: keywords cost 2 us a charge
            f"{seg.path}/{item.item}/{entry.id}",  # subject
            seg.path,
            item.item,
            keys,
            source,
            seg.quantity,
            units,
            self.plan.contract(keys, entry.id),
            self._volume_for(keys) if charged and kind != "usage" else None,
            self._applying(decisions, keys, kind) if charged else (),
            self._bundles_for(keys) if charged else (),
            container,  # included_in
        )
        ctx = self.ctx
        charge = Charge(
            facts, entry.amount, None, ZERO, ctx.rounding.zero, ZERO, None, None, None, (), ()
        )
        steps: list[Step] = []
        for rule in RULE_STEPS:
            try:
                charge, produced = rule.apply(charge, ctx)
            except DecimalException as exc:
                raise PricingError(
                    f"{facts.subject}: {rule.name} cannot be computed exactly "
                    f"({type(exc).__name__}): an amount, rate or quantity has more "
                    "significant digits than pricing carries (50)"
                ) from None
            if produced:
                steps += produced
        return self.writer.charge(charge, steps)

    def _applying(
        self,
        decisions: tuple[tuple, tuple[PromotionDecision, ...]],
        keys: tuple[str, ...],
        kind: str,
    ) -> tuple[PromotionDecision, ...]:
        """The accepted promotions that price this kind of charge of these offering keys
        (the same for every charge of a segment's decisions, keys and kind)."""
        decisions_key, found = decisions
        memo_key = (decisions_key, keys, kind)
        hit = self._applying_memo.get(memo_key)
        if hit is None:
            hit = self._applying_memo[memo_key] = tuple(
                d
                for d in found
                if d.applied
                and kind in d.promotion.charge_kinds
                and not set(keys).isdisjoint(d.promotion.applies_to)
            )
        return hit

    def _decisions_for(self, seg: Segment) -> tuple[tuple, tuple[PromotionDecision, ...]]:
        """The promotions of a segment, with their content key: equal for equal
        selections at equal quantity (everything else they depend on is quote-wide)."""
        item_keys = seg.selection.item_keys
        candidates = self.plan.promotion_candidates(item_keys)
        if not candidates:
            return (item_keys, None), ()
        # The quantity matters only below some candidate's minimum (the reason then
        # names it); at or above every minimum, the decisions are the same.
        quantity = seg.quantity
        below = any(quantity < p.eligibility.min_quantity for p in candidates)
        memo_key = (item_keys, quantity if below else None)
        hit = self._decisions.get(memo_key)
        if hit is None:
            scope = self.plan.scope
            assert scope.business_date is not None  # no candidates without a date
            context = PromotionContext(
                business_date=scope.business_date,
                region=scope.region,
                channel=scope.channel,
                segment=scope.segment,
                line_quantity=quantity,
                quote_items=self.quote_items,
            )
            hit = self._decisions[memo_key] = tuple(resolve_promotions(list(candidates), context))
        return memo_key, hit

    def _volume_for(self, keys: tuple[str, ...]) -> Any:
        """(best volume discount, quote quantity of the keys) or None."""
        if keys in self._volume:
            return self._volume[keys]
        best = None
        for key in keys:
            qty = self.quote_qty.get(key, 0)
            for vd in self.plan.volume(key):
                if vd.min_quantity <= qty and (
                    best is None or (vd.min_quantity, best.id) > (best.min_quantity, vd.id)
                ):
                    best = vd
        hit = None
        if best is not None:
            hit = (best, max(self.quote_qty.get(k, 0) for k in keys))
        self._volume[keys] = hit
        return hit

    def _bundles_for(self, keys: tuple[str, ...]) -> tuple:
        """Bundle discounts in force that target ``keys`` and whose offerings are all in
        the quote (quote-wide facts: the same for every charge of these keys)."""
        hit = self._bundles.get(keys)
        if hit is None:
            in_force = self.plan.bundles_in_force
            items = self.quote_items
            hit = self._bundles[keys] = tuple(
                b
                for b in self.plan.bundles
                if b.id in in_force
                and not set(keys).isdisjoint(b.applies_to)
                and all(o in items for o in b.when_all)
            )
        return hit

    # ------------------------------------------------------------------ quote

    def _cross_line_inclusions(self) -> list[str]:
        """Warn when a line's offering is also contained in another line's bundle."""
        if not any(t.contains for t in self.templates.values()):
            return []
        lines, plan = self.lines, self.plan
        at: dict[str, list[int]] = {}
        for j, other in enumerate(lines):
            at.setdefault(other.offering.split("@", 1)[0], []).append(j)
        out = []
        for i, line in enumerate(lines):
            closure = plan.closure(line.offering)
            for j in sorted(j for c in closure for j in at.get(c, ()) if j != i):
                out.append(
                    f"lines[{j}] {lines[j].offering} is also contained in {line.offering} "
                    f"on lines[{i}]; charged as an additional, separate purchase"
                )
        return out
