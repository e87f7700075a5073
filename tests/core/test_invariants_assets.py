"""The installed base's invariants — each shown to fail on a run that breaks it, and to
hold on the same run put right.

The runs are built by hand: the asset facts as the platform records them, and the
provisioning and billing ledgers as the downstream systems keep them.
"""

from __future__ import annotations

from decimal import Decimal

from whole_log_asset_invariants import ASSET_CHECKS

from cpqsim.asset import AssetChangeApplied, AssetChangeLocked, AssetChangeReleased, AssetCreated
from cpqsim.context import Context, at
from cpqsim.downstream import DownstreamLedger, DownstreamProfile, DownstreamRequest, Fault
from cpqsim.events import CloudEvent, envelope
from cpqsim.invariants import check_invariants

ASSET_INVARIANTS = (
    "assets_match_downstream",
    "add_on_has_active_parent",
    "one_active_asset_per_subscription",
    "billing_matches_installed_base",
    "change_acted_on_quoted_version",
)


def order_fact(name: str, order_id: str, **data) -> CloudEvent:
    return CloudEvent(
        id=f"evt-{order_id}-{name}",
        type=f"cpqsim.order.{name}.v1",
        source="/cpqsim/order",
        subject=f"order/{order_id}",
        time="2026-01-01T00:00:00Z",
        correlationid=order_id,
        data={"order_id": order_id, **data},
    )


class Run:
    """One run: its log, and the provisioning and billing ledgers it left behind."""

    def __init__(self) -> None:
        self.events: list[CloudEvent] = []
        self.ledgers = {
            name: DownstreamLedger(DownstreamProfile(name=name, deduplicates=False))
            for name in ("provisioning", "billing")
        }

    def fact(self, event) -> None:
        self.events.append(envelope(event, Context(now=at(len(self.events)))))

    def order(self, order_id: str, *names: str, lines=(), items=()) -> None:
        for name in names:
            data = {
                "quote_id": f"Q-{order_id}",
                "items": list(items),
                "snapshot": {"lines": list(lines)},
            }
            extra = {"created": data, "decomposed": {"tasks": []}}.get(name, {})
            self.events.append(order_fact(name, order_id, **extra))

    def downstream(
        self,
        system: str,
        operation: str,
        order_id: str,
        task_id: str,
        compensates: str | None = None,
        **payload: str,
    ) -> str:
        ledger = self.ledgers[system]
        reference = f"{order_id}:{task_id}"
        request = DownstreamRequest(
            system=system,
            operation=operation,
            reference=reference,
            idempotency_key=reference,
            order_id=order_id,
            task_id=task_id,
            attempt=1,
            payload=payload,
            compensates=compensates,
        )
        ledger.finish(ledger.accept(request, 0), 1, Fault.NONE)
        return reference

    def verdict(self) -> dict:
        snapshots = {name: ledger.snapshot() for name, ledger in self.ledgers.items()}
        return {r.name: r for r in check_invariants(self.events, snapshots)}


def sold(run: Run | None = None) -> Run:
    """Order O1 sells account acme a fiber line (2 units) with a firewall add-on:
    provisioned, billed on a subscription each, completed."""
    run = run or Run()
    run.order("O1", "created", "decomposed")
    item = "O1-item1"
    run.downstream(
        "provisioning", "activate", "O1", f"{item}/fiber/activate-line", element="fiber@1"
    )
    run.downstream(
        "provisioning", "activate", "O1", f"{item}/fiber/fw/activate-firewall", element="fw@1"
    )
    for aid, offering, role, parent, qty in [
        ("a1", "fiber@1", "main", None, 2),
        ("a1.1", "fw@1", "add_on", "a1", 1),
    ]:
        run.fact(
            AssetCreated(
                asset_id=aid,
                account_id="acme",
                offering=offering,
                role=role,
                parent_id=parent,
                quantity=qty,
                order_id="O1",
                item_id=item,
                subscription_id=f"sub-{aid}",
                recurring_monthly=Decimal("10"),
                currency="EUR",
            )
        )
    for aid, qty in [("a1", "2"), ("a1.1", "1")]:
        run.downstream(
            "billing",
            "start_billing",
            "O1",
            f"{item}/billing/{aid}",
            subscription_id=f"sub-{aid}",
            asset_id=aid,
            quantity=qty,
        )
    run.order("O1", "completed")
    return run


