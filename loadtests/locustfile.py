"""Load tests of the cpqsim gateway: journeys, named load shapes, and a verdict at the end.

    cpqsim serve --port 8000 &
    locust --config loadtests/locust.conf                       # closed loop, 20 users, 60 s
    locust --config loadtests/locust.conf --shape open --arrival-rate 5,10,20,40
    locust --config loadtests/locust.conf --shape spike --tags quote

    cpqsim serve --port 8000 --scenario scenarios/library/renewal_season.yaml &
    locust --config loadtests/locust.conf --tags change         # change what customers have

Every request carries a bearer token: by default the demo principals ``cpqsim serve``
prints (a seller, a sales manager and a finance director who approve, operations who
read the fallout queue and ask for the verdict); against ``serve --principals FILE`` set
``CPQSIM_SELLER_TOKEN``, ``CPQSIM_SELLER_ACCOUNTS``, ``CPQSIM_SALES_MANAGER_TOKEN``,
``CPQSIM_FINANCE_DIRECTOR_TOKEN`` and ``CPQSIM_OPERATIONS_TOKEN`` (cpqsim_load/callers.py).

Journeys are separate ``FastHttpUser`` classes with weights and tags (``browse``,
``quote``, ``order``, ``cancel``, ``ops``, ``change``: changes to installed products,
which needs ``serve --scenario`` with an ``installed_base:``; see
``cpqsim_load/changes.py``). Each user draws its choices from its own generator, seeded
from ``--seed``, the Locust process, the journey and the user's number. ``--shape``
picks the load: ``closed`` (constant users), ``step``, ``spike``, ``soak`` (closed loop,
peak ``--users``) or ``open`` (journeys *arrive* at ``--arrival-rate`` per second
whatever the latency; see ``cpqsim_load/schedule.py`` for why that matters). Every
shape ends after ``--run-time``. When the run stops, the gateway is asked for its verdict
(the invariant checker over the live platform): violations are printed and Locust exits
3 (4 if the verdict could not be had; 1 stays "requests failed"). CSV, HTML, the
open-loop journey log and ``verdict.json`` go to one folder per run,
``runs/locust/<UTC time>/`` unless ``--csv``/``--html`` say otherwise.

Talks HTTP only: never Ray from a Locust process (gevent and Ray's gRPC hang together).
"""

from __future__ import annotations

import contextlib
import itertools
import json
import logging
import random
import time
from collections import defaultdict
from pathlib import Path

from cpqsim_load.callers import Callers, from_environment
from cpqsim_load.changes import ACCOUNTS, change_installed_product
from cpqsim_load.journeys import (
    JOURNEYS,
    JourneyFailed,
    browse_catalog,
    order_then_cancel,
    quote_and_price,
    work_fallout_queue,
)
from cpqsim_load.journeys import quote_to_order as order_journey
from cpqsim_load.open_loop import ArrivalClock
from cpqsim_load.schedule import DEFAULT_RUN_TIME_S, SHAPES, Plan, pool_size, rate_at, users_at
from cpqsim_load.verdict import judge
from gevent.lock import Semaphore
from locust import FastHttpUser, LoadTestShape, between, constant, events, tag, task
from locust.runners import WorkerRunner

log = logging.getLogger("cpqsim")
STATE: dict = {"plan": None, "clock": None, "callers": None, "change_settle_s": 30.0}
USER_NUMBERS: defaultdict[str, itertools.count] = defaultdict(itertools.count)
ACCOUNTS.lock = Semaphore()  # the change journey's accounts are listed once per process


@events.init_command_line_parser.add_listener
def _options(parser) -> None:
    group = parser.add_argument_group("cpqsim")
    group.add_argument("--shape", choices=SHAPES, default="closed", help="load shape")
    group.add_argument(
        "--arrival-rate",
        default="10",
        help="open loop: journeys per second; several (5,10,20) are held in turn",
    )
    group.add_argument(
        "--open-journey",
        choices=sorted(OPEN_JOURNEYS),
        default="quote",
        help="open loop: the journey each arrival walks",
    )
    group.add_argument("--max-users", type=int, default=500, help="open loop: user pool cap")
    group.add_argument(
        "--seed", type=int, default=1, help="seeds each user's choices (with its number)"
    )
    group.add_argument(
        "--change-settle",
        type=float,
        default=30.0,
        help="change journey: seconds to poll an order until it settles",
    )
    group.add_argument(
        "--verdict-settle", type=float, default=30.0, help="seconds to let orders settle"
    )
    group.add_argument("--skip-verdict", action="store_true", help="do not ask for the verdict")
    run = f"runs/locust/{time.strftime('%Y%m%d-%H%M%S', time.gmtime())}"
    parser.set_defaults(csv_prefix=f"{run}/cpqsim", html_file=f"{run}/report.html")


