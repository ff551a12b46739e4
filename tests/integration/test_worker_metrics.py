"""The workers' /metrics and /healthz, read as Prometheus reads them (its own parser): counters that
match the work done, consumer lag per partition that reaches 0 when caught up."""

from __future__ import annotations

import socket
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from audit_layer_samples.factories import make_event
from audit_layer_schemas import Topics
from audit_layer_sdk import AuditConfig, AuditPublisher
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import SinkThread, Worker, wait_for_rows

pytestmark = pytest.mark.integration


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _samples(port: int) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    answer = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=10)
    assert answer.status_code == 200 and answer.headers["content-type"].startswith("text/plain; version=0.0.4")
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(answer.text) for s in family.samples}


def test_workers_expose_counters_lag_and_health(kafka_bootstrap: str, topics: Topics, store: Any,
                                                tmp_path: Path) -> None:
    ports = {"enricher": _free_port(), "sequencer": _free_port()}
    workers = [Worker(name, kafka_bootstrap, topics, tmp_path, "--metrics-port", str(port))
               for name, port in ports.items()]
    sink = SinkThread(kafka_bootstrap, topics, store, metrics_port=0)
    try:
        publisher = AuditPublisher(AuditConfig(bootstrap_servers=kafka_bootstrap, topic=topics.events))
        for i in range(60):
            assert publisher.publish(make_event(f"tenant-{i % 3}"))
        assert publisher.flush(30) == 0
        assert wait_for_rows(store, 60, workers=workers, sink=sink) == 60
        sink_port = sink.sink.metrics_server.port if sink.sink.metrics_server else 0

        deadline = time.monotonic() + 30  # librdkafka reports lag every 5 s
        while True:
            enricher, sequencer, loaded = _samples(ports["enricher"]), _samples(ports["sequencer"]), \
                _samples(sink_port)
            lags = {k: v for k, v in enricher.items() if k[0] == "audit_layer_consumer_lag"}
            if (enricher[("audit_layer_enricher_enriched_total", ())] == 60 and lags
                    and all(v == 0 for v in lags.values())) or time.monotonic() > deadline:
                break
            time.sleep(1)
        assert enricher[("audit_layer_enricher_enriched_total", ())] == 60
        assert enricher[("audit_layer_enricher_dead_lettered_total", ())] == 0
        assert {dict(k[1])["topic"] for k in lags} == {topics.events} and all(v == 0 for v in lags.values())
        assert sequencer[("audit_layer_sequencer_chained_total", ())] == 60
        assert loaded[("audit_layer_sink_rows_loaded_total", ())] >= 60
        for port in (*ports.values(), sink_port):
            health = httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=10)
            assert health.status_code == 200 and health.text == "ok\n"
            assert httpx.get(f"http://127.0.0.1:{port}/nothing", timeout=10).status_code == 404
    finally:
        sink.stop()
        for worker in workers:
            worker.stop()
