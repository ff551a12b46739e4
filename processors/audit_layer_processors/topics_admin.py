"""Creates the pipeline's topics with their settings; checks existing ones agree."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from audit_layer_schemas import Topics
from audit_layer_schemas.kafka_clients import admin_settings
from confluent_kafka import KafkaException
from confluent_kafka.admin import AdminClient, NewTopic  # type: ignore[attr-defined]

log = logging.getLogger("audit_layer.topics")

DAY_MS = 24 * 3600 * 1000
MAX_MESSAGE_BYTES = 8 * 1024 * 1024


@dataclass(frozen=True)
class TopicSpec:
    name: str
    config: dict[str, str]


def topic_specs(topics: Topics, *, retention_days: int = 7) -> list[TopicSpec]:
    stream = {
        "cleanup.policy": "delete",
        "retention.ms": str(retention_days * DAY_MS),
        "max.message.bytes": str(MAX_MESSAGE_BYTES),
    }
    return [
        TopicSpec(topics.events, stream),
        TopicSpec(topics.enriched, stream),
        TopicSpec(topics.chained, stream),
        # the newest head per tenant is all a restarting sequencer needs
        TopicSpec(topics.chain_heads, {"cleanup.policy": "compact", "max.message.bytes": str(MAX_MESSAGE_BYTES),
                                       "segment.ms": str(3600 * 1000), "min.cleanable.dirty.ratio": "0.1"}),
        TopicSpec(topics.checkpoints, {"cleanup.policy": "delete", "retention.ms": "-1"}),
        TopicSpec(topics.dlq, {"cleanup.policy": "delete", "retention.ms": str(30 * DAY_MS),
                               "max.message.bytes": str(MAX_MESSAGE_BYTES)}),
    ]


class TopicMismatch(RuntimeError):
    pass


def ensure_topics(
    bootstrap_servers: str, topics: Topics, *, partitions: int, replication_factor: int = 1,
    timeout: float = 30.0,
) -> list[str]:
    """Creates missing topics; returns the names created. Every topic must have `partitions`."""
    admin = AdminClient(admin_settings(bootstrap_servers))
    existing = admin.list_topics(timeout=timeout).topics
    specs = topic_specs(topics)
    for spec in specs:
        if spec.name in existing and len(existing[spec.name].partitions) != partitions:
            raise TopicMismatch(
                f"topic {spec.name} has {len(existing[spec.name].partitions)} partitions, expected {partitions}: "
                "every pipeline topic must have the same count so a tenant keeps its partition number"
            )
    new = [NewTopic(s.name, num_partitions=partitions, replication_factor=replication_factor, config=s.config)
           for s in specs if s.name not in existing]
    created = []
    if new:
        for name, future in admin.create_topics(new, request_timeout=timeout).items():
            try:
                future.result(timeout)
                created.append(name)
                log.info("created topic %s (%d partitions)", name, partitions)
            except KafkaException as exc:
                if exc.args[0].code() != 36:  # TOPIC_ALREADY_EXISTS: a concurrent creator won
                    raise
    return created


def delete_topics(bootstrap_servers: str, names: list[str], timeout: float = 30.0) -> None:
    if not names:
        return
    admin = AdminClient(admin_settings(bootstrap_servers))
    for name, future in admin.delete_topics(names, request_timeout=timeout).items():
        try:
            future.result(timeout)
        except KafkaException as exc:
            log.warning("could not delete topic %s: %s", name, exc)


def list_topics(bootstrap_servers: str, timeout: float = 10.0) -> list[str]:
    admin = AdminClient(admin_settings(bootstrap_servers))
    return sorted(admin.list_topics(timeout=timeout).topics)
