"""The enricher's default runtime: confluent-kafka in batches (`audit-layer enricher`).

audit.events -> the enrich step (enrich_step.py) -> audit.events.enriched or audit.dlq.

At-least-once, in the arroyo manner: consume a batch, run the step on each message, produce each
output to its tenant's partition (dead letters to the input's), and commit an offset only after every output before it
was acknowledged by the broker (the producer flushed): a crash re-processes, never loses, and the
sequencer drops the duplicates. A delivery that fails stops the worker without committing; a commit
that fails (a broker restarting, a coordinator moving) is retried at the next commit.
Partitions given up in a rebalance are flushed and committed first, so their next owner does not
redo them.
"""

from __future__ import annotations

import logging
import signal
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from audit_layer_schemas import Topics
from audit_layer_schemas.kafka_clients import consumer_settings, partition_count, producer_settings
from confluent_kafka import Consumer, KafkaError, KafkaException, Message, Producer, TopicPartition

from audit_layer_processors.dlq import DlqLimitExceeded, DlqPolicy
from audit_layer_processors.enrich_step import EnrichStep, Outgoing
from audit_layer_processors.outage import OutagePolicy, OutageWait, RateLimitedLog
from audit_layer_processors.policy import Policy
from audit_layer_processors.worker_metrics import MetricsServer, WorkerMetrics

log = logging.getLogger("audit_layer.enricher")


@dataclass(frozen=True)
class CommitPolicy:
    """Commit (after flushing the producer) every `interval` seconds or `max_messages` messages."""

    interval: float = 0.5
    max_messages: int = 20_000


@dataclass(frozen=True)
class BatchEnricherConfig:
    bootstrap_servers: str
    topics: Topics
    group_id: str = "audit-enricher"
    batch_max_messages: int = 1000
    poll_timeout: float = 0.05  # the most a message waits for its batch to fill: latency at low rates
    # a flush before a commit waits this long at a time; through an outage, up to outage.max_wait_s in all
    flush_timeout: float = 120.0
    outage: OutagePolicy = field(default_factory=OutagePolicy)
    commit: CommitPolicy = field(default_factory=CommitPolicy)
    dlq: DlqPolicy = field(default_factory=DlqPolicy)
    metrics_port: int | None = None  # /metrics and /healthz (worker_metrics.py); None: none


class EnricherStopped(RuntimeError):
    """Outputs could not be delivered: stop without committing, so nothing is lost."""


