"""What a worker tells Prometheus and its supervisor, through prometheus-client: events in and out, dead
letters by reason, batch and commit latency, consumer lag per partition, checkpoint age per tenant (the
sequencer), the last verification per tenant and the embedded engine's state (the sink), build info,
and whether the worker's loop still turns.

`/metrics` is Prometheus's text format; `/healthz` answers 200 while the worker's loop ran within
`stall_seconds`, else 503 (a worker waiting on a dead broker is not healthy, though its process lives);
`/readyz` answers 200 once the worker found its topics and while it is healthy.
Consumer lag comes from librdkafka's own statistics (`stats_cb`, emitted on the worker's poll), and
whatever else is read at a scrape comes from callables that copy the worker's state, so nothing touches
a Kafka client or the engine from the server's thread.
"""

from __future__ import annotations

import json
import logging
import platform
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib.metadata import PackageNotFoundError, version
from typing import Any

from prometheus_client import CollectorRegistry, Histogram, Info, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

log = logging.getLogger("audit_layer.metrics")
STATS_INTERVAL_MS = 5000
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)

# what a worker hands the metrics to read at a scrape; each returns a copy of the worker's own state
Tallies = Callable[[], Mapping[str, int]]
PerTenant = Callable[[], Mapping[str, float]]


def _build_version() -> str:
    try:
        return version("audit-layer")
    except PackageNotFoundError:
        return "unknown"


class WorkerMetrics:
    """`counters`: the worker's own tallies (e.g. {"enriched": 12}), exposed as
    audit_layer_<worker>_<name>_total. The other sources are optional: set the attributes after making it."""

    def __init__(self, worker: str, counters: Tallies, stall_seconds: float = 60.0) -> None:
        self.worker = worker
        self.stall_seconds = stall_seconds
        self.counters = counters
        self.events: Callable[[], tuple[int, int]] | None = None  # (read, written)
        self.dead_letters: Tallies | None = None  # reason -> count
        self.checkpoint_times_us: PerTenant | None = None  # tenant -> when its last checkpoint was signed
        self.unsigned_links: PerTenant | None = None  # tenant -> links after its last checkpoint
        self.verifications: Callable[[], Mapping[str, tuple[bool, float]]] | None = None  # tenant -> (ok, when)
        self.engine_role: Callable[[], str] | None = None
        self._lag: dict[tuple[str, int], int] = {}
        self._lock = threading.Lock()
        self._last_turn = time.monotonic()
        self._started = time.time()
        self._ready = False
        self.registry = CollectorRegistry()
        self.batch_seconds = Histogram("audit_layer_batch_seconds", "time to handle one batch of messages",
                                       ["worker"], buckets=LATENCY_BUCKETS, registry=self.registry).labels(worker)
        self.commit_seconds = Histogram("audit_layer_commit_seconds",
                                        "time to commit (offsets, or the Kafka transaction of a batch)",
                                        ["worker"], buckets=LATENCY_BUCKETS, registry=self.registry).labels(worker)
        Info("audit_layer_build", "the running build", registry=self.registry).info(
            {"version": _build_version(), "python": platform.python_version(), "worker": worker})
        self.registry.register(_StateCollector(self))

    def turned(self) -> None:
        """The worker's loop went round once."""
        self._last_turn = time.monotonic()

    @property
    def healthy(self) -> bool:
        return time.monotonic() - self._last_turn <= self.stall_seconds

    def topics_found(self) -> None:
        """The worker's topics exist and it consumes them: from now on it is ready while healthy."""
        self._ready = True

    @property
    def ready(self) -> bool:
        return self._ready and self.healthy

    def on_stats(self, stats_json: str) -> None:
        """librdkafka's statistics: the consumer lag of each assigned partition (-1 while unknown)."""
        try:
            stats = json.loads(stats_json)
        except ValueError:
            return
        lag: dict[tuple[str, int], int] = {}
        for topic, info in (stats.get("topics") or {}).items():
            for partition, p in (info.get("partitions") or {}).items():
                value = p.get("consumer_lag", -1)
                if partition != "-1" and p.get("fetch_state") not in (None, "none") and value >= 0:
                    lag[(topic, int(partition))] = int(value)
        with self._lock:
            self._lag = lag

    def lag(self) -> dict[tuple[str, int], int]:
        with self._lock:
            return dict(self._lag)

    def exposition(self) -> str:
        return generate_latest(self.registry).decode()

    def consumer_settings(self) -> dict[str, Any]:
        """What to add to the worker's consumer settings for the lag."""
        return {"statistics.interval.ms": STATS_INTERVAL_MS, "stats_cb": self.on_stats}


