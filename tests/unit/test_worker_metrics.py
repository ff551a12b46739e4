"""A worker's /metrics as Prometheus reads it (its own parser), and when it counts as stalled (pure)."""

from __future__ import annotations

import json
import time

from audit_layer_processors.worker_metrics import WorkerMetrics
from prometheus_client.parser import text_string_to_metric_families


def test_worker_metrics_parse_as_prometheus_reads_them() -> None:
    metrics = WorkerMetrics("enricher", lambda: {"enriched": 7, "dead_lettered": 1}, stall_seconds=60)
    metrics.on_stats(json.dumps({"topics": {"audit.events": {"partitions": {
        "0": {"consumer_lag": 5, "fetch_state": "active"}, "1": {"consumer_lag": -1, "fetch_state": "active"},
        "-1": {"consumer_lag": 9}, "2": {"consumer_lag": 3, "fetch_state": "none"}}}}}))
    metrics.on_stats("not json")  # kept as it was
    samples = {(s.name, tuple(sorted(s.labels.items()))): s.value
               for f in text_string_to_metric_families(metrics.exposition()) for s in f.samples}
    assert samples[("audit_layer_enricher_enriched_total", ())] == 7
    assert samples[("audit_layer_enricher_up", ())] == 1
    lag = {k: v for k, v in samples.items() if k[0] == "audit_layer_consumer_lag"}
    assert lag == {("audit_layer_consumer_lag", (("partition", "0"), ("topic", "audit.events"),
                                                 ("worker", "enricher"))): 5}
    stalled = WorkerMetrics("sink", dict, stall_seconds=0)
    time.sleep(0.01)
    assert not stalled.healthy


def test_ready_once_its_topics_are_found_and_while_healthy() -> None:
    metrics = WorkerMetrics("sequencer", dict, stall_seconds=60)
    assert metrics.healthy and not metrics.ready
    metrics.topics_found()
    assert metrics.ready
    metrics.stall_seconds = 0
    time.sleep(0.01)
    assert not metrics.ready
