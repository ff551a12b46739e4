"""The ClickHouse sink: audit.events.chained (read_committed) -> the events table, exactly once.

Per partition, a batch [first, last] is loaded with this protocol:
  1. commit offset `first` with metadata `pending:<last>`      (the intent survives a crash)
  2. insert with insert_deduplication_token=<topic>:<partition>:<first>-<last>
  3. commit `last + 1`                                         (done)
After a crash between 1 and 3, the next owner finds `pending:<last>`, re-forms exactly that
range and inserts it with the same token, which ClickHouse drops if it already landed.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from audit_layer_schemas import CHAINED_EVENT, CHECKPOINT, AvroCodec, DecodeError, Topics
from confluent_kafka import Consumer, KafkaError, Message, TopicPartition

from audit_layer_sinks.legal_hold import LegalHold, active_holds, apply_holds
from audit_layer_sinks.retention import RetentionPolicy
from audit_layer_sinks.rows import CHECKPOINT_COLUMNS, INSERT_COLUMNS, row_from_chained, row_from_checkpoint
from audit_layer_sinks.store import ClickHouseStore

log = logging.getLogger("audit_layer.sink")
PENDING = "pending:"


@dataclass(frozen=True)
class BatchPolicy:
    """Flush a partition's batch at `max_rows` rows or when its oldest row is `max_age` seconds old."""

    max_rows: int = 20_000
    max_age: float = 1.0


@dataclass(frozen=True)
class SinkConfig:
    bootstrap_servers: str
    topics: Topics
    group_id: str = "audit-sink"
    batch: BatchPolicy = field(default_factory=BatchPolicy)
    poll_timeout: float = 0.1
    retention: RetentionPolicy = field(default_factory=RetentionPolicy)
    # how often the sink re-reads the legal holds it marks new rows with
    hold_refresh_seconds: float = 5.0


class SinkStopped(RuntimeError):
    """A chained event could not be loaded: stop rather than leave an audit gap."""


@dataclass(frozen=True)
class _Target:
    """Where one topic's messages go: its codec, its table and how a message becomes a row."""

    codec: AvroCodec
    table: str
    columns: tuple[str, ...]
    to_row: Callable[[dict[str, Any], int, int], list[Any]]


@dataclass
class _Batch:
    first: int
    last: int
    started: float
    rows: list[list[Any]] = field(default_factory=list)


