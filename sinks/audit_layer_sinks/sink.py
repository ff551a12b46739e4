"""The ClickHouse sink: audit.events.chained (read_committed) -> the events table, exactly once.

A batch [first, last] per partition, and the batches of every partition due at once loaded together:
  1. commit offset `first` with metadata `pending:<last>`, for each (the intents survive a crash)
  2. one insert, with insert_deduplication_token=<topic>:<partition>:<first>-<last>[,...] and leaving
     out every (tenant, seq) already stored
  3. commit `last + 1` for each                                (done)
After a crash between 1 and 3, each partition's next owner finds `pending:<last>`, re-forms exactly
that range and loads it: rows that had landed are already stored and are not stored again.
Loading every due partition in one insert and two commits, not one each, is what keeps freshness
within a second: a load's cost is mostly fixed (the commits, the statements), not per row.
"""

from __future__ import annotations

import logging
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from audit_layer_governance.legal_hold import LegalHold, active_holds, apply_holds, holds_condition
from audit_layer_governance.retention import RetentionPolicy, default_retention
from audit_layer_ledger.merkle_index import BLOCK, DamagedLog, StoredSubtrees
from audit_layer_processors.outage import OutagePolicy, OutageWait, RateLimitedLog, left_behind
from audit_layer_processors.worker_metrics import MetricsServer, WorkerMetrics
from audit_layer_schemas import CHAINED_EVENT, CHECKPOINT, AvroCodec, DecodeError, Topics
from audit_layer_schemas.codec import HEADER_SIZE, MAGIC
from audit_layer_schemas.kafka_clients import consumer_settings, partition_count
from audit_layer_store.rows import CHECKPOINT_COLUMNS, INSERT_COLUMNS, row_from_chained, row_from_checkpoint
from audit_layer_store.store import ClickHouseStore
from clickhouse_connect.driver.exceptions import DatabaseError
from confluent_kafka import Consumer, KafkaError, KafkaException, Message, TopicPartition

from audit_layer_sinks.avro_load import ChainedEventLoad

log = logging.getLogger("audit_layer.sink")
PENDING = "pending:"


@dataclass(frozen=True)
class BatchPolicy:
    """Flush a partition's batch at `max_rows` rows or when its oldest row is `max_age` seconds old."""

    max_rows: int = 20_000
    max_age: float = 0.1  # freshness: within a second at p99 (BENCHMARKS.md); raise it for fewer inserts

    def due(self, rows: int, age: float) -> bool:
        return rows >= self.max_rows or age >= self.max_age


@dataclass(frozen=True)
class MerkleIndexPolicy:
    """When the sink extends a tenant's Merkle index (merkle_index.py): at its first checkpoint, then once
    `blocks` complete blocks of 1,024 links wait, and at once whenever the sink is idle. An extension costs
    a few statements however many blocks it adds, and a checkpoint every 1,000 events made one nearly every
    1,000 events: a quarter of the sink's time at 12,000 events/s (BENCHMARKS.md, tenth stop). The index is
    an optimisation: a proof that finds it behind extends it first."""

    blocks: int = 8
    budget_s: float = 0.05  # the most a busy turn of the loop gives to it once its loads are done

    def due(self, indexed: int | None, size: int, idle: bool) -> bool:
        """Extend an index last extended to `indexed` links (None: not this run) to `size` links now?"""
        return idle or indexed is None or size // BLOCK - indexed // BLOCK >= self.blocks


@dataclass(frozen=True)
class SinkConfig:
    bootstrap_servers: str
    topics: Topics
    group_id: str = "audit-sink"
    batch: BatchPolicy = field(default_factory=BatchPolicy)
    poll_timeout: float = 0.1
    # the shipped enrichment policy's retention classes, as `audit-layer sink` without --policy keeps rows
    retention: RetentionPolicy = field(default_factory=default_retention)
    # how often the sink re-reads the legal holds it marks new rows with
    hold_refresh_seconds: float = 5.0
    # on the embedded engine, let ClickHouse decode the Avro (False: always decode in Python)
    avro_passthrough: bool = True
    metrics_port: int | None = None  # /metrics and /healthz (worker_metrics.py); None: none
    outage: OutagePolicy = field(default_factory=OutagePolicy)
    merkle_index: MerkleIndexPolicy = field(default_factory=MerkleIndexPolicy)


