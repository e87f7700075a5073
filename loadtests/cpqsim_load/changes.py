"""The change journey: a customer changes what it already has, over HTTP only.

Most orders in an established business change an installed product instead of selling a
new one, and they meet what new sales never do: somebody else got to the product first.
This journey walks it as a client would. It lists the account's active products (TMF637),
picks one, reads the catalog for where that product may go (the exact offering version it
runs, and the ``upgradesTo`` / ``downgradesTo`` relations of each option it has), quotes a
change (TMF648 item ``modify`` naming the ``product`` and the ``assetVersion`` it read:
more seats, or an option moved up or down a catalog path), prices and accepts it, orders
it (TMF622, the same item action) and polls the order until it settles.

What a customer meets under concurrency is an outcome, not an error, and each kind gets a
row of its own so the statistics show how often it happens: a quote refused, when made or
when priced (the quote judges the change again), because the product moved on since it
was read (``POST /quote (change refused: stale)``, ``POST /quote/{id}/price (change
refused: stale)``), because another order holds it (``... in flight``), and so on
(:data:`EXPECTED_REFUSALS`); an order
created and then rejected because another order locked the product between the quote and
the order (``... (change rejected: asset changed)``); an account with no active product
(``GET /product (no active product: skipped)``) or none this journey changes (``... (no
changeable product: skipped)``). Any other answer is a failure.

What it changes: main products whose metadata is whole. Bundles, and offerings that
require another product of the account (a firewall needs an internet line), are left
alone: the platform judges a change to one product without the account's others today
and refuses those.

Which accounts: those the seller may see that have an active product, read once per
process from the TMF637 listing (the gateway scopes it to the caller's accounts); with
none (a platform served without an installed base), the seller's own accounts, each of
which is then skipped cleanly.
"""

from __future__ import annotations

import contextlib
import random
import re
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from cpqsim_load.callers import Callers
from cpqsim_load.journeys import CATALOG, ORDER, QUOTE, JourneyFailed, approve_and_accept, call

PRODUCT = "/tmf-api/productInventory/v4/product"
PAGE = 100  # products per listing page
MAX_DISCOVERY_PAGES = 20  # an unscoped seller sees every account: a sample is enough

#: Refusal rules (TMF ``Error.violations[].rule``) a customer meets when another change got
#: to the product between the listing and the quote: the row each is counted under.
EXPECTED_REFUSALS: dict[str, str] = {
    "stale_asset_version": "stale",
    "asset_pending_change": "in flight",
    "not_allowed_in_status": "status moved",
    "asset_disconnected": "disconnected",
}
#: (HTTP status, TMF ``Error.code``) of a change refusal: the gateway's check when a quote
#: is made and the quote's own check when it is made or priced (409 while another order
#: holds the product, 422 otherwise, each rule in ``violations``); a gateway from before
#: the quote's check named its rules answered 409 with the rules in its message only.
REFUSALS = frozenset({(409, "change_in_flight"), (422, "change_refused"), (409, "change_refused")})
#: The quote's own check answers with a message only, naming each rule after its line
#: (``lines[0] (asset_pending_change): ...``, :class:`cpqsim.quote.ChangeRefused`).
RULE_IN_MESSAGE = re.compile(r"lines\[\d+\] \((\w+)\):")

#: TMF622 order states after which nothing more happens without somebody acting.
SETTLED = frozenset({"completed", "partial", "failed", "cancelled", "rejected", "held"})
SEAT_STEPS = (-2, -1, 1, 2)  # a few seats (sites) more or fewer; no drift over a long run
POLL_FIRST_S, POLL_MAX_S = 0.1, 1.0  # the order poll backs off from 0.1 s to 1 s


@dataclass(frozen=True)
class ChangeOutcome:
    """How one ordered change ended: the order's state and seconds from order to settled."""

    order_id: str
    state: str
    settle_s: float


@dataclass
class ChangeAccounts:
    """The accounts the change journey works on, read once per process.

    ``lock`` keeps many users starting at once from each listing the inventory (the
    locustfile gives a gevent lock; a plain caller needs none).
    """

    lock: Any = field(default_factory=contextlib.nullcontext)
    accounts: tuple[str, ...] | None = None

    def get(self, client, who: Callers) -> tuple[str, ...]:
        with self.lock:
            if self.accounts is None:
                found = accounts_with_active_products(client, who)
                self.accounts = found or who.seller_accounts
        return self.accounts


