"""Kafka state is not a trust root: a chain head rolled back or deleted in audit.chain-heads (as compaction
leaves the topic after someone appended an old head or a tombstone) stops the sequencer instead of handing
out stored seqs again; and the sink never replaces a stored (tenant, seq) by a row with another hash."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
from audit_layer_samples.factories import make_event
from audit_layer_schemas import CHAINED_EVENT, AvroCodec, Topics
from audit_layer_schemas.partition import partition_for
from audit_layer_sdk import AuditConfig, AuditPublisher
from confluent_kafka import KafkaException, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, AlterConfigOpType, ConfigEntry, ConfigResource, ResourceType

from tests.conftest import PARTITIONS, SinkThread, Worker, read_topic, verify, wait_for_rows

pytestmark = pytest.mark.integration
TENANT = "acme-bank"


def _publish(bootstrap: str, topics: Topics, count: int) -> None:
    publisher = AuditPublisher(AuditConfig(bootstrap_servers=bootstrap, topic=topics.events))
    for _ in range(count):
        publisher.publish(make_event(TENANT))
    assert publisher.flush(30) == 0


def _compact_to_last(bootstrap: str, topic: str, partition: int) -> None:
    """What compaction leaves of one key's history: only its last record (delete every record before it)."""
    admin = AdminClient({"bootstrap.servers": bootstrap})
    from confluent_kafka import Consumer

    probe = Consumer({"bootstrap.servers": bootstrap, "group.id": "probe"})
    _, high = probe.get_watermark_offsets(TopicPartition(topic, partition), timeout=30)
    probe.close()

    def policy(value: str) -> None:
        resource = ConfigResource(ResourceType.TOPIC, topic, incremental_configs=[
            ConfigEntry("cleanup.policy", value, incremental_operation=AlterConfigOpType.SET)])
        for future in admin.incremental_alter_configs([resource]).values():
            future.result(30)

    policy("delete")  # the broker refuses DeleteRecords on a compacted topic
    try:
        for attempt in range(20):  # the new policy reaches the partition a moment later
            [future] = admin.delete_records([TopicPartition(topic, partition, high - 1)]).values()
            try:
                future.result(30)
                break
            except KafkaException:
                if attempt == 19:
                    raise
                time.sleep(0.5)
    finally:
        policy("compact")


@pytest.mark.parametrize("attack", ["rolled-back", "tombstone"])
def test_a_rolled_back_or_deleted_head_stops_the_sequencer(kafka_bootstrap: str, topics: Topics, store: Any,
                                                           tmp_path: Path, attack: str) -> None:
    home = partition_for(TENANT.encode(), PARTITIONS)
    enricher = Worker("enricher", kafka_bootstrap, topics, tmp_path)
    # a checkpoint, and with it a head, at seq 50 and at seq 100
    sequencer = Worker("sequencer", kafka_bootstrap, topics, tmp_path, "--checkpoint-every", "50",
                       "--checkpoint-seconds", "3600")
    sink = SinkThread(kafka_bootstrap, topics, store)
    try:
        for done in (50, 100):
            _publish(kafka_bootstrap, topics, 50)
            assert wait_for_rows(store, done, workers=[enricher, sequencer], sink=sink) == done
        sequencer.stop()
        heads = read_topic(kafka_bootstrap, topics.chain_heads, 1)
        old = next(m for m in heads if m.partition() == home)  # the first head: seq 50
        attacker = Producer({"bootstrap.servers": kafka_bootstrap})
        attacker.produce(topics.chain_heads, key=TENANT.encode(), partition=home,
                         value=old.value() if attack == "rolled-back" else None)
        assert attacker.flush(30) == 0
        _compact_to_last(kafka_bootstrap, topics.chain_heads, home)

        restarted = Worker("sequencer", kafka_bootstrap, topics, tmp_path)
        _publish(kafka_bootstrap, topics, 100)
        deadline = time.monotonic() + 90
        while restarted.alive() and time.monotonic() < deadline:
            time.sleep(0.5)
        assert not restarted.alive(), "the sequencer resumed from a head the log contradicts"
        log = restarted.log_tail(60)
        assert "restored chain heads disagree with the log" in log, log
        assert ("rolled-back head" if attack == "rolled-back" else "no chain head") in log, log
        time.sleep(2)
        db = store.database
        stored = store.query(f"SELECT count(), max(seq), uniqExact(seq) FROM {db}.events").result_rows
        assert stored == [(100, 100, 100)]
        assert verify(store).ok
        restarted.stop()
    finally:
        sink.stop()
        enricher.stop()
        sequencer.stop()


def _publish_for(bootstrap: str, topics: Topics, tenant: str, count: int) -> None:
    publisher = AuditPublisher(AuditConfig(bootstrap_servers=bootstrap, topic=topics.events))
    for _ in range(count):
        publisher.publish(make_event(tenant))
    assert publisher.flush(30) == 0


