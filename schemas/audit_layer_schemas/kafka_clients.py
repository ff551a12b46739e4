"""Every Kafka client's settings: the workers', topic admin's, the CLI's, the API's and the SDK's. Each
starts from `client_settings`, which carries the deployment's security settings (kafka_security.py), and
adds what is its own role's (isolation level, transactional id, queue size)."""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from typing import Any

from audit_layer_schemas.kafka_security import KafkaSecurity, explain_failure

MAX_MESSAGE_BYTES = 8 * 1024 * 1024


class KafkaLog:
    """librdkafka's log lines into Python logging, one line per facility every `every_s` with a count of
    those not shown: without a broker, every client logs a failed connect every 50 ms."""

    def __init__(self, name: str = "audit_layer.kafka", every_s: float = 30.0) -> None:
        self._log = logging.getLogger(name)
        self.every_s = every_s
        self._last: dict[str, tuple[float, int]] = {}

    def log(self, level: int, message: str, *args: object) -> None:
        text = message % args if args else message
        if level < logging.WARNING:
            self._log.log(level, "%s", text)
            return
        facility = text.split(" ", 1)[0]
        now = time.monotonic()
        last, hidden = self._last.get(facility, (-self.every_s - 1.0, 0))
        if now - last < self.every_s:
            self._last[facility] = (last, hidden + 1)
            return
        self._last[facility] = (now, 0)
        self._log.log(level, "%s%s", text, f" ({hidden} more like it in {self.every_s:.0f} s)" if hidden else "")


def client_settings(bootstrap_servers: str, security: KafkaSecurity | None = None) -> dict[str, Any]:
    """What every client needs: where the brokers are and how to authenticate to them (by default the
    AUDIT_LAYER_KAFKA_* environment's), and its log lines rate-limited."""
    chosen = KafkaSecurity.from_env() if security is None else security
    return {"bootstrap.servers": bootstrap_servers, **chosen.librdkafka(), "logger": KafkaLog()}


def admin_settings(bootstrap_servers: str, **extra: Any) -> dict[str, Any]:
    return {**client_settings(bootstrap_servers), **extra}


def consumer_settings(bootstrap_servers: str, group_id: str, client_id: str) -> dict[str, Any]:
    """A worker's group member: commits its own offsets, starts at the beginning of a new topic, and hands over
    only the partitions that move when a member joins or leaves (cooperative-sticky, KIP-429): under the eager
    protocol every member gives up every partition, and every sequencer rebuilds the chain heads of all of
    them, so starting a fleet or adding one process stalled the stage for seconds (BENCHMARKS.md, issue 20,
    eighth stop). The workers' assignment callbacks take and give up partitions one by one, as the incremental
    protocol calls them. Every member of a group must use the same strategy, and librdkafka cannot list an eager
    and the cooperative one together, so a running eager fleet is stopped, then started (processors/README.md)."""
    return {
        **client_settings(bootstrap_servers),
        "group.id": group_id,
        "client.id": client_id,
        "partition.assignment.strategy": "cooperative-sticky",
        "enable.auto.commit": False,
        "auto.offset.reset": "earliest",
        "enable.partition.eof": False,
        # a crashed member's partitions move on after 10 s instead of the 45 s default
        "session.timeout.ms": 10_000,
        # a rebalance reaches the members at their next heartbeat, and the incremental protocol takes two
        # rounds: each round waited up to 2 s at the old interval; a few workers' heartbeats cost nothing
        "heartbeat.interval.ms": 500,
    }


def reader_settings(bootstrap_servers: str, group_id: str, **extra: Any) -> dict[str, Any]:
    """A consumer that is assigned partitions and never commits: reading a topic changes nothing."""
    return {**client_settings(bootstrap_servers), "group.id": group_id, "enable.auto.commit": False,
            "isolation.level": "read_committed", **extra}


def producer_settings(bootstrap_servers: str, overrides: Mapping[str, Any] | None = None) -> dict[str, Any]:
    return {
        **client_settings(bootstrap_servers),
        "enable.idempotence": True,
        "acks": "all",
        # librdkafka's default partitioner differs from Java's: a tenant keeps its partition number everywhere
        "partitioner": "murmur2_random",
        "linger.ms": 5,
        "compression.type": "lz4",
        "message.max.bytes": MAX_MESSAGE_BYTES,
        **(overrides or {}),
    }


class TopicMissing(RuntimeError):
    pass


def partition_count(client: Any, topic: str, timeout: float = 10.0) -> int:
    """Partitions of `topic`, asked through any confluent-kafka client (consumer, producer, admin). A topic the
    brokers do not know is TopicMissing; one they know but cannot serve now (no leader while a broker
    restarts) is the KafkaException of its metadata error, which a worker's outage wait waits out."""
    from confluent_kafka import KafkaError, KafkaException

    info = client.list_topics(topic, timeout=timeout).topics.get(topic)
    error = None if info is None else info.error
    if info is None or (error is not None and error.code() == KafkaError.UNKNOWN_TOPIC_OR_PART) \
            or (error is None and not info.partitions):
        raise TopicMissing(f"topic {topic} does not exist; create the topics with `audit-layer topics`")
    if error is not None:
        raise KafkaException(error)
    return len(info.partitions)


class KafkaUnreachable(RuntimeError):
    """No broker answered; the message says why when a setting explains it."""


class _Collected(logging.Handler):
    def __init__(self, lines: list[str]) -> None:
        super().__init__(logging.DEBUG)
        self.lines = lines

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())


def check_connection(bootstrap_servers: str, timeout: float = 10.0) -> None:
    """Returns once a broker answers with the deployment's settings. A refused credential, a failed TLS
    handshake or a listener of another protocol raises within a second or two with its cause, instead of
    waiting out `timeout` like a broker that is down."""
    from confluent_kafka.admin import AdminClient

    security = KafkaSecurity.from_env()
    said: list[str] = []
    logger = logging.getLogger(f"audit_layer.kafka_probe.{id(said)}")
    logger.propagate = False  # librdkafka's retries are this function's business, not the log's
    logger.addHandler(_Collected(said))
    settings: dict[str, Any] = {**client_settings(bootstrap_servers, security), "logger": logger,
                                "error_cb": lambda err: said.append(str(err))}
    admin = AdminClient(settings)
    deadline = time.monotonic() + timeout
    last: Exception | None = None
    try:
        while time.monotonic() < deadline:
            try:
                admin.list_topics(timeout=1.0)
                return
            except Exception as exc:
                last = exc
            admin.poll(0.2)
            for line in said:
                cause = explain_failure(line, security)
                if cause is not None:
                    raise KafkaUnreachable(f"Kafka at {bootstrap_servers}: {cause}")
        raise KafkaUnreachable(f"no Kafka broker answers at {bootstrap_servers} ({last}; {security.describe()})")
    finally:
        logger.handlers.clear()
