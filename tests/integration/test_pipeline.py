"""The whole pipeline on the real broker and the embedded ClickHouse engine."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from audit_layer_samples.factories import make_event
from audit_layer_schemas import AUDIT_EVENT, AvroCodec, Topics
from audit_layer_sdk import AuditConfig, AuditPublisher
from confluent_kafka import Producer

from tests.conftest import TOPOLOGIES, SinkThread, chain_workers, read_topic, verify, wait_for_rows

pytestmark = pytest.mark.integration
TENANTS = ["acme-bank", "northwind-health", "globex-hr"]


@pytest.fixture(params=TOPOLOGIES)
def pipeline(request: pytest.FixtureRequest, kafka_bootstrap: str, topics: Topics, store: Any,
             tmp_path: Path) -> Iterator[dict[str, Any]]:
    """The pipeline in both topologies: enricher + sequencer, and the sequencer enriching (--enrich)."""
    workers = chain_workers(kafka_bootstrap, topics, tmp_path, request.param)
    sink = SinkThread(kafka_bootstrap, topics, store)
    yield {"workers": workers, "sink": sink, "topics": topics, "store": store, "bootstrap": kafka_bootstrap,
           "topology": request.param}
    sink.stop()
    for worker in workers:
        worker.stop()


def _publish(bootstrap: str, topic: str, events: list[Any]) -> AuditPublisher:
    publisher = AuditPublisher(AuditConfig(bootstrap_servers=bootstrap, topic=topic))
    for event in events:
        assert publisher.publish(event)
    assert publisher.flush(30) == 0
    return publisher


def test_n_events_in_gives_n_rows_and_every_chain_verifies(pipeline: dict[str, Any]) -> None:
    store, topics = pipeline["store"], pipeline["topics"]
    events = [make_event(TENANTS[i % 3], decision_outcome="denied" if i % 7 == 0 else "approved")
              for i in range(900)]
    _publish(pipeline["bootstrap"], topics.events, events)
    count = wait_for_rows(store, 900, workers=pipeline["workers"], sink=pipeline["sink"])
    assert count == 900
    time.sleep(2)  # anything extra (a duplicate) would land now
    rows = store.query(f"SELECT count(), uniqExact(event_id) FROM {store.database}.events").result_rows
    assert rows == [(900, 900)]
    per_tenant = dict(store.query(
        f"SELECT tenant_id, max(seq) FROM {store.database}.events GROUP BY 1").result_rows)
    assert per_tenant == {"acme-bank": 300, "northwind-health": 300, "globex-hr": 300}
    stored = {r[0] for r in store.query(f"SELECT toString(event_id) FROM {store.database}.events").result_rows}
    assert stored == {e.event_id for e in events}
    report = verify(store)
    assert report.ok and report.links == 900 and len(report.tenants) == 3
    # enrichment landed with the row
    tags = store.query(f"SELECT compliance_tags, risk_reasons FROM {store.database}.events "
                       "WHERE tenant_id = 'acme-bank' AND decision_outcome = 'denied' LIMIT 1").result_rows[0]
    assert "FCRA" in tags[0] and "adverse_outcome" in tags[1]
    if pipeline["topology"] == "fused":  # enriched in the sequencer's transaction: nothing crossed that topic
        assert read_topic(pipeline["bootstrap"], topics.enriched, 0, timeout=1) == []


def test_poison_messages_go_to_the_dlq_with_reasons_while_the_rest_flows(pipeline: dict[str, Any]) -> None:
    store, topics, bootstrap = pipeline["store"], pipeline["topics"], pipeline["bootstrap"]
    codec = AvroCodec(AUDIT_EVENT)
    good_before = [make_event("acme-bank") for _ in range(50)]
    good_after = [make_event("acme-bank") for _ in range(50)]
    _publish(bootstrap, topics.events, good_before)
    valid = make_event("acme-bank").to_avro()
    marked = codec.encode({**valid, "prompt": "\u00e9AAAAAAAAAAAAAAA"})
    poison = [
        (b"acme-bank", b"\x00\x01random bytes, not Avro"),
        (b"acme-bank", codec.encode(valid)[:-7]),
        (b"acme-bank", b"\xc3\x01" + b"\xff" * 8 + b"\x02\x04"),
        (b"acme-bank", codec.encode({**valid, "input_tokens": -3})),
        (b"someone-else", codec.encode(make_event("acme-bank").to_avro())),
        # text that is not UTF-8 inside a well-formed record (same length, so the Avro stays valid)
        (b"acme-bank", marked.replace("\u00e9AAAAAAAAAAAAAAA".encode(), b"\xff\xfe" + b"A" * 15)),
        (b"", codec.encode({**valid, "tenant_id": ""})),  # no tenant
        # 6 MB of prompt: under the topics' 8 MiB message limit, over the event's content limit
        (b"acme-bank", codec.encode({**valid, "prompt": "x" * (6 * 1024 * 1024), "prompt_sha256": None})),
    ]
    big = Producer({"bootstrap.servers": bootstrap, "partitioner": "murmur2_random",
                    "message.max.bytes": 12 * 1024 * 1024})
    for key, value in poison:
        big.produce(topics.events, key=key, value=value)
    assert big.flush(30) == 0
    # 10 MB is over the topics' limit: the broker refuses it, so it never reaches a worker
    refused: list[Any] = []
    big.produce(topics.events, key=b"acme-bank", value=codec.encode({**valid, "prompt": "y" * (10 * 1024 * 1024)}),
                on_delivery=lambda err, _msg: refused.append(err))
    big.flush(30)
    assert refused and refused[0] is not None and "TOO_LARGE" in refused[0].name(), refused
    _publish(bootstrap, topics.events, good_after)

    assert wait_for_rows(store, 100, workers=pipeline["workers"], sink=pipeline["sink"]) == 100
    letters = read_topic(bootstrap, topics.dlq, len(poison))
    reasons = sorted(dict(m.headers())["dlq.reason"].decode() for m in letters)
    print("dlq reasons:", reasons)
    assert reasons == sorted(["not_single_object_encoding", "corrupt_avro", "unknown_schema_fingerprint",
                              "invalid_event", "key_tenant_mismatch", "corrupt_avro", "invalid_event",
                              "invalid_event"])
    assert {m.value() for m in letters} == {v for _, v in poison}  # the original bytes, for replay
    assert all(w.alive() for w in pipeline["workers"])
    assert verify(store).ok


def test_a_row_altered_in_clickhouse_fails_verify_at_that_seq(pipeline: dict[str, Any]) -> None:
    store, topics = pipeline["store"], pipeline["topics"]
    _publish(pipeline["bootstrap"], topics.events, [make_event(TENANTS[i % 3]) for i in range(60)])
    assert wait_for_rows(store, 60, workers=pipeline["workers"], sink=pipeline["sink"]) == 60
    assert verify(store).ok
    store.command(f"ALTER TABLE {store.database}.events UPDATE output_tokens = 999 "
                  "WHERE tenant_id = 'globex-hr' AND seq = 7 SETTINGS mutations_sync = 2")
    report = verify(store)
    assert not report.ok
    [finding] = report.findings
    assert (finding.tenant_id, finding.seq, finding.problem) == ("globex-hr", 7, "hash_mismatch")
    assert report.tenants["acme-bank"].first_finding is None
