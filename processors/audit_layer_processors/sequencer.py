"""The sequencer worker: audit.events.enriched (or audit.events, enriching) -> per-tenant hash chain ->
audit.events.chained.

Exactly-once with Kafka transactions (the stage, produce, commit, then-apply checkpoint):
consume a batch, link it on a copy of the heads, produce the chained events, the checkpoints that
fell due and the heads of their tenants in one transaction together with the consumed offsets,
commit, and only then apply the new heads to local state. On assignment, after any pending
transaction on the partition has resolved, heads are read from the compacted audit.chain-heads
topic and the chained tail is replayed over them (head_restore.py). An error after sequencing
stops the worker: a dropped event would be an audit gap.

With `enrich` set (`audit-layer sequencer --enrich`) the sequencer reads audit.events itself and runs
the enricher's step (enrich_step.py) inside the same transaction: one Kafka crossing, one decode and
one process fewer per event, and no enricher to run. Bad input goes to audit.dlq in the transaction,
with the enricher's reasons and limit. An event that arrived on a partition other than its tenant's
(a producer that does not key by tenant with Kafka's partitioner) is moved to its tenant's partition
of audit.events, in the transaction too, and chained when it is read there: one chain per tenant.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from audit_layer_schemas import (
    CHAIN_HEAD,
    CHAINED_EVENT,
    CHECKPOINT,
    ENRICHED_EVENT,
    AvroCodec,
    DecodeError,
    Topics,
)
from audit_layer_schemas.chain import LinkEncoder
from audit_layer_schemas.kafka_clients import consumer_settings, partition_count, producer_settings, reader_settings
from audit_layer_schemas.partition import partition_for
from confluent_kafka import (
    Consumer,
    KafkaError,
    KafkaException,
    Message,
    Producer,
    TopicPartition,
)

from audit_layer_processors.chain_state import (
    ChainBatch,
    CheckpointPolicy,
    DedupPolicy,
    Head,
    Signer,
    latest_heads,
)
from audit_layer_processors.chained_writer import ChainedWriter
from audit_layer_processors.dlq import DeadLetter, DlqLimiter, DlqLimitExceeded, DlqPolicy
from audit_layer_processors.enrich_step import EnrichStep, Outgoing
from audit_layer_processors.head_restore import ChainedLink, Restored, Seen, restore_heads
from audit_layer_processors.outage import (
    CallAbandoned,
    OutagePolicy,
    OutageWait,
    RateLimitedLog,
    is_outage,
    left_behind,
    within,
)
from audit_layer_processors.policy import Policy
from audit_layer_processors.worker_metrics import MetricsServer, WorkerMetrics

log = logging.getLogger("audit_layer.sequencer")


@dataclass(frozen=True)
class SequencerConfig:
    bootstrap_servers: str
    topics: Topics
    group_id: str = "audit-sequencer"
    instance_id: str = "0"
    # a transaction's fixed cost (its offsets, its commit, the broker's markers) over more events: 6,000 made the
    # pipeline 6-87 % faster than 2,000 in four alternated pairs (BENCHMARKS.md, tenth stop); at ~60-90 µs an
    # event a full batch is well inside the transaction timeout
    batch_max_messages: int = 6000
    poll_timeout: float = 0.05  # the most a message waits for its batch to fill: latency at low rates
    # a takeover waits at most this long for a crashed owner's open transaction
    transaction_timeout_ms: int = 10_000
    outage: OutagePolicy = field(default_factory=OutagePolicy)
    dedup: DedupPolicy = field(default_factory=DedupPolicy)
    checkpoints: CheckpointPolicy = field(default_factory=CheckpointPolicy)
    dlq: DlqPolicy = field(default_factory=DlqPolicy)
    # on assignment the last this-many chained events of a partition are replayed over its heads (further
    # back when a tenant's links since its head start earlier), and the newest this-many checkpoints read;
    # the replayed event ids are the duplicate window after a restart
    restore_check_window: int = 10_000
    metrics_port: int | None = None  # /metrics and /healthz (worker_metrics.py); None: none
    # the enrichment policy when the sequencer enriches (reads audit.events, no enricher); None: it reads
    # audit.events.enriched, written by an enricher
    enrich: Policy | None = None

    @property
    def source(self) -> str:
        return self.topics.events if self.enrich is not None else self.topics.enriched


class SequencerStopped(RuntimeError):
    """A fatal error after sequencing: the worker stops rather than leave a gap."""


class Sequencer:
    def __init__(self, config: SequencerConfig, signer: Signer) -> None:
        self.config = config
        self._signer = signer
        self._checkpoint_codec = AvroCodec(CHECKPOINT)
        self._enriched = AvroCodec(ENRICHED_EVENT)
        self._head_codec = AvroCodec(CHAIN_HEAD)
        self._chained_codec = AvroCodec(CHAINED_EVENT)
        self._encoder = LinkEncoder()
        self._chained = ChainedWriter(self._encoder.schema_hex)
        self._limiter = DlqLimiter(config.dlq)
        self._heads: dict[str, Head] = {}
        self._tenant_partition: dict[str, int] = {}
        self._unsigned: set[str] = set()  # tenants with links after their last checkpoint
        self._partitions = 0  # of the topic read, at start
        self._stop = threading.Event()
        self._step: EnrichStep | None = None  # made at start, when the partition count is known
        self.counts = {"chained": 0, "duplicates": 0, "dead_lettered": 0, "transactions": 0, "checkpoints": 0,
                       "rerouted": 0, "producers_replaced": 0}
        client_id = f"{config.group_id}-{config.instance_id}"
        self._read = 0
        self._dead_reasons: dict[str, int] = {}
        self.metrics = WorkerMetrics("sequencer", lambda: dict(self.counts))
        self.metrics.events = lambda: (self._read, self.counts["chained"])
        self.metrics.dead_letters = self._dead_letter_reasons
        self.metrics.checkpoint_times_us = lambda: {t: float(h.last_checkpoint_at_us) for t, h in self._heads_copy()}
        self.metrics.unsigned_links = lambda: {t: float(h.seq - h.last_checkpoint_seq) for t, h in self._heads_copy()}
        self._consumer = Consumer({**consumer_settings(config.bootstrap_servers, config.group_id, client_id),
                                   "isolation.level": "read_committed",
                                   **(self.metrics.consumer_settings() if config.metrics_port is not None else {})})
        self._producer = self._new_producer()
        # producers left behind with a call hung inside: destroying one would wait for that call
        self._abandoned: list[Producer] = []
        self._outage = OutageWait(config.outage, log, self._stop, bootstrap_servers=config.bootstrap_servers)
        self._problems = RateLimitedLog(log)

    def _producer_settings(self) -> dict[str, Any]:
        # one transactional.id per instance, kept by a replacement producer so that it fences the one it replaces
        return {**producer_settings(self.config.bootstrap_servers),
                "transactional.id": f"{self.config.group_id}-{self.config.instance_id}",
                "transaction.timeout.ms": self.config.transaction_timeout_ms}

    def _new_producer(self) -> Producer:
        return Producer(self._producer_settings())

    def stop(self) -> None:
        self._stop.set()

    def run(self) -> None:
        topics = self.config.topics
        source = self.config.source
        # a broker away at start-up is waited out as at any other time (a supervisor need not restart us)
        self._partitions = self._outage.call("finding the topics", lambda: partition_count(self._consumer, source))
        if self.config.enrich is not None:
            self._step = EnrichStep(topics, self.config.enrich, self._partitions, self.config.dlq)
        self._outage.call("initialising transactions", lambda: self._producer.init_transactions(60))
        self._consumer.subscribe([source], on_assign=self._on_assign,
                                 on_revoke=self._on_revoke, on_lost=self._on_revoke)
        self.metrics.topics_found()
        log.info("sequencer %s consuming %s%s", self.config.instance_id, source,
                 f", enriching with policy {self.config.enrich.version}" if self.config.enrich else "")
        server = MetricsServer(self.metrics, self.config.metrics_port).start() \
            if self.config.metrics_port is not None else None
        last_report = time.monotonic()
        try:
            while not self._stop.is_set():
                self.metrics.turned()
                messages = self._consumer.consume(self.config.batch_max_messages, self.config.poll_timeout)
                if messages:
                    started = time.perf_counter()
                    self._process(messages)
                    self._read += len(messages)
                    self.metrics.batch_seconds.observe(time.perf_counter() - started)
                else:
                    self._checkpoint_idle_tenants()
                if time.monotonic() - last_report > 10:
                    last_report = time.monotonic()
                    log.info("chained %(chained)d, duplicates dropped %(duplicates)d, "
                             "dead-lettered %(dead_lettered)d, rerouted %(rerouted)d, "
                             "transactions %(transactions)d", self.counts)
        finally:
            self._consumer.close()
            self._producer.flush(10)
            if server is not None:
                server.stop()
            log.info("stopped: chained %(chained)d, duplicates dropped %(duplicates)d, "
                     "dead-lettered %(dead_lettered)d, rerouted %(rerouted)d, "
                     "transactions %(transactions)d", self.counts)

    # -- assignment -------------------------------------------------------------------------

    def _on_assign(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        numbers = [p.partition for p in partitions]
        if not numbers:
            return
        started = time.monotonic()
        # a broker that goes away mid-restore: the restore starts again once it is back
        results = self._outage.call("restoring chain heads", lambda: self._restore(consumer, partitions))
        problems: list[str] = []
        for partition, restored in results.items():
            problems += restored.problems
            for tenant in restored.heads:
                self._tenant_partition[tenant] = partition
            self._apply(restored.heads)
        heads = {p: r.heads for p, r in results.items()}
        if problems:
            raise SequencerStopped("restored chain heads disagree with the log; not resuming (fix or restore "
                                   "audit.chain-heads, then restart):\n  " + "\n  ".join(problems))
        log.info("assigned partitions %s; restored %d tenant heads in %.1f s", numbers,
                 sum(len(h) for h in heads.values()), time.monotonic() - started)

    def _restore(self, consumer: Consumer, partitions: list[TopicPartition]) -> dict[int, Restored]:
        numbers = [p.partition for p in partitions]
        # read_committed offset fetches wait for pending transactional offset commits, so a
        # crashed or fenced previous owner's transaction is resolved before heads are read
        consumer.committed(partitions, timeout=60)
        heads = self._read_heads(numbers)
        signed = self._newest_checkpoints(numbers)
        return {partition: self._replay(partition, heads.get(partition, {}), signed.get(partition, {}),
                                        time.time_ns() // 1000) for partition in numbers}

    def _on_revoke(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        gone = {p.partition for p in partitions}
        for tenant in [t for t, p in self._tenant_partition.items() if p in gone]:
            self._heads.pop(tenant, None)
            self._tenant_partition.pop(tenant, None)
            self._unsigned.discard(tenant)
        log.info("revoked partitions %s", sorted(gone))

    def _read_to_end(self, topic: str, start: Callable[[int, int], int], partitions: list[int]) -> Iterator[Message]:
        """The committed messages (not tombstones) of these partitions of `topic`, each from the offset `start`
        gives for its (low, high) watermarks to its end. A partition with nothing from there is not read at all:
        an empty read waits out a fetch for its end-of-partition, and a restore makes several per partition."""
        reader = Consumer(reader_settings(self.config.bootstrap_servers, f"{self.config.group_id}-restore",
                                          **{"enable.partition.eof": True, "fetch.wait.max.ms": 10}))
        try:
            starts: dict[int, int] = {}
            for partition in partitions:
                low, high = reader.get_watermark_offsets(TopicPartition(topic, partition), timeout=30)
                if (offset := start(low, high)) < high:
                    starts[partition] = offset
            reader.assign([TopicPartition(topic, p, o) for p, o in starts.items()])
            pending, deadline = set(starts), time.monotonic() + 120
            while pending:
                if time.monotonic() > deadline:  # a broker away: the restore is retried while the outage lasts
                    raise KafkaException(KafkaError(KafkaError._TIMED_OUT, f"could not read {topic} partitions "
                                                    f"{sorted(pending)} to the end within 120 s"))
                for msg in reader.consume(500, 1.0):
                    err = msg.error()
                    if err is not None:
                        if err.code() == KafkaError._PARTITION_EOF:
                            pending.discard(msg.partition())
                            continue
                        if is_outage(err):
                            raise KafkaException(err)  # the restore is retried once Kafka is back
                        raise SequencerStopped(f"reading {topic}: {err}")
                    if msg.value() is not None:
                        yield msg
        finally:
            reader.close()

    @staticmethod
    def _tail(depth: int) -> Callable[[int, int], int]:
        return lambda low, high: max(low, high - depth)

    def _read_heads(self, partitions: list[int]) -> dict[int, dict[str, Head]]:
        """The newest head of each tenant in audit.chain-heads, by partition."""
        found: dict[int, list[tuple[str, Head]]] = {p: [] for p in partitions}
        for msg in self._read_to_end(self.config.topics.chain_heads, lambda low, _high: low, partitions):
            head = self._head_codec.decode(msg.value())  # type: ignore[arg-type]
            found[msg.partition() or 0].append((head["tenant_id"], Head(
                head["seq"], head["hash"], tuple(head["recent_event_ids"]), tuple(head["frontier"]),
                head["last_checkpoint_seq"], head["last_checkpoint_at_us"])))
        return {p: latest_heads(heads) for p, heads in found.items()}

    def _newest_checkpoints(self, partitions: list[int]) -> dict[int, dict[str, Seen]]:
        """Each tenant's newest signed (seq, head hash) in the last `restore_check_window` checkpoints of its
        partition."""
        topic = self.config.topics.checkpoints
        newest: dict[int, dict[str, Seen]] = {p: {} for p in partitions}
        for msg in self._read_to_end(topic, self._tail(self.config.restore_check_window), partitions):
            record = self._checkpoint_codec.decode(msg.value())  # type: ignore[arg-type]
            seen, by_tenant = Seen(record["last_seq"], record["head_hash"]), newest[msg.partition() or 0]
            current = by_tenant.get(record["tenant_id"])
            if current is None or current.seq < seen.seq:
                by_tenant[record["tenant_id"]] = seen
        return newest

    def _replay(self, partition: int, heads: dict[str, Head], signed: dict[str, Seen], now_us: int) -> Restored:
        """The partition's heads advanced over its chained tail, read further back while a tenant's links
        since its head begin before the tail."""
        topic, depth = self.config.topics.chained, self.config.restore_check_window
        while True:
            links = self._read_to_end(topic, self._tail(depth), [partition])
            restored = restore_heads(heads, (self._link(msg) for msg in links), signed, self.config.dedup, now_us)
            if not restored.gaps:
                return restored
            reader = Consumer(reader_settings(self.config.bootstrap_servers, f"{self.config.group_id}-restore"))
            try:
                low, high = reader.get_watermark_offsets(TopicPartition(topic, partition), timeout=30)
            finally:
                reader.close()
            if high - depth <= low:
                gaps = ", ".join(restored.gaps)
                lost = (f"tenants {gaps}: chained events since their heads begin above head + 1 and the topic "
                        "holds nothing older (links lost, or a rolled-back head)")
                return Restored(restored.heads, [*restored.problems, lost])
            depth *= 4
            log.info("partition %d: tenants %s have links before the last %d chained events; reading further",
                     partition, ", ".join(restored.gaps[:5]), depth // 4)

    def _link(self, msg: Message) -> ChainedLink:
        record = self._chained_codec.decode(msg.value())  # type: ignore[arg-type]
        event = record["event"]["event"]
        return ChainedLink(event["tenant_id"], record["seq"], record["prev_hash"], record["hash"],
                           event["event_id"])

    # -- one transaction --------------------------------------------------------------------

    def _process(self, messages: list[Message]) -> None:
        topics = self.config.topics
        batch = self._batch()
        next_offsets: dict[int, int] = {}
        # where each partition of the batch starts, all of them before any is processed: a transaction that fails
        # at its first message must rewind the partitions it had not reached too, or their messages are never
        # chained (the consumer has read past them; the broker drill lost 1,444 events so)
        first_offsets: dict[int, int] = {}
        for msg in messages:
            if msg.error() is None:
                first_offsets.setdefault(msg.partition() or 0, msg.offset() or 0)
        linked_tenants: set[str] = set()
        outcomes = {"dead": 0, "rerouted": 0}
        linked = 0
        self._producer.begin_transaction()
        try:
            for msg in messages:
                err = msg.error()
                if err is not None:
                    if err.fatal():
                        raise SequencerStopped(f"consumer error: {err}")
                    self._problems.warning(f"consumer-{err.code()}", f"consumer: {err}")
                    continue
                partition, offset = msg.partition() or 0, msg.offset() or 0
                next_offsets[partition] = offset + 1
                found = self._enriched_of(msg, partition) if self._step is None else self._enrich(msg, partition)
                if isinstance(found, str):
                    outcomes[found] += 1
                    continue
                enriched, value, link_body = found
                link = batch.link(enriched, link_body)
                if link is None:
                    continue
                linked_tenants.add(link.tenant_id)
                self._tenant_partition[link.tenant_id] = partition
                linked += 1
                self._producer.produce(topics.chained, key=msg.key(),
                                       value=self._chained.write(value, enriched, link), partition=partition)
            # tenants not in this batch too: under steady load of others, their checkpoints (and heads) are
            # still due every `every_seconds`, which bounds how far back a restore replays
            batch.checkpoint_due_by_time(linked_tenants | self._unsigned)
            staged = batch.staged()
            self._produce_heads_and_checkpoints(batch, staged)
            offsets = [TopicPartition(self.config.source, p, o) for p, o in next_offsets.items()]
            group = self._consumer.consumer_group_metadata()
            deadline, what = self.config.outage.offsets_deadline_s, "adding offsets to the transaction"
            self._outage.call(what, lambda: within(
                deadline, what, lambda: self._producer.send_offsets_to_transaction(offsets, group, 30)))
            self._commit()
        except KafkaException as exc:
            self._abort_or_stop(exc.args[0])
            self._rewind(first_offsets)
            return
        except CallAbandoned as exc:
            self._replace_producer(exc)
            self._rewind(first_offsets)
            return
        # committed: now, and only now, the new heads become the local state
        self._apply(staged)
        self.counts["chained"] += linked
        self.counts["duplicates"] += batch.duplicates
        self.counts["checkpoints"] += len(batch.checkpoints)
        self.counts["dead_lettered"] += outcomes["dead"]
        self.counts["rerouted"] += outcomes["rerouted"]
        self.counts["transactions"] += 1

    def _enriched_of(self, msg: Message, partition: int) -> tuple[dict[str, Any], bytes, bytes | None] | str:
        """An enricher's output: its record and bytes, or "dead" when it was dead-lettered."""
        value: bytes = msg.value()  # type: ignore[assignment]
        try:
            enriched = self._enriched.decode(value)
        except DecodeError as exc:
            self._dead_letter(msg, exc.reason, str(exc))
            return "dead"
        tenant = enriched["event"]["tenant_id"]
        home = partition_for(tenant.encode("utf-8"), self._partitions)
        if home != partition:  # another sequencer may own the tenant: chaining it here would fork it
            self._dead_letter(msg, "wrong_partition", f"tenant {tenant} belongs on partition {home}, not {partition}")
            return "dead"
        return enriched, value, None

    def _enrich(self, msg: Message, partition: int) -> tuple[dict[str, Any], bytes, bytes | None] | str:
        """A raw event enriched here: its record, bytes and link body; "dead" when it was dead-lettered,
        "rerouted" when it was sent on to its tenant's partition (both in this transaction)."""
        assert self._step is not None
        done = self._step.process(msg.key(), msg.value(), msg.topic() or "", partition, msg.offset() or 0)
        if isinstance(done, Outgoing):
            self._producer.produce(done.topic, key=done.key, value=done.value, partition=done.partition,
                                   headers=done.headers)
            return "dead"
        if done.partition != partition:
            self._producer.produce(self.config.topics.events, key=done.key, value=msg.value(),
                                   partition=done.partition, headers=msg.headers())
            return "rerouted"
        return done.record, done.value, done.link_body

    def _dead_letter_reasons(self) -> dict[str, int]:
        reasons = dict(self._dead_reasons)
        for reason, n in (self._step.counts.reasons if self._step is not None else {}).items():
            reasons[reason] = reasons.get(reason, 0) + n
        return reasons

    def _batch(self) -> ChainBatch:
        return ChainBatch(self._heads, self._encoder, self.config.dedup, self.config.checkpoints,
                          self._signer, time.time_ns() // 1000)

    def _apply(self, staged: dict[str, Head]) -> None:
        for tenant, head in staged.items():
            self._heads[tenant] = head
            if head.seq > head.last_checkpoint_seq:
                self._unsigned.add(tenant)
            else:
                self._unsigned.discard(tenant)

    def _produce_heads_and_checkpoints(self, batch: ChainBatch, staged: dict[str, Head]) -> None:
        """Checkpoints go in the same transaction as the events they cover, and with each the tenant's head as
        the batch leaves it: heads are written only with checkpoints (a restore replays the links since)."""
        topics = self.config.topics
        now_us = time.time_ns() // 1000
        signed: dict[str, int] = {}
        for record in batch.checkpoints:
            tenant = record["tenant_id"]
            signed[tenant] = partition = self._tenant_partition[tenant]
            self._producer.produce(topics.checkpoints, key=tenant.encode("utf-8"),
                                   value=self._checkpoint_codec.encode(record), partition=partition)
        for tenant, partition in signed.items():
            head = staged[tenant]
            value = self._head_codec.encode({
                "tenant_id": tenant, "seq": head.seq, "hash": head.hash, "recent_event_ids": [],
                "updated_at_us": now_us, "frontier": list(head.frontier),
                "last_checkpoint_seq": head.last_checkpoint_seq, "last_checkpoint_at_us": head.last_checkpoint_at_us,
            })
            self._producer.produce(topics.chain_heads, key=tenant.encode("utf-8"), value=value,
                                   partition=partition)

    def _checkpoint_idle_tenants(self) -> None:
        """A transaction of checkpoints alone, for tenants whose last checkpoint is older than T."""
        if not self._unsigned:
            return
        batch = self._batch()
        batch.checkpoint_due_by_time(self._unsigned)
        if not batch.checkpoints:
            return
        staged = batch.staged()
        self._producer.begin_transaction()
        try:
            self._produce_heads_and_checkpoints(batch, staged)
            self._commit()
        except KafkaException as exc:
            self._abort_or_stop(exc.args[0])
            return
        self._apply(staged)
        self.counts["checkpoints"] += len(batch.checkpoints)

    def _commit(self) -> None:
        started = time.perf_counter()
        self._outage.call("committing the transaction", lambda: self._producer.commit_transaction(30))
        self.metrics.commit_seconds.observe(time.perf_counter() - started)

    def _heads_copy(self) -> list[tuple[str, Head]]:
        """Read by the metrics thread: a copy, taken again if a batch changed the heads meanwhile."""
        for _ in range(5):
            try:
                return list(self._heads.items())
            except RuntimeError:
                continue
        return []

    def _abort_or_stop(self, error: KafkaError) -> None:
        """A transaction that cannot commit: aborted when Kafka allows it (a timed-out transaction, a group
        that moved on), so the batch is chained again; otherwise (fenced, fatal, an outage longer than the
        policy's limit) the sequencer stops."""
        if error.fatal() or not (error.txn_requires_abort() or left_behind(error)):
            raise SequencerStopped(f"Kafka transaction failed: {error}")
        log.warning("transaction aborted (%s); re-processing the batch", error)
        try:
            self._outage.call("aborting the transaction", lambda: self._producer.abort_transaction(30))
        except KafkaException as exc:
            raise SequencerStopped(f"Kafka transaction could not be aborted: {exc.args[0]}") from exc

    def _replace_producer(self, stuck: CallAbandoned) -> None:
        """Around librdkafka's send_offsets_to_transaction hang (confluentinc/librdkafka#5456, #5511): a new
        producer with the same transactional.id fences the hung one, and the broker aborts its open transaction,
        so the batch is chained again, as after an abort. Only before the commit: a hung commit may have
        committed, and there the stuck-call guard's exit (a restart that restores the heads) is the way out."""
        log.warning("%s; replacing the producer: the new one fences it, its transaction is aborted and the batch "
                    "is processed again", stuck)
        self._abandoned.append(self._producer)
        self._producer = self._new_producer()
        self._outage.call("initialising transactions", lambda: self._producer.init_transactions(60))
        self.counts["producers_replaced"] += 1

    def _rewind(self, first_offsets: dict[int, int]) -> None:
        topic = self.config.source
        for partition, offset in first_offsets.items():
            try:
                self._consumer.seek(TopicPartition(topic, partition, offset))
            except KafkaException as exc:  # no longer ours: its next owner resumes from the committed offset
                log.info("partition %d not rewound (%s)", partition, exc.args[0])

    def _dead_letter(self, msg: Message, reason: str, detail: str) -> None:
        letter = DeadLetter(reason, detail, msg.topic() or "", msg.partition() or 0, msg.offset() or 0)
        self._dead_reasons[reason] = self._dead_reasons.get(reason, 0) + 1
        log.warning("dead-lettered %s: %s", letter.headers()[2][1].decode(), detail)
        headers: list[tuple[str, str | bytes | None]] = list(letter.headers())
        self._producer.produce(self.config.topics.dlq, key=msg.key(), value=msg.value(),
                               partition=msg.partition() or 0, headers=headers)
        self._limiter.record()


def run(config: SequencerConfig, signer: Signer) -> int:
    sequencer = Sequencer(config, signer)
    import signal

    def _stop(*_: Any) -> None:
        sequencer.stop()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    try:
        sequencer.run()
    except DlqLimitExceeded as exc:  # the open transaction is aborted when the next owner starts
        log.critical("%s", exc)
        return 2
    return 0