def change(
    run: Run,
    order_id: str,
    action: str,
    asset_id: str,
    version: int,
    *work: tuple[str, str, dict[str, str]],
    quoted: int | None = None,
    finish: bool = True,
    **applied,
) -> None:
    """Order ``order_id`` changes one asset: the lock, the order, its downstream work
    ``(system, operation, payload)``, the applied change, the order completed."""
    item = f"{order_id}-item1"
    line = {"offering": "fiber", "action": action, "asset_id": asset_id}
    if quoted is not None:
        line["asset_version"] = quoted
    run.fact(
        AssetChangeLocked(
            asset_id=asset_id, order_id=order_id, item_id=item, action=action, asset_version=version
        )
    )
    run.order(
        order_id, "created", "decomposed", lines=[line], items=[{"item_id": item, "line_index": 0}]
    )
    for system, operation, payload in work:
        run.downstream(
            system, operation, order_id, f"{item}/{operation}", asset_id=asset_id, **payload
        )
    if finish:
        run.fact(
            AssetChangeApplied(
                asset_id=asset_id,
                order_id=order_id,
                item_id=item,
                action=action,
                asset_version=version + 1,
                **applied,
            )
        )
        run.order(order_id, "completed")


def broken(result) -> tuple[int, list[str], dict[str, int]]:
    return result.violations, result.examples, result.by_downstream


# ------------------------------------------------------------------ passing runs


def test_a_run_without_asset_facts_passes_every_asset_invariant():
    # Given a run from before the installed base: work and billing, no asset facts
    run = Run()
    run.order("O1", "created", "decomposed", "completed")
    run.downstream("provisioning", "activate", "O1", "O1-item1/fiber/activate-line", element="x")
    run.downstream("billing", "start_billing", "O1", "O1-item1/billing/start_billing")

    # When judged, then every asset invariant holds
    verdict = run.verdict()
    assert all(verdict[name].holds for name in ASSET_INVARIANTS)


def test_a_sale_then_a_modify_suspend_and_disconnect_done_right_passes():
    # Given the sale, then a quantity change, a suspension (add-on first) and a disconnect
    run = sold()
    change(
        run,
        "O2",
        "modify",
        "a1",
        1,
        ("provisioning", "modify", {}),
        ("billing", "modify_subscription", {"subscription_id": "sub-a1", "quantity": "3"}),
        quoted=1,
        quantity=3,
    )
    for order_id, aid in [("O3", "a1.1"), ("O4", "a1")]:
        change(
            run,
            order_id,
            "suspend",
            aid,
            1 if aid == "a1.1" else 2,
            ("provisioning", "suspend", {}),
            ("billing", "suspend_subscription", {"subscription_id": f"sub-{aid}"}),
        )
    for order_id, aid in [("O5", "a1.1"), ("O6", "a1")]:
        change(
            run,
            order_id,
            "disconnect",
            aid,
            2 if aid == "a1.1" else 3,
            ("provisioning", "deactivate", {}),
            ("billing", "stop_billing", {"subscription_id": f"sub-{aid}"}),
        )

    # When judged, then every asset invariant holds
    verdict = run.verdict()
    assert {name: broken(verdict[name]) for name in ASSET_INVARIANTS} == {
        name: (0, [], {}) for name in ASSET_INVARIANTS
    }


# ------------------------------------------------------- assets_match_downstream


def test_an_asset_the_platform_suspended_but_provisioning_still_runs_is_a_violation():
    # Given a suspension the platform applied without provisioning suspending anything
    run = sold()
    change(
        run,
        "O2",
        "suspend",
        "a1.1",
        1,
        ("billing", "suspend_subscription", {"subscription_id": "sub-a1.1"}),
    )

    # When judged
    result = run.verdict()["assets_match_downstream"]

    # Then the asset and the downstream are named
    assert broken(result) == (
        1,
        ["asset a1.1 is suspended on the platform but active in provisioning"],
        {"provisioning": 1},
    )
    assert result.by_kind == {"suspended on the platform, active in provisioning": 1}

    # And with provisioning's suspension it holds
    right = sold()
    change(
        right,
        "O2",
        "suspend",
        "a1.1",
        1,
        ("provisioning", "suspend", {}),
        ("billing", "suspend_subscription", {"subscription_id": "sub-a1.1"}),
    )
    assert right.verdict()["assets_match_downstream"].holds


def test_an_upgrade_applied_but_undone_downstream_leaves_the_platform_on_the_wrong_version():
    # Given an upgrade the platform applied, whose plan change provisioning then undid
    run = sold()
    change(run, "O2", "upgrade", "a1", 1, offering="fiber@2")
    plan = run.downstream(
        "provisioning",
        "change_plan",
        "O2",
        "O2-item1/change_plan",
        asset_id="a1",
        element="fiber@2",
    )
    run.downstream(
        "provisioning",
        "change_plan",
        "O2",
        "O2-item1/change_plan/undo",
        compensates=plan,
        asset_id="a1",
        element="fiber@2",
    )

    result = run.verdict()["assets_match_downstream"]

    assert result.examples == ["asset a1 runs fiber@2 on the platform but fiber@1 in provisioning"]
    assert result.by_kind == {"offering differs from provisioning": 1}


