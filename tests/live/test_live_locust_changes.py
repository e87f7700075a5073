"""The Locust change journey: customers changing what they have, over HTTP only.

Given a platform with an installed base, when a user walks the change journey (list the
account's active TMF637 products, quote a change as TMF648 ``modify``, price, accept,
order as TMF622 ``modify``, poll until settled), then the change is ordered and the
product moves to its next version; what a customer meets when somebody else got there
first (a stale version, a change in flight, an order rejected for the asset) is counted
under a row of its own and never as a failure; an account with nothing to change is
skipped under a row of its own. The journey runs here through a stand-in for Locust's
HTTP client over an in-process gateway (no Ray, no gevent); the last specification runs
the real ``locust`` against ``cpqsim serve --scenario renewal_season``.
"""

from __future__ import annotations

import csv
import importlib.util
import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
from cpqsim_host.installed_base_gen import generate_installed_base
from fastapi.testclient import TestClient

from cpqsim.asset import AssetChangeLocked, AssetCreated
from cpqsim_actors.gateway import create_app
from cpqsim_actors.handles import LocalBackend
from cpqsim_actors.platform import LivePlatform, PlatformConfig
from cpqsim_scenarios.model import load_scenario

from .conftest import LIBRARY, REPO, free_port
from .local_gateway import ORDER, QUOTE, bearer, test_directory
from .test_live_locust import locust, run_folder, wait_for_ready


def _load_package():
    """``loadtests/cpqsim_load`` as the package ``cpqsim_load`` (no Locust in it)."""
    folder = REPO / "loadtests" / "cpqsim_load"
    spec = importlib.util.spec_from_file_location(
        "cpqsim_load", folder / "__init__.py", submodule_search_locations=[str(folder)]
    )
    package = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("cpqsim_load", package)
    spec.loader.exec_module(package)
    return package


_load_package()
from cpqsim_load import changes  # noqa: E402
from cpqsim_load.callers import from_environment  # noqa: E402
from cpqsim_load.journeys import JourneyFailed  # noqa: E402

PRODUCT = changes.PRODUCT
RENEWAL_SEASON = LIBRARY / "renewal_season.yaml"
MOVING_SEED = "0/a/0"  # its first 6 walks on the base below: upgrades, modifies, a downgrade
WHO = from_environment({})  # the demo principals: alice sells on acct-0001 and acct-0002


# ------------------------------------------------------------------ a stand-in for Locust


class Answer:
    """What ``client.request(..., catch_response=True)`` yields in Locust: the response,
    its ``request_meta`` (the row it is counted under) and success()/failure()."""

    def __init__(self, response: httpx.Response, name: str) -> None:
        self.response = response
        self.status_code, self.text = response.status_code, response.text
        self.request_meta = {"name": name}
        self.verdict: tuple[bool, str | None] | None = None

    def json(self):
        return self.response.json()

    def success(self) -> None:
        self.verdict = (True, None)

    def failure(self, message: str) -> None:
        self.verdict = (False, message)


class RecordingClient:
    """Locust's HTTP client as the journeys use it, over a TestClient.

    ``rows`` records (row name, succeeded, message) as Locust's statistics would count
    them, ``sent`` every (method, path, JSON body, response). ``before`` runs an action
    with the request's JSON body just before the first request of a row name (another
    customer's change racing this one)."""

    def __init__(self, http: TestClient, before: dict[str, Callable] | None = None) -> None:
        self.http = http
        self.before = dict(before or {})
        self.rows: list[tuple[str, bool, str | None]] = []
        self.sent: list[tuple[str, str, object, httpx.Response]] = []

    @contextmanager
    def request(self, method, path, name, catch_response, headers, **kwargs):
        assert catch_response
        action = self.before.pop(name, None)
        if action is not None:
            action(kwargs.get("json"))
        response = self.http.request(method, path, headers=headers, **kwargs)
        self.sent.append((method, path, kwargs.get("json"), response))
        answer = Answer(response, name)
        yield answer
        ok, message = answer.verdict or (answer.status_code < 400, None)
        self.rows.append((answer.request_meta["name"], ok, message))

    def quoted(self) -> list[tuple[dict, httpx.Response]]:
        """The change quotes asked for, with their answers."""
        return [
            (body, r) for method, path, body, r in self.sent if (method, path) == ("POST", QUOTE)
        ]

    def count(self, name: str) -> int:
        return sum(1 for row in self.rows if row[0] == name)

    def failures(self) -> list[tuple[str, bool, str | None]]:
        return [row for row in self.rows if not row[1]]