# a batch holds unique (tenant_id, seq) keys, so ReplacingMergeTree's collapse of duplicates
# inside one insert has nothing to do; skipping it halves the insert's cost
INSERT_SETTINGS = {"optimize_on_insert": 0}


@dataclass(frozen=True)
class _AvroPath:
    header: bytes
    load: ChainedEventLoad


class _LeftBehind(RuntimeError):
    """The partition's offsets can no longer be committed by this member: the group moved on."""


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
    """A partition's messages awaiting their insert; rows are built at load time, with the holds
    and the load path of that moment."""

    first: int
    last: int
    started: float
    offsets: list[int] = field(default_factory=list)
    values: list[bytes] = field(default_factory=list)


def _literal(text: str) -> str:
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _fork_message(forked: list[Any]) -> str:
    shown = ", ".join(f"{t} seq {s}" for t, s, *_ in forked[:10])
    return (f"fork: a chained event for a stored (tenant, seq) has another hash ({shown}); not loading it. "
            "Two sequencers or a rolled-back chain head produced these seqs twice: run `audit-layer verify` and "
            "investigate before restarting the sink")


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
        chained_codec = self._targets[config.topics.chained].codec
        self._avro = _AvroPath(MAGIC + chained_codec.schema.fingerprint,
                               ChainedEventLoad(chained_codec.schema.canonical_form))
        self._holds: list[LegalHold] = []
        self._unindexed: dict[str, int] = {}  # tenant -> the size its Merkle index is to be extended to
        self._indexed: dict[str, int] = {}  # tenant -> the size its Merkle index was last extended to
        self._holds_read = 0.0
        self._stop = threading.Event()
        self._outage = OutageWait(config.outage, log, self._stop, bootstrap_servers=config.bootstrap_servers)
        self._problems = RateLimitedLog(log)
        self.rows_loaded = 0
        self.batches_loaded = 0  # a partition's batch each
        self.loads = 0  # inserts: a load takes every due batch of its topic
        self.metrics_server: MetricsServer | None = None
        self.metrics = WorkerMetrics("sink", lambda: {"rows_loaded": self.rows_loaded,
                                                      "batches_loaded": self.batches_loaded,
                                                      "loads": self.loads})
        self._read = 0
        self._verifications: dict[str, tuple[bool, float]] = {}
        self._verifications_read = 0.0
        self.metrics.events = lambda: (self._read, self.rows_loaded)
        self.metrics.verifications = lambda: dict(self._verifications)
        self.metrics.engine_role = lambda: store.role
        self._consumer = Consumer({**self._consumer_settings(config.group_id),
                                   **(self.metrics.consumer_settings() if config.metrics_port is not None else {})})

    def _consumer_settings(self, group_id: str) -> dict[str, Any]:
        return {**consumer_settings(self.config.bootstrap_servers, group_id, group_id),
                "isolation.level": "read_committed"}

    def stop(self) -> None:
        self._stop.set()

    def run(self) -> None:
        self.store.migrate()
        def topics_found() -> None:  # missing: an error that says to create the topics
            for topic in self._targets:
                partition_count(self._consumer, topic)

        self._outage.call("finding the topics", topics_found)  # a broker away at start-up is waited out
        self._consumer.subscribe(list(self._targets), on_assign=self._on_assign,
                                 on_revoke=self._on_revoke, on_lost=self._on_revoke)
        self.metrics.topics_found()
        log.info("sink consuming %s into %s (%s)", ", ".join(self._targets), self.store.database,
                 self.store.dsn)
        server = self.metrics_server = MetricsServer(self.metrics, self.config.metrics_port).start() \
            if self.config.metrics_port is not None else None
        last_report = time.monotonic()
        try:
            while not self._stop.is_set():
                self.metrics.turned()
                self._refresh_holds()
                self._refresh_verifications()
                messages = self._consumer.consume(5000, self.config.poll_timeout)
                for msg in messages:
                    self._add(msg)
                self._read += len(messages)
                self._flush_due()
                self._index_merkle(until=time.monotonic() + self.config.merkle_index.budget_s, idle=not messages)
                if time.monotonic() - last_report > 10:
                    last_report = time.monotonic()
                    log.info("loaded %d rows in %d batches, %d loads", self.rows_loaded, self.batches_loaded,
                             self.loads)
            self._flush_due(force=True)
            self._index_merkle(until=None, idle=True)
        finally:
            self._consumer.close()
            if server is not None:
                server.stop()
            log.info("stopped: loaded %d rows in %d batches, %d loads", self.rows_loaded, self.batches_loaded,
                     self.loads)

    def _add(self, msg: Message) -> None:
        err = msg.error()
        if err is not None:
            if err.fatal():
                raise SinkStopped(f"consumer error: {err}")
            self._problems.warning(f"consumer-{err.code()}", f"consumer: {err}")
            return
        topic, partition, offset = msg.topic() or "", msg.partition() or 0, msg.offset() or 0
        batch = self._batches.get((topic, partition))
        if batch is None:
            batch = self._batches[(topic, partition)] = _Batch(offset, offset, time.monotonic())
        batch.last = offset
        batch.offsets.append(offset)
        batch.values.append(msg.value() or b"")

    def _event_row(self, chained: dict[str, Any], partition: int, offset: int) -> list[Any]:
        row = row_from_chained(chained, partition, offset)
        enriched = chained["event"]
        event = enriched["event"]
        held = any(h.matches(event["tenant_id"], event["user_id"], event["session_id"]) for h in self._holds)
        row.append(self.config.retention.days_for(enriched["compliance_tags"]))
        row.append(1 if held else 0)
        return row

    def _refresh_holds(self) -> None:
        """Re-read the active holds; a new one is applied to the rows already loaded."""
        now = time.monotonic()
        if now - self._holds_read < self.config.hold_refresh_seconds:
            return
        self._holds_read = now
        holds = active_holds(self.store)
        known = {h.hold_id for h in self._holds}
        new = [h for h in holds if h.hold_id not in known]
        self._holds = holds
        if new and self.rows_loaded:
            apply_holds(self.store, new)  # rows are marked as they are built; these were built before

    def _refresh_verifications(self) -> None:
        """The last verification of each tenant, for /metrics: read here, in the sink's own thread, never from
        the metrics server's (the embedded engine is this thread's to use)."""
        if self.config.metrics_port is None or time.monotonic() - self._verifications_read < 30:
            return
        self._verifications_read = time.monotonic()
        rows = self.store.query(f"SELECT tenant_id, argMax(ok, verified_at), toUnixTimestamp64Milli(max(verified_at)) "
                                f"FROM {self.store.database}.verifications GROUP BY tenant_id").result_rows
        self._verifications = {t: (bool(ok), at / 1000) for t, ok, at in rows}

    def _rows(self, topic: str, partition: int, batch: _Batch) -> list[list[Any]]:
        target = self._targets[topic]
        rows = []
        for offset, value in zip(batch.offsets, batch.values, strict=True):
            try:
                record = target.codec.decode(value)
            except DecodeError as exc:
                raise SinkStopped(f"undecodable message at {topic}:{partition}:{offset}: {exc}") from exc
            rows.append(target.to_row(record, partition, offset))
        return rows

    def _flush_due(self, force: bool = False) -> None:
        now = time.monotonic()
        policy = self.config.batch
        due_topics = {topic for (topic, _), batch in self._batches.items()
                      if force or policy.due(len(batch.offsets), now - batch.started)}
        # a load costs mostly the same however few its rows (the insert, its parts, the views): when one
        # partition's batch is due the others of its topic go with it, so a topic is loaded once a batch age
        # whatever its partition count, and no row waits longer than it would have
        due = {key: batch for key, batch in self._batches.items() if key[0] in due_topics}
        chained, checkpoints = self.config.topics.chained, self.config.topics.checkpoints
        # events first, every due partition in one load: a checkpoint is stored only after the events it covers
        events = {partition: batch for (topic, partition), batch in due.items() if topic == chained}
        if events:
            self._load_or_leave(chained, events)
        # the checkpoints whose events are stored, in one load; the others wait (and grow) for their events
        covered: dict[int, _Batch] = {}
        rows: list[list[Any]] = []
        for (topic, partition), batch in due.items():
            if topic == checkpoints:
                batch_rows = self._rows(topic, partition, batch)
                if self._covered(batch_rows):
                    covered[partition] = batch
                    rows += batch_rows
        if covered and self._load_or_leave(checkpoints, covered, rows):
            tenant_at, last_at = CHECKPOINT_COLUMNS.index("tenant_id"), CHECKPOINT_COLUMNS.index("last_seq")
            for row in rows:
                self._unindexed[row[tenant_at]] = max(self._unindexed.get(row[tenant_at], 0), row[last_at])

    def _load_or_leave(self, topic: str, batches: dict[int, _Batch], rows: list[list[Any]] | None = None) -> bool:
        """Load these batches and forget them; False when the group moved on and left them to the next owner."""
        try:
            self._load(topic, batches, rows)
            return True
        except _LeftBehind as exc:
            kept = self._read_again(topic, batches)
            ranges = ", ".join(f"{topic}:{p}:{b.first}-{b.last}" for p, b in batches.items())
            log.warning("batches %s left to the partitions' next owners (%s); they re-read them, and what landed "
                        "is not stored twice%s", ranges, exc,
                        f"; still ours and read again: partitions {kept}" if kept else "")
            return False
        finally:
            for partition in batches:
                del self._batches[(topic, partition)]

    def _read_again(self, topic: str, batches: dict[int, _Batch]) -> list[int]:
        """The partitions of these unloaded batches that this member still owns, read again from each batch's
        first offset. Under the eager protocol a refused commit (a new generation) is followed by the loss of
        every partition, and their owners read from the committed offsets anyway; but a member that keeps a
        partition through a rebalance (the incremental protocol, tried in BENCHMARKS.md) would otherwise
        fetch on after the dropped batch, and the rows between would never be loaded."""
        owned = {(tp.topic, tp.partition) for tp in self._consumer.assignment()}
        kept = []
        for partition, batch in batches.items():
            if (topic, partition) not in owned:
                continue
            try:
                self._consumer.seek(TopicPartition(topic, partition, batch.first))
                kept.append(partition)
            except KafkaException as exc:  # taken from this member just now: its next owner reads it again
                log.info("%s:%d not read again here (%s)", topic, partition, exc.args[0])
        return sorted(kept)

    def _index_merkle(self, until: float | None, idle: bool) -> None:
        """Keep the Merkle subtree roots up to each stored checkpoint, so inclusion proofs read O(log n) stored
        nodes (merkle_index.py), as the policy says when. An optimisation: a failure is logged, not fatal. One
        tenant a turn, more while `until` (monotonic) is not passed and no batch is due: indexing holds back the
        next load by at most one tenant's extension, however many tenants were checkpointed at once."""
        policy = self.config.merkle_index
        due = [tenant for tenant, size in self._unindexed.items()
               if policy.due(self._indexed.get(tenant), size, idle)]
        for tenant in due:
            size = self._unindexed.pop(tenant)
            try:
                StoredSubtrees(self.store, tenant).extend(size)
                self._indexed[tenant] = size
            except DamagedLog as exc:
                log.warning("merkle index of %s not extended: %s", tenant, exc)
            if until is not None and (time.monotonic() >= until or self._load_due()):
                return

    def _load_due(self) -> bool:
        now, policy = time.monotonic(), self.config.batch
        return any(policy.due(len(b.offsets), now - b.started) for b in self._batches.values())

    def _covered(self, checkpoint_rows: list[list[Any]]) -> bool:
        """Are the events every checkpoint covers stored? The two topics are consumed independently,
        so a checkpoint can arrive before its events; stored first, a reader (verify, a witness)
        would see a signed seq beyond the stored chain and call the log truncated."""
        needed: dict[str, int] = {}
        for row in checkpoint_rows:
            tenant, last_seq = row[CHECKPOINT_COLUMNS.index("tenant_id")], row[CHECKPOINT_COLUMNS.index("last_seq")]
            needed[tenant] = max(needed.get(tenant, 0), last_seq)
        stored = dict(self.store.query(
            f"SELECT tenant_id, max(seq) FROM {self.store.database}.events WHERE tenant_id IN {{t:Array(String)}} "
            "GROUP BY tenant_id", parameters={"t": list(needed)}).result_rows)
        return all(stored.get(tenant, 0) >= seq for tenant, seq in needed.items())

    def _load(self, topic: str, batches: dict[int, _Batch], rows: list[list[Any]] | None = None) -> None:
        """One load of these partitions' batches of `topic` (rows: theirs, when already built)."""
        started = time.perf_counter()
        target = self._targets[topic]
        token = ",".join(f"{topic}:{p}:{b.first}-{b.last}" for p, b in sorted(batches.items()))
        self._commit([TopicPartition(topic, p, b.first, f"{PENDING}{b.last}") for p, b in batches.items()])
        if not (topic == self.config.topics.chained and self._load_avro(batches, token)):
            rows = rows or [row for p, b in batches.items() for row in self._rows(topic, p, b)]
            if topic == self.config.topics.chained:
                rows = self._new_rows(rows)
            if rows:
                self.store.insert(target.table, rows, target.columns, dedup_token=token, settings=INSERT_SETTINGS)
        self._commit([TopicPartition(topic, p, b.last + 1) for p, b in batches.items()])
        self.metrics.batch_seconds.observe(time.perf_counter() - started)
        self.rows_loaded += sum(len(b.offsets) for b in batches.values())
        self.batches_loaded += len(batches)
        self.loads += 1

    def _commit(self, offsets: list[TopicPartition]) -> None:
        """Commits through a broker outage; a group that moved on without this member is _LeftBehind."""
        started = time.perf_counter()
        try:
            self._outage.call("committing offsets",
                              lambda: self._consumer.commit(offsets=offsets, asynchronous=False))
            self.metrics.commit_seconds.observe(time.perf_counter() - started)
        except KafkaException as exc:
            if left_behind(exc.args[0]):
                raise _LeftBehind(str(exc.args[0])) from exc
            raise SinkStopped(f"offset commit failed: {exc.args[0]}") from exc

    def _new_rows(self, rows: list[list[Any]]) -> list[list[Any]]:
        """The rows whose (tenant, seq) is not stored yet. A stored (tenant, seq) is never replaced by a row with
        another hash (ReplacingMergeTree would): two different links for one seq are a fork, and the sink stops
        to report it; one with the same hash is a redelivery, not stored twice (the aggregates would count it)."""
        tenant_at, seq_at, hash_at = (INSERT_COLUMNS.index(c) for c in ("tenant_id", "seq", "hash"))
        incoming = {(r[tenant_at], r[seq_at]): bytes(r[hash_at]) for r in rows}
        ranges: dict[str, tuple[int, int]] = {}
        for tenant, seq in incoming:
            low, high = ranges.get(tenant, (seq, seq))
            ranges[tenant] = (min(low, seq), max(high, seq))
        if not ranges:
            return rows
        # one primary-key range per tenant (a batch's seqs of a tenant are contiguous), as literals: typed
        # array-of-tuple parameters do not survive every client path to the embedded engine
        where = " OR ".join(f"(tenant_id = {_literal(t)} AND seq BETWEEN {lo} AND {hi})"
                            for t, (lo, hi) in ranges.items())
        stored = self.store.query(f"SELECT tenant_id, seq, hash FROM {self.store.database}.events WHERE {where}"
                                  ).result_rows
        forked = [(t, s) for t, s, h in stored if (t, s) in incoming and bytes(h) != incoming[t, s]]
        if forked:
            raise SinkStopped(_fork_message(forked))
        present = {(t, s) for t, s, _ in stored}
        return [r for r in rows if (r[tenant_at], r[seq_at]) not in present]

    def _load_avro(self, batches: dict[int, _Batch], token: str) -> bool:
        """ClickHouse reads the batches itself (avro_load.py: a Native block where the compiled codec is built,
        else the Avro), on the embedded engine, when every message is written with the current ChainedEvent
        schema. False: load the Python way (which also names a message that is no datum, and stops there)."""
        if not (self.config.avro_passthrough and self.store.embedded):
            return False
        header = self._avro.header
        if any(value[:HEADER_SIZE] != header for batch in batches.values() for value in batch.values):
            return False  # an older writer version: fastavro resolves it
        load = self._avro.load
        try:
            staging = load.staging([(p, b.offsets, b.values) for p, b in batches.items()], HEADER_SIZE)
        except ValueError as exc:
            log.warning("staging the batch failed (%s); decoding it in Python", exc)
            return False
        retention, params = self.config.retention.sql("compliance_tags")
        hold, hold_params = holds_condition(self._holds)
        suffix = f".{staging.layout.file_format.lower()}"
        with tempfile.NamedTemporaryFile(prefix="audit-layer-batch-", suffix=suffix) as f:
            f.writelines(staging.pieces)
            f.flush()
            layout = staging.layout
            stage = f"{self.store.database}.{layout.table}"
            try:
                for statement in load.stage_statements(layout, stage, [f.name]):
                    self.store.command(statement)
                events = f"{self.store.database}.events"
                stored = self.store.query(load.stored(layout, stage).replace("{table}", events))
                forked = [(tenant, seq) for tenant, seq, fork in stored.result_rows if fork]
                if forked:
                    raise SinkStopped(_fork_message(forked))
                # a batch none of whose rows is stored yet (all but a redelivery) needs no stored-row filter
                sql = load.statement(layout, stage, retention, f"if({hold}, 1, 0)",
                                     skip_stored=bool(stored.result_rows))
                self.store.command_with(
                    sql.replace("{table}", events),
                    {**params, **hold_params},
                    settings={**INSERT_SETTINGS, "insert_deduplication_token": token,
                              # one block per insert, so the token dedups the whole batch on a retry
                              "min_insert_block_size_rows": 100_000_000, "min_insert_block_size_bytes": 1 << 34})
            except DatabaseError as exc:
                # the engine's own Avro reader refused a datum, naming none, or read a datum cut short on into
                # the next one's bytes and a conversion refused what it read (a UUID, a date): the Python decode
                # is the reference, and it stops at the message it cannot read
                log.warning("the engine refused the staged batch (%s); decoding it in Python", exc)
                return False
            finally:
                self.store.command(f"TRUNCATE TABLE IF EXISTS {stage}")  # no content left beside the events table
        return True

    # -- assignment -------------------------------------------------------------------------

    def _on_assign(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        if not partitions:
            return
        # pending event ranges first, so a recovered checkpoint never lands before its events
        committed = sorted(consumer.committed(partitions, timeout=60),
                           key=lambda tp: tp.topic != self.config.topics.chained)
        for tp in committed:
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
                    batch.offsets.append(offset)
                    batch.values.append(msg.value() or b"")
                    batch.last = offset
                    if offset == last:
                        done = True
                        break
        finally:
            reader.close()
        if batch is None or batch.first != first or batch.last != last:
            raise SinkStopped(f"pending range {topic}:{partition}:{first}-{last} could not be re-formed")
        self._load(topic, {partition: batch})
