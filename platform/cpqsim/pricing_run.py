"""One pricing run: every line of a request through the rule steps, each distinct line once.

A line's price depends only on its content, its usage estimates and facts that are the
same for every line of the request (quote-wide quantities and items, the scope's plan),
so lines with equal content and usage share one priced line, and inside lines, charges
with equal inputs share one priced charge. Both memos are keyed by content and live only
as long as the run.

Work is split by what it depends on. Everything about a line but its own quantity and
usage estimates (its items, their price entries, the rules that apply to each charge,
the constant rows) is resolved once per *kind* of line into a plan
(:mod:`cpqsim.pricing_line_plan`), where each rule step that has anything to do with a
charge prepares what does not depend on the amounts; a distinct line then only runs its
charges through those prepared steps and writes the numbers.

Order of work for a line (a quote line and its bundle contents, pre-order, a bundle
before its components): resolve which items contain which (inclusions), decide the
promotions of each segment, build each charge's facts, run the charge through
:data:`cpqsim.pricing_rules.RULE_STEPS`, then let the rules explain what did not apply
to the segment. The trace of the line is the concatenation, in that order.
"""

from __future__ import annotations

from decimal import Decimal, DecimalException
from typing import Any

from cpqsim.configuration import QuoteLine
from cpqsim.pricing_charge import (
    ZERO,
    ChargeContext,
    ChargeFacts,
    ChargeState,
    SegmentOutcome,
    StepSite,
    step,
)
from cpqsim.pricing_errors import PricingError
from cpqsim.pricing_line_plan import (
    ChargePlan,
    ConstantRows,
    LineTemplate,
    MissingPrice,
    Segment,
    SegmentActions,
    Selection,
)
from cpqsim.pricing_plan import ItemFacts, PricingPlan
from cpqsim.pricing_promotions import PromotionContext, PromotionDecision, resolve_promotions
from cpqsim.pricing_rules import RULE_STEPS
from cpqsim.pricing_view import PriceSource
from cpqsim.pricing_writer import LinePrice, PricedCharge, Writer

__all__ = ["PricingRun"]


def kind_of_line(key: tuple) -> tuple:
    """A line's content key without its own quantity: lines of one kind share a plan."""
    return (key[0], *key[2:])