# ---------------------------------------------------------------------------- givens


def installed(assets: int = 40, accounts: int = 3) -> tuple:
    """A small installed base shaped like renewal season's (same catalog, same seed)."""
    loaded = load_scenario(RENEWAL_SEASON)
    profile = loaded.scenario.installed_base.model_copy(
        update={"assets": assets, "accounts": accounts}
    )
    return tuple(generate_installed_base(profile, loaded.catalog, loaded.scenario.seed))


@contextmanager
def gateway(installed_base: tuple = ()):
    """A gateway over an in-process platform with renewal season's catalog and systems."""
    loaded = load_scenario(RENEWAL_SEASON)
    platform = LivePlatform(
        PlatformConfig(
            catalog=loaded.catalog,
            downstream=dict(loaded.scenario.downstream),
            policy=loaded.scenario.resilience_policy(),
            time_scale=0.0005,
            quote_shards=1,
            order_shards=1,
            journal=False,
            installed_base=installed_base,
        ),
        backend=LocalBackend(),
    )
    app = create_app(platform, test_directory())
    try:
        with TestClient(app, raise_server_exceptions=False) as http:
            yield http
    finally:
        platform.shutdown()


def walk(client, seed: str = "1/ChangeInstalledProduct/0", times: int = 1) -> list:
    """The journey ``times`` over, by one user with its own seeded generator."""
    rng, pool = random.Random(seed), changes.ChangeAccounts()
    outcomes = []
    for _ in range(times):
        try:
            outcomes.append(changes.change_installed_product(client, rng, WHO, pool, 20.0))
        except JourneyFailed:
            outcomes.append("failed")
    return outcomes


def product(http: TestClient, product_id: str) -> dict:
    return http.get(f"{PRODUCT}/{product_id}", headers=bearer("alice")).json()


def order_item_products(http: TestClient, order_id: str) -> list[str]:
    order = http.get(f"{ORDER}/{order_id}", headers=bearer("alice")).json()
    return [item["product"]["id"] for item in order["productOrderItem"]]


def rival_quote(http: TestClient, product_id: str) -> tuple[str, str, int]:
    """Another customer's seat change on ``product_id``, quoted: (quote id, account,
    quantity)."""
    before = product(http, product_id)
    account, quantity = before["relatedParty"][0]["id"], before["quantity"] + 3
    quote = http.post(
        QUOTE,
        headers=bearer("alice"),
        json={
            "quoteItem": [
                {"id": "1", "action": "modify", "product": {"id": product_id}, "quantity": quantity}
            ],
            "relatedParty": [{"id": account, "role": "Customer"}],
        },
    )
    assert quote.status_code == 201, quote.text
    return quote.json()["id"], account, quantity


def change_and_order(http: TestClient, product_id: str) -> dict:
    """Another customer's seat change on ``product_id``, quoted, accepted and ordered."""
    alice = bearer("alice")
    qid, account, quantity = rival_quote(http, product_id)
    assert http.post(f"{QUOTE}/{qid}/price", headers=alice).status_code == 200
    accepted = http.post(f"{QUOTE}/{qid}/accept", headers=alice).json()
    order = http.post(
        ORDER,
        headers={**alice, "Idempotency-Key": f"rival-{product_id}-{quantity}"},
        json={
            "quote": [{"id": qid, "href": accepted["href"]}],
            "productOrderItem": [
                {
                    "id": "1",
                    "action": "modify",
                    "quoteItem": {"id": "1", "quoteId": qid},
                    "product": {"id": product_id},
                }
            ],
            "relatedParty": [{"id": account, "role": "Customer"}],
        },
    )
    assert order.status_code == 201, order.text
    return order.json()


