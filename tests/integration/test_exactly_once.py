"""Restarts and crashes of the sequencer and the sink: no event lost, none doubled, chains intact."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import pytest
from audit_layer_samples.factories import make_event
from audit_layer_schemas import CHAINED_EVENT, AvroCodec, Topics
from audit_layer_sdk import AuditConfig, AuditPublisher
from audit_layer_store.rows import INSERT_COLUMNS, row_from_chained
from confluent_kafka import Consumer, TopicPartition

from tests.conftest import TOPOLOGIES, SinkThread, Worker, verify, wait_for_rows

pytestmark = pytest.mark.integration


def _publish(bootstrap: str, topics: Topics, events: list[Any]) -> None:
    publisher = AuditPublisher(AuditConfig(bootstrap_servers=bootstrap, topic=topics.events))
    for event in events:
        publisher.publish(event)
    assert publisher.flush(30) == 0


def _totals(store: Any) -> tuple[int, int]:
    return store.query(f"SELECT count(), uniqExact(event_id) FROM {store.database}.events").result_rows[0]


@pytest.mark.parametrize("topology", TOPOLOGIES)
def test_sequencer_restart_and_kill_continue_the_chain_and_drop_duplicates(
    kafka_bootstrap: str, topics: Topics, store: Any, tmp_path: Path, topology: str
) -> None:
    # fused: the sequencer enriches, so the kill lands inside the transaction that enriches too
    enrich = ("--enrich",) if topology == "fused" else ()
    enricher = Worker("enricher", kafka_bootstrap, topics, tmp_path) if topology == "staged" else None
    sequencer = Worker("sequencer", kafka_bootstrap, topics, tmp_path, *enrich)
    alive = [w for w in (enricher,) if w is not None]
    sink = SinkThread(kafka_bootstrap, topics, store)
    try:
        first = [make_event(f"tenant-{i % 4}") for i in range(400)]
        _publish(kafka_bootstrap, topics, first)
        assert wait_for_rows(store, 400, workers=[*alive, sequencer], sink=sink) == 400

        sequencer.stop()  # graceful
        sequencer = Worker("sequencer", kafka_bootstrap, topics, tmp_path, *enrich)
        second = [make_event(f"tenant-{i % 4}") for i in range(1500)]
        _publish(kafka_bootstrap, topics, second[:700] + first[:50])  # 50 redelivered duplicates
        time.sleep(1.5)
        sequencer.stop(kill=True)  # kill -9, likely inside a transaction
        _publish(kafka_bootstrap, topics, second[700:])
        sequencer = Worker("sequencer", kafka_bootstrap, topics, tmp_path, *enrich)

        assert wait_for_rows(store, 1900, workers=[*alive, sequencer], sink=sink, timeout=180) == 1900
        time.sleep(3)
        assert _totals(store) == (1900, 1900)
        maxima = dict(store.query(f"SELECT tenant_id, max(seq) FROM {store.database}.events GROUP BY 1")
                      .result_rows)
        assert maxima == {f"tenant-{i}": 475 for i in range(4)}
        report = verify(store)
        assert report.ok, report.findings
    finally:
        sink.stop()
        for worker in (*alive, sequencer):
            worker.stop()


def _partition_with_data(bootstrap: str, topic: str, timeout: float = 60) -> int:
    probe = Consumer({"bootstrap.servers": bootstrap, "group.id": f"{topic}-probe"})
    try:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for p in range(3):
                if probe.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1] > 0:
                    return p
            time.sleep(0.3)
    finally:
        probe.close()
    raise AssertionError(f"nothing was written to {topic}")


def _chained_offsets(bootstrap: str, topic: str, partition: int, expected: int) -> list[tuple[int, bytes]]:
    reader = Consumer({"bootstrap.servers": bootstrap, "group.id": f"{topic}-peek",
                       "isolation.level": "read_committed", "enable.auto.commit": False})
    reader.assign([TopicPartition(topic, partition, 0)])
    found: list[tuple[int, bytes]] = []
    deadline = time.monotonic() + 60
    while len(found) < expected and time.monotonic() < deadline:
        found.extend((m.offset(), m.value()) for m in reader.consume(500, 0.5) if m.error() is None)
    reader.close()
    return found


@pytest.mark.parametrize("insert_landed", [False, True], ids=["crash-before-insert", "crash-after-insert"])
def test_sink_recovers_a_pending_batch_exactly_once(
    kafka_bootstrap: str, topics: Topics, store: Any, tmp_path: Path, insert_landed: bool
) -> None:
    workers = [Worker(n, kafka_bootstrap, topics, tmp_path) for n in ("enricher", "sequencer")]
    try:
        tenant = "solo"  # one tenant: every event on one partition
        _publish(kafka_bootstrap, topics, [make_event(tenant) for _ in range(300)])
        partition = _partition_with_data(kafka_bootstrap, topics.chained)
        messages = _chained_offsets(kafka_bootstrap, topics.chained, partition, 300)
        assert len(messages) == 300, "the sequencer did not chain the events"
        first, last = messages[0][0], messages[119][0]

        # the state a sink leaves when it dies between "commit pending" and "commit done"
        group = f"{topics.prefix}sink"
        committer = Consumer({"bootstrap.servers": kafka_bootstrap, "group.id": group,
                              "enable.auto.commit": False})
        committer.commit(offsets=[TopicPartition(topics.chained, partition, first, f"pending:{last}")],
                         asynchronous=False)
        committer.close()
        if insert_landed:
            codec = AvroCodec(CHAINED_EVENT)
            rows = [row_from_chained(codec.decode(v), partition, o) for o, v in messages[:120]]
            store.insert("events", rows, INSERT_COLUMNS,
                         dedup_token=f"{topics.chained}:{partition}:{first}-{last}")
            assert _totals(store) == (120, 120)

        sink = SinkThread(kafka_bootstrap, topics, store)
        try:
            assert wait_for_rows(store, 300, workers=workers, sink=sink) == 300
            time.sleep(2)
            # no FINAL: the dedup token, not the ReplacingMergeTree backstop, prevented the double
            assert _totals(store) == (300, 300)
            assert verify(store).ok
        finally:
            sink.stop()
    finally:
        for worker in workers:
            worker.stop()


def test_a_load_left_behind_on_a_partition_the_sink_keeps_is_read_again(
    kafka_bootstrap: str, topics: Topics, store: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A commit refused by a rebalance (a new generation) that leaves the sink its partition, as the incremental
    protocol does (tried, BENCHMARKS.md): the dropped batch must be read again by this sink, not skipped by its
    next fetch."""
    from audit_layer_sinks.sink import ClickHouseSink, SinkConfig, _LeftBehind

    workers = [Worker(n, kafka_bootstrap, topics, tmp_path) for n in ("enricher", "sequencer")]
    try:
        _publish(kafka_bootstrap, topics, [make_event("solo") for _ in range(300)])
        assert len(_chained_offsets(kafka_bootstrap, topics.chained, _partition_with_data(
            kafka_bootstrap, topics.chained), 300)) == 300, "the sequencer did not chain the events"
        sink = ClickHouseSink(SinkConfig(kafka_bootstrap, topics, group_id=f"{topics.prefix}sink"), store)
        load, refused = sink._load, []

        def refused_once(topic: str, batches: dict[int, Any], rows: list[list[Any]] | None = None) -> None:
            if topic == topics.chained and not refused:
                refused.append({p: (b.first, b.last) for p, b in batches.items()})
                raise _LeftBehind("Commit failed: Broker: Specified group generation id is not valid")
            load(topic, batches, rows)

        monkeypatch.setattr(sink, "_load", refused_once)
        thread = threading.Thread(target=sink.run, daemon=True)
        thread.start()
        try:
            assert wait_for_rows(store, 300, timeout=60, workers=workers) == 300
            assert refused, "no load was refused: the test did not exercise the path"
            assert _totals(store) == (300, 300)
            assert verify(store).ok
        finally:
            sink.stop()
            thread.join(30)
    finally:
        for worker in workers:
            worker.stop()