class PricingRun:
    """The lines of one request priced in one scope (see the module docstring)."""

    def __init__(
        self,
        plan: PricingPlan,
        ctx: ChargeContext,
        lines: list[QuoteLine],
        line_keys: list[tuple],
        usage: dict[tuple[int, str], Decimal],
        line_numbers: list[int] | None = None,
    ) -> None:
        """``line_numbers``: each line's index in the request, when the run prices only
        some of its lines (a quote that changes assets); messages name those."""
        self.plan = plan
        self.line_numbers = line_numbers
        self.ctx = ctx
        self.lines = lines
        self.line_keys = line_keys
        self.usage = usage
        self.writer = Writer()
        # Read at the start of each run: the rule order is data, and a caller (the
        # benchmark) may wrap the steps.
        self.rule_steps = RULE_STEPS
        self.explainers = tuple(r.explain for r in RULE_STEPS if r.explain is not None)
        self._included: dict[tuple[str, ...], tuple[dict[str, str], bool]] = {}
        self._selections: dict[tuple, Selection] = {}
        self.templates: dict[tuple, LineTemplate] = {}  # by kind of line
        self.kinds: dict[tuple, tuple] = {}  # line content key -> kind of line
        counts: dict[tuple, int] = {}
        for key, line in zip(line_keys, lines, strict=True):
            if key not in counts:
                kind = self.kinds[key] = kind_of_line(key)
                if kind not in self.templates:
                    self.templates[kind] = self._template(line)
                counts[key] = 0
            counts[key] += 1
        quantities: dict[str, int] = {}
        for key, count in counts.items():
            units = key[1] * count  # the line's quantity, times the lines that repeat it
            for offering_key, per_unit in self.templates[self.kinds[key]].quantities:
                quantities[offering_key] = quantities.get(offering_key, 0) + per_unit * units
        self.quote_qty = quantities
        self.quote_items = frozenset(quantities)
        self.families = frozenset().union(*[t.families for t in self.templates.values()])
        self._decisions: dict[tuple, tuple[PromotionDecision, ...]] = {}
        self._applying_memo: dict[tuple, tuple[PromotionDecision, ...]] = {}
        self._volume: dict[tuple[str, ...], Any] = {}
        self._bundles: dict[tuple[str, ...], tuple] = {}
        self._charge_plans: dict[tuple, ChargePlan] = {}

    # ------------------------------------------------------------------ lines

    def price(self) -> tuple[list[LinePrice], dict[tuple, list[Any]], list[str]]:
        """Each line's price (in line order), each distinct price with the number of lines
        sharing it (first appearance order, keyed by content), and the quote-wide
        warnings. Nothing per line is kept but the reference to its shared price."""
        usage_of: dict[int, list[tuple[str, Decimal]]] = {}
        for (i, entry_id), units in self.usage.items():
            usage_of.setdefault(i, []).append((entry_id, units))
        usages = {i: tuple(sorted(found)) for i, found in usage_of.items()}
        distinct: dict[tuple, list[Any]] = {}  # content key -> [price, lines sharing it]
        priced: list[LinePrice] = []
        warnings: list[str] = []
        seen_ties: set[str] = set()
        lines = self.lines
        no_usage: dict[str, Decimal] = {}
        for i, key in enumerate(self.line_keys):
            usage = usages.get(i, ())
            hit = distinct.get((key, usage))
            if hit is None:
                template = self.templates[self.kinds[key]]
                hit = distinct[(key, usage)] = [
                    self._price_line(
                        i, template, lines[i].quantity, dict(usage) if usage else no_usage
                    ),
                    0,
                ]
                for tie in template.ties:
                    if tie not in seen_ties:
                        seen_ties.add(tie)
                        warnings.append(tie)
            hit[1] += 1
            priced.append(hit[0])
        warnings += self._cross_line_inclusions()
        return priced, distinct, warnings

    def _template(self, line: QuoteLine) -> LineTemplate:
        """Resolve the items of ``line`` and of its bundle contents (pre-order), for any
        quantity of the line."""
        segments: list[Segment] = []
        states: list[tuple[bool, str | None]] = []  # per segment: (charged, included in)
        quantities: list[tuple[str, int]] = []
        families: set[str] = set()
        contains = False
        stack: list[tuple[QuoteLine, str, int, int | None]] = [(line, "", 1, None)]
        while stack:
            sub, at, multiplier, parent = stack.pop()
            selection = self._selection(sub)
            for keys in selection.item_keys:
                quantities.extend((key, multiplier) for key in keys)
            families |= selection.families
            contains = contains or selection.contains
            included = selection.included
            container = None
            if parent is not None:
                parent_charged, parent_in = states[parent]
                if parent_charged or parent_in is not None:
                    # A component of a priced bundle: the bundle's price pays for it.
                    container = parent_in or segments[parent].offering
                    included = {**included, sub.offering: container}
            # The segment is charged when its own offering has a price here.
            charged = any(f.item == sub.offering and f.sources for f, _ in selection.items)
            states.append((charged, container))
            candidates = self.plan.promotion_candidates(selection.item_keys)
            threshold = max((p.eligibility.min_quantity for p in candidates), default=0)
            me = len(segments)
            segments.append(
                Segment(
                    at,
                    sub.offering,
                    multiplier,
                    parent,
                    selection,
                    included,
                    candidates,
                    threshold,
                    {},
                )
            )
            children = [
                (child, f"{at}.contents[{k}]", multiplier * child.quantity, me)
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

    def _price_line(
        self, index: int, template: LineTemplate, quantity: int, usage: dict[str, Decimal]
    ) -> LinePrice:
        """Price one distinct line: its kind's plan, filled in with its quantity and usage."""
        models: list[Any] = []
        texts: list[str] = []
        warnings: list[str] = []
        charges: list[PricedCharge] = []
        for seg in template.segments:
            seg_quantity = quantity * seg.multiplier
            work = self._actions(seg, seg_quantity)
            net = ZERO
            for action in work.actions:
                if type(action) is ChargePlan:
                    units = usage.get(action.usage_entry) if action.usage_entry else None
                    done = action.priced.get((seg_quantity, units))
                    if done is None:
                        done = action.priced[(seg_quantity, units)] = self._priced_charge(
                            action, seg_quantity, units
                        )
                    models += done.step_models
                    texts += done.step_texts
                    if done.warnings:
                        warnings += done.warnings
                    charges.append(done)
                    net += done.model.net_amount
                elif type(action) is ConstantRows:
                    models += action.step_models
                    texts += action.step_texts
                    warnings += action.warnings
                else:
                    assert type(action) is MissingPrice
                    at = self.line_numbers[index] if self.line_numbers else index
                    raise PricingError(f"lines[{at}]{action.message}")
            if work.not_applied:
                self.writer.rows(
                    [(site, net, net, why) for site, why in work.not_applied], models, texts
                )
        return self.writer.line(models, texts, warnings, charges)

    # ---------------------------------------------------------------- plans

    def _actions(self, seg: Segment, quantity: int) -> SegmentActions:
        """What pricing ``seg`` at ``quantity`` does, decided once per set of promotion
        decisions (the same for every quantity at or above the segment's threshold)."""
        decisions_key = (
            seg.selection.item_keys,
            quantity if seg.candidates and quantity < seg.threshold else None,
        )
        hit = seg.actions.get(decisions_key)
        if hit is None:
            decisions = self._decisions_for(seg, quantity, decisions_key)
            hit = seg.actions[decisions_key] = self._plan_segment(
                seg, quantity, decisions_key, decisions
            )
        return hit

    def _plan_segment(
        self,
        seg: Segment,
        quantity: int,
        decisions_key: tuple,
        decisions: tuple[PromotionDecision, ...],
    ) -> SegmentActions:
        """The segment's work in trace order: a charge plan per price source of each
        priced item, constant rows for items with no price, or where pricing stops."""
        included = seg.included
        actions: list[ChargePlan | ConstantRows | MissingPrice] = []
        zero = self.ctx.rounding.zero
        for facts, path in seg.selection.items:
            item = facts.item
            if facts.missing is not None:
                actions.append(MissingPrice(f"{seg.path}{path}: {facts.missing}"))
                break  # pricing the line stops here
            if not facts.sources:
                warned: tuple[str, ...] = ()
                if item != seg.offering and item not in included:
                    warned = (f"{seg.path}{path}: {item} has no price; included at no charge",)
                steps = []
                if item in included:
                    steps.append(
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
                models, texts = self.writer.seal(steps)
                actions.append(ConstantRows(models, texts, warned))
                continue
            for source in facts.sources:
                actions.append(
                    self._charge_plan(
                        seg, facts, source, quantity, decisions_key, decisions, included.get(item)
                    )
                )
        not_applied: list[tuple[StepSite, str]] = []
        if self.plan.bundles or any(not d.applied for d in decisions):
            outcome = SegmentOutcome(
                seg.path,
                decisions,
                seg.selection.keys,
                self.plan.bundles,
                self.quote_items,
                self.plan.day,
            )
            site = self.writer.site
            not_applied = [
                (site(n.rule, n.rule_id, n.version, seg.path, applied=False), n.detail)
                for explain in self.explainers
                for n in explain(outcome)
            ]
        return SegmentActions(decisions, tuple(actions), tuple(not_applied))

    def _charge_plan(
        self,
        seg: Segment,
        item: ItemFacts,
        source: PriceSource,
        quantity: int,
        decisions_key: tuple,
        decisions: tuple[PromotionDecision, ...],
        container: str | None,
    ) -> ChargePlan:
        """The plan of one charge, shared by every kind of line that has the same charge:
        same place, item, entry and container, and the same promotions applied to it
        (with their reasons). Decisions that differ only in why a promotion did *not*
        apply (a line quantity below a minimum, named in the reason) share the plan."""
        kind = source.kind
        keys = item.keys
        charged = container is None  # an included component takes no discount
        applying = self._applying(decisions_key, decisions, keys, kind) if charged else ()
        memo_key = (
            seg.path,
            item.item,
            source.key,
            tuple([(d.promotion.id, d.reason) for d in applying]),
            container,
        )
        hit = self._charge_plans.get(memo_key)
        if hit is not None:
            return hit
        facts = ChargeFacts(
            f"{seg.path}/{item.item}/{source.id}",  # subject
            seg.path,
            item.item,
            keys,
            source,
            self.plan.contract(keys, source.id),
            self._volume_for(keys) if charged and kind != "usage" else None,
            applying,
            self._bundles_for(keys) if charged else (),
            container,  # included_in
        )
        writer = self.writer
        hit = self._charge_plans[memo_key] = ChargePlan(
            facts, self.ctx, self.rule_steps, writer, writer.charge_pieces
        )
        return hit

    # ---------------------------------------------------------------- charges

    def _priced_charge(
        self, plan: ChargePlan, quantity: int, units: Decimal | None
    ) -> PricedCharge:
        """Run one charge through the rule steps that consider it and write what came out."""
        charge = ChargeState(plan.unit_amount, self.ctx.rounding.zero)
        name = ""
        try:
            for name, apply in plan.rules:  # noqa: B007 - the error names the rule
                apply(charge, quantity, units)
        except DecimalException as exc:
            raise PricingError(
                f"{plan.subject}: {name} cannot be computed exactly "
                f"({type(exc).__name__}): an amount, rate or quantity has more "
                "significant digits than pricing carries (50)"
            ) from None
        return self.writer.charge(plan, charge, quantity)

    def _applying(
        self,
        decisions_key: tuple,
        found: tuple[PromotionDecision, ...],
        keys: tuple[str, ...],
        kind: str,
    ) -> tuple[PromotionDecision, ...]:
        """The accepted promotions that price this kind of charge of these offering keys
        (the same for every charge of a segment's decisions, keys and kind)."""
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

    def _decisions_for(
        self, seg: Segment, quantity: int, memo_key: tuple
    ) -> tuple[PromotionDecision, ...]:
        """The promotions of a segment: equal for equal selections at equal quantity
        (everything else they depend on is quote-wide), and for every quantity at or
        above each candidate's minimum (only a reason below one names the quantity)."""
        candidates = seg.candidates
        if not candidates:
            return ()
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
        return hit

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
        number = self.line_numbers or range(len(lines))
        for i, line in enumerate(lines):
            closure = plan.closure(line.offering)
            for j in sorted(j for c in closure for j in at.get(c, ()) if j != i):
                out.append(
                    f"lines[{number[j]}] {lines[j].offering} is also contained in "
                    f"{line.offering} on lines[{number[i]}]; charged as an additional, "
                    "separate purchase"
                )
        return out
