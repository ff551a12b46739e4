"""The workers' /metrics and /healthz, read as Prometheus reads them (its own parser): counters that
match the work done, consumer lag per partition that reaches 0 when caught up."""

from __future__ import annotations

import platform
import socket
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from audit_layer_samples.factories import make_event
from audit_layer_schemas import AUDIT_EVENT, AvroCodec, Topics
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


def _wait_for(port: int, condition: Any, what: str, timeout: float = 40.0) -> dict[Any, float]:
    deadline = time.monotonic() + timeout
    while True:
        samples = _samples(port)
        if condition(samples):
            return samples
        assert time.monotonic() < deadline, f"{what} not seen within {timeout:g} s: lag {_lag(samples)}"
        time.sleep(0.5)


def _lag(samples: dict[Any, float]) -> dict[str, float]:
    return {f'{dict(k[1])["topic"]}[{dict(k[1])["partition"]}]': v for k, v in samples.items()
            if k[0] == "audit_layer_consumer_lag"}


def _ages(samples: dict[Any, float]) -> dict[str, float]:
    return {dict(k[1])["tenant"]: v for k, v in samples.items() if k[0] == "audit_layer_checkpoint_age_seconds"}


def test_workers_metrics_move_with_the_pipeline(kafka_bootstrap: str, topics: Topics, store: Any,
                                                tmp_path: Path) -> None:
    """Scraped during a run: dead letters counted by reason; the sink's lag (against its committed offsets)
    up while its batch waits and back to 0 once loaded; a tenant's checkpoint age growing while it is idle
    and starting again at its next checkpoint; the counters equal to the work done; health 200."""
    from audit_layer_sinks.sink import BatchPolicy
    from confluent_kafka import Producer

    ports = {"enricher": _free_port(), "sequencer": _free_port()}
    workers = [Worker("enricher", kafka_bootstrap, topics, tmp_path, "--metrics-port", str(ports["enricher"])),
               Worker("sequencer", kafka_bootstrap, topics, tmp_path, "--metrics-port", str(ports["sequencer"]),
                      "--checkpoint-every", "1000", "--checkpoint-seconds", "2")]
    # a batch that waits 12 s before it is loaded: its offsets stay uncommitted, so the lag shows
    sink = SinkThread(kafka_bootstrap, topics, store, metrics_port=0, batch=BatchPolicy(max_rows=100_000, max_age=12))
    try:
        publisher = AuditPublisher(AuditConfig(bootstrap_servers=kafka_bootstrap, topic=topics.events))
        for i in range(60):
            assert publisher.publish(make_event(f"tenant-{i % 3}"))
        assert publisher.flush(30) == 0
        poison = Producer({"bootstrap.servers": kafka_bootstrap})
        poison.produce(topics.events, key=b"tenant-0", value=b"\x00\x01 not an audit event")
        poison.produce(topics.events, key=b"tenant-0", value=b"\xc3\x01" + b"\x00" * 8 + b"no such schema")
        other_tenants = AvroCodec(AUDIT_EVENT).encode(make_event("tenant-2").to_avro())
        poison.produce(topics.events, key=b"tenant-1", value=other_tenants)
        assert poison.flush(10) == 0

        # librdkafka's lag is against the committed offsets: once the group has some, a batch waiting to be
        # loaded shows as lag, and a loaded one as none
        assert wait_for_rows(store, 60, workers=workers, sink=sink) == 60
        # the sink serves its metrics once it has found its topics: rows landed means it has
        assert sink.sink.metrics_server is not None
        sink_port = sink.sink.metrics_server.port
        # a transactional topic ends in the commit marker of its last transaction: caught up reads as lag 0 or 1
        _wait_for(sink_port, lambda s: _lag(s) and all(v <= 1 for v in _lag(s).values()), "the sink caught up")
        for i in range(30):
            assert publisher.publish(make_event(f"tenant-{i % 3}"))
        assert publisher.flush(30) == 0
        loading = _wait_for(sink_port, lambda s: any(v > 1 for v in _lag(s).values()), "the sink's lag up")
        assert loading[("audit_layer_sink_rows_loaded_total", ())] < 90
        loaded = _wait_for(sink_port, lambda s: s[("audit_layer_sink_rows_loaded_total", ())] >= 90
                           and all(v <= 1 for v in _lag(s).values()), "the sink's lag back down")
        assert wait_for_rows(store, 90, workers=workers, sink=sink) == 90

        enricher = _samples(ports["enricher"])
        assert enricher[("audit_layer_enricher_enriched_total", ())] == 90
        reasons = {dict(k[1])["reason"]: v for k, v in enricher.items() if k[0] == "audit_layer_dead_letters_total"}
        assert reasons == {"not_single_object_encoding": 1, "unknown_schema_fingerprint": 1,
                           "key_tenant_mismatch": 1}, reasons
        assert enricher[("audit_layer_events_in_total", (("worker", "enricher"),))] == 93
        assert enricher[("audit_layer_events_out_total", (("worker", "enricher"),))] == 90
        assert enricher[("audit_layer_batch_seconds_count", (("worker", "enricher"),))] >= 1
        assert enricher[("audit_layer_build_info", (("python", platform.python_version()),
                                                    ("version", "0.1.0"), ("worker", "enricher")))] == 1

        # checkpoint ages: all three tenants signed; idle, their age grows
        first = _ages(_wait_for(ports["sequencer"], lambda s: len(_ages(s)) == 3, "three checkpoint ages"))
        time.sleep(3)
        later = _ages(_samples(ports["sequencer"]))
        assert all(later[t] >= first[t] + 2.5 for t in first), (first, later)
        # a new event for tenant-0: its next checkpoint (within 2 s) starts its age again
        assert publisher.publish(make_event("tenant-0")) and publisher.flush(30) == 0
        fresh = _ages(_wait_for(ports["sequencer"], lambda s: _ages(s)["tenant-0"] < later["tenant-0"] - 1,
                                "tenant-0's checkpoint age starting again"))
        assert fresh["tenant-1"] >= later["tenant-1"]
        sequencer = _samples(ports["sequencer"])
        assert sequencer[("audit_layer_sequencer_chained_total", ())] == 91
        assert sequencer[("audit_layer_commit_seconds_count", (("worker", "sequencer"),))] >= 1
        assert loaded[("audit_layer_engine", (("role", "embedded"),))] == 1
        for port in (*ports.values(), sink_port):
            health = httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=10)
            assert health.status_code == 200 and health.text == "ok\n"
            assert httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=10).status_code == 200
            assert httpx.get(f"http://127.0.0.1:{port}/nothing", timeout=10).status_code == 404
    finally:
        sink.stop()
        for worker in workers:
            worker.stop()

