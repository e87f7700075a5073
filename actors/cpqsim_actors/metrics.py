"""Prometheus metrics of one gateway process: HTTP, actor calls, and the platform's state.

Request and actor-call metrics are recorded as requests pass (cheap: a dict lookup and a
histogram observe). Platform state (downstream queues and utilisation, orders by state,
fallout) lives in the actors, so it is read once per scrape, not kept up to date on the
hot path. Each app gets its own registry, so several gateways in one test process never
share counters.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable
from typing import Any, TypeVar

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from starlette.types import ASGIApp, Message, Receive, Scope, Send

T = TypeVar("T")

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)


class GatewayMetrics:
    content_type = CONTENT_TYPE_LATEST

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.requests = Counter(
            "cpqsim_http_requests",
            "HTTP requests answered",
            ["method", "route", "status"],
            registry=r,
        )
        self.latency = Histogram(
            "cpqsim_http_request_duration_seconds",
            "time to answer, by route",
            ["method", "route"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.actor_latency = Histogram(
            "cpqsim_actor_call_duration_seconds",
            "gateway-side wait for platform actor calls",
            ["operation"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.queue_length = Gauge(
            "cpqsim_downstream_queue_length",
            "requests waiting for a downstream server",
            ["system"],
            registry=r,
        )
        self.utilisation = Gauge(
            "cpqsim_downstream_utilisation",
            "busy servers / servers of a downstream system",
            ["system"],
            registry=r,
        )
        self.busy = Gauge(
            "cpqsim_downstream_busy_servers", "downstream servers busy now", ["system"], registry=r
        )
        self.orders = Gauge("cpqsim_orders", "orders by state", ["state"], registry=r)
        self.fallout = Gauge(
            "cpqsim_open_fallout_cases",
            "open fallout cases: orders held in an owned fallout case",
            registry=r,
        )
        self.hub = Counter(
            "cpqsim_hub_deliveries",
            "event notifications to hub listeners, by outcome",
            ["outcome"],
            registry=r,
        )
        self.scrape_errors = Counter(
            "cpqsim_metrics_scrape_errors", "platform state that could not be read", registry=r
        )
        self._observers: dict[tuple[str, str], Any] = {}

    def observe_request(self, method: str, route: str, status: int, seconds: float) -> None:
        self.requests.labels(method, route, str(status)).inc()
        key = (method, route)
        observer = self._observers.get(key)
        if observer is None:
            observer = self._observers[key] = self.latency.labels(method, route)
        observer.observe(seconds)

    async def timed(self, operation: str, call: Awaitable[T]) -> T:
        """Await a platform call and record how long the gateway waited for it."""
        start = time.perf_counter()
        try:
            return await call
        finally:
            self.actor_latency.labels(operation).observe(time.perf_counter() - start)

    async def render(self, platform: Any) -> bytes:
        """Read the platform's state now, then the exposition text of every metric."""
        try:
            samples = await platform.downstream_samples()
            counts = await platform.order_status_counts()
        except Exception:  # an actor restarting must not break the scrape
            self.scrape_errors.inc()
        else:
            profiles = platform.config.downstream
            for system, (queued, busy) in samples.items():
                servers = max(1, profiles[system].servers) if system in profiles else 1
                self.queue_length.labels(system).set(queued)
                self.busy.labels(system).set(busy)
                self.utilisation.labels(system).set(busy / servers)
            for state, n in counts.items():
                self.orders.labels(state).set(n)
            self.fallout.set(counts.get("held", 0))
        return generate_latest(self.registry)


class MetricsMiddleware:
    """Times every HTTP request under its route *template* (bounded label cardinality)."""

    def __init__(self, app: ASGIApp, metrics: GatewayMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = 500

        async def send_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_status)
        finally:
            route = scope.get("route")
            name = getattr(route, "path", None) or "unmatched"
            self.metrics.observe_request(scope["method"], name, status, time.perf_counter() - start)
