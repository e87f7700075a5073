"""A change undone downstream and reverted on the platform keeps the installed base true.

Given a change the platform applied and provisioning then moved back (its order gave the
item up), when the platform records ``asset.change_reverted``, then the asset invariants
hold; without it, they do not. The incremental checker and the whole-log reference agree.
"""

from __future__ import annotations

from test_invariants_assets import ASSET_INVARIANTS, Run, change, sold
from whole_log_asset_invariants import ASSET_CHECKS

from cpqsim.asset import AssetChangeApplied, AssetChangeReverted, AssetStatus
from cpqsim.invariants import check_invariants


def undone(action: str, operation: str, undo: str, revert: bool, **applied) -> Run:
    """Order O2 ``action``s asset a1 (sold by O1): provisioning does ``operation``, the
    platform applies the change, provisioning undoes it (``undo``), the order fails."""
    run = sold()
    change(run, "O2", action, "a1", 1, finish=False)
    item = "O2-item1"
    done = run.downstream(
        "provisioning", operation, "O2", f"{item}/{operation}", asset_id="a1", element="fiber@2"
    )
    run.fact(
        AssetChangeApplied(
            asset_id="a1", order_id="O2", item_id=item, action=action, asset_version=2, **applied
        )
    )
    run.downstream(
        "provisioning",
        undo,
        "O2",
        f"{item}/{operation}/undo",
        compensates=done,
        asset_id="a1",
        element="fiber@1",
    )
    if revert:
        old = {"offering": "fiber@1"} if "offering" in applied else {}
        run.fact(
            AssetChangeReverted(
                asset_id="a1",
                order_id="O2",
                item_id=item,
                action=action,
                asset_version=3,
                status=AssetStatus.ACTIVE,
                **old,
            )
        )
    run.order("O2", "failed")
    return run


def test_an_upgrade_reverted_after_provisioning_moved_it_back_passes():
    wrong = undone("upgrade", "change_plan", "change_plan", revert=False, offering="fiber@2")
    right = undone("upgrade", "change_plan", "change_plan", revert=True, offering="fiber@2")

    assert not wrong.verdict()["assets_match_downstream"].holds
    verdict = right.verdict()
    assert all(verdict[name].holds for name in ASSET_INVARIANTS), {
        n: verdict[n].examples for n in ASSET_INVARIANTS
    }


def test_a_disconnect_reverted_after_provisioning_reactivated_it_passes():
    wrong = undone("disconnect", "deactivate", "activate", revert=False)
    right = undone("disconnect", "deactivate", "activate", revert=True)

    assert wrong.verdict()["assets_match_downstream"].examples == [
        "asset a1 is disconnected on the platform but active in provisioning"
    ]
    verdict = right.verdict()
    assert all(verdict[name].holds for name in ASSET_INVARIANTS), {
        n: verdict[n].examples for n in ASSET_INVARIANTS
    }


def test_the_streaming_checker_and_the_reference_agree_on_reverted_changes():
    for run in (
        undone("upgrade", "change_plan", "change_plan", revert=True, offering="fiber@2"),
        undone("disconnect", "deactivate", "activate", revert=True),
        undone("disconnect", "deactivate", "activate", revert=False),
    ):
        snapshots = {name: ledger.snapshot() for name, ledger in run.ledgers.items()}
        streamed = {
            r.name: (r.violations, r.examples) for r in check_invariants(run.events, snapshots)
        }
        reference = {name: check(run.events, snapshots) for name, check in ASSET_CHECKS}
        assert {n: streamed[n] for n in reference} == {
            n: (len(p), p[:5]) for n, p in reference.items()
        }
