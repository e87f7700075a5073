"""Golden quote cases: validity dates and conversion guards, worked out by hand.

Each ``tests/golden/quotes/*.json`` holds ``name``, ``description``, ``working`` (the
reasoning, step by step), ``input`` and ``expected``. A quote of the given lines is
presented and accepted at the stated instants against the sample catalog; each
conversion attempt starts again from that accepted quote, at its own instant, under
its own policy and (when the case says so) a changed catalog.
"""

from __future__ import annotations

import copy
import json
from dataclasses import replace
from datetime import datetime
from decimal import Decimal
from pathlib import Path

import pytest
from conftest import SAMPLE_CATALOG

from cpqsim.catalog import Catalog, parse_catalog
from cpqsim.configuration import QuoteLine
from cpqsim.context import Context, IdSource, rng_stream
from cpqsim.lifecycle import DomainError
from cpqsim.quote import (
    AcceptQuote,
    ConvertQuoteToOrder,
    CreateQuote,
    ExpireQuote,
    PresentQuote,
    PriceQuote,
    Quote,
    QuoteServices,
    QuoteStatus,
    execute,
)
from cpqsim.quote_policy import QuotePolicy
from cpqsim_scenarios.files import read_catalog_document

GOLDEN = Path(__file__).resolve().parents[1] / "golden" / "quotes"
CASES = sorted(GOLDEN.glob("*.json"))
MUST_COVER = {
    "validity_dates",
    "conversion_refused_expired",
    "conversion_refused_stale_fingerprint",
    "conversion_refused_not_orderable",
}


def test_the_golden_set_covers_validity_and_every_conversion_guard() -> None:
    assert {p.stem for p in CASES} >= MUST_COVER


def _at(text: str) -> Context:
    return Context(
        now=datetime.fromisoformat(text.replace("Z", "+00:00")),
        ids=IdSource(),
        rng=rng_stream(1, "golden"),
    )


def _run(services: QuoteServices, state: Quote | None, command, at: str) -> Quote:
    state, _ = execute(state, command, _at(at), services)
    assert state is not None
    return state


def _changed_catalog(change: dict, same_prices: bool = False) -> Catalog:
    document = copy.deepcopy(read_catalog_document(SAMPLE_CATALOG))
    document["version"] = change["version"]
    entry = change.get("price_entry")
    if entry and not same_prices:
        for book in document["pricing"]["price_books"]:
            for row in book["entries"]:
                if row["id"] == entry["id"]:
                    row["amount"] = entry["amount"]
    retire = change.get("retire")
    if retire:
        for offering in document["offerings"]:
            if (
                offering["id"] == retire["offering"]
                and str(offering["version"]) == retire["version"]
            ):
                offering["effective_to"] = retire["effective_to"]
    return parse_catalog(document, source=f"golden {change['version']}")


def _accepted(services: QuoteServices, case_input: dict, **quote) -> Quote:
    present_at = case_input.get("present_at", case_input.get("accept_at"))
    lines = [QuoteLine(**line) for line in case_input["lines"]]
    create = CreateQuote(
        quote_id="G1", account_id="acct-1", requester="seller-1", lines=lines, **quote
    )
    state = _run(services, None, create, present_at)
    state = _run(services, state, PriceQuote(quote_id="G1"), present_at)
    state = _run(services, state, PresentQuote(quote_id="G1"), present_at)
    if "accept_at" in case_input:
        state = _run(services, state, AcceptQuote(quote_id="G1"), case_input["accept_at"])
    return state


def _attempt(services: QuoteServices, state: Quote, attempt: dict) -> tuple[str, str]:
    if "expire_first_at" in attempt:
        state = _run(services, state, ExpireQuote(quote_id="G1"), attempt["expire_first_at"])
        assert state.status is QuoteStatus.EXPIRED
    try:
        converted = _run(
            services, state, ConvertQuoteToOrder(quote_id="G1", idempotency_key="k"), attempt["at"]
        )
    except DomainError as refused:
        return refused.code, refused.message
    assert converted.status is QuoteStatus.CONVERTED
    assert converted.accepted_snapshot == state.accepted_snapshot  # never re-priced
    return "converted", ""


@pytest.mark.parametrize("path", CASES, ids=[p.stem for p in CASES])
def test_golden_quote(path: Path, sample_catalog: Catalog) -> None:
    case = json.loads(path.read_text(encoding="utf-8"))
    assert {"name", "description", "working", "input", "expected"} <= set(case)
    given, expected = case["input"], case["expected"]
    base = QuoteServices(catalog=sample_catalog)

    for i, validity in enumerate(given.get("cases", [])):
        services = replace(base, quote_policy=QuotePolicy(**validity["policy"]))
        state = _accepted(
            services, {**given, "present_at": validity["present_at"]}, **validity["quote"]
        )
        assert state.valid_until.isoformat().replace("+00:00", "Z") == validity["valid_until"], i

    if "convert_attempts" not in given:
        return
    services = replace(base, quote_policy=QuotePolicy(**given.get("policy", {})))
    accepted = _accepted(services, given)
    if "valid_until" in expected:
        assert accepted.valid_until.isoformat().replace("+00:00", "Z") == expected["valid_until"]
    price = accepted.accepted_snapshot and accepted.price
    for key in ("net_total", "recurring_total", "one_time_total"):
        if key in expected:
            assert getattr(price, key) == Decimal(expected[key]), key
    for i, attempt in enumerate(given["convert_attempts"]):
        catalog = sample_catalog
        if "catalog_change" in given:
            catalog = _changed_catalog(given["catalog_change"], attempt.get("same_prices", False))
        policy = QuotePolicy(**{**given.get("policy", {}), **attempt.get("policy", {})})
        services = replace(base, catalog=catalog, quote_policy=policy)
        outcome, message = _attempt(services, accepted, attempt)
        assert outcome == attempt["expect"], f"{path.name} attempt {i}: {message}"
        if "message_names" in attempt:
            assert attempt["message_names"] in message
