"""Quoting changes to what a customer already has.

Given an installed base (the sample catalog's collaboration suite, 20 seats of the
standard edition for account ``acme``), when a quote changes an asset, then the change is
judged against the asset as it stands now, priced against its subscription, and the
accepted snapshot carries what billing needs; a change the base refuses is refused with
every reason, and nothing changes.
"""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest

from cpqsim.asset import AssetChangeApplied, AssetChangeLocked, AssetCreated, InstalledBase
from cpqsim.configuration import QuoteLine
from cpqsim.context import Context, IdSource, at, rng_stream
from cpqsim.eligibility import EligibilityPolicy, EligibilityRule
from cpqsim.pricing import PricingError
from cpqsim.quote import (
    AcceptQuote,
    ChangeRefused,
    ConvertQuoteToOrder,
    CreateQuote,
    PriceQuote,
    QuoteServices,
    ReviseQuote,
    commercial_snapshot,
    execute,
)
from cpqsim.quote_policy import QuotePolicy
from cpqsim.services import QuoteService

SUITE = "saas-suite@2"
STANDARD = "saas-edition-standard@1"
PREMIUM = "saas-edition-premium@1"


def seats(asset_id: str = "a-1", account: str = "acme", quantity: int = 20) -> AssetCreated:
    return AssetCreated(
        asset_id=asset_id,
        account_id=account,
        offering=SUITE,
        quantity=quantity,
        options=[STANDARD],
        characteristics={"data_residency": "US", "term_months": "12"},
        order_id="o-0",
        subscription_id=f"sub-{asset_id}",
        recurring_monthly=Decimal("12.50"),
        currency="USD",
        term_start=date(2026, 1, 1),
        term_end=date(2027, 1, 1),
    )


@pytest.fixture
def base() -> InstalledBase:
    return InstalledBase([seats()])


@pytest.fixture
def change_services(sample_catalog, base) -> QuoteServices:
    return QuoteServices(catalog=sample_catalog, installed_base=base)


@pytest.fixture
def day() -> Context:
    # 2026-01-05 + 100 days = 2026-04-15: the billing month 2026-04-01..2026-05-01.
    return Context(now=at(0) + timedelta(days=100), ids=IdSource(), rng=rng_stream(1, "t"))


def upgrade(asset_id: str = "a-1", **extra) -> QuoteLine:
    return QuoteLine(
        offering=SUITE,
        quantity=20,
        options=[PREMIUM],
        action="upgrade",
        asset_id=asset_id,
        **extra,
    )


def create(lines, account: str = "acme", quote_id: str = "q-1") -> CreateQuote:
    return CreateQuote(quote_id=quote_id, account_id=account, requester="rep", lines=lines)


def test_an_upgrade_quote_is_pinned_priced_and_accepted_with_what_billing_needs(
    change_services, day
):
    # Given 20 standard seats at 12.50 a month, when an upgrade to premium is quoted
    state, events = execute(None, create([upgrade()]), day, change_services)
    # Then the line is pinned to the asset version it was quoted against
    assert state.lines[0].asset_version == 1
    state, _ = execute(state, PriceQuote(quote_id="q-1"), day, change_services)
    # ... and priced against the subscription: 250.00 -> 410.00 a month (12.50 seat +
    # 8.00 premium), 16 of April's 30 days left
    change = state.price.changes[0]
    assert (change.old_monthly, change.new_monthly) == (Decimal("250.00"), Decimal("410.00"))
    assert (change.days, change.period_days) == (16, 30)
    assert change.credit == Decimal("133.33")  # 250.00 x 16/30 = 133.333...
    assert change.charge == Decimal("218.67")  # 410.00 x 16/30 = 218.666...
    assert change.due == Decimal("85.34") == state.price.change_due_total
    assert state.price_request.assets[0].asset_id == "a-1"
    assert [s.rule for s in change.trace][:2] == ["change_old_charge", "change_new_charge"]
    # When accepted, then the snapshot carries the change for billing (no trace)
    state, events = execute(state, AcceptQuote(quote_id="q-1"), day, change_services)
    billing = events[0].snapshot.changes[0]
    assert billing.subscription_id == "sub-a-1" and billing.effective_date == date(2026, 4, 15)
    assert billing.term_end == date(2027, 1, 1)
    assert billing.proration_basis == "actual days of the billing month"
    assert "trace" not in billing.model_dump()
    assert commercial_snapshot(state).fingerprint() == events[0].snapshot_fingerprint


