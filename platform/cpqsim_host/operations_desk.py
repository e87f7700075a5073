"""The operations team that repairs fallout cases, written once for every runtime.

A fallout case is work for people: it waits in the team's queue until one of the staff
is free, takes a repair time drawn from the scenario's distribution, and ends in a
repair command on the team's authority. What the n-th case of the same task gets comes
from the playbook (reconcile, then retry, then abandon the item, say); a case about
undoing work gets its compensation run again (or, if the task cannot be undone, is marked
done by hand, with evidence). A configurable share of repairs is done wrong — marked done
without checking the downstream — which is how a wrong manual repair enters a run, and
how the checker proves it would notice.
"""

from __future__ import annotations

import random
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

from cpqsim.downstream import DownstreamProfile, sample_service_time
from cpqsim.order import Order
from cpqsim.order_commands import RepairFallout
from cpqsim_host.port import Clock
from cpqsim_host.scenario import Operations


@dataclass
class CaseRecord:
    order_id: str
    case_id: str
    opened_s: float
    started_s: float | None = None
    resolved_s: float | None = None
    action: str | None = None


@dataclass
class DeskStats:
    cases: list[CaseRecord] = field(default_factory=list)
    queue: list[tuple[float, int]] = field(default_factory=list)  # (time, cases waiting)


class OperationsDesk:
    def __init__(
        self,
        clock: Clock,
        team: Operations,
        rng: random.Random,
        order_of: Callable[[str], Order | None],
        repair: Callable[[RepairFallout, str], None],
    ) -> None:
        self.clock = clock
        self.team = team
        self.rng = rng
        self.order_of = order_of
        self.repair = repair
        self.stats = DeskStats()
        self._waiting: deque[CaseRecord] = deque()
        self._free = team.staff
        self._handled: dict[str, int] = {}  # task id -> cases of it handled so far
        self._model = DownstreamProfile(name="operations", service_time=team.repair_time)

    def case_opened(self, order_id: str, case_id: str) -> None:
        record = CaseRecord(order_id=order_id, case_id=case_id, opened_s=self.clock.now_s())
        self.stats.cases.append(record)
        self._waiting.append(record)
        self._note_queue()
        self._start_work()

    def _note_queue(self) -> None:
        self.stats.queue.append((self.clock.now_s(), len(self._waiting)))

    def _start_work(self) -> None:
        while self._free > 0 and self._waiting:
            record = self._waiting.popleft()
            self._free -= 1
            record.started_s = self.clock.now_s()
            self._note_queue()
            took = sample_service_time(self._model, self.rng)
            self.clock.schedule(took, lambda r=record: self._finish(r))

    def _finish(self, record: CaseRecord) -> None:
        self._free += 1
        record.resolved_s = self.clock.now_s()
        order = self.order_of(record.order_id)
        case = order.open_case(record.case_id) if order is not None else None
        if case is not None:
            command = self._decide(order, case)
            if command is not None:
                record.action = command.action
                self.repair(command, f"ops:{self.team.role}")
        self._start_work()

    def _decide(self, order: Order, case: dict) -> RepairFallout | None:
        wrong = self.rng.random() < self.team.wrong_repair_rate
        common = {
            "order_id": order.order_id,
            "case_id": case["case_id"],
            "role": self.team.role,
        }
        if case.get("kind") == "compensation":
            task = order.tasks[case["task_id"]]
            if task.spec.kind == "compensation":
                # An undo the downstream refused or kept failing: send it again a few
                # times; after that it stays open for someone who can fix the data there.
                tries = self._handled.get(case["task_id"], 0)
                self._handled[case["task_id"]] = tries + 1
                if tries >= len(self.team.playbook):
                    return None
                return RepairFallout(**common, action="compensate", reason="send the undo again")
            if task.spec.compensation is None and task.spec.kind != "billing":
                return RepairFallout(
                    **common,
                    action="mark_done",
                    reason="undone by hand",
                    evidence=f"manual undo of {case['task_id']}",
                )
            return RepairFallout(**common, action="compensate", reason="run the undo again")
        if wrong:
            return RepairFallout(
                **common,
                action="mark_done",
                reason="looked done",
                evidence="assumed done, downstream not checked",
            )
        n = self._handled.get(case["task_id"], 0)
        self._handled[case["task_id"]] = n + 1
        action = self.team.playbook[min(n, len(self.team.playbook) - 1)]
        return RepairFallout(**common, action=action, reason=f"playbook step {n + 1}")
