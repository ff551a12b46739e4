"""librdkafka's murmur2_random (the Python SDK's partitioner) puts each key on the partition the
shared vectors name, on a real 12-partition topic."""

from __future__ import annotations

import json
import uuid

import pytest
from confluent_kafka import KafkaError, Message, Producer
from confluent_kafka.admin import AdminClient, NewTopic

from tests.conftest import REPO

pytestmark = pytest.mark.integration


def test_python_sdk_partitions_match_the_shared_vectors(kafka_bootstrap: str) -> None:
    vectors = json.loads((REPO / "schemas" / "test-vectors" / "audit-events.json").read_text(encoding="utf-8"))
    keys = {v["key"]: v["partitions"]["12"] for v in vectors["murmur2"] if v["key"]}
    keys.update({v["key"]: v["partitions"]["12"] for v in vectors["events"]})
    topic = f"test.partitioning.{uuid.uuid4().hex[:8]}"
    admin = AdminClient({"bootstrap.servers": kafka_bootstrap})
    admin.create_topics([NewTopic(topic, num_partitions=12, replication_factor=1)])[topic].result(30)
    placed: dict[str, int] = {}

    def on_delivery(err: KafkaError | None, msg: Message) -> None:
        assert err is None, err
        key = msg.key()
        assert key is not None
        placed[key.decode()] = msg.partition()

    producer = Producer({"bootstrap.servers": kafka_bootstrap, "partitioner": "murmur2_random"})
    for key in keys:
        producer.produce(topic, key=key.encode(), value=b"x", on_delivery=on_delivery)
    assert producer.flush(30) == 0
    assert placed == keys
    assert len(set(keys.values())) > 3  # the keys spread: a partitioner returning 0 would fail above