def test_a_new_sale_snapshot_and_request_keep_their_bytes(services, ctx):
    # Given no installed base, when a new sale is quoted and priced
    new_sale = QuoteLine(offering="saas-suite", options=["saas-edition-standard"])
    state, _ = execute(None, create([new_sale]), ctx, services)
    state, _ = execute(state, PriceQuote(quote_id="q-1"), ctx, services)
    # Then nothing about changes is written anywhere
    for dumped in (
        commercial_snapshot(state).model_dump(mode="json"),
        state.price_request.model_dump(mode="json"),
        state.price.model_dump(mode="json"),
    ):
        assert not {"changes", "assets", "contract_terms", "change_date"} & set(dumped)


@pytest.mark.parametrize(
    ("given", "line", "code"),
    [
        ("nothing", upgrade(asset_id="ghost"), "unknown_asset"),
        ("disconnected", upgrade(), "asset_disconnected"),
        ("locked", upgrade(), "asset_pending_change"),
        (
            "nothing",
            QuoteLine(
                offering=SUITE, quantity=20, options=[STANDARD], action="upgrade", asset_id="a-1"
            ),
            "nothing_to_change",
        ),
        ("premium", upgrade(), "nothing_to_change"),
        (
            "premium",
            QuoteLine(
                offering=SUITE, quantity=20, options=[STANDARD], action="upgrade", asset_id="a-1"
            ),
            "upgrade_not_allowed",
        ),
        (
            "nothing",
            QuoteLine(
                offering=SUITE,
                quantity=20,
                options=[STANDARD],
                characteristics={"term_months": "6"},
                action="modify",
                asset_id="a-1",
            ),
            "characteristic",
        ),
        ("nothing", upgrade(asset_version=7), "stale_asset_version"),
        ("other account", upgrade(), "other_account"),
    ],
)
def test_a_change_the_base_refuses_is_refused_with_its_reason_and_nothing_changes(
    sample_catalog, day, given, line, code
):
    # Given an asset in some state
    events = [seats(account="globex" if given == "other account" else "acme")]
    if given == "premium":
        events = [seats().model_copy(update={"options": [PREMIUM]})]
    if given in ("disconnected", "locked"):
        events.append(
            AssetChangeLocked(
                asset_id="a-1", order_id="o-9", item_id="i-1", action="disconnect", asset_version=1
            )
        )
    if given == "disconnected":
        events.append(
            AssetChangeApplied(
                asset_id="a-1", order_id="o-9", item_id="i-1", action="disconnect", asset_version=2
            )
        )
    base = InstalledBase(events)
    service = QuoteService(QuoteServices(catalog=sample_catalog, installed_base=base))
    before = [base.history(a.asset_id) for a in base]
    # When a change is quoted against it
    with pytest.raises(ChangeRefused) as refused:
        service.handle(create([line]), day)
    # Then it is refused with a stable code, the line's path and the reason
    assert refused.value.code == "change_refused"
    first = refused.value.refusals[0]
    assert first.code == code and first.path.startswith("lines[0]")
    assert f"{first.path} ({code})" in str(refused.value)
    # ... and nothing changed: no quote, the base as it was
    assert service.quotes == {}
    assert [base.history(a.asset_id) for a in base] == before


def test_every_refusal_is_named_at_once(change_services, day):
    # Given one asset, when two lines change it and a third names an unknown asset
    lines = [upgrade(), upgrade(), upgrade(asset_id="ghost")]
    with pytest.raises(ChangeRefused) as refused:
        execute(None, create(lines), day, change_services)
    # Then every reason is named with its line
    assert [(r.path, r.code) for r in refused.value.refusals] == [
        ("lines[1]", "asset_pending_change"),
        ("lines[2]", "unknown_asset"),
    ]


def test_an_asset_that_moved_since_the_quote_is_not_priced(change_services, base, day):
    # Given a change quote against version 1 of the asset
    state, _ = execute(None, create([upgrade()]), day, change_services)
    # When another order changes the asset (version 2) before the quote is priced
    base.apply(
        AssetChangeLocked(
            asset_id="a-1", order_id="o-5", item_id="i-1", action="modify", asset_version=1
        )
    )
    base.apply(
        AssetChangeApplied(
            asset_id="a-1",
            order_id="o-5",
            item_id="i-1",
            action="modify",
            asset_version=2,
            quantity=25,
        )
    )
    # Then pricing is refused: quote the change again
    with pytest.raises(ChangeRefused) as refused:
        execute(state, PriceQuote(quote_id="q-1"), day, change_services)
    assert refused.value.refusals[0].code == "stale_asset_version"
    # ... and a revision quoting against the current version prices again
    again = QuoteLine(
        offering=SUITE, quantity=25, options=[PREMIUM], action="upgrade", asset_id="a-1"
    )
    state, _ = execute(state, ReviseQuote(quote_id="q-1", lines=[again]), day, change_services)
    assert state.lines[0].asset_version == 2
    state, _ = execute(state, PriceQuote(quote_id="q-1"), day, change_services)
    assert state.price.changes[0].old_monthly == Decimal("312.50")  # 25 x 12.50


