"""One tenant, one chain, always: a tenant's events sent by producers with different partitioners land on
different partitions of audit.events; the enricher (or a sequencer that enriches) moves each to its tenant's
partition, so with two sequencers one chain still holds every event. A sequencer refuses an event on another
tenant's partition."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
from audit_layer_processors.enrich_step import EnrichStep
from audit_layer_processors.policy import load_policy
from audit_layer_samples.factories import make_event
from audit_layer_schemas import AUDIT_EVENT, AvroCodec, Topics
from audit_layer_schemas.partition import partition_for
from audit_layer_sdk import AuditConfig, AuditPublisher
from confluent_kafka import KafkaError, Message, Producer

from tests.conftest import PARTITIONS, TOPOLOGIES, SinkThread, Worker, chain_workers, read_topic, verify, wait_for_rows

pytestmark = pytest.mark.integration


def _plain_partition(bootstrap: str, topic: str, tenant: str) -> int:
    """Where librdkafka's default partitioner (consistent_random: CRC-32) puts a tenant's key."""
    producer = Producer({"bootstrap.servers": bootstrap})
    placed: list[int] = []
    producer.produce(topic, key=tenant.encode(), value=b"probe", on_delivery=lambda e, m: placed.append(m.partition()))
    assert producer.flush(30) == 0
    return placed[0]


@pytest.mark.parametrize("topology", TOPOLOGIES)
def test_two_partitioners_two_sequencers_one_chain(kafka_bootstrap: str, topics: Topics, store: Any,
                                                   tmp_path: Path, topology: str) -> None:
    probe = Topics(topics.prefix + "probe.")
    from audit_layer_processors.topics_admin import ensure_topics

    ensure_topics(kafka_bootstrap, probe, partitions=PARTITIONS)
    # a tenant the two partitioners place apart
    tenant = next(t for t in (f"tenant-{i}" for i in range(100))
                  if _plain_partition(kafka_bootstrap, probe.events, t) != partition_for(t.encode(), PARTITIONS))
    workers = chain_workers(kafka_bootstrap, topics, tmp_path, topology, sequencers=2)
    sink = SinkThread(kafka_bootstrap, topics, store)
    try:
        time.sleep(3)  # both sequencers in the group before events flow
        plain = Producer({"bootstrap.servers": kafka_bootstrap, "enable.idempotence": True})
        used: set[int] = set()

        def delivered(err: KafkaError | None, msg: Message) -> None:
            assert err is None, err
            used.add(msg.partition() or 0)

        codec = AvroCodec(AUDIT_EVENT)
        publisher = AuditPublisher(AuditConfig(bootstrap_servers=kafka_bootstrap, topic=topics.events))
        for i in range(400):
            event = make_event(tenant)
            if i % 2:
                publisher.publish(event)
            else:
                plain.produce(topics.events, key=tenant.encode(), value=codec.encode(event.to_avro()),
                              on_delivery=delivered)
        assert plain.flush(30) == 0 and publisher.flush(30) == 0
        assert used == {_plain_partition(kafka_bootstrap, probe.events, tenant)}
        assert used != {partition_for(tenant.encode(), PARTITIONS)}
        assert wait_for_rows(store, 400, workers=workers, sink=sink) == 400
        time.sleep(2)  # a forked second chain would show up as more rows
        db = store.database
        [(rows, seqs, top, parts)] = store.query(
            f"SELECT count(), uniqExact(seq), max(seq), groupUniqArray(kafka_partition) FROM {db}.events").result_rows
        assert (rows, seqs, top) == (400, 400, 400)
        assert parts == [partition_for(tenant.encode(), PARTITIONS)]
        report = verify(store)
        assert report.ok and report.links == 400, report.findings
    finally:
        sink.stop()
        for worker in workers:
            worker.stop()


def test_a_sequencer_refuses_an_event_on_another_tenants_partition(kafka_bootstrap: str, topics: Topics,
                                                                   store: Any, tmp_path: Path) -> None:
    step = EnrichStep(topics, load_policy(), PARTITIONS)
    tenant = "acme-bank"
    home = partition_for(tenant.encode(), PARTITIONS)
    stray = make_event(tenant)
    out = step(tenant.encode(), AvroCodec(AUDIT_EVENT).encode(stray.to_avro()), topics.events, 0, 0)
    producer = Producer({"bootstrap.servers": kafka_bootstrap})
    producer.produce(topics.enriched, key=out.key, value=out.value, partition=(home + 1) % PARTITIONS)
    for _ in range(5):
        good = step(tenant.encode(), AvroCodec(AUDIT_EVENT).encode(make_event(tenant).to_avro()), topics.events, 0, 0)
        producer.produce(topics.enriched, key=good.key, value=good.value, partition=good.partition)
    assert producer.flush(30) == 0
    sequencer = Worker("sequencer", kafka_bootstrap, topics, tmp_path)
    sink = SinkThread(kafka_bootstrap, topics, store)
    try:
        assert wait_for_rows(store, 5, workers=[sequencer], sink=sink) == 5
        [letter] = read_topic(kafka_bootstrap, topics.dlq, 1)
        headers = dict(letter.headers() or [])
        assert headers["dlq.reason"] == b"wrong_partition"
        assert f"belongs on partition {home}".encode() in headers["dlq.detail"]
        assert store.query(f"SELECT count() FROM {store.database}.events WHERE event_id = toUUID('{stray.event_id}')"
                           ).result_rows == [(0,)]
    finally:
        sink.stop()
        sequencer.stop()
