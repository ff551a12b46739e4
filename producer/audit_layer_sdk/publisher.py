"""Publishes audit events to Kafka without ever raising into, or blocking, the application.

confluent-kafka's produce() only enqueues; a background thread serves delivery reports.
Settings follow ARCHITECTURE.md: idempotent, acks=all, murmur2_random (a tenant lands on the
same partition number as with the Java client), compression, a bounded queue.
"""

from __future__ import annotations

import atexit
import threading
import weakref
from typing import Any

from audit_layer_schemas import AUDIT_EVENT, AuditEvent, AvroCodec
from confluent_kafka import KafkaError, Message, Producer

from audit_layer_sdk._log import KafkaLogBridge, log, logger
from audit_layer_sdk.config import AuditConfig
from audit_layer_sdk.stats import PublisherStats, StatsSnapshot

EXIT_FLUSH_SECONDS = 5.0


def producer_settings(config: AuditConfig) -> dict[str, Any]:
    settings: dict[str, Any] = {
        "bootstrap.servers": config.bootstrap_servers,
        "client.id": "audit-layer-sdk",
        "enable.idempotence": True,
        "acks": "all",
        "partitioner": "murmur2_random",
        "compression.type": config.compression,
        "linger.ms": config.linger_ms,
        "queue.buffering.max.messages": config.queue_max_messages,
        "message.max.bytes": 4 * 1024 * 1024,
        # keep retrying through a broker outage; delivery fails only after this long
        "message.timeout.ms": 300_000,
    }
    settings.update(config.kafka_overrides)
    return settings


class AuditPublisher:
    def __init__(self, config: AuditConfig | None = None) -> None:
        self.config = config or AuditConfig.from_env()
        self.stats = PublisherStats()
        self._codec = AvroCodec(AUDIT_EVENT)
        self._producer = Producer({**producer_settings(self.config), "error_cb": self._on_error,
                                   "logger": KafkaLogBridge()})
        self._closed = threading.Event()
        self._poller = threading.Thread(target=self._poll_loop, name="audit-layer-poller", daemon=True)
        self._poller.start()
        atexit.register(_close_at_exit, weakref.ref(self))

    def publish(self, event: AuditEvent) -> bool:
        """Enqueue one event; False (counted and logged) when it could not be enqueued."""
        if self._closed.is_set():
            self.stats.add("dropped")
            log.warning("closed", "audit publisher is closed; event %s dropped", event.event_id)
            return False
        self.stats.add("emitted")
        try:
            value = self._codec.encode(event.to_avro())
        except Exception as exc:
            self.stats.add("errors")
            log.warning("encode", "audit event %s could not be encoded: %s", event.event_id, exc)
            return False
        try:
            self._producer.produce(
                self.config.topic,
                key=event.tenant_id.encode("utf-8"),
                value=value,
                on_delivery=self._on_delivery,
            )
        except BufferError:
            self.stats.add("dropped")
            log.warning("queue-full", "audit queue full (%d messages); event dropped",
                        self.config.queue_max_messages)
            return False
        except Exception as exc:
            self.stats.add("dropped")
            log.warning("produce", "audit event could not be enqueued: %s", exc)
            return False
        return True

    def flush(self, timeout: float = 10.0) -> int:
        """Wait up to `timeout` seconds for delivery; returns how many are still undelivered."""
        try:
            return int(self._producer.flush(timeout))
        except Exception as exc:
            log.warning("flush", "audit flush failed: %s", exc)
            return -1

    def snapshot(self) -> StatsSnapshot:
        return self.stats.snapshot()

    def close(self, timeout: float = EXIT_FLUSH_SECONDS) -> None:
        if self._closed.is_set():
            return
        remaining = self.flush(timeout)
        self._closed.set()
        if remaining > 0:
            logger.warning("audit publisher closed with %d events undelivered", remaining)

    def _poll_loop(self) -> None:
        while not self._closed.is_set():
            try:
                self._producer.poll(0.1)
            except Exception as exc:  # a callback bug must not kill delivery reports
                log.warning("poll", "audit delivery poll failed: %s", exc)

    def _on_delivery(self, err: KafkaError | None, msg: Message) -> None:
        if err is None:
            self.stats.add("delivered")
        else:
            self.stats.add("failed")
            log.warning("delivery", "audit event delivery failed: %s", err)

    def _on_error(self, err: KafkaError) -> None:
        log.warning(f"kafka-{err.code()}", "audit Kafka client: %s", err)


def _close_at_exit(ref: weakref.ref[AuditPublisher]) -> None:
    publisher = ref()
    if publisher is not None:
        publisher.close(EXIT_FLUSH_SECONDS)


_default: AuditPublisher | None = None
_default_lock = threading.Lock()


def default_publisher() -> AuditPublisher:
    """One publisher per process, configured from the environment, made on first use."""
    global _default
    with _default_lock:
        if _default is None:
            _default = AuditPublisher(AuditConfig.from_env())
        return _default