def test_a_grandfathered_asset_may_be_modified_but_not_sold_new(sample_catalog):
    # Given 10 seats on the grandfathered 2025 edition (in force until 2026-01-01)
    day = Context(now=at(0) - timedelta(days=21), ids=IdSource(), rng=rng_stream(1, "t"))
    old = seats().model_copy(
        update={
            "offering": "saas-suite@1",
            "quantity": 10,
            "recurring_monthly": Decimal("11.00"),
            "term_start": date(2025, 6, 1),
        }
    )
    services = QuoteServices(catalog=sample_catalog, installed_base=InstalledBase([old]))
    more = QuoteLine(
        offering="saas-suite@1", quantity=15, options=[STANDARD], action="modify", asset_id="a-1"
    )
    # When seats are added to it, then the change is quoted and priced (110.00 -> 165.00)
    state, _ = execute(None, create([more]), day, services)
    state, _ = execute(state, PriceQuote(quote_id="q-1"), day, services)
    assert state.price.changes[0].new_monthly == Decimal("165.00")
    # ... and the accepted change converts (a change is not judged as a new order)
    state, _ = execute(state, AcceptQuote(quote_id="q-1"), day, services)
    state, events = execute(
        state, ConvertQuoteToOrder(quote_id="q-1", idempotency_key="k"), day, services
    )
    assert state.status.value == "converted" and events[0].type_name == "converted_to_order"
    # ... but the same configuration as a new sale is refused (grandfathered)
    new_sale = QuoteLine(offering="saas-suite@1", quantity=15, options=[STANDARD])
    with pytest.raises(PricingError) as refused:
        execute(None, create([new_sale], quote_id="q-2"), day, services)
    assert [v.rule for v in refused.value.violations] == ["lifecycle"]


def test_suspend_and_disconnect_price_from_the_contract_terms(sample_catalog, day):
    # Given two assets and a contract with a hold charge and an early-termination charge
    from cpqsim.pricing_change_terms import (
        ContractBook,
        ContractTerms,
        EarlyTermination,
        SuspensionTerms,
    )

    terms = ContractTerms(
        version="acme-1",
        suspension=SuspensionTerms(hold_pct=Decimal("0.1")),
        early_termination=[
            EarlyTermination(id="etf", applies_to=["saas-suite"], kind="fixed", amount=Decimal("5"))
        ],
    )
    services = QuoteServices(
        catalog=sample_catalog,
        installed_base=InstalledBase([seats("a-1"), seats("a-2")]),
        contract_terms=ContractBook(accounts={"acme": terms}),
    )
    lines = [
        QuoteLine(offering=SUITE, action="suspend", asset_id="a-1"),
        QuoteLine(offering=SUITE, action="disconnect", asset_id="a-2"),
    ]
    # When both are quoted and priced
    state, _ = execute(None, create(lines), day, services)
    state, _ = execute(state, PriceQuote(quote_id="q-1"), day, services)
    suspend, disconnect = state.price.changes
    # Then the request names the account's terms, and the amounts follow them
    assert state.price_request.contract_terms == terms
    assert suspend.new_monthly == Decimal("25.00")  # 10% of 250.00
    assert disconnect.one_time == Decimal("100.00")  # 5 x 20 seats, fixed per unit
    assert disconnect.applied_rules == ["etf"]
    # ... and the lines themselves carry no charges (nothing new is configured)
    assert [line.charges for line in state.price.lines] == [[], []]