def _plan(options) -> Plan:
    run_time = float(options.run_time or DEFAULT_RUN_TIME_S)
    if not options.run_time:
        log.warning("no --run-time given: this run stops after %.0f s", run_time)
    users = int(options.num_users or 10)
    return Plan(
        shape=options.shape,
        users=users,
        spawn_rate=float(options.spawn_rate or users),
        run_time_s=run_time,
        arrival_rates=tuple(float(r) for r in str(options.arrival_rate).split(",") if r.strip()),
        max_users=int(options.max_users),
    )


def _runs_a_task(user_class, tags: set[str], excluded: set[str]) -> bool:
    for job in user_class.tasks:
        marks = getattr(job, "locust_tag_set", set())
        if (not tags or marks & tags) and not marks & excluded:
            return True
    return False


def _only_journeys_with_tagged_tasks(environment) -> None:
    """``--tags cancel`` runs only the journeys tagged so.

    Locust filters tasks by tag but still spawns users of every class by weight, and a
    user left without tasks fails at once; so classes with nothing left are dropped.
    """
    options = environment.parsed_options
    tags, excluded = set(options.tags or []), set(options.exclude_tags or [])
    if tags or excluded:
        kept = [u for u in environment.user_classes if _runs_a_task(u, tags, excluded)]
        environment.user_classes[:] = kept


@events.init.add_listener
def _init(environment, **_kwargs) -> None:
    _only_journeys_with_tagged_tasks(environment)
    STATE["callers"] = from_environment()
    STATE["change_settle_s"] = float(environment.parsed_options.change_settle)
    STATE["plan"] = plan = _plan(environment.parsed_options)
    STATE["clock"] = ArrivalClock(plan) if plan.shape == "open" else None
    if plan.shape == "open" and environment.parsed_options.processes:
        log.warning("the open-loop shape schedules arrivals in one Locust process only")


# ---------------------------------------------------------------------------- journeys


def change_journey(client, rng: random.Random, who: Callers):
    """The change journey, polling each order for ``--change-settle`` seconds at most."""
    return change_installed_product(client, rng, who, settle_s=STATE["change_settle_s"])


OPEN_JOURNEYS = {**JOURNEYS, "change": change_journey}


class CpqUser(FastHttpUser):
    abstract = True
    wait_time = between(0.05, 0.3)

    def on_start(self) -> None:
        """Each user draws from a generator of its own: the run's ``--seed``, the Locust
        process (a worker's index), the journey and the user's number in it."""
        journey = type(self).__name__
        number = next(USER_NUMBERS[journey])
        seed = self.environment.parsed_options.seed if self.environment.parsed_options else 1
        worker = getattr(self.environment.runner, "worker_index", 0)
        self.rng = random.Random(f"{seed}/{worker}/{journey}/{number}")
        self.who: Callers = STATE["callers"] or from_environment()


class BrowseCatalog(CpqUser):
    weight = 2

    @tag("browse")
    @task
    def browse(self) -> None:
        with contextlib.suppress(JourneyFailed):
            browse_catalog(self.client, self.rng, self.who)


class QuoteAndPrice(CpqUser):
    weight = 3

    @tag("quote")
    @task
    def quote(self) -> None:
        with contextlib.suppress(JourneyFailed):
            quote_and_price(self.client, self.rng, self.who)


class QuoteToOrder(CpqUser):
    weight = 2

    @tag("order")
    @task
    def order(self) -> None:
        with contextlib.suppress(JourneyFailed):
            order_journey(self.client, self.rng, self.who)


