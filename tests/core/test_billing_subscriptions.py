"""Billing keeps subscriptions: a fold over the entries of its ledger that took effect."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from cpqsim.billing import Subscription, SubscriptionStatus, fold_subscriptions
from cpqsim.downstream import DownstreamLedger, DownstreamProfile, DownstreamRequest, Fault

SS = SubscriptionStatus


class Billing:
    """A billing ledger filled by hand: each call is one request that ran to its end."""

    def __init__(self, deduplicates: bool = True) -> None:
        self.ledger = DownstreamLedger(DownstreamProfile(name="billing", deduplicates=deduplicates))
        self.n = 0

    def run(
        self,
        operation: str,
        task: str,
        fault: Fault = Fault.NONE,
        compensates: str | None = None,
        key: str | None = None,
        **payload: str,
    ) -> str:
        self.n += 1
        reference = f"O1:{task}"
        request = DownstreamRequest(
            system="billing",
            operation=operation,
            reference=reference,
            idempotency_key=key or reference,
            order_id="O1",
            task_id=task,
            attempt=1,
            payload=payload,
            compensates=compensates,
        )
        self.ledger.finish(self.ledger.accept(request, self.n), self.n, fault)
        return reference


def started(billing: Billing, sub: str = "sub-a1", task: str = "i1/billing/start") -> str:
    return billing.run(
        "start_billing",
        task,
        subscription_id=sub,
        asset_id=sub.removeprefix("sub-"),
        account_id="acme",
        quantity="5",
        recurring_monthly="12.50",
        currency="EUR",
        start_date="2026-01-01",
        term_end="2027-01-01",
        proration_basis="daily",
    )


def test_a_started_subscription_carries_the_commercial_terms():
    # Given billing started for asset a1
    billing = Billing()
    started(billing)

    # When its ledger is folded
    book = fold_subscriptions(billing.ledger.snapshot())

    # Then billing keeps one active subscription with the handoff's terms
    sub = book.get("sub-a1")
    assert sub is not None and sub.status is SS.ACTIVE
    assert (sub.asset_id, sub.account_id, sub.quantity) == ("a1", "acme", 5)
    assert sub.recurring_monthly == Decimal("12.50") and sub.currency == "EUR"
    assert (sub.start_date, sub.term_end) == (date(2026, 1, 1), date(2027, 1, 1))
    assert not book.problems


def test_every_agreed_operation_moves_the_subscription_and_is_kept_in_its_history():
    # Given a subscription modified, suspended, resumed, renewed and stopped
    billing = Billing()
    started(billing)
    billing.run("modify_subscription", "i2/mod", subscription_id="sub-a1", quantity="8")
    billing.run("suspend_subscription", "i3/sus", subscription_id="sub-a1")
    suspended = fold_subscriptions(billing.ledger.entries).get("sub-a1")
    billing.run("resume_subscription", "i4/res", subscription_id="sub-a1")
    billing.run("renew_subscription", "i5/ren", subscription_id="sub-a1", term_end="2028-01-01")
    billing.run("stop_billing", "i6/stop", subscription_id="sub-a1", end_date="2027-06-30")

    # When the ledger is folded (entries and snapshot alike)
    book = fold_subscriptions(billing.ledger.entries)
    assert book == fold_subscriptions(billing.ledger.snapshot())

    # Then each operation had its effect, in ledger order
    assert suspended is not None and suspended.status is SS.SUSPENDED
    sub = book.get("sub-a1")
    assert sub is not None and sub.status is SS.STOPPED
    assert (sub.quantity, sub.term_end, sub.end_date) == (8, date(2028, 1, 1), date(2027, 6, 30))
    assert [c.operation for c in sub.history] == [
        "start_billing",
        "modify_subscription",
        "suspend_subscription",
        "resume_subscription",
        "renew_subscription",
        "stop_billing",
    ]
    assert [c.status.value for c in sub.history][-3:] == ["active", "active", "stopped"]
    assert book.in_force() == [] and not book.problems


def test_only_requests_that_took_effect_are_folded():
    # Given a start that failed, then a start that worked and its duplicate retry
    billing = Billing()
    billing.run("start_billing", "i1/billing/start", Fault.ERROR, subscription_id="sub-a1")
    reference = started(billing)
    started(billing)  # same idempotency key: deduplicated, no new side effect

    # When folded
    book = fold_subscriptions(billing.ledger.entries)

    # Then the subscription started once and nothing is reported
    sub = book.get("sub-a1")
    assert sub is not None and [c.reference for c in sub.history] == [reference]
    assert not book.problems


def test_a_reversed_start_voids_the_subscription_and_a_reversed_stop_restores_it():
    # Given a start undone by its compensation (the order was cancelled)
    voided = Billing()
    start = started(voided)
    voided.run("stop_billing", "i1/billing/start/undo", compensates=start)

    # And a suspended subscription whose disconnect was undone
    restored = Billing()
    started(restored)
    restored.run("suspend_subscription", "i2/sus", subscription_id="sub-a1")
    stop = restored.run("stop_billing", "i3/stop", subscription_id="sub-a1", end_date="2026-03-01")
    restored.run("start_billing", "i3/stop/undo", compensates=stop)

    # When both are folded
    void_sub = fold_subscriptions(voided.ledger.entries).get("sub-a1")
    back_sub = fold_subscriptions(restored.ledger.entries).get("sub-a1")

    # Then the first is stopped (a reversal of its start) and the second suspended again
    assert void_sub is not None and void_sub.status is SS.STOPPED
    assert void_sub.history[-1].reversal_of == start
    assert back_sub is not None and back_sub.status is SS.SUSPENDED
    assert back_sub.end_date is None and back_sub.history[-1].reversal_of == stop


def test_a_reversed_change_puts_back_only_what_it_changed():
    billing = Billing()
    started(billing)
    modify = billing.run(
        "modify_subscription",
        "i2/mod",
        subscription_id="sub-a1",
        quantity="9",
        recurring_monthly="10",
    )
    billing.run("modify_subscription", "i2/mod/undo", compensates=modify, quantity="9")

    sub = fold_subscriptions(billing.ledger.entries).get("sub-a1")

    assert sub is not None and (sub.quantity, sub.recurring_monthly) == (5, Decimal("12.50"))


def test_bad_values_and_impossible_moves_are_reported_never_raised():
    # Given a start with unreadable values, changes of unknown or stopped subscriptions
    billing = Billing()
    billing.run(
        "start_billing",
        "i1/billing/start",
        subscription_id="sub-a1",
        quantity="five",
        recurring_monthly="NaN",
        start_date="2026-13-01",
    )
    billing.run("modify_subscription", "i2/mod", subscription_id="sub-zz", quantity="2")
    billing.run("resume_subscription", "i3/res", subscription_id="sub-a1")
    billing.run("suspend_subscription", "i4/sus")
    started(billing, task="i5/billing/start")

    # When folded
    book = fold_subscriptions(billing.ledger.entries)

    # Then each problem names the entry, the subscription and why; the rest still folds
    kinds = [(p.kind, p.subscription_id) for p in book.problems]
    assert kinds == [
        ("bad value", "sub-a1"),
        ("bad value", "sub-a1"),
        ("bad value", "sub-a1"),
        ("unknown subscription", "sub-zz"),
        ("not allowed in status", "sub-a1"),
        ("no subscription", None),
        ("started twice", "sub-a1"),
    ]
    assert "quantity='five'" in book.problems[0].message
    assert "O1:i3/res" in book.problems[4].message
    sub = book.get("sub-a1")
    assert sub is not None and sub.status is SS.ACTIVE and sub.quantity is None


def test_unknown_operations_and_one_off_handoffs_are_not_subscriptions():
    billing = Billing()
    billing.run("start_billing", "i1/billing/start_billing", element="x@1", quantity="1")
    billing.run("print_invoice", "i2/print", subscription_id="sub-a1")

    book = fold_subscriptions(billing.ledger.entries)

    assert book.subscriptions == {} and book.untracked == 1 and not book.problems


def test_subscriptions_billing_had_before_the_ledger_began_are_changed_like_any_other():
    billing = Billing()
    billing.run("suspend_subscription", "i1/sus", subscription_id="sub-m1")

    book = fold_subscriptions(
        billing.ledger.entries, opening=[Subscription(subscription_id="sub-m1", quantity=3)]
    )

    sub = book.get("sub-m1")
    assert sub is not None and sub.status is SS.SUSPENDED and sub.quantity == 3
    assert not book.problems
    assert fold_subscriptions(billing.ledger.entries).problems[0].kind == "unknown subscription"


def test_the_ids_in_force_are_those_of_the_subscriptions_in_force_by_id():
    # Given subscriptions opened before the ledger (one suspended, one stopped), one
    # started in the ledger and one started then stopped there
    billing = Billing()
    started(billing, "sub-c1", "i1/billing/start")
    started(billing, "sub-b1", "i2/billing/start")
    billing.run("stop_billing", "i3/stop", subscription_id="sub-b1", end_date="2026-06-30")
    book = fold_subscriptions(billing.ledger.entries)
    book.open("sub-m2", "m2", SS.SUSPENDED, 4)
    book.open("sub-m1", "m1")
    book.open("sub-m0", "m0", SS.STOPPED)

    # When asked only for the ids of those still billing
    ids = book.ids_in_force()

    # Then they are the ids of the subscriptions in force, in order, none stopped
    assert ids == ["sub-c1", "sub-m1", "sub-m2"]
    assert ids == [s.subscription_id for s in book.in_force()]
    opened = book.get("sub-m1")
    assert opened is not None and opened.status is SS.ACTIVE and opened.account_id is None


def test_a_new_items_add_ons_start_with_it_on_subscriptions_of_their_own_and_stop_with_it():
    # Given billing started for a1 with two children named in the handoff
    billing = Billing()
    start = billing.run(
        "start_billing",
        "i1/billing/start",
        subscription_id="sub-a1",
        asset_id="a1",
        account_id="acme",
        quantity="5",
        recurring_monthly="12.50",
        currency="EUR",
        start_date="2026-01-01",
        child_subscriptions="sub-a1.1=3.00;sub-a1.2=",
    )

    # When its ledger is folded, then each child bills on its own, with the item's terms
    book = fold_subscriptions(billing.ledger.snapshot())
    storage, component = book.get("sub-a1.1"), book.get("sub-a1.2")
    assert storage is not None and component is not None
    assert (storage.asset_id, storage.quantity, storage.status) == ("a1.1", 5, SS.ACTIVE)
    assert storage.recurring_monthly == Decimal("3.00") and component.recurring_monthly is None
    assert not book.problems

    # And when the start is reversed (the order rolled back), the children stop with it
    billing.run("stop_billing", "i1/billing/start/undo", compensates=start)
    book = fold_subscriptions(billing.ledger.snapshot())
    assert {s.subscription_id for s in book.in_force()} == set()


def test_a_malformed_child_list_is_reported_not_raised():
    billing = Billing()
    billing.run(
        "start_billing",
        "i1/billing/start",
        subscription_id="sub-a1",
        child_subscriptions="a1.1=3;sub-a1.2=lots",
    )
    book = fold_subscriptions(billing.ledger.snapshot())
    assert [p.kind for p in book.problems] == ["bad value", "bad value"]
    assert book.get("sub-a1.2") is not None  # started; its amount unreadable


def test_the_same_start_delivered_again_is_told_apart_from_a_second_start():
    # Given billing without deduplication that executes one start twice
    billing = Billing(deduplicates=False)
    started(billing)
    started(billing)
    # and another request that starts the same subscription
    started(billing, task="i2/billing/start")

    # Then the repeat is a duplicate delivery; only the other request starts it twice
    book = fold_subscriptions(billing.ledger.snapshot())
    assert [p.kind for p in book.problems] == ["started again", "started twice"]
