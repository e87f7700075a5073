"""TMF event notifications: ``/hub`` registrations and at-least-once delivery to listeners.

A client registers a listener per API (``POST .../quoteManagement/v4/hub`` with
``{"callback": "http://127.0.0.1:9000/cpq"}``) and receives the platform's business
events as TMF notifications, POSTed to ``{callback}/listener/{eventType}`` (for example
``.../listener/quoteStateChangeEvent``), the listener paths the TMF documents define.

Delivery is **at least once**: a notification is retried (backing off up to
``MAX_BACKOFF_S``) until the listener answers 2xx or the registration is deleted, so a
listener may see one twice and must de-duplicate by ``eventId`` (the CloudEvent id, unique
and stable). Order per listener is preserved. Only loopback listeners are accepted: the
gateway never sends traffic off the machine.

Limits, stated plainly: registrations live in this gateway process (a restarted or a
second gateway has its own); the feed reads the platform's whole event log each poll
(``LivePlatform.events()``), so with a listener registered a very long run pays for
that; a listener that stays down for ``QUEUE_LIMIT`` events loses the oldest ones
(counted in ``cpqsim_hub_deliveries{outcome="dropped"}``).
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx

from cpqsim.events import CloudEvent
from cpqsim.quote import QuoteStatus
from cpqsim_actors.tmf import ORDER_PATH, QUOTE_PATH, QUOTE_STATE

log = logging.getLogger(__name__)

POLL_S = 0.5
MAX_BACKOFF_S = 5.0
QUEUE_LIMIT = 10_000
DELIVERY_TIMEOUT_S = 5.0

QUOTE_API, ORDER_API = "quote", "productOrder"
API_PATHS = {QUOTE_API: QUOTE_PATH, ORDER_API: ORDER_PATH}
EVENT_TYPES = {
    QUOTE_API: ("QuoteCreateEvent", "QuoteStateChangeEvent"),
    ORDER_API: (
        "ProductOrderCreateEvent",
        "ProductOrderStateChangeEvent",
        "ProductOrderAttributeValueChangeEvent",
    ),
}

# The quote status each quote fact leaves behind (the notification says the new state).
QUOTE_STATUS_AFTER = {
    "quote.created": QuoteStatus.DRAFT,
    "quote.priced": QuoteStatus.PRICED,
    "quote.submitted_for_approval": QuoteStatus.PENDING_APPROVAL,
    "quote.approved": QuoteStatus.APPROVED,
    "quote.rejected": QuoteStatus.REJECTED,
    "quote.revised": QuoteStatus.DRAFT,
    "quote.accepted": QuoteStatus.ACCEPTED,
    "quote.converted_to_order": QuoteStatus.CONVERTED,
    "quote.cancelled": QuoteStatus.CANCELLED,
    "quote.presented": QuoteStatus.PRESENTED,
    "quote.expired": QuoteStatus.EXPIRED,
    "quote.superseded": QuoteStatus.SUPERSEDED,
}
# Order facts that change the order's state, and that state (TMF622 names).
ORDER_STATE_AFTER = {
    "order.created": "acknowledged",
    "order.decomposed": "inProgress",
    "order.fallout_opened": "held",
    "order.completed": "completed",
}


class CallbackRefused(ValueError):
    """The callback is not a loopback http(s) URL, or the filter cannot be understood."""


def check_callback(callback: str) -> str:
    try:
        parts = urlsplit(callback)
        _ = parts.port  # raises on a malformed port
    except ValueError as exc:
        raise CallbackRefused(f"callback is not a URL: {exc}") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise CallbackRefused("callback must be an http(s) URL with a host")
    if parts.username or parts.password or parts.query or parts.fragment:
        raise CallbackRefused("callback must not carry credentials, a query or a fragment")
    host = parts.hostname
    loopback = host == "localhost"
    with contextlib.suppress(ValueError):
        loopback = loopback or ipaddress.ip_address(host).is_loopback
    if not loopback:
        raise CallbackRefused("callback must be on loopback (127.0.0.1, ::1 or localhost)")
    return callback.rstrip("/")


def parse_filter(api: str, query: str | None) -> frozenset[str]:
    """``eventType=A,B`` -> {A, B} (all of the API's event types when there is no query)."""
    if not query:
        return frozenset(EVENT_TYPES[api])
    parsed = parse_qs(query, keep_blank_values=True)
    if set(parsed) != {"eventType"}:
        raise CallbackRefused("query supports only eventType=<type>[,<type>...]")
    wanted = {t.strip() for value in parsed["eventType"] for t in value.split(",") if t.strip()}
    unknown = wanted - set(EVENT_TYPES[api])
    if unknown or not wanted:
        raise CallbackRefused(
            f"eventType must be among {', '.join(EVENT_TYPES[api])}"
            + (f" (not {', '.join(sorted(unknown))[:100]})" if unknown else "")
        )
    return frozenset(wanted)


def subject_of(event: CloudEvent) -> tuple[str, str] | None:
    """(api, resource id) a published fact is about."""
    if event.name.startswith("quote."):
        return QUOTE_API, str(event.data.get("quote_id", ""))
    if event.name.startswith("order."):
        return ORDER_API, str(event.data.get("order_id", ""))
    return None


def notification(
    event: CloudEvent, base_url: str, current: dict[str, Any] | None = None
) -> tuple[str, str, dict[str, Any]] | None:
    """(api, TMF event type, notification body) for a platform fact, if it is one we publish.

    ``current`` is the resource as rendered when the notification is built (TMF payloads
    carry the whole resource); its ``state`` is set to the state this fact left behind.
    """
    root = base_url.rstrip("/")
    name = event.name
    if name.startswith("quote."):
        quote_id = event.data.get("quote_id", "")
        status = QUOTE_STATUS_AFTER.get(name)
        resource: dict[str, Any] = dict(current or {"quoteItem": []})
        resource.update(
            {
                "id": quote_id,
                "href": f"{root}{QUOTE_PATH}/quote/{quote_id}",
                "version": str(event.data.get("revision", "")),
                "@type": "Quote",
            }
        )
        if status is not None:
            resource["state"] = QUOTE_STATE[status]
            resource["cpqsimStatus"] = status.value
        kind = "QuoteCreateEvent" if name == "quote.created" else "QuoteStateChangeEvent"
        return QUOTE_API, kind, _body(event, kind, "quoteManagement", {"quote": resource})
    if name.startswith("order."):
        order_id = event.data.get("order_id", "")
        resource = dict(current or {"productOrderItem": []})
        resource.update(
            {
                "id": order_id,
                "href": f"{root}{ORDER_PATH}/productOrder/{order_id}",
                "@type": "ProductOrder",
            }
        )
        state = ORDER_STATE_AFTER.get(name)
        if name == "order.created":
            kind = "ProductOrderCreateEvent"
        elif state is not None:
            kind = "ProductOrderStateChangeEvent"
        else:
            kind = "ProductOrderAttributeValueChangeEvent"
        if state is not None:
            resource["state"] = state
        body = _body(event, kind, "productOrderingManagement", {"productOrder": resource})
        return ORDER_API, kind, body
    return None


def _body(event: CloudEvent, kind: str, domain: str, payload: dict[str, Any]) -> dict[str, Any]:
    return {
        "eventId": event.id,
        "eventTime": event.time,
        "eventType": kind,
        "correlationId": event.correlationid,
        "domain": domain,
        "title": event.type,
        "event": payload,
        "cpqsimEvent": event.model_dump(mode="json"),
    }


def listener_url(callback: str, kind: str) -> str:
    return f"{callback}/listener/{kind[0].lower()}{kind[1:]}"


@dataclass
class Subscription:
    id: str
    api: str
    callback: str
    query: str | None
    event_types: frozenset[str]
    queue: asyncio.Queue = field(default_factory=lambda: asyncio.Queue(QUEUE_LIMIT))
    sender: asyncio.Task | None = None

    def view(self) -> dict[str, Any]:
        view = {"id": self.id, "callback": self.callback}
        if self.query is not None:
            view["query"] = self.query
        return view


Render = Callable[[str, str, str], Awaitable[dict[str, Any] | None]]


class Hub:
    """Registrations of this gateway and the loop that feeds them the platform's events.

    ``render(api, id, base_url)`` gives the resource as the gateway would answer it now;
    it is called once per changed resource per poll, not once per event.
    """

    def __init__(
        self, platform: Any, render: Render, metrics: Any = None, poll_s: float = POLL_S
    ) -> None:
        self.platform = platform
        self.render = render
        self.metrics = metrics
        self.poll_s = poll_s
        self.subscriptions: dict[str, Subscription] = {}
        self.base_url = "http://127.0.0.1"
        self._seen: set[str] = set()
        self._feed: asyncio.Task | None = None
        self._wake = asyncio.Event()
        self._client: httpx.AsyncClient | None = None

    # ----------------------------------------------------------------- registrations

    async def subscribe(self, api: str, callback: str, query: str | None, base_url: str) -> dict:
        checked = check_callback(callback)
        types = parse_filter(api, query)
        self.base_url = base_url
        if not self.subscriptions:
            # The feed sleeps while nobody listens. Listeners hear what happens from now
            # on, not the history before them: mark everything so far as seen.
            await self._poll(deliver=False)
        sub = Subscription(f"{api}-{uuid.uuid4().hex[:12]}", api, checked, query, types)
        sub.sender = asyncio.get_running_loop().create_task(self._send_loop(sub))
        self.subscriptions[sub.id] = sub
        self._ensure_feed()
        self._wake.set()
        return sub.view()

    def unsubscribe(self, api: str, subscription_id: str) -> bool:
        sub = self.subscriptions.get(subscription_id)
        if sub is None or sub.api != api:
            return False
        del self.subscriptions[subscription_id]
        if sub.sender is not None:
            sub.sender.cancel()
        return True

    def get(self, api: str, subscription_id: str) -> dict | None:
        sub = self.subscriptions.get(subscription_id)
        return sub.view() if sub is not None and sub.api == api else None

    # ----------------------------------------------------------------- feed

    def _ensure_feed(self) -> None:
        if self._feed is None or self._feed.done():
            self._feed = asyncio.get_running_loop().create_task(self._feed_loop())

    async def _feed_loop(self) -> None:
        while True:
            if not self.subscriptions:
                self._wake.clear()
                await self._wake.wait()
            try:
                await self._poll(deliver=True)
            except Exception:  # an actor restarting: try again next tick
                log.warning("hub: could not read the platform's events", exc_info=True)
            await asyncio.sleep(self.poll_s)

    async def _poll(self, deliver: bool) -> int:
        events = await self.platform.events()
        fresh = [e for e in events if e.id not in self._seen]
        self._seen.update(e.id for e in fresh)
        if not deliver:
            return 0
        wanted = {(s.api) for s in self.subscriptions.values()}
        fresh = [e for e in fresh if (subject_of(e) or ("", ""))[0] in wanted]
        subjects = sorted({subject for e in fresh if (subject := subject_of(e)) is not None})
        rendered = await asyncio.gather(
            *(self.render(api, rid, self.base_url) for api, rid in subjects)
        )
        current = dict(zip(subjects, rendered, strict=True))
        for event in fresh:
            note = notification(event, self.base_url, current.get(subject_of(event)))
            if note is None:
                continue
            api, kind, body = note
            for sub in list(self.subscriptions.values()):
                if sub.api == api and kind in sub.event_types:
                    self._enqueue(sub, kind, body)
        return len(fresh)

    def _enqueue(self, sub: Subscription, kind: str, body: dict) -> None:
        if sub.queue.full():
            sub.queue.get_nowait()
            self._count("dropped")
        sub.queue.put_nowait((kind, body))

    # ----------------------------------------------------------------- delivery

    async def _send_loop(self, sub: Subscription) -> None:
        client = self._http()
        while True:
            kind, body = await sub.queue.get()
            url = listener_url(sub.callback, kind)
            backoff = 0.1
            while True:
                try:
                    answer = await client.post(
                        url, json=body, headers={"X-Event-Id": body["eventId"]}
                    )
                    if 200 <= answer.status_code < 300:
                        self._count("delivered")
                        break
                    self._count("refused")
                except httpx.HTTPError:
                    self._count("failed")
                await asyncio.sleep(backoff)
                backoff = min(MAX_BACKOFF_S, backoff * 2)

    def _http(self) -> httpx.AsyncClient:
        if self._client is None:
            self._client = httpx.AsyncClient(timeout=DELIVERY_TIMEOUT_S, trust_env=False)
        return self._client

    def _count(self, outcome: str) -> None:
        if self.metrics is not None:
            self.metrics.hub.labels(outcome).inc()

    async def stop(self) -> None:
        tasks = [s.sender for s in self.subscriptions.values() if s.sender is not None]
        if self._feed is not None:
            tasks.append(self._feed)
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self.subscriptions.clear()
        if self._client is not None:
            await self._client.aclose()
            self._client = None