#: The pool every journey of this process shares unless given another one.
ACCOUNTS = ChangeAccounts()


def accounts_with_active_products(client, who: Callers) -> tuple[str, ...]:
    """Accounts the seller may see that have an active product, in listing order."""
    seen: dict[str, None] = {}
    for page in range(MAX_DISCOVERY_PAGES):
        path = f"{PRODUCT}?status=active&fields=relatedParty&limit={PAGE}&offset={page * PAGE}"
        products = call(client, "GET", path, "GET /product (accounts, once)", (200,), who.seller())
        for product in products:
            for party in product.get("relatedParty", []):
                if party.get("role") == "Customer":
                    seen.setdefault(party["id"], None)
        if len(products) < PAGE:
            break
    return tuple(seen)


# ------------------------------------------------------------------------ judging answers


def ask(
    client,
    method: str,
    path: str,
    name: str,
    auth: dict[str, str],
    judge: Callable[[int, Any], tuple[str, str | None]],
    headers: dict[str, str] | None = None,
    **kwargs,
) -> tuple[int, Any, str]:
    """One request whose row and verdict follow from its answer.

    ``judge(status, body)`` returns the row to count it under and a failure message (None:
    a success). The row is renamed on Locust's answer before it is reported, so a refusal
    is counted as itself and never under the request's usual name.
    """
    with client.request(
        method, path, name=name, catch_response=True, headers={**auth, **(headers or {})}, **kwargs
    ) as resp:
        try:
            body = resp.json() if resp.text else {}
        except ValueError:
            body = None
        row, problem = judge(resp.status_code, body)
        resp.request_meta["name"] = row
        if problem is None:
            resp.success()
        else:
            resp.failure(f"{row}: {problem}: {resp.status_code}: {resp.text[:300]}")
    if problem is not None:
        raise JourneyFailed
    return resp.status_code, body, row


def refusal_rules(body: dict) -> list[str]:
    """The rules a change refusal names: its violations', or those its message names."""
    violations = body.get("violations") or []
    if violations:
        return [str(v.get("rule")) for v in violations]
    return RULE_IN_MESSAGE.findall(str(body.get("message", "")))


def refusal_row(name: str, status: int, body: Any) -> str | None:
    """The row of a change refusal a customer may meet (None: not one of those).

    Expected when the answer is a change refusal (:data:`REFUSALS`) and every rule it
    names is in :data:`EXPECTED_REFUSALS`; the row names the first one.
    """
    if not isinstance(body, dict) or (status, body.get("code")) not in REFUSALS:
        return None
    rules = refusal_rules(body)
    if not rules or any(rule not in EXPECTED_REFUSALS for rule in rules):
        return None
    return f"{name} (change refused: {EXPECTED_REFUSALS[rules[0]]})"


def rejection_row(name: str, timeline: Any) -> str | None:
    """The row of an order rejected for the installed base's reasons (None: other reasons)."""
    if not isinstance(timeline, list):
        return None
    rejected = [e for e in timeline if str(e.get("type", "")).endswith(".rejected.v1")]
    reasons = [r for e in rejected for r in (e.get("data") or {}).get("reasons", [])]
    if not reasons or any(r.get("kind") != "asset" for r in reasons):
        return None
    return f"{name} (change rejected: asset changed)"


# ------------------------------------------------------------------------ choosing a change


class Catalog:
    """TMF620 offerings read on demand and kept (one user's view of the catalog)."""

    def __init__(self, client, who: Callers) -> None:
        self.client, self.who, self.known = client, who, {}

    def offering(self, offering_id: str) -> dict:
        if offering_id not in self.known:
            self.known[offering_id] = call(
                self.client,
                "GET",
                f"{CATALOG}/{offering_id}",
                "GET /productOffering/{id}",
                (200,),
                self.who.seller(),
            )
        return self.known[offering_id]

    def related(self, offering_id: str, kinds: tuple[str, ...]) -> set[str]:
        """Offerings ``offering_id`` points at with a relation of one of ``kinds``."""
        return {
            rel["id"]
            for rel in self.offering(offering_id).get("productOfferingRelationship", [])
            if rel["relationshipType"] in kinds
        }