def test_eligibility_reads_the_accounts_installed_offerings(sample_catalog, base, day):
    # Given a rule that the SSO add-on needs the suite installed
    rule = EligibilityRule(
        id="sso-needs-suite", kind="installed_asset", applies_to=["saas-sso"], asset="saas-suite"
    )
    policy = QuotePolicy(eligibility=EligibilityPolicy(rules=[rule]))
    services = QuoteServices(catalog=sample_catalog, installed_base=base, quote_policy=policy)
    # When the customer context of acme (known to the base) and of a stranger is asked
    known = services.customer(create([upgrade()]))
    stranger = services.customer(create([upgrade()], account="nobody"))
    # Then acme owns what its active assets run; the stranger's assets stay unknown
    assert known.installed_assets == [SUITE]
    assert stranger.installed_assets is None


def test_change_facts_read_back_as_they_were_written(change_services, base, day):
    # Given an accepted upgrade quote, its facts as a journal stores them (JSON)
    from cpqsim.quote import QUOTE_EVENTS

    state, created = execute(None, create([upgrade()]), day, change_services)
    state, priced = execute(state, PriceQuote(quote_id="q-1"), day, change_services)
    state, accepted = execute(state, AcceptQuote(quote_id="q-1"), day, change_services)
    for fact in (*created, *priced, *accepted):
        plain = fact.model_dump(mode="json")
        # When read back, then they are the same facts (a recovered quote decides alike)
        again = QUOTE_EVENTS[fact.cloudevent_type()].model_validate(plain)
        assert again == fact
    # ... and the accepted price is reproduced from its request alone, even after the
    # asset has moved on
    base.apply(
        AssetChangeLocked(
            asset_id="a-1", order_id="o-1", item_id="i-1", action="upgrade", asset_version=1
        )
    )
    snapshot = accepted[0].snapshot
    assert change_services.price(snapshot.price_request).fingerprint == snapshot.price_fingerprint


def test_an_add_on_under_an_installed_asset_is_quoted_priced_and_converted(change_services, day):
    # Given 20 standard seats, when extra storage is added under the asset
    storage = QuoteLine(offering="saas-extra-storage", quantity=20, asset_id="a-1")
    state, _ = execute(None, create([storage]), day, change_services)
    state, _ = execute(state, PriceQuote(quote_id="q-1"), day, change_services)
    # Then it is priced as a new sale of the add-on (no sale of its own refused) ...
    assert state.price.net_total > 0 and state.price.changes == []
    state, _ = execute(state, AcceptQuote(quote_id="q-1"), day, change_services)
    state, _ = execute(
        state, ConvertQuoteToOrder(quote_id="q-1", idempotency_key="k"), day, change_services
    )
    assert state.status.value == "converted"


def test_an_add_on_the_parent_does_not_allow_is_refused(change_services, day):
    # Given standard seats, when single sign-on (premium only) is added under them
    sso = QuoteLine(offering="saas-sso", quantity=20, asset_id="a-1")
    with pytest.raises(ChangeRefused) as refused:
        execute(None, create([sso]), day, change_services)
    # Then the add-on's own rule is judged against what the customer really has
    assert refused.value.refusals[0].code == "configuration"
    assert "saas-edition-premium" in refused.value.refusals[0].message


def test_a_change_naming_the_offering_by_stable_id_is_judged_as_the_assets_version(
    sample_catalog, day
):
    # Given seats on the 2025 edition (its window closed; the 2026 edition is on sale)
    old = seats().model_copy(update={"offering": "saas-suite@1"})
    services = QuoteServices(catalog=sample_catalog, installed_base=InstalledBase([old]))
    # When a modify names just "saas-suite"
    more = QuoteLine(
        offering="saas-suite", quantity=25, options=["saas-edition-standard"], action="modify",
        asset_id="a-1",
    )  # fmt: skip
    with pytest.raises(ChangeRefused) as refused:
        execute(None, create([more]), day, services)
    # Then it means the version the asset runs (not a move to the 2026 edition, which
    # only an upgrade naming it may do): that version is judged, and its window is over
    assert [r.code for r in refused.value.refusals] == ["configuration"]
    assert "saas-suite@1 is not in force" in refused.value.refusals[0].message


def test_the_quote_service_reads_the_platforms_installed_base_as_it_grows(sample_catalog, day):
    # Given a quote service told to read the platform's (still empty) installed base
    base = InstalledBase()
    service = QuoteService(QuoteServices(catalog=sample_catalog))
    service.read_installed_base(base)
    with pytest.raises(ChangeRefused):
        service.handle(create([upgrade()]), day)
    # When the platform's base learns of the asset (the same object, not a copy)
    base.apply(seats())
    # Then the change goes ahead
    quote, _ = service.handle(create([upgrade()], quote_id="q-2"), day)
    assert quote.lines[0].asset_version == 1