def settled(http: TestClient, order_id: str, timeout_s: float = 20.0) -> str:
    deadline = time.monotonic() + timeout_s
    state = ""
    while time.monotonic() < deadline:
        state = http.get(f"{ORDER}/{order_id}", headers=bearer("alice")).json()["state"]
        if state in changes.SETTLED:
            return state
        time.sleep(0.05)
    return state


def applied(http: TestClient, product_id: str, version: int, timeout_s: float = 20.0) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        now = product(http, product_id)
        if now["assetVersion"] == version and "pendingChange" not in now:
            return True
        time.sleep(0.05)
    return False


# ------------------------------------------------------------------------ the journey


def test_each_walk_orders_a_change_and_the_product_moves_to_its_next_version():
    with gateway(installed()) as http:
        client = RecordingClient(http)

        outcomes = walk(client, times=6)

        assert client.failures() == []
        assert [o.state for o in outcomes] == ["completed"] * 6
        assert client.count("POST /productOrder (TMF622 change)") == 6
        assert client.count("GET /product (accounts, once)") == 1  # the accounts, read once
        for outcome in outcomes:
            (changed,) = order_item_products(http, outcome.order_id)
            after = product(http, changed)
            history = [
                (o["productOrderId"], o["orderItemAction"]) for o in after["productOrderItem"]
            ]
            assert (outcome.order_id, "modify") in history
            assert after["assetVersion"] >= 2


def test_the_same_seed_makes_the_same_choices_on_the_same_installed_base():
    def quoted(seed: str) -> list[dict]:
        with gateway(installed()) as http:
            client = RecordingClient(http)
            walk(client, seed, times=2)
            return [body for body, _ in client.quoted()]

    first, again, other = quoted("7/a/0"), quoted("7/a/0"), quoted("8/a/0")

    assert len(first) == 2 and first == again
    assert other != first


def test_a_change_may_move_an_option_along_the_catalogs_upgrade_and_downgrade_paths():
    with gateway(installed(assets=120, accounts=3)) as http:
        client = RecordingClient(http)

        walk(client, MOVING_SEED, times=6)

    actions = [r.json()["quoteItem"][0]["cpqsimAction"] for _, r in client.quoted()]
    assert client.failures() == []
    assert {"modify", "upgrade", "downgrade"} <= set(actions), actions


# ------------------------------------------------------- what customers meet under load


def test_a_product_another_order_holds_is_a_refusal_row_and_nothing_is_ordered():
    held = (
        AssetCreated(
            asset_id="H-1",
            account_id="acct-0001",
            offering="saas-suite@2",
            quantity=10,
            options=["saas-edition-standard"],
            subscription_id="sub-H-1",
            order_id="ORD-SEED",
            item_id="1",
        ),
        AssetChangeLocked(
            asset_id="H-1", order_id="ORD-ELSEWHERE", item_id="1", action="modify", asset_version=1
        ),
    )
    with gateway(held) as http:
        client = RecordingClient(http)

        (outcome,) = walk(client)

    assert outcome is None
    assert client.failures() == []
    assert client.count("POST /quote (change refused: in flight)") == 1
    assert client.count("POST /quote (TMF648 change)") == 0
    assert client.count("POST /productOrder (TMF622 change)") == 0


def test_a_product_changed_after_it_was_read_is_a_stale_refusal_row():
    with gateway(installed(assets=3, accounts=1)) as http:

        def changed_first(body: dict) -> None:  # after the journey read the product
            product_id = body["quoteItem"][0]["product"]["id"]
            rival = change_and_order(http, product_id)
            assert settled(http, rival["id"]) == "completed"
            # the inventory applies the change once the order's facts reach it
            assert applied(http, product_id, body["quoteItem"][0]["assetVersion"] + 1)

        client = RecordingClient(http, before={"POST /quote (TMF648 change)": changed_first})
        (outcome,) = walk(client)

    assert outcome is None
    assert client.failures() == []
    assert client.count("POST /quote (change refused: stale)") == 1, client.rows