class OrderThenCancel(CpqUser):
    weight = 1

    @tag("cancel")
    @task
    def cancel(self) -> None:
        with contextlib.suppress(JourneyFailed):
            order_then_cancel(self.client, self.rng, self.who)


class OperationsDesk(CpqUser):
    weight = 1

    @tag("ops")
    @task
    def fallout(self) -> None:
        with contextlib.suppress(JourneyFailed):
            work_fallout_queue(self.client, self.rng, self.who)


class ChangeInstalledProduct(CpqUser):
    """Changes what a customer has: more seats, or an edition or service level moved up
    or down. Each settled order is also counted as ``change: order to settled (<state>)``
    with the seconds from the order to its settled state as its response time."""

    weight = 2

    @tag("change")
    @task
    def change(self) -> None:
        try:
            outcome = change_journey(self.client, self.rng, self.who)
        except JourneyFailed:
            return
        if outcome is None:
            return
        ending = "rejected: asset changed" if outcome.state == "rejected" else outcome.state
        self.environment.events.request.fire(
            request_type="CHANGE",
            name=f"change: order to settled ({ending})",
            response_time=outcome.settle_s * 1000,
            response_length=0,
            exception=None,
            context={},
        )


class OpenLoopJourney(CpqUser):
    """Takes one scheduled arrival at a time (only the ``open`` shape spawns these)."""

    wait_time = constant(0)

    @tag("browse", "quote", "order", "cancel", "change", "open")
    @task
    def arrival(self) -> None:
        clock: ArrivalClock | None = STATE["clock"]
        if clock is None:
            self.stop()
            return
        due = clock.next_ticket()
        if due is None:
            return
        kind = self.environment.parsed_options.open_journey
        token = clock.begin(due)
        ok = True
        try:
            OPEN_JOURNEYS[kind](self.client, self.rng, self.who)
        except JourneyFailed:
            ok = False
        latency_s = clock.finish(token, ok)
        self.environment.events.request.fire(
            request_type="JOURNEY",
            name=f"journey: {kind} (open loop)",
            response_time=latency_s * 1000,
            response_length=0,
            exception=None if ok else JourneyFailed(kind),
            context={},
        )


CLOSED_LOOP = [
    BrowseCatalog,
    QuoteAndPrice,
    QuoteToOrder,
    OrderThenCancel,
    OperationsDesk,
    ChangeInstalledProduct,
]


# ------------------------------------------------------------------------------ shape


class CpqShape(LoadTestShape):
    """The shape named by ``--shape``; reads ``--users``/``--spawn-rate``/``--run-time``."""

    use_common_options = True

    def tick(self):
        plan: Plan = STATE["plan"]
        t = self.get_run_time()
        if plan.shape == "open":
            rate = rate_at(plan, t)
            clock: ArrivalClock = STATE["clock"]
            if rate is None:
                return None
            clock.start()
            users = pool_size(rate, clock.recent_busy_s, clock.tickets.qsize(), plan.max_users)
            return users, max(50.0, float(users)), [OpenLoopJourney]
        users = users_at(plan, t)
        if users is None:
            return None
        chosen = [c for c in self.runner.environment.user_classes if c in CLOSED_LOOP]
        return users, plan.spawn_rate, chosen or CLOSED_LOOP


# ---------------------------------------------------------------------------- verdict


@events.test_stop.add_listener
def _verdict(environment, **_kwargs) -> None:
    if isinstance(environment.runner, WorkerRunner):
        return  # the master (or the single process) judges the run once
    options = environment.parsed_options
    folder = Path(options.csv_prefix).parent if options.csv_prefix else None
    clock: ArrivalClock | None = STATE["clock"]
    if clock is not None:
        clock.stop()
        if folder is not None:
            clock.write(folder / "open_loop_journeys.csv")
    if options.skip_verdict or not environment.host:
        return
    who: Callers = STATE["callers"] or from_environment()
    code, lines, verdict = judge(environment.host, options.verdict_settle, who.operations())
    print("\n".join(lines), flush=True)
    if folder is not None and verdict is not None:
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "verdict.json").write_text(json.dumps(verdict, indent=2))
    if code is not None:
        environment.process_exit_code = code
