"""The quote card: what a quote shard answers the gateway instead of the whole quote.

Given quotes walked through their lifecycle on a quote shard, when the shard is asked for
cards, then each card renders the TMF648 body the whole quote would (amounts summed from
the priced charges, approval, order link), at a fraction of the bytes; and a command that
fails unexpectedly answers ``failed`` without costing the rest of its batch.
"""

from __future__ import annotations

import pickle
import time
from decimal import Decimal

import pytest

from cpqsim.quote import (
    AcceptQuote,
    ApproveQuote,
    ConvertQuoteToOrder,
    CreateQuote,
    PriceQuote,
    SubmitQuoteForApproval,
)
from cpqsim.services import QuoteService
from cpqsim_actors.messages import QuoteCard
from cpqsim_actors.quote_shard import QuoteShard
from cpqsim_actors.tmf import quote_resource

from .conftest import shortened

BASE = "http://127.0.0.1:8000/"


@pytest.fixture
def loaded():
    return shortened("happy_path")


@pytest.fixture
def shard(loaded, tmp_path):
    return QuoteShard(
        "quote-0",
        loaded.catalog,
        loaded.scenario.resilience_policy(),
        time.time(),
        0.001,
        str(tmp_path / "quote-0.sqlite"),
    )


def expected_sums(charges) -> dict[str, float]:
    """Net recurring and one-time sums, straight from the priced charges."""
    sums: dict[str, Decimal] = {}
    for charge in charges:
        if charge.kind in ("recurring", "one_time"):
            sums[charge.kind] = sums.get(charge.kind, Decimal(0)) + charge.net_amount
    names = {"recurring": "recurring", "one_time": "oneTime"}
    return {names[k]: float(v) for k, v in sums.items()}


def rendered_sums(prices: list[dict]) -> dict[str, float]:
    return {p["priceType"]: p["price"]["dutyFreeAmount"]["value"] for p in prices}


def test_a_card_renders_the_amounts_of_the_priced_charges_line_by_line(shard, loaded):
    mix = next(m for m in loaded.scenario.traffic.mix if len(m.lines) > 1)
    create = CreateQuote(quote_id="Q-1", account_id="acct-1", requester="s-1", lines=mix.lines)
    shard.execute(create, "s-1")

    card = shard.execute_batch([(PriceQuote(quote_id="Q-1"), "s-1", "card")])[0].card
    body = quote_resource(card, loaded.catalog, BASE)

    quote = shard.get("Q-1").quote
    assert len(body["quoteItem"]) == len(quote.lines) > 1
    for item, priced in zip(body["quoteItem"], quote.price.lines, strict=True):
        assert rendered_sums(item["quoteItemPrice"]) == expected_sums(priced.charges)
    every_charge = [c for line in quote.price.lines for c in line.charges]
    assert rendered_sums(body["quoteTotalPrice"]) == expected_sums(every_charge)
    assert body["priceFingerprint"] == quote.price_fingerprint


def test_cards_and_whole_quotes_render_alike_through_the_lifecycle(shard, loaded):
    lines = loaded.scenario.traffic.mix[0].lines
    steps = [
        (CreateQuote(quote_id="Q-2", account_id="a", requester="s-1", lines=lines,
                     discount_pct=Decimal("0.30"), region="EU"), "s-1"),
        (PriceQuote(quote_id="Q-2"), "s-1"),
        (SubmitQuoteForApproval(quote_id="Q-2"), "s-1"),
    ]  # fmt: skip
    bodies = []
    for command, actor in steps:
        result = shard.execute_batch([(command, actor, "card")])[0]
        assert result.ok, result.message
        assert result.view is None  # the card instead of the whole quote
        view = shard.get("Q-2")
        whole = quote_resource(view.quote, loaded.catalog, BASE, view.created, view.updated)
        assert quote_resource(result.card, loaded.catalog, BASE) == whole
        bodies.append(whole)
    quote = shard.get("Q-2").quote
    assert quote.approval_required and bodies[-1]["authorization"][0]["state"] == "requested"

    role = quote.required_role
    for command, actor in [
        (ApproveQuote(quote_id="Q-2", approver="m-1", role=role), "m-1"),
        (AcceptQuote(quote_id="Q-2"), "s-1"),
        (ConvertQuoteToOrder(quote_id="Q-2", idempotency_key="k-1"), "s-1"),
    ]:
        card = shard.execute_batch([(command, actor, "card")])[0].card
        body = quote_resource(card, loaded.catalog, BASE)
    assert {"id": "m-1", "role": "Approver", "@referredType": "Individual"} in body["relatedParty"]
    assert body["authorization"][0]["state"] == "approved"
    assert body["productOrder"]["id"] == shard.get("Q-2").quote.order_id
    assert body["region"] == "EU" and body["cpqsimStatus"] == "converted"
    assert body["effectiveQuoteCompletionDate"] == card.updated


def test_a_card_costs_a_fraction_of_the_whole_quote_to_send(shard, loaded):
    lines = loaded.scenario.traffic.mix[0].lines
    shard.execute(CreateQuote(quote_id="Q-3", account_id="a", requester="s", lines=lines), "s")
    whole, card = shard.execute_batch(
        [(PriceQuote(quote_id="Q-3"), "s"), (PriceQuote(quote_id="Q-3"), "s", "card")]
    )
    assert isinstance(card.card, QuoteCard)
    assert len(pickle.dumps(card)) * 3 < len(pickle.dumps(whole))


def test_a_command_that_fails_unexpectedly_answers_failed_and_spares_its_batch(
    shard, loaded, monkeypatch
):
    lines = loaded.scenario.traffic.mix[0].lines
    original = QuoteService.handle

    def flaky(self, command, ctx):
        if command.quote_id == "Q-BUG":
            raise RuntimeError("a bug")
        return original(self, command, ctx)

    monkeypatch.setattr(QuoteService, "handle", flaky)
    results = shard.execute_batch(
        [
            (CreateQuote(quote_id="Q-OK1", account_id="a", requester="s", lines=lines), "s"),
            (CreateQuote(quote_id="Q-BUG", account_id="a", requester="s", lines=lines), "s"),
            (CreateQuote(quote_id="Q-OK2", account_id="a", requester="s", lines=lines), "s"),
        ]
    )

    assert [r.outcome for r in results] == ["ok", "failed", "ok"]
    assert results[1].code == "internal_error" and "a bug" in results[1].message
    journaled = {e.subject for e in shard.journal.replay()}
    assert journaled == {"quote/Q-OK1", "quote/Q-OK2"}
