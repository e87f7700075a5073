"""A change is judged with what the customer already has, not as a sale of one product.

Given an account that runs business internet and a managed firewall (which requires
internet in the same quote or installed), or a secure-branch bundle (internet and a
firewall as its components), when a quote changes one of those assets on its own, then
the change is judged against the asset as it is installed: its add-ons and bundle
contents, and the account's other assets for quote-scoped requirements.
"""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

from cpqsim.asset import AssetChangeApplied, AssetChangeLocked, AssetCreated, InstalledBase
from cpqsim.change import check_change_lines
from cpqsim.configuration import QuoteLine
from cpqsim.context import Context, IdSource, at, rng_stream
from cpqsim.quote import (
    AcceptQuote,
    ConvertQuoteToOrder,
    CreateQuote,
    PriceQuote,
    QuoteServices,
    execute,
)

INTERNET = AssetCreated(
    asset_id="a-net",
    account_id="acme",
    offering="business-internet@1",
    quantity=1,
    options=["bi-access-fiber@1", "bi-sla-standard@1"],
)
FIREWALL = AssetCreated(
    asset_id="a-fw",
    account_id="acme",
    offering="managed-firewall@1",
    quantity=1,
    options=["mf-tier-basic@1"],
)


def more_firewalls(quantity: int = 3) -> QuoteLine:
    return QuoteLine(
        offering="managed-firewall@1",
        quantity=quantity,
        options=["mf-tier-basic@1"],
        action="modify",
        asset_id="a-fw",
    )


def codes(refusals) -> list[tuple[str, str]]:
    return [(r.code, r.message) for r in refusals]


def test_a_firewall_modified_on_its_own_is_met_by_the_internet_line_the_account_runs(
    sample_catalog,
):
    base = InstalledBase([INTERNET, FIREWALL])

    refused = check_change_lines(sample_catalog, base, "acme", [more_firewalls()])

    assert refused == []


def test_without_internet_installed_the_firewall_change_names_the_missing_requirement(
    sample_catalog,
):
    order = {"asset_id": "a-net", "order_id": "o-9", "item_id": "o-9-item1"}
    locked = AssetChangeLocked(**order, action="disconnect", asset_version=1)
    gone = AssetChangeApplied(**order, action="disconnect", asset_version=2)
    for base in (InstalledBase([FIREWALL]), InstalledBase([INTERNET, locked, gone, FIREWALL])):
        refused = check_change_lines(sample_catalog, base, "acme", [more_firewalls()])

        [(code, message)] = codes(refused)
        assert code == "configuration"
        assert "neither in the quote nor installed for the account" in message


def test_another_accounts_internet_does_not_meet_the_requirement(sample_catalog):
    theirs = INTERNET.model_copy(update={"account_id": "globex"})
    base = InstalledBase([theirs, FIREWALL])

    refused = check_change_lines(sample_catalog, base, "acme", [more_firewalls()])

    assert [c for c, _ in codes(refused)] == ["configuration"]


def test_a_bundle_modified_on_its_own_still_holds_its_installed_components(sample_catalog):
    bundle = AssetCreated(
        asset_id="a-sb", account_id="acme", offering="secure-branch@1", quantity=2
    )
    components = [
        INTERNET.model_copy(
            update={"asset_id": "a-sb.1", "role": "component", "parent_id": "a-sb", "quantity": 2}
        ),
        FIREWALL.model_copy(
            update={"asset_id": "a-sb.2", "role": "component", "parent_id": "a-sb", "quantity": 2}
        ),
    ]
    base = InstalledBase([bundle, *components])
    more_branches = QuoteLine(
        offering="secure-branch@1", quantity=3, action="modify", asset_id="a-sb"
    )

    assert check_change_lines(sample_catalog, base, "acme", [more_branches]) == []


def test_a_firewall_change_is_quoted_priced_and_converted_beside_the_installed_internet(
    sample_catalog,
):
    """The price request states what else the account has installed, so pricing it again
    (and the conversion's guard) judges the requirement as the quote did."""
    billed = {
        "recurring_monthly": Decimal("45.00"),
        "currency": "USD",
        "term_start": date(2026, 1, 1),
        "term_end": date(2027, 1, 1),
        "order_id": "o-0",
    }
    base = InstalledBase(
        [
            INTERNET.model_copy(update={**billed, "subscription_id": "sub-a-net"}),
            FIREWALL.model_copy(update={**billed, "subscription_id": "sub-a-fw"}),
        ]
    )
    services = QuoteServices(catalog=sample_catalog, installed_base=base)
    ctx = Context(now=at(0) + timedelta(days=100), ids=IdSource(), rng=rng_stream(1, "t"))
    quote = None
    for command in (
        CreateQuote(quote_id="Q1", account_id="acme", requester="s", lines=[more_firewalls()]),
        PriceQuote(quote_id="Q1"),
        AcceptQuote(quote_id="Q1"),
        ConvertQuoteToOrder(quote_id="Q1", idempotency_key="k", order_id="O1"),
    ):
        quote, _ = execute(quote, command, ctx, services)

    request = quote.accepted_snapshot.price_request
    assert "business-internet" in request.installed_offerings
    assert "managed-firewall" not in request.installed_offerings  # the asset changed
    assert quote.status.value == "converted"