def test_a_product_changed_before_the_quote_is_priced_is_a_refusal_row_of_the_price():
    with gateway(installed(assets=3, accounts=1)) as http:
        client = RecordingClient(http)

        def changed_before_pricing(_body) -> None:
            ((quoted, _),) = client.quoted()
            product_id = quoted["quoteItem"][0]["product"]["id"]
            rival = change_and_order(http, product_id)
            assert settled(http, rival["id"]) == "completed"
            assert applied(http, product_id, quoted["quoteItem"][0]["assetVersion"] + 1)
            rival_quote(http, product_id)  # the quotes learn the new version when quoting

        client.before["POST /quote/{id}/price"] = changed_before_pricing
        (outcome,) = walk(client)

    assert outcome is None
    assert client.failures() == []
    assert client.count("POST /quote/{id}/price (change refused: stale)") == 1, client.rows
    assert client.count("POST /productOrder (TMF622 change)") == 0
    # The quote's own check answers as the gateway's does: 422, each rule a violation
    [priced] = [r for method, path, _, r in client.sent if path.endswith("/price")]
    assert priced.status_code == 422
    assert priced.json()["code"] == "change_refused"
    assert [v["rule"] for v in priced.json()["violations"]] == ["stale_asset_version"]


def test_an_order_rejected_because_another_order_took_the_product_is_an_outcome_row():
    with gateway(installed(assets=3, accounts=1)) as http:

        def ordered_first(body: dict) -> None:  # after the journey's quote was accepted
            change_and_order(http, body["productOrderItem"][0]["product"]["id"])

        client = RecordingClient(http, before={"POST /productOrder (TMF622 change)": ordered_first})
        (outcome,) = walk(client)

    assert client.failures() == []
    assert outcome.state == "rejected"
    assert client.count("GET /productOrder/{id}/timeline (change rejected: asset changed)") == 1


def test_an_account_with_no_active_product_is_skipped_under_a_row_of_its_own():
    with gateway() as http:  # no installed base: alice's accounts have nothing
        client = RecordingClient(http)

        outcomes = walk(client, times=3)

    assert outcomes == [None, None, None]
    assert client.failures() == []
    assert client.count("GET /product (no active product: skipped)") == 3
    assert client.count("POST /quote (TMF648 change)") == 0


def test_an_account_with_only_products_this_journey_leaves_alone_is_skipped_too():
    suite = {
        "offering": "saas-suite@2",
        "quantity": 10,
        "options": ["saas-edition-standard"],
        "order_id": "ORD-SEED",
        "item_id": "1",
    }
    leaves_alone = (
        # migrated with a gap its metadata names: a change to it would be refused
        AssetCreated(asset_id="M-1", account_id="acct-0001", missing_metadata=["term"], **suite),
        # an add-on changes with its parent
        AssetCreated(
            asset_id="M-1.1",
            account_id="acct-0001",
            offering="saas-extra-storage",
            quantity=10,
            role="add_on",
            parent_id="M-1",
            order_id="ORD-SEED",
            item_id="1",
        ),
    )
    with gateway(leaves_alone) as http:
        client = RecordingClient(http)

        outcomes = walk(client, times=2)

    assert outcomes == [None, None]
    assert client.failures() == []
    assert client.count("GET /product (no changeable product: skipped)") == 2
    assert client.count("POST /quote (TMF648 change)") == 0


