"""The evidence package, assembled from facts alone and re-verified from stored inputs."""

from __future__ import annotations

from decimal import Decimal

from cpqsim.configuration import QuoteLine
from cpqsim.context import Context, IdSource, at, rng_stream
from cpqsim.events import envelope
from cpqsim.evidence import evidence_package, verify_evidence
from cpqsim.quote import (
    AcceptQuote,
    ApproveQuote,
    ConvertQuoteToOrder,
    CreateQuote,
    PresentQuote,
    PriceQuote,
    SubmitQuoteForApproval,
    execute,
)

LINE = QuoteLine(offering="saas-suite", quantity=10, options=["saas-edition-standard"])


def facts(services, *commands, discount: str = "0"):
    """The CloudEvents a sequence of commands establishes (each by its actor)."""
    ids, state, log = IdSource(), None, []
    create = CreateQuote(
        quote_id="Q1",
        account_id="acct-1",
        requester="seller-1",
        lines=[LINE],
        discount_pct=Decimal(discount),
    )
    for t, (command, actor) in enumerate([(create, "seller-1"), *commands]):
        ctx = Context(now=at(t * 60.0), ids=ids, rng=rng_stream(1, "t"), actor=actor)
        state, events = execute(state, command, ctx, services)
        log += [envelope(e, ctx) for e in events]
    return log


def approved_and_converted(services):
    return facts(
        services,
        (PriceQuote(quote_id="Q1"), "seller-1"),
        (SubmitQuoteForApproval(quote_id="Q1"), "seller-1"),
        (ApproveQuote(quote_id="Q1", approver="manager-2", role="sales_manager"), "manager-2"),
        (PresentQuote(quote_id="Q1"), "seller-1"),
        (AcceptQuote(quote_id="Q1"), "customer"),
        (ConvertQuoteToOrder(quote_id="Q1", idempotency_key="k", order_id="O1"), "seller-1"),
        discount="0.15",
    )


def test_the_package_names_who_approved_under_which_policy_and_when(services):
    package = evidence_package("Q1", approved_and_converted(services))
    assert package is not None and package.status == "converted"
    (decision,) = package.approvals
    assert (decision.actor, decision.role, decision.time) == (
        "manager-2",
        "sales_manager",
        "2026-01-05T08:03:00.000Z",
    )
    assert decision.policy_version == services.approval_policy.version
    assert package.acceptance.recorded.actor == "customer"
    assert package.order_id == "O1" and package.conversion.idempotency_key == "k"


def test_every_fingerprint_recomputes_from_the_stored_inputs(services):
    package = evidence_package("Q1", approved_and_converted(services))
    verification = verify_evidence(package, lambda request, version: services.price(request))
    assert verification.ok, [c for c in verification.checks if not c.ok]
    assert {c.name for c in verification.checks} >= {
        "snapshot fingerprint",
        "configuration fingerprint",
        "price fingerprint",
        "proposal hash",
        "conversion carries the accepted snapshot",
    }


def test_a_price_that_no_longer_reproduces_fails_the_price_check(services, sample_catalog):
    package = evidence_package("Q1", approved_and_converted(services))

    def dearer(request, version):
        return services.price(request.model_copy(update={"discount_pct": Decimal("0.05")}))

    checks = {c.name: c for c in verify_evidence(package, dearer).checks}
    assert not checks["price fingerprint"].ok


def test_a_quote_never_accepted_has_a_partial_package_that_does_not_verify(services):
    package = evidence_package("Q1", facts(services, (PriceQuote(quote_id="Q1"), "seller-1")))
    assert package.status == "priced" and package.acceptance is None
    verification = verify_evidence(package, lambda request, version: services.price(request))
    assert not verification.ok and verification.checks[0].name == "accepted"


def test_a_quote_nobody_mentions_has_no_package(services):
    assert evidence_package("Q9", approved_and_converted(services)) is None