def running_version(product: dict) -> str:
    """The exact offering version the product runs (its reference's href names it)."""
    return product["productOffering"]["href"].rsplit("/", 1)[-1]


def add_ons_of(product: dict, listed: list[dict]) -> list[str]:
    """Offerings of the add-ons under ``product`` (listed with it: the same account)."""
    return [
        p["productOffering"]["id"]
        for p in listed
        if any(
            r["relationshipType"] == "reliesOn" and r["product"]["id"] == product["id"]
            for r in p.get("productRelationship", [])
        )
    ]


def option_moves(product: dict, listed: list[dict], catalog: Catalog) -> list[tuple[str, str]]:
    """(installed option, option it may move to): along an ``upgradesTo`` or
    ``downgradesTo`` path of the catalog, to an option of the offering version the product
    runs, where nothing kept excludes the new option or requires the old one (single
    sign-on needs the premium edition; a premium SLA excludes wireless access)."""
    offered = {
        b["id"]
        for b in catalog.offering(running_version(product)).get("bundledProductOffering", [])
    }
    options = [o["id"] for o in product.get("options", [])]
    add_ons = add_ons_of(product, listed)
    moves = []
    for old in options:
        kept = [o for o in options if o != old] + add_ons
        for new in sorted(catalog.related(old, ("upgradesTo", "downgradesTo")) & offered):
            excluded = catalog.related(new, ("excludes", "conflictsWith")) & set(kept)
            excluding = [k for k in kept if new in catalog.related(k, ("excludes",))]
            needing_old = [k for k in kept if old in catalog.related(k, ("requires",))]
            if not excluded and not excluding and not needing_old:
                moves.append((old, new))
    return moves


def changeable(product: dict, catalog: Catalog) -> bool:
    """A main product, whole, that the platform judges on its own.

    Add-ons and components change with their parent; a migrated product with gaps in its
    metadata says so (``missingMetadata``). An offering that requires another on the
    account (a firewall needs an internet line) is changed like any other: the platform
    judges it with what the account has installed. A bundle is left alone: a change line
    for a bundle must state its contents, which this journey does not build.
    """
    return (
        product.get("role", "main") == "main"
        and not product.get("missingMetadata")
        and not product.get("isBundle")
    )


def change_item(product: dict, listed: list[dict], rng: random.Random, catalog: Catalog) -> dict:
    """A TMF648 ``modify`` item for ``product`` at the version read: an option moved along
    a catalog path, or a few seats (sites, appliances) more or fewer; half and half when
    the catalog allows a move."""
    item: dict[str, Any] = {
        "id": "1",
        "action": "modify",
        "product": {"id": product["id"]},
        "assetVersion": product["assetVersion"],
    }
    moves = option_moves(product, listed, catalog)
    if moves and rng.random() < 0.5:
        old, new = rng.choice(moves)
        options = [new if o["id"] == old else o["id"] for o in product.get("options", [])]
        item["quoteItem"] = [{"action": "add", "productOffering": {"id": o}} for o in options]
        return item
    quantity = int(product.get("quantity") or 1)
    steps = [s for s in SEAT_STEPS if quantity + s >= 1]
    item["quantity"] = quantity + rng.choice(steps)
    return item


def choose_product(listed: list[dict], rng: random.Random, catalog: Catalog) -> dict | None:
    """One changeable product of the listing, drawn by ``rng`` (None: there is none)."""
    mains = [p for p in listed if p.get("role", "main") == "main"]
    rng.shuffle(mains)
    return next((p for p in mains if changeable(p, catalog)), None)


# ------------------------------------------------------------------------------ the journey