class _StateCollector(Collector):
    """The metrics read from the worker's state at each scrape."""

    def __init__(self, metrics: WorkerMetrics) -> None:
        self.m = metrics

    def collect(self) -> Iterator[Metric]:
        m, worker = self.m, self.m.worker
        prefix = f"audit_layer_{worker}"
        yield GaugeMetricFamily(f"{prefix}_up", "1 while the worker's loop turns (see /healthz)",
                                value=1 if m.healthy else 0)
        yield GaugeMetricFamily(f"{prefix}_start_time_seconds", "when the worker started (Unix time)",
                                value=m._started)
        for name, value in sorted(m.counters().items()):
            yield CounterMetricFamily(f"{prefix}_{name}", f"{name.replace('_', ' ')} since the worker started",
                                      value=int(value))
        if m.events is not None:
            read, written = m.events()
            for metric, text, value in (("audit_layer_events_in", "messages read from the worker's input", read),
                                        ("audit_layer_events_out", "records the worker wrote onward", written)):
                family = CounterMetricFamily(metric, text, labels=["worker"])
                family.add_metric([worker], value)
                yield family
        if m.dead_letters is not None:
            family = CounterMetricFamily("audit_layer_dead_letters", "messages dead-lettered, by reason",
                                         labels=["worker", "reason"])
            for reason, count in sorted(m.dead_letters().items()):
                family.add_metric([worker, reason], count)
            yield family
        lag = GaugeMetricFamily("audit_layer_consumer_lag", "messages behind the end of each assigned partition, "
                                "against the committed offset (on a transactional topic, caught up reads 1: the "
                                "last transaction's commit marker)",
                                labels=["worker", "topic", "partition"])
        for (topic, partition), behind in sorted(m.lag().items()):
            lag.add_metric([worker, topic, str(partition)], behind)
        yield lag
        if m.checkpoint_times_us is not None:
            now = time.time()
            age = GaugeMetricFamily("audit_layer_checkpoint_age_seconds",
                                    "seconds since the tenant's last signed checkpoint (tenants of this sequencer)",
                                    labels=["tenant"])
            for tenant, at_us in sorted(m.checkpoint_times_us().items()):
                if at_us > 0:
                    age.add_metric([tenant], max(0.0, now - at_us / 1e6))
            yield age
        if m.unsigned_links is not None:
            unsigned = GaugeMetricFamily("audit_layer_unsigned_links",
                                         "links of the tenant's chain no checkpoint signs yet", labels=["tenant"])
            for tenant, links in sorted(m.unsigned_links().items()):
                unsigned.add_metric([tenant], links)
            yield unsigned
        if m.verifications is not None:
            ok = GaugeMetricFamily("audit_layer_verification_ok", "1 when the tenant's last verification passed",
                                   labels=["tenant"])
            when = GaugeMetricFamily("audit_layer_verification_timestamp_seconds",
                                     "when the tenant's chain was last verified (Unix time)", labels=["tenant"])
            for tenant, (passed, at) in sorted(m.verifications().items()):
                ok.add_metric([tenant], 1 if passed else 0)
                when.add_metric([tenant], at)
            yield ok
            yield when
        if m.engine_role is not None:
            engine = GaugeMetricFamily("audit_layer_engine", "the ClickHouse engine as this worker reaches it: "
                                       "embedded and serving others, embedded, through its owner, or a server",
                                       labels=["role"])
            engine.add_metric([m.engine_role()], 1)
            yield engine


class MetricsServer:
    """`/metrics` and `/healthz` on a port of its own, in a daemon thread."""

    def __init__(self, metrics: WorkerMetrics, port: int, host: str = "0.0.0.0") -> None:
        watched = metrics

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                if self.path.split("?")[0] == "/metrics":
                    self._answer(200, watched.exposition(), "text/plain; version=0.0.4; charset=utf-8")
                elif self.path.split("?")[0] == "/readyz":
                    ok = watched.ready
                    self._answer(200 if ok else 503, "ok\n" if ok else "not ready: its topics are not read yet, or "
                                 "its loop has stalled\n", "text/plain; charset=utf-8")
                elif self.path.split("?")[0] == "/healthz":
                    ok = watched.healthy
                    self._answer(200 if ok else 503, "ok\n" if ok else
                                 f"stalled: the loop has not turned for over {watched.stall_seconds:g} s\n",
                                 "text/plain; charset=utf-8")
                else:
                    self._answer(404, "try /metrics, /healthz or /readyz\n", "text/plain; charset=utf-8")

            def _answer(self, status: int, body: str, media: str) -> None:
                data = body.encode()
                self.send_response(status)
                self.send_header("Content-Type", media)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *_: Any) -> None:  # scrapes every 15 s would drown the worker's log
                pass

        self.server = ThreadingHTTPServer((host, port), Handler)
        self.port = int(self.server.server_address[1])
        self.thread = threading.Thread(target=self.server.serve_forever, name="metrics", daemon=True)

    def start(self) -> MetricsServer:
        self.thread.start()
        log.info("metrics on :%d/metrics, health on :%d/healthz", self.port, self.port)
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
