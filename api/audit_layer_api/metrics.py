"""The API's Prometheus metrics (`GET /metrics`): requests by route and status, their latency, events
taken in and acknowledged by Kafka, build info. Each process of `audit-layer api --workers N` counts its
own requests: scrape each, or run one worker per container as the Compose file does per replica."""

from __future__ import annotations

import platform
import time
from importlib.metadata import PackageNotFoundError, version
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram, Info, generate_latest
from starlette.types import ASGIApp, Message, Receive, Scope, Send

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class ApiMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter("audit_layer_api_requests", "HTTP requests answered, by route and status",
                                ["method", "route", "status"], registry=self.registry)
        self.latency = Histogram("audit_layer_api_request_seconds", "time to answer a request, by route",
                                 ["route"], buckets=BUCKETS, registry=self.registry)
        self.events_in = Counter("audit_layer_events_in", "events taken in", ["worker"],
                                 registry=self.registry).labels("api")
        self.events_out = Counter("audit_layer_events_out", "events acknowledged by Kafka", ["worker"],
                                  registry=self.registry).labels("api")
        self.otlp_spans = Counter("audit_layer_otlp_spans", "spans received on /v1/traces: genai (made events), "
                                  "ignored (not GenAI), rejected (GenAI but not a valid event)", ["outcome"],
                                  registry=self.registry)
        self.otlp_log_records = Counter("audit_layer_otlp_log_records", "log records received on /v1/logs: genai "
                                        "(GenAI content, made content events), ignored (other records), rejected "
                                        "(content events that were not valid)", ["outcome"], registry=self.registry)
        try:
            built = version("audit-layer")
        except PackageNotFoundError:
            built = "unknown"
        Info("audit_layer_build", "the running build", registry=self.registry).info(
            {"version": built, "python": platform.python_version(), "worker": "api"})

    def exposition(self) -> bytes:
        return generate_latest(self.registry)


class RequestMetrics:
    """Counts and times every request by its route's template (/v1/audit/logs/{event_id}), never by its
    path: one series per route, however many ids are asked for."""

    def __init__(self, app: ASGIApp, metrics: ApiMetrics) -> None:
        self.app, self.metrics = app, metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def sending(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, sending)
        finally:
            route: Any = scope.get("route")
            template = getattr(route, "path", None) or ("/console/*" if scope["path"].startswith("/console")
                                                        else "unmatched")
            self.metrics.requests.labels(scope["method"], template, str(status)).inc()
            self.metrics.latency.labels(template).observe(time.perf_counter() - started)