def test_heads_are_written_with_checkpoints_and_a_restart_replays_the_links_since(
        kafka_bootstrap: str, topics: Topics, store: Any, tmp_path: Path) -> None:
    home = partition_for(TENANT.encode(), PARTITIONS)
    neighbour = next(t for t in (f"tenant-{i}" for i in range(1000)) if partition_for(t.encode(), PARTITIONS) == home)
    enricher = Worker("enricher", kafka_bootstrap, topics, tmp_path)
    options = ("--checkpoint-every", "100", "--checkpoint-seconds", "3600", "--restore-tail", "20")
    sequencer = Worker("sequencer", kafka_bootstrap, topics, tmp_path, *options)
    sink = SinkThread(kafka_bootstrap, topics, store)
    try:
        _publish_for(kafka_bootstrap, topics, TENANT, 100)  # a checkpoint and a head at seq 100
        assert wait_for_rows(store, 100, workers=[enricher, sequencer], sink=sink) == 100
        _publish_for(kafka_bootstrap, topics, TENANT, 30)  # links 101-130: no checkpoint, so no head
        _publish_for(kafka_bootstrap, topics, neighbour, 60)  # a tenant with links and no head at all
        assert wait_for_rows(store, 190, workers=[enricher, sequencer], sink=sink) == 190
        sequencer.stop(kill=True)
        heads = [m for m in read_topic(kafka_bootstrap, topics.chain_heads, 1) if m.partition() == home]
        assert [m.key() for m in heads] == [TENANT.encode()], "a head was written without a checkpoint"

        # the last 20 chained events hold neither tenant's links since its head: the restore reads further back
        sequencer = Worker("sequencer", kafka_bootstrap, topics, tmp_path, *options)
        _publish_for(kafka_bootstrap, topics, TENANT, 10)
        _publish_for(kafka_bootstrap, topics, neighbour, 10)
        assert wait_for_rows(store, 210, workers=[enricher, sequencer], sink=sink) == 210
        assert "reading further" in sequencer.log_tail(80)
        time.sleep(2)
        maxima = dict(store.query(f"SELECT tenant_id, max(seq) FROM {store.database}.events GROUP BY 1"
                                  ).result_rows)
        assert maxima == {TENANT: 140, neighbour: 70}
        assert sink.error is None
        assert verify(store).ok
    finally:
        sink.stop()
        enricher.stop()
        sequencer.stop()


def _chained_seq_5(bootstrap: str, topics: Topics) -> Any:
    [message] = [m for m in read_topic(bootstrap, topics.chained, 20)
                 if AvroCodec(CHAINED_EVENT).decode(m.value())["seq"] == 5]
    return message


def _append(bootstrap: str, topics: Topics, beside: Any, value: bytes) -> None:
    """A chained message written straight to the topic, on the partition of `beside`."""
    producer = Producer({"bootstrap.servers": bootstrap})
    producer.produce(topics.chained, key=beside.key(), value=value, partition=beside.partition())
    assert producer.flush(30) == 0


def test_the_sink_stops_on_a_second_link_for_a_stored_seq(kafka_bootstrap: str, topics: Topics, store: Any,
                                                          tmp_path: Path) -> None:
    enricher = Worker("enricher", kafka_bootstrap, topics, tmp_path)
    sequencer = Worker("sequencer", kafka_bootstrap, topics, tmp_path)
    sink = SinkThread(kafka_bootstrap, topics, store)
    try:
        _publish(kafka_bootstrap, topics, 20)
        assert wait_for_rows(store, 20, workers=[enricher, sequencer], sink=sink) == 20
        sequencer.stop()
        # a second chain's seq 5 (as a forked or rolled-back sequencer would write it), committed to the topic
        original = _chained_seq_5(kafka_bootstrap, topics)
        codec = AvroCodec(CHAINED_EVENT)
        forked = codec.decode(original.value())
        forked["hash"] = bytes(32)
        forked["event"]["event"]["decision_outcome"] = "approved-by-fork"
        _append(kafka_bootstrap, topics, original, codec.encode(forked))
        deadline = time.monotonic() + 60
        while sink.thread.is_alive() and time.monotonic() < deadline:
            time.sleep(0.3)
        assert sink.error is not None and "fork" in str(sink.error), sink.error
        assert store.query(f"SELECT count(), uniqExact(hash) FROM {store.database}.events WHERE seq = 5"
                           ).result_rows == [(1, 1)]
        assert verify(store).ok
    finally:
        sink.stop()
        enricher.stop()
        sequencer.stop()


def test_a_redelivered_link_is_not_stored_or_counted_twice(kafka_bootstrap: str, topics: Topics, store: Any,
                                                            tmp_path: Path) -> None:
    enricher = Worker("enricher", kafka_bootstrap, topics, tmp_path)
    sequencer = Worker("sequencer", kafka_bootstrap, topics, tmp_path)
    sink = SinkThread(kafka_bootstrap, topics, store)
    try:
        _publish(kafka_bootstrap, topics, 20)
        assert wait_for_rows(store, 20, workers=[enricher, sequencer], sink=sink) == 20
        # the same chained message again at a new offset (a replay), then 20 more events after it
        original = _chained_seq_5(kafka_bootstrap, topics)
        _append(kafka_bootstrap, topics, original, original.value())
        _publish(kafka_bootstrap, topics, 20)
        assert wait_for_rows(store, 40, workers=[enricher, sequencer], sink=sink) == 40
        time.sleep(2)
        db = store.database
        assert sink.error is None
        assert store.query(f"SELECT count() FROM {db}.events WHERE seq = 5").result_rows == [(1,)]
        assert store.query(f"SELECT sum(events) FROM {db}.events_daily").result_rows == [(40,)]
        report = verify(store)
        assert report.ok and report.identical_twins == 0
    finally:
        sink.stop()
        enricher.stop()
        sequencer.stop()
