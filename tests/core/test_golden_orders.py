"""Golden order cases: orders walked through cancellation, compensation and partial
fulfilment step by step, with the expected facts worked out by hand in each file.

Each ``tests/golden/orders/*.json`` holds ``name``, ``description``, ``working`` (the
reasoning, step by step), ``input`` (quote lines and a script of steps) and ``expected``
(the order's final state). Steps name tasks by the end of their id (``reserve-port``,
``reserve-port/undo``, ``item1/billing/start_billing``); each step may state the facts
it must produce (by name, in order), the tasks it must dispatch, the tasks it must drop,
or the refusal it must meet.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from order_desk import GOLDEN, Desk

from cpqsim.order import TaskStatus

CASES = sorted(p for p in GOLDEN.glob("*.json") if p.name != "catalog.json")
MUST_COVER = {
    "cancellation_before_cutoff",
    "cancellation_after_cutoff",
    "compensation_in_reverse_dependency_order",
    "partial_fulfilment_with_per_item_billing",
}


def test_the_golden_set_covers_where_orders_fail() -> None:
    assert {p.stem for p in CASES} >= MUST_COVER


def _ends(names: list[str], suffixes: list[str]) -> bool:
    return len(names) == len(suffixes) and all(
        n.endswith(s) for n, s in zip(names, suffixes, strict=True)
    )


@pytest.mark.parametrize("path", CASES, ids=[p.stem for p in CASES])
def test_golden_order(path: Path) -> None:
    case = json.loads(path.read_text(encoding="utf-8"))
    assert {"name", "description", "working", "input", "expected"} <= set(case)
    desk = Desk(case["input"]["lines"])
    for i, step in enumerate(case["input"]["steps"]):
        facts, dispatched = desk.step(step)
        where = f"{path.name} step {i}: {step}"
        if "expect_facts" in step:
            assert facts == step["expect_facts"], where
        if "expect_dispatched" in step:
            assert _ends(dispatched, step["expect_dispatched"]), f"{where}: {dispatched}"
        if "expect_dropped" in step:
            dropped = [t for t, s in desk.order.tasks.items() if s.status is TaskStatus.DROPPED]
            assert _ends(dropped, step["expect_dropped"]), f"{where}: {dropped}"
    expected = case["expected"]
    order = desk.order
    assert order.status.value == expected["status"]
    assert len(order.assets) == expected["assets"]
    assert [i.removeprefix("O1-") for i in order.billing_started] == expected["billing_started"]
    assert _ends(desk.compensations, expected["compensations_dispatched"]), desk.compensations
