"""One contract, two runtimes: the batch enricher (the default) and the faust-streaming one must do the
same thing on the real broker: enrich in place, dead-letter bad input with its reason, stop at the DLQ
limit, and on a graceful stop commit exactly what they produced."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
from audit_layer_samples.factories import make_event
from audit_layer_schemas import AUDIT_EVENT, ENRICHED_EVENT, AvroCodec, Topics
from confluent_kafka import Consumer, Producer, TopicPartition

from tests.conftest import PARTITIONS, Worker, read_topic

pytestmark = pytest.mark.integration
RUNTIMES = ["batch", "faust"]


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_enriches_in_place_dead_letters_poison_and_commits_what_it_did(
        runtime: str, kafka_bootstrap: str, topics: Topics, tmp_path: Path) -> None:
    codec = AvroCodec(AUDIT_EVENT)
    producer = Producer({"bootstrap.servers": kafka_bootstrap, "partitioner": "murmur2_random"})
    good = [make_event(f"tenant-{i % 5}") for i in range(300)]
    source_partition: dict[str, int] = {}

    def record_partition(err: Any, msg: Any) -> None:
        assert err is None
        source_partition[msg.key().decode()] = msg.partition()

    for event in good:
        producer.produce(topics.events, key=event.tenant_id.encode(), value=codec.encode(event.to_avro()),
                         on_delivery=record_partition)
    poison = [(b"tenant-1", b"random bytes"), (b"tenant-2", codec.encode(good[0].to_avro())[:-5]),
              (b"someone-else", codec.encode(good[3].to_avro()))]
    for key, value in poison:
        producer.produce(topics.events, key=key, value=value)
    assert producer.flush(30) == 0
    enricher = Worker("enricher", kafka_bootstrap, topics, tmp_path, "--runtime", runtime)
    try:
        enriched = read_topic(kafka_bootstrap, topics.enriched, len(good), timeout=90)
        letters = read_topic(kafka_bootstrap, topics.dlq, len(poison), timeout=90)
        assert enricher.alive(), enricher.log_tail()
    finally:
        enricher.stop()
    assert enricher.process.returncode == 0, enricher.log_tail()

    out = AvroCodec(ENRICHED_EVENT)
    records = [(m, out.decode(m.value())) for m in enriched]
    assert sorted(r["event"]["event_id"] for _, r in records) == sorted(e.event_id for e in good)
    for message, record in records:
        tenant = record["event"]["tenant_id"]
        assert message.key() == tenant.encode() and message.partition() == source_partition[tenant]
        assert record["risk_level"] and record["policy_version"]
    assert sorted(dict(m.headers())["dlq.reason"].decode() for m in letters) == sorted(
        ["not_single_object_encoding", "corrupt_avro", "key_tenant_mismatch"])
    assert {m.value() for m in letters} == {v for _, v in poison}

    # a graceful stop committed every offset it processed: a restart redoes nothing
    reader = Consumer({"bootstrap.servers": kafka_bootstrap, "group.id": f"{topics.prefix}enricher"})
    try:
        parts = [TopicPartition(topics.events, p) for p in range(PARTITIONS)]
        committed = {tp.partition: tp.offset for tp in reader.committed(parts, timeout=10)}
        ends = {p: reader.get_watermark_offsets(TopicPartition(topics.events, p), timeout=10)[1]
                for p in range(PARTITIONS)}
    finally:
        reader.close()
    assert {p: max(o, 0) for p, o in committed.items()} == ends
    assert f"stopped: enriched {len(good)}, dead-lettered {len(poison)}" in enricher.log_path.read_text()


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_the_dlq_limit_stops_an_enricher_fed_only_garbage(runtime: str, kafka_bootstrap: str, topics: Topics,
                                                         tmp_path: Path) -> None:
    """A bad deploy upstream must stop the enricher, not dead-letter everything quietly."""
    enricher = Worker("enricher", kafka_bootstrap, topics, tmp_path, "--runtime", runtime,
                      "--dlq-max", "5", "--dlq-window", "60")
    try:
        producer = Producer({"bootstrap.servers": kafka_bootstrap, "partitioner": "murmur2_random"})
        for i in range(30):
            producer.produce(topics.events, key=b"acme-bank", value=b"garbage %d" % i)
        assert producer.flush(30) == 0
        deadline = time.monotonic() + 120
        while enricher.alive() and time.monotonic() < deadline:
            time.sleep(0.5)
        assert not enricher.alive(), "the enricher kept dead-lettering past its limit"
        assert enricher.process.returncode != 0
        assert "--dlq-max" in enricher.log_path.read_text(errors="replace")
        letters = read_topic(kafka_bootstrap, topics.dlq, 6, timeout=20)
        assert 5 <= len(letters) < 30  # it stopped early: most of the garbage was never dead-lettered
    finally:
        enricher.stop()


def test_a_faust_enricher_started_while_the_broker_is_away_waits_for_it(caplog: pytest.LogCaptureFixture) -> None:
    """The batch runtime waits out a broker away at start-up (its OutageWait); the faust runtime's lookup of
    the enriched topic's partitions did not, and exited on the first failure. Nothing listens on port 1: each
    lookup fails after its 10 s timeout, so a policy of 15 s sees two, says it is waiting, then gives up."""
    from audit_layer_processors.enricher_faust import build_app
    from audit_layer_processors.outage import OutagePolicy
    from audit_layer_processors.policy import load_policy
    from confluent_kafka import KafkaException

    started = time.monotonic()
    with caplog.at_level("WARNING", logger="audit_layer.enricher"), pytest.raises(KafkaException):
        build_app("127.0.0.1:1", Topics(prefix="away-"), policy=load_policy(),
                  outage=OutagePolicy(max_wait_s=15, first_backoff_s=0.1, log_every_s=0))
    assert time.monotonic() - started >= 15
    assert "finding the topics: Kafka unavailable" in caplog.text