class BatchEnricher:
    def __init__(self, config: BatchEnricherConfig, policy: Policy) -> None:
        self.config = config
        # an output waits for a broker that is away as long as the outage policy lets the worker wait
        self._producer = Producer({**producer_settings(config.bootstrap_servers),
                                   "queue.buffering.max.messages": 200_000,
                                   "message.timeout.ms": int(config.outage.max_wait_s * 1000)})
        self._stop = threading.Event()
        # a broker away while the worker starts is waited out, as at any other moment
        self._outage = OutageWait(config.outage, log, self._stop, bootstrap_servers=config.bootstrap_servers)
        partitions = self._outage.call("finding the topics",
                                       lambda: partition_count(self._producer, config.topics.enriched))
        self.step = EnrichStep(config.topics, policy, partitions, config.dlq, link_bodies=False)
        self._pending: dict[int, int] = {}  # partition -> next offset to commit once flushed
        self._since_commit = 0
        self._last_commit = time.monotonic()
        self._delivery_error: KafkaError | None = None
        self._problems = RateLimitedLog(log)
        self._read = 0
        self.metrics = WorkerMetrics("enricher", self.step.counts.tallies)
        self.metrics.events = lambda: (self._read, self.step.counts.enriched)
        self.metrics.dead_letters = lambda: dict(self.step.counts.reasons)
        self._consumer = Consumer({**consumer_settings(config.bootstrap_servers, config.group_id,
                                                       f"{config.group_id}-batch"),
                                   **(self.metrics.consumer_settings() if config.metrics_port is not None else {})})

    def stop(self) -> None:
        self._stop.set()

    def run(self) -> None:
        topic = self.config.topics.events
        # missing: an error that says to create the topics; a broker away: waited out
        self._outage.call("finding the topics", lambda: partition_count(self._consumer, topic))
        self._consumer.subscribe([topic], on_revoke=self._on_revoke, on_lost=self._on_lost)
        self.metrics.topics_found()
        log.info("enricher (batch runtime) consuming %s, policy %s", topic, self.step.policy.version)
        server = MetricsServer(self.metrics, self.config.metrics_port).start() \
            if self.config.metrics_port is not None else None
        last_report = time.monotonic()
        try:
            while not self._stop.is_set():
                self.metrics.turned()
                messages = self._consumer.consume(self.config.batch_max_messages, self.config.poll_timeout)
                if messages:
                    started = time.perf_counter()
                    for message in messages:
                        self._handle(message)
                    self._read += len(messages)
                    self.metrics.batch_seconds.observe(time.perf_counter() - started)
                self._producer.poll(0)
                if self._commit_due():
                    self._flush_and_commit()
                if time.monotonic() - last_report > 10:
                    last_report = time.monotonic()
                    log.info("%s", self.step.counts.line())
            self._flush_and_commit()
        finally:
            self._consumer.close()
            if server is not None:
                server.stop()
            log.info("stopped: %s", self.step.counts.line())

    def _handle(self, message: Message) -> None:
        err = message.error()
        if err is not None:
            if err.fatal():
                raise EnricherStopped(f"consumer error: {err}")
            self._problems.warning(f"consumer-{err.code()}", f"consumer: {err}")
            return
        partition, offset = message.partition() or 0, message.offset() or 0
        out = self.step(message.key(), message.value(), message.topic() or "", partition, offset)
        self._produce(out)
        self._pending[partition] = offset + 1
        self._since_commit += 1

    def _produce(self, out: Outgoing) -> None:
        while True:
            try:
                self._producer.produce(out.topic, value=out.value, key=out.key, partition=out.partition,
                                       headers=out.headers, on_delivery=self._on_delivery)
                return
            except BufferError:  # the local queue is full (a slow or absent broker): wait for room
                self._producer.poll(0.1)
                if self._delivery_error is not None:
                    raise EnricherStopped(f"delivery failed: {self._delivery_error}") from None

    def _on_delivery(self, err: KafkaError | None, _message: Message) -> None:
        if err is not None and self._delivery_error is None:
            self._delivery_error = err

    def _commit_due(self) -> bool:
        policy = self.config.commit
        return bool(self._pending) and (self._since_commit >= policy.max_messages
                                        or time.monotonic() - self._last_commit >= policy.interval)

    def _flush_and_commit(self, partitions: set[int] | None = None) -> None:
        """Every output produced so far acknowledged, then the offsets after them committed."""
        if not self._pending:
            return
        started = time.perf_counter()
        remaining = self._producer.flush(self.config.flush_timeout)
        waited = self.config.flush_timeout
        while remaining and self._delivery_error is None and waited < self.config.outage.max_wait_s \
                and not self._stop.is_set():
            self._problems.warning("flush", f"Kafka has not acknowledged {remaining} outputs for {waited:.0f} s; "
                                   f"waiting (gives up after {self.config.outage.max_wait_s:.0f} s)")
            remaining = self._producer.flush(10.0)
            waited += 10.0
        if remaining or self._delivery_error is not None:
            raise EnricherStopped(f"{remaining} outputs not acknowledged within {self.config.flush_timeout:g} s"
                                  if remaining else f"delivery failed: {self._delivery_error}")
        topic = self.config.topics.events
        chosen = {p: o for p, o in self._pending.items() if partitions is None or p in partitions}
        self._since_commit = 0
        self._last_commit = time.monotonic()
        try:
            if chosen:
                self._consumer.commit(offsets=[TopicPartition(topic, p, o) for p, o in chosen.items()],
                                      asynchronous=False)
        except KafkaException as exc:
            # an offset left uncommitted costs re-processing (duplicates the sequencer drops), never a loss:
            # after a broker restart the coordinator moves or loads, and a commit fails for a while. The
            # offsets stay pending; partitions that leave meanwhile are dropped by _on_revoke/_on_lost
            log.warning("commit failed (%s); retrying at the next commit", exc.args[0])
            return
        for p in chosen:
            del self._pending[p]
        self.metrics.commit_seconds.observe(time.perf_counter() - started)

    def _on_revoke(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        # hand over a clean cut: what this worker enriched from these partitions is committed
        try:
            self._flush_and_commit({p.partition for p in partitions})
        except Exception as exc:  # the next owner re-processes from the last commit: duplicates, no loss
            log.warning("could not commit revoked partitions: %s", exc)
        for p in partitions:
            self._pending.pop(p.partition, None)

    def _on_lost(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        # another member owns them already: committing would be refused; the owner re-processes
        for p in partitions:
            self._pending.pop(p.partition, None)
        log.warning("partitions lost: %s", sorted(p.partition for p in partitions))


def run(config: BatchEnricherConfig, policy: Policy) -> int:
    enricher = BatchEnricher(config, policy)

    def _stop(*_: Any) -> None:
        enricher.stop()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    try:
        enricher.run()
    except DlqLimitExceeded as exc:
        log.critical("%s", exc)
        return 2
    except EnricherStopped as exc:
        log.critical("enricher stopped: %s", exc)
        return 1
    return 0