def test_an_activation_undone_under_an_active_asset_and_work_on_unknown_assets_are_violations():
    # Given the add-on's activation reversed, and provisioning suspending an asset nobody holds
    run = sold()
    run.downstream(
        "provisioning",
        "deactivate",
        "O1",
        "O1-item1/fiber/fw/activate-firewall/undo",
        compensates="O1:O1-item1/fiber/fw/activate-firewall",
    )
    run.downstream("provisioning", "suspend", "O9", "O9-item1/suspend", asset_id="ghost")

    result = run.verdict()["assets_match_downstream"]

    assert result.by_kind == {
        "active on the platform, not running in provisioning": 1,
        "asset unknown to the platform": 1,
    }
    assert "asset a1.1 is active on the platform but not running in provisioning" in result.examples


def test_a_mismatch_while_the_order_is_still_in_flight_is_not_a_violation_yet():
    # Given a suspension applied while its order is still running (no completion yet)
    run = sold()
    change(run, "O2", "suspend", "a1.1", 1, finish=False)
    run.fact(
        AssetChangeApplied(
            asset_id="a1.1", order_id="O2", item_id="O2-item1", action="suspend", asset_version=2
        )
    )

    verdict = run.verdict()

    assert verdict["assets_match_downstream"].holds
    assert verdict["billing_matches_installed_base"].holds
    run.order("O2", "completed")
    assert not run.verdict()["assets_match_downstream"].holds


# ------------------------------------------------------- add_on_has_active_parent


def test_an_add_on_left_active_under_a_suspended_parent_is_a_violation():
    run = sold()
    change(
        run,
        "O2",
        "suspend",
        "a1",
        1,
        ("provisioning", "suspend", {}),
        ("billing", "suspend_subscription", {"subscription_id": "sub-a1"}),
    )

    result = run.verdict()["add_on_has_active_parent"]

    assert broken(result) == (
        1,
        ["add-on a1.1 is active under a1, which is suspended"],
        {"platform": 1},
    )


def test_a_parent_held_by_a_pending_change_still_counts_as_the_status_it_was_locked_in():
    # Given the parent locked for a disconnect, its add-on not changed yet
    run = sold()
    change(run, "O2", "disconnect", "a1", 1, finish=False)

    assert run.verdict()["add_on_has_active_parent"].holds


def test_an_add_on_under_a_parent_the_platform_does_not_hold_is_a_violation():
    run = Run()
    run.fact(
        AssetCreated(
            asset_id="x.1",
            account_id="acme",
            offering="fw@1",
            role="add_on",
            parent_id="x",
            quantity=1,
        )
    )

    result = run.verdict()["add_on_has_active_parent"]

    assert result.by_kind == {"add-on active under an unknown parent": 1}


# ---------------------------------------------- one_active_asset_per_subscription


def test_two_assets_in_service_on_one_subscription_is_a_violation():
    # Given a second asset created on a1's subscription
    run = sold()
    run.order("O5", "created", "decomposed")
    run.fact(
        AssetCreated(
            asset_id="a2",
            account_id="acme",
            offering="fiber@1",
            quantity=1,
            subscription_id="sub-a1",
            order_id="O5",
            item_id="O5-item1",
        )
    )

    result = run.verdict()["one_active_asset_per_subscription"]

    assert broken(result) == (
        1,
        ["asset a2 bills on sub-a1, which asset a1 is in service on"],
        {"platform": 1},
    )

    # And once a1 is disconnected, a new asset may take the subscription over
    right = sold()
    change(right, "O2", "disconnect", "a1", 1)
    right.order("O5", "created", "decomposed")
    right.fact(
        AssetCreated(
            asset_id="a2",
            account_id="acme",
            offering="fiber@1",
            quantity=1,
            subscription_id="sub-a1",
            order_id="O5",
            item_id="O5-item1",
        )
    )
    assert right.verdict()["one_active_asset_per_subscription"].holds


def test_billing_starting_a_subscription_already_in_force_is_a_violation_in_billing():
    run = sold()
    run.downstream("billing", "start_billing", "O7", "O7-item1/billing/x", subscription_id="sub-a1")

    result = run.verdict()["one_active_asset_per_subscription"]

    assert result.by_downstream == {"billing": 1}
    assert "starts subscription sub-a1, which is active already" in result.examples[0]


