"""What a worker tells Prometheus and its supervisor: counters of its work, its consumer lag per
partition, and whether its loop still turns.

`/metrics` is the Prometheus text exposition format (0.0.4); `/healthz` answers 200 while the
worker's loop ran within `stall_seconds`, else 503 (a worker stuck on a dead broker is not healthy,
though its process lives). Consumer lag comes from librdkafka's own statistics (`stats_cb`, emitted
on the worker's poll), so nothing touches the consumer from the server's thread.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

log = logging.getLogger("audit_layer.metrics")
STATS_INTERVAL_MS = 5000


def _labels(values: Mapping[str, str]) -> str:
    if not values:
        return ""
    escaped = (f'{k}="{v}"'.replace("\\", "\\\\").replace("\n", "\\n") for k, v in sorted(values.items()))
    return "{" + ",".join(escaped) + "}"


class WorkerMetrics:
    """`counters` is read at each scrape (the worker's own tallies, e.g. {"enriched": 12}); the lag is
    fed by librdkafka's statistics."""

    def __init__(self, worker: str, counters: Callable[[], Mapping[str, int]], stall_seconds: float = 60.0) -> None:
        self.worker = worker
        self._counters = counters
        self.stall_seconds = stall_seconds
        self._lag: dict[tuple[str, int], int] = {}
        self._lock = threading.Lock()
        self._last_turn = time.monotonic()
        self._started = time.time()

    def turned(self) -> None:
        """The worker's loop went round once."""
        self._last_turn = time.monotonic()

    @property
    def healthy(self) -> bool:
        return time.monotonic() - self._last_turn <= self.stall_seconds

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

    def exposition(self) -> str:
        name = f"audit_layer_{self.worker}"
        lines = [f"# HELP {name}_up 1 while the worker's loop turns (see /healthz)", f"# TYPE {name}_up gauge",
                 f"{name}_up {1 if self.healthy else 0}",
                 f"# HELP {name}_start_time_seconds when the worker started (Unix time)",
                 f"# TYPE {name}_start_time_seconds gauge", f"{name}_start_time_seconds {self._started:.3f}"]
        for counter, value in sorted(self._counters().items()):
            metric = f"{name}_{counter}"
            lines += [f"# HELP {metric}_total {counter.replace('_', ' ')} since the worker started",
                      f"# TYPE {metric}_total counter", f"{metric}_total {int(value)}"]
        with self._lock:
            lag = dict(self._lag)
        lines += ["# HELP audit_layer_consumer_lag messages behind the end of each assigned partition",
                  "# TYPE audit_layer_consumer_lag gauge"]
        lines += [f"audit_layer_consumer_lag{_labels({'worker': self.worker, 'topic': t, 'partition': str(p)})} {n}"
                  for (t, p), n in sorted(lag.items())]
        return "\n".join(lines) + "\n"

    def consumer_settings(self) -> dict[str, Any]:
        """What to add to the worker's consumer settings for the lag."""
        return {"statistics.interval.ms": STATS_INTERVAL_MS, "stats_cb": self.on_stats}


class MetricsServer:
    """`/metrics` and `/healthz` on a port of its own, in a daemon thread."""

    def __init__(self, metrics: WorkerMetrics, port: int, host: str = "0.0.0.0") -> None:
        watched = metrics

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                if self.path.split("?")[0] == "/metrics":
                    self._answer(200, watched.exposition(), "text/plain; version=0.0.4; charset=utf-8")
                elif self.path.split("?")[0] == "/healthz":
                    ok = watched.healthy
                    self._answer(200 if ok else 503, "ok\n" if ok else
                                 f"stalled: the loop has not turned for over {watched.stall_seconds:g} s\n",
                                 "text/plain; charset=utf-8")
                else:
                    self._answer(404, "try /metrics or /healthz\n", "text/plain; charset=utf-8")

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
