"""The Kafka client settings every worker shares; each worker adds what is its own (isolation level,
transactional id, queue size)."""

from __future__ import annotations

from typing import Any

MAX_MESSAGE_BYTES = 8 * 1024 * 1024


def consumer_settings(bootstrap_servers: str, group_id: str, client_id: str) -> dict[str, Any]:
    return {
        "bootstrap.servers": bootstrap_servers,
        "group.id": group_id,
        "client.id": client_id,
        "enable.auto.commit": False,
        "auto.offset.reset": "earliest",
        "enable.partition.eof": False,
        # a crashed member's partitions move on after 10 s instead of the 45 s default
        "session.timeout.ms": 10_000,
        "heartbeat.interval.ms": 2_000,
    }


def producer_settings(bootstrap_servers: str) -> dict[str, Any]:
    return {
        "bootstrap.servers": bootstrap_servers,
        "enable.idempotence": True,
        "acks": "all",
        # librdkafka's default partitioner differs from Java's: a tenant keeps its partition number everywhere
        "partitioner": "murmur2_random",
        "linger.ms": 5,
        "compression.type": "lz4",
        "message.max.bytes": MAX_MESSAGE_BYTES,
    }


class TopicMissing(RuntimeError):
    pass


def partition_count(client: Any, topic: str, timeout: float = 10.0) -> int:
    """Partitions of `topic`, asked through any confluent-kafka client (consumer, producer, admin)."""
    info = client.list_topics(topic, timeout=timeout).topics.get(topic)
    if info is None or info.error is not None or not info.partitions:
        raise TopicMissing(f"topic {topic} does not exist; create the topics with `audit-layer topics`")
    return len(info.partitions)