class ClickHouseSink:
    def __init__(self, config: SinkConfig, store: ClickHouseStore) -> None:
        self.config = config
        self.store = store
        self._targets = {
            config.topics.chained: _Target(AvroCodec(CHAINED_EVENT), "events",
                                           (*INSERT_COLUMNS, "retention_days", "legal_hold"), self._event_row),
            config.topics.checkpoints: _Target(AvroCodec(CHECKPOINT), "checkpoints", CHECKPOINT_COLUMNS,
                                               row_from_checkpoint),
        }
        self._batches: dict[tuple[str, int], _Batch] = {}
        self._holds: list[LegalHold] = []
        self._holds_read = 0.0
        self._stop = threading.Event()
        self.rows_loaded = 0
        self.batches_loaded = 0
        self._consumer = Consumer(self._consumer_settings(config.group_id))

    def _consumer_settings(self, group_id: str) -> dict[str, Any]:
        return {
            "bootstrap.servers": self.config.bootstrap_servers,
            "group.id": group_id,
            "enable.auto.commit": False,
            "auto.offset.reset": "earliest",
            "isolation.level": "read_committed",
            # a crashed member's partitions move on after 10 s instead of the 45 s default
            "session.timeout.ms": 10_000,
            "heartbeat.interval.ms": 2_000,
        }

    def stop(self) -> None:
        self._stop.set()

    def run(self) -> None:
        self.store.migrate()
        self._consumer.subscribe(list(self._targets), on_assign=self._on_assign,
                                 on_revoke=self._on_revoke, on_lost=self._on_revoke)
        log.info("sink consuming %s into %s (%s)", ", ".join(self._targets), self.store.database,
                 self.store.dsn)
        try:
            while not self._stop.is_set():
                self._refresh_holds()
                for msg in self._consumer.consume(5000, self.config.poll_timeout):
                    self._add(msg)
                self._flush_due()
            self._flush_due(force=True)
        finally:
            self._consumer.close()

    def _add(self, msg: Message) -> None:
        err = msg.error()
        if err is not None:
            if err.fatal():
                raise SinkStopped(f"consumer error: {err}")
            log.warning("consumer: %s", err)
            return
        topic, partition, offset = msg.topic() or "", msg.partition() or 0, msg.offset() or 0
        row = self._row(msg)
        batch = self._batches.get((topic, partition))
        if batch is None:
            batch = self._batches[(topic, partition)] = _Batch(offset, offset, time.monotonic())
        batch.last = offset
        batch.rows.append(row)

    def _event_row(self, chained: dict[str, Any], partition: int, offset: int) -> list[Any]:
        row = row_from_chained(chained, partition, offset)
        enriched = chained["event"]
        event = enriched["event"]
        held = any(h.matches(event["tenant_id"], event["user_id"], event["session_id"]) for h in self._holds)
        row.append(self.config.retention.days_for(enriched["compliance_tags"]))
        row.append(1 if held else 0)
        return row

    def _refresh_holds(self) -> None:
        """Re-read the active holds; a new one is applied to the rows already loaded, which were
        marked without it."""
        now = time.monotonic()
        if now - self._holds_read < self.config.hold_refresh_seconds:
            return
        self._holds_read = now
        holds = active_holds(self.store)
        known = {h.hold_id for h in self._holds}
        new = [h for h in holds if h.hold_id not in known]
        self._holds = holds
        if not new:
            return
        # rows waiting in batches were marked without the new holds
        user, session = INSERT_COLUMNS.index("user_id"), INSERT_COLUMNS.index("session_id")
        events_table = self._targets[self.config.topics.chained].table
        for (topic, _), batch in self._batches.items():
            if self._targets[topic].table == events_table:
                for row in batch.rows:
                    if any(h.matches(row[0], row[user], row[session]) for h in new):
                        row[-1] = 1
        if self.rows_loaded:
            apply_holds(self.store, new)

    def _row(self, msg: Message) -> list[Any]:
        target = self._targets[msg.topic() or ""]
        try:
            record = target.codec.decode(msg.value())  # type: ignore[arg-type]
        except DecodeError as exc:
            raise SinkStopped(
                f"undecodable message at {msg.topic()}:{msg.partition()}:{msg.offset()}: {exc}"
            ) from exc
        return target.to_row(record, msg.partition() or 0, msg.offset() or 0)

    def _flush_due(self, force: bool = False) -> None:
        now = time.monotonic()
        policy = self.config.batch
        for (topic, partition), batch in list(self._batches.items()):
            if force or len(batch.rows) >= policy.max_rows or now - batch.started >= policy.max_age:
                self._load(topic, partition, batch)
                del self._batches[(topic, partition)]

    def _load(self, topic: str, partition: int, batch: _Batch) -> None:
        target = self._targets[topic]
        self._consumer.commit(offsets=[TopicPartition(topic, partition, batch.first,
                                                      f"{PENDING}{batch.last}")], asynchronous=False)
        self.store.insert(target.table, batch.rows, target.columns,
                          dedup_token=f"{topic}:{partition}:{batch.first}-{batch.last}")
        self._consumer.commit(offsets=[TopicPartition(topic, partition, batch.last + 1)], asynchronous=False)
        self.rows_loaded += len(batch.rows)
        self.batches_loaded += 1

    # -- assignment -------------------------------------------------------------------------

    def _on_assign(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        if not partitions:
            return
        for tp in consumer.committed(partitions, timeout=60):
            metadata = tp.metadata or ""
            if metadata.startswith(PENDING):
                self._recover(tp.topic, tp.partition, tp.offset, int(metadata[len(PENDING):]))
        log.info("assigned %s", [f"{p.topic}:{p.partition}" for p in partitions])

    def _on_revoke(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        # unloaded rows are not committed: the next owner reads them again
        for tp in partitions:
            self._batches.pop((tp.topic, tp.partition), None)

    def _recover(self, topic: str, partition: int, first: int, last: int) -> None:
        """Re-form exactly the pending range [first, last] and load it with the same token."""
        log.info("recovering pending batch %s:%d:%d-%d", topic, partition, first, last)
        reader = Consumer({**self._consumer_settings(f"{self.config.group_id}-recover"),
                           "enable.partition.eof": True})
        batch: _Batch | None = None
        try:
            reader.assign([TopicPartition(topic, partition, first)])
            deadline = time.monotonic() + 120
            done = False
            while not done:
                if time.monotonic() > deadline:
                    raise SinkStopped(f"could not re-read pending range {topic}:{partition}:{first}-{last}")
                for msg in reader.consume(5000, 1.0):
                    err = msg.error()
                    if err is not None:
                        if err.code() == KafkaError._PARTITION_EOF:
                            raise SinkStopped(f"pending range {topic}:{partition}:{first}-{last} "
                                              "ends beyond the partition")
                        raise SinkStopped(f"re-reading pending range: {err}")
                    offset = msg.offset() or 0
                    if offset > last:
                        done = True
                        break
                    if batch is None:
                        batch = _Batch(offset, offset, time.monotonic())
                    batch.rows.append(self._row(msg))
                    batch.last = offset
                    if offset == last:
                        done = True
                        break
        finally:
            reader.close()
        if batch is None or batch.first != first or batch.last != last:
            raise SinkStopped(f"pending range {topic}:{partition}:{first}-{last} could not be re-formed")
        self._load(topic, partition, batch)