# ------------------------------------------------- billing_matches_installed_base


def test_billing_after_disconnect_is_a_violation():
    # Given a disconnect provisioning did and billing never heard of
    run = sold()
    change(run, "O2", "disconnect", "a1.1", 1, ("provisioning", "deactivate", {}))

    result = run.verdict()["billing_matches_installed_base"]

    assert broken(result) == (
        1,
        ["asset a1.1 is disconnected but billing still has sub-a1.1 active"],
        {"billing": 1},
    )


def test_an_active_asset_unbilled_a_wrong_quantity_and_a_charge_without_asset_are_violations():
    # Given the add-on's billing voided, a quantity change billing missed, a stray charge
    run = sold()
    run.downstream(
        "billing",
        "stop_billing",
        "O1",
        "O1-item1/billing/a1.1/undo",
        compensates="O1:O1-item1/billing/a1.1",
    )
    change(run, "O2", "modify", "a1", 1, ("provisioning", "modify", {}), quantity=5)
    run.downstream("billing", "start_billing", "O8", "O8-item1/billing/x", subscription_id="sub-zz")
    run.downstream(
        "billing", "modify_subscription", "O8", "O8-item2/x", subscription_id="sub-a1", quantity="0"
    )

    result = run.verdict()["billing_matches_installed_base"]

    assert result.by_kind == {
        "active and unbilled": 1,
        "billed, no asset": 1,
        "billing: bad value": 1,
        "quantity differs from billing": 1,
    }
    assert result.by_downstream == {"billing": 4}
    assert "asset a1.1 is active but billing has sub-a1.1 stopped" in result.examples
    assert "asset a1 has quantity 5 but billing charges 2 on sub-a1" in result.examples


def test_an_asset_suspended_on_the_platform_and_billed_in_full_is_a_violation():
    run = sold()
    change(run, "O2", "suspend", "a1.1", 1, ("provisioning", "suspend", {}))

    result = run.verdict()["billing_matches_installed_base"]

    assert result.by_kind == {"suspended on the platform, active in billing": 1}


# ------------------------------------------------- change_acted_on_quoted_version


def test_a_change_locked_at_a_stale_version_is_a_violation():
    # Given a1 moved to version 2, then a change quoted (and locked) against version 1
    run = sold()
    change(run, "O2", "modify", "a1", 1, ("provisioning", "modify", {}), quantity=2)
    change(run, "O3", "suspend", "a1", 1, quoted=1, finish=False)

    result = run.verdict()["change_acted_on_quoted_version"]

    assert broken(result) == (
        1,
        ["order O3 locked asset a1 at version 1 while version 2 was current"],
        {"platform": 1},
    )


def test_a_lock_at_another_version_than_the_quote_line_stated_is_a_violation():
    run = sold()
    change(run, "O2", "modify", "a1", 1, quantity=2)
    change(run, "O3", "suspend", "a1", 2, quoted=1, finish=False)

    result = run.verdict()["change_acted_on_quoted_version"]

    assert result.examples == [
        "order O3 O3-item1 locked asset a1 at version 2; it was quoted against version 1"
    ]


def test_a_change_must_move_the_version_by_one_under_its_own_lock():
    run = sold()
    change(run, "O2", "modify", "a1", 1, finish=False)
    run.fact(
        AssetChangeApplied(
            asset_id="a1", order_id="O2", item_id="O2-item1", action="modify", asset_version=3
        )
    )
    run.fact(
        AssetChangeApplied(
            asset_id="a1.1", order_id="O2", item_id="O2-item1", action="modify", asset_version=2
        )
    )

    result = run.verdict()["change_acted_on_quoted_version"]

    assert result.by_kind == {"changed without a lock": 1, "version not moved by one": 1}

    # And a released lock leaves the version where it was
    right = sold()
    change(right, "O2", "modify", "a1", 1, finish=False)
    right.fact(AssetChangeReleased(asset_id="a1", order_id="O2", reason="cancelled"))
    change(right, "O3", "modify", "a1", 1, quoted=1, quantity=3)
    assert right.verdict()["change_acted_on_quoted_version"].holds


# ------------------------------------------------------------ the whole-log reference


def _suspended_parent() -> Run:
    run = sold()
    change(run, "O2", "suspend", "a1", 1, ("provisioning", "suspend", {}), quantity=4)
    return run