@pytest.mark.parametrize(
    ("status", "body", "row"),
    [
        (
            409,
            {"code": "change_in_flight", "violations": [{"rule": "asset_pending_change"}]},
            "in flight",
        ),
        (422, {"code": "change_refused", "violations": [{"rule": "stale_asset_version"}]}, "stale"),
        (
            422,
            {"code": "change_refused", "violations": [{"rule": "asset_disconnected"}]},
            "disconnected",
        ),
        # the journey's own mistakes, or the platform's, are failures (it never quotes a
        # product whose metadata says it is incomplete)
        (
            422,
            {"code": "change_refused", "violations": [{"rule": "incomplete_asset_metadata"}]},
            None,
        ),
        (422, {"code": "change_refused", "violations": [{"rule": "configuration"}]}, None),
        (
            422,
            {
                "code": "change_refused",
                "violations": [{"rule": "stale_asset_version"}, {"rule": "nothing_to_change"}],
            },
            None,
        ),
        (422, {"code": "invalid_quote", "violations": [{"rule": "stale_asset_version"}]}, None),
        (500, {"code": "change_refused", "violations": [{"rule": "stale_asset_version"}]}, None),
        (409, "not json", None),
        # the quote's own check (when made or priced) names the rules in its message only
        (
            409,
            {
                "code": "change_refused",
                "message": "the change cannot go ahead: lines[0] (asset_pending_change): "
                "asset ib-000836 has a change in flight (order ord-quote-0-000148)",
            },
            "in flight",
        ),
        (
            409,
            {
                "code": "change_refused",
                "message": "the change cannot go ahead: lines[0] (stale_asset_version): v1; "
                "lines[1] (configuration): premium needs...",
            },
            None,
        ),
        (409, {"code": "change_refused", "message": "no rule named"}, None),
    ],
)
def test_only_the_refusals_a_customer_meets_under_concurrency_get_a_row_of_their_own(
    status, body, row
):
    expected = None if row is None else f"POST /quote (change refused: {row})"
    assert changes.refusal_row("POST /quote", status, body) == expected


def test_an_order_rejected_for_other_reasons_than_the_asset_is_no_outcome():
    def timeline(*kinds: str) -> list[dict]:
        reasons = [{"kind": k, "message": "m"} for k in kinds]
        return [{"type": "cpqsim.order.rejected.v1", "data": {"reasons": reasons}}]

    assert changes.rejection_row("T", timeline("asset")) == "T (change rejected: asset changed)"
    assert changes.rejection_row("T", timeline("asset", "credit")) is None
    assert changes.rejection_row("T", timeline()) is None
    assert changes.rejection_row("T", {"code": "unknown_order"}) is None


# ------------------------------------------------------------ the real Locust, bounded


@pytest.fixture(scope="module")
def served_renewal_season(ray_cluster, tmp_path_factory):
    """``serve --scenario renewal_season`` in a child process: 2,000 installed products."""
    port = free_port()
    log_path = tmp_path_factory.mktemp("serve") / "serve.log"
    code = (
        "from pathlib import Path; from cpqsim_actors.serve import serve; "
        f"serve(port={port}, name='changes-{port}', quote_shards=1, order_shards=1, "
        f"scenario_path=Path({str(RENEWAL_SEASON)!r}))"
    )
    with open(log_path, "w") as log:
        proc = subprocess.Popen(
            [sys.executable, "-c", code],
            env={**os.environ, "RAY_ADDRESS": ray_cluster},
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        wait_for_ready(proc, log_path)
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.mark.ray
@pytest.mark.slow
def test_a_change_run_against_an_installed_base_places_change_orders_and_the_verdict_holds(
    served_renewal_season, tmp_path: Path
):
    run = locust(
        tmp_path, served_renewal_season, "--tags", "change", "-u", "3", "-r", "3", "-t", "6s"
    )

    assert run.returncode == 0, run.stdout + run.stderr
    assert "cpqsim verdict: HOLDS" in run.stdout
    with open(run_folder(tmp_path) / "cpqsim_stats.csv", newline="") as f:
        rows = {row["Name"]: row for row in csv.DictReader(f)}
    assert int(rows["Aggregated"]["Failure Count"]) == 0, run.stdout
    assert int(rows["POST /productOrder (TMF622 change)"]["Request Count"]) > 0
    assert int(rows["change: order to settled (completed)"]["Request Count"]) > 0
    # only the change journey ran
    assert not any(name.startswith("POST /quote (TMF648)") for name in rows), sorted(rows)
