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
