"""The pricing order, as data: the rule steps every charge goes through, in order.

Each step is a module of its own with a ``prepare(facts, context, sites)`` that answers,
once per kind of charge of a request, whether the rule has anything to do with it and
how it applies (see :mod:`cpqsim.pricing_charge`); the trace of a charge reads as the
calculation, step by step. Adding a rule is writing a module and adding it here.

Which rules can apply to a charge (its contract, volume discount, promotions, bundle
discounts, whether it is included in a bundle) is decided before the steps run, once per
request, by :mod:`cpqsim.pricing_run`; a step with nothing to do for a kind of charge is
not called for it at all.
"""

from __future__ import annotations

from cpqsim.pricing_charge import RuleStep
from cpqsim.pricing_rules import (
    bundle_discount,
    contract_price,
    included,
    list_price,
    list_rounding,
    manual_discount,
    promotions,
    proration,
    recurring_equivalents,
    volume_discount,
)

__all__ = ["RULE_STEPS"]

#: The rule order (the trace of a charge follows it).
RULE_STEPS: tuple[RuleStep, ...] = (
    list_price.STEP,  # price source's amount: unit x quantity, or usage tiers
    contract_price.STEP,  # the account's contract price replaces the list unit amount
    list_rounding.STEP,  # the list amount rounded (line rounding)
    included.STEP,  # a component of a bundle on the same line is charged 0
    volume_discount.STEP,  # quote-wide quantity of the offering reaches a threshold
    promotions.STEP,  # accepted promotions, in application order
    bundle_discount.STEP,  # every bundle discount whose offerings are all in the quote
    manual_discount.STEP,  # the request's discount_pct on what is left
    proration.STEP,  # the partial first month of monthly recurring charges
    recurring_equivalents.STEP,  # monthly equivalent and amount over the term
)