def change_installed_product(
    client,
    rng: random.Random,
    who: Callers,
    accounts: ChangeAccounts = ACCOUNTS,
    settle_s: float = 30.0,
) -> ChangeOutcome | None:
    """List, pick, quote the change, price, accept, order, poll until settled.

    None when nothing was ordered (nothing to change on the account, or the quote refused
    as a customer may meet it); the outcome when the order settled completed, or rejected
    for the installed base's reasons; raises :class:`JourneyFailed` after reporting any
    other failure.
    """
    seller = who.seller()
    account = rng.choice(accounts.get(client, who))
    listing = f"{PRODUCT}?relatedParty.id={account}&status=active&limit={PAGE}"
    catalog = Catalog(client, who)
    chosen: list[dict] = []
    catalog_failed: list[bool] = []

    def judge_listing(status: int, listed: Any) -> tuple[str, str | None]:
        name = "GET /product (account, active)"
        if status != 200 or not isinstance(listed, list):
            return name, "expected 200 and a list"
        if not listed:
            return "GET /product (no active product: skipped)", None
        try:  # reads the catalog it needs; a failed read is reported as itself
            product = choose_product(listed, rng, catalog)
            if product is None:
                return "GET /product (no changeable product: skipped)", None
            chosen.append(change_item(product, listed, rng, catalog))
        except JourneyFailed:
            catalog_failed.append(True)
        return name, None

    ask(client, "GET", listing, "GET /product (account, active)", seller, judge_listing)
    if catalog_failed:
        raise JourneyFailed
    if not chosen:
        return None
    body = {
        "quoteItem": chosen,
        "relatedParty": [{"id": account, "role": "Customer", "@referredType": "Organization"}],
    }

    def judge_quote(status: int, answer: Any) -> tuple[str, str | None]:
        name = "POST /quote (TMF648 change)"
        if status == 201:
            return name, None
        refused = refusal_row("POST /quote", status, answer)
        return (refused, None) if refused else (name, "expected 201 or a change refusal")

    status, quote, _ = ask(
        client, "POST", QUOTE, "POST /quote (TMF648 change)", seller, judge_quote, json=body
    )
    if status != 201:
        return None
    qid = quote["id"]

    def judge_price(status: int, answer: Any) -> tuple[str, str | None]:
        # the quote judges the change again when priced: the product may have moved on
        name = "POST /quote/{id}/price"
        if status == 200:
            return name, None
        refused = refusal_row(name, status, answer)
        return (refused, None) if refused else (name, "expected 200 or a change refusal")

    path = f"{QUOTE}/{qid}/price"
    status, priced, _ = ask(client, "POST", path, "POST /quote/{id}/price", seller, judge_price)
    if status != 200:
        return None
    accepted = approve_and_accept(client, qid, priced, who)
    order_body = {
        "quote": [{"id": qid, "href": accepted["href"], "@referredType": "Quote"}],
        "productOrderItem": [
            {
                "id": line["id"],
                "action": line["action"],
                "quoteItem": {"id": line["id"], "quoteId": qid},
                "product": {"id": line["product"]["id"]},
            }
            for line in accepted["quoteItem"]
        ],
        "relatedParty": [{"id": account, "role": "Customer", "@referredType": "Organization"}],
    }
    key = {"Idempotency-Key": f"change-{uuid.uuid4()}"}
    ordered_at = time.monotonic()
    order = call(
        client,
        "POST",
        ORDER,
        "POST /productOrder (TMF622 change)",
        (201,),
        seller,
        json=order_body,
        headers=key,
    )
    return settle(client, who, order, ordered_at, settle_s)


def settle(client, who: Callers, order: dict, ordered_at: float, settle_s: float) -> ChangeOutcome:
    """Poll the order until it settles; an order rejected for the installed base's reasons
    is an outcome (its timeline says why), any ending but that or completion a failure."""
    seller, order_id, state = who.seller(), order["id"], order["state"]
    path = f"{ORDER}/{order_id}"
    pause = POLL_FIRST_S
    while state not in SETTLED:
        if time.monotonic() - ordered_at > settle_s:
            break
        time.sleep(pause)
        pause = min(POLL_MAX_S, pause * 1.5)
        state = call(client, "GET", path, "GET /productOrder/{id} (until settled)", (200,), seller)[
            "state"
        ]
    outcome = ChangeOutcome(order_id, state, time.monotonic() - ordered_at)
    if state == "completed":
        return outcome
    name = "GET /productOrder/{id}/timeline"

    def judge_ending(status: int, timeline: Any) -> tuple[str, str | None]:
        if state not in SETTLED:
            return (
                f"{name} (change not settled)",
                f"order {order_id} still {state} after {settle_s:g} s",
            )
        if status == 200 and state == "rejected":
            rejected = rejection_row(name, timeline)
            if rejected:
                return rejected, None
        return f"{name} (change {state})", f"order {order_id} ended {state}"

    ask(client, "GET", f"{path}/timeline", name, seller, judge_ending)
    return outcome