def _upgrade_undone() -> Run:
    run = sold()
    change(run, "O2", "upgrade", "a1", 1, offering="fiber@2")
    plan = run.downstream(
        "provisioning",
        "change_plan",
        "O2",
        "O2-item1/change_plan",
        asset_id="a1",
        element="fiber@2",
    )
    run.downstream("provisioning", "change_plan", "O2", "O2-item1/u", compensates=plan)
    run.downstream("billing", "start_billing", "O8", "O8-item1/billing/x", subscription_id="sub-zz")
    return run


def _stale_and_misquoted() -> Run:
    run = sold()
    change(run, "O2", "modify", "a1", 1, quantity=2)
    change(run, "O3", "suspend", "a1", 1, quoted=2, finish=False)
    change(run, "O4", "disconnect", "a1.1", 1, ("provisioning", "deactivate", {}), quoted=1)
    return run


def _shared() -> Run:
    run = sold()
    run.order("O5", "created", "decomposed")
    run.fact(
        AssetCreated(
            asset_id="a2",
            account_id="acme",
            offering="fiber@1",
            quantity=1,
            subscription_id="sub-a1",
            order_id="O5",
            item_id="O5-item1",
        )
    )
    return run


def test_judged_as_it_streams_a_run_gets_the_verdict_of_the_whole_log_reference():
    # Given legal runs that break every asset invariant one way or another
    broken_somewhere: set[str] = set()
    for build in (sold, _suspended_parent, _upgrade_undone, _stale_and_misquoted, _shared):
        run = build()
        snapshots = {name: ledger.snapshot() for name, ledger in run.ledgers.items()}

        # When the incremental checker and the whole-log reference judge it
        streamed = {
            r.name: (r.violations, r.examples) for r in check_invariants(run.events, snapshots)
        }
        reference = {name: check(run.events, snapshots) for name, check in ASSET_CHECKS}

        # Then they find the same violations, in the same order, with the same words
        assert {n: streamed[n] for n in reference} == {
            n: (len(p), p[:5]) for n, p in reference.items()
        }, build.__name__
        broken_somewhere |= {n for n in reference if reference[n]}
    assert broken_somewhere == set(ASSET_INVARIANTS)


def test_an_asset_migrated_in_was_billed_before_the_run_and_is_judged_from_there():
    # Given an asset made before the run (by an order this run never saw), then suspended
    def migrated(*work) -> Run:
        run = Run()
        run.fact(
            AssetCreated(
                asset_id="m1",
                account_id="acme",
                offering="fiber@1",
                quantity=3,
                subscription_id="sub-m1",
                order_id="hist-order-1",
                item_id="hist-order-1-item1",
            )
        )
        change(run, "O2", "suspend", "m1", 1, *work)
        return run

    # When billing suspended the subscription it had before the run, every rule holds
    right = migrated(
        ("provisioning", "suspend", {}),
        ("billing", "suspend_subscription", {"subscription_id": "sub-m1"}),
    )
    assert all(right.verdict()[name].holds for name in ASSET_INVARIANTS)

    # And when billing never heard of the suspension, it still bills the migrated asset
    wrong = migrated(("provisioning", "suspend", {}))
    result = wrong.verdict()["billing_matches_installed_base"]
    assert result.examples == ["asset m1 is suspended but billing has sub-m1 active"]


def _suspended_before_the_run() -> Run:
    """m1 was made and suspended before the run (by orders the run never saw); the run
    resumes it."""
    run = Run()
    run.fact(
        AssetCreated(
            asset_id="m1",
            account_id="acme",
            offering="fiber@1",
            quantity=3,
            subscription_id="sub-m1",
            order_id="hist-1",
        )
    )
    change(run, "hist-2", "suspend", "m1", 1, quantity=3)
    run.events = [e for e in run.events if not e.subject.startswith("order/")]
    change(
        run,
        "O3",
        "resume",
        "m1",
        2,
        ("provisioning", "resume", {}),
        ("billing", "resume_subscription", {"subscription_id": "sub-m1"}),
    )
    return run


def test_changes_made_before_the_run_are_how_billing_had_the_asset_when_it_began():
    # Given an asset suspended before the run and resumed in it, billing resuming it too
    run = _suspended_before_the_run()

    # When judged, then billing's resumption of a subscription it had suspended is right
    verdict = run.verdict()
    assert all(verdict[name].holds for name in ASSET_INVARIANTS), {
        n: verdict[n].examples for n in ASSET_INVARIANTS
    }

    # And the whole-log reference agrees
    snapshots = {name: ledger.snapshot() for name, ledger in run.ledgers.items()}
    assert all(not check(run.events, snapshots) for _, check in ASSET_CHECKS)
