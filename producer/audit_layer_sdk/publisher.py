"""Publishes audit events to Kafka without ever raising into, or blocking, the application.

confluent-kafka's produce() only enqueues; a background thread serves delivery reports.
Settings follow ARCHITECTURE.md: idempotent, acks=all, murmur2_random (a tenant lands on the
same partition number as with the Java client), compression, a bounded queue.

While Kafka is unreachable (or the in-memory queue is full, or a delivery times out), events go
to a bounded, fsync'd disk spool (spool.py) and are replayed in order when the broker answers
again, also after the application restarts. While the spool holds anything, new events join it
behind the older ones, so the order is kept. Spool writes and replays run in a background
thread; the caller only enqueues. An event is lost only if the process dies in the milliseconds
between the call and the spool's fsync, or when the spool is full (counted as dropped).

Building an event (validation, digests, Avro) costs more than the caller should pay, so the
wrappers `submit()` what they captured and a builder thread finishes the work, in order, in
short slices that hand the GIL back to the application in between. When the builder falls
BUILD_QUEUE_MAX behind, the caller builds inline: slower calls, never unbounded memory.
"""

from __future__ import annotations

import os
import queue
import threading
import time
from collections import deque
from pathlib import Path
from typing import Any, Protocol

from audit_layer_schemas import AUDIT_EVENT, AuditEvent, AvroCodec
from audit_layer_schemas.kafka_clients import client_settings
from confluent_kafka import KafkaError, Message, Producer

from audit_layer_sdk import lifecycle
from audit_layer_sdk._log import KafkaLogBridge, log, logger
from audit_layer_sdk.config import AuditConfig, configured
from audit_layer_sdk.spool import DiskSpool, SpoolLimits
from audit_layer_sdk.spool_owner import SpoolOwnership, destination_folder
from audit_layer_sdk.stats import PublisherStats, StatsSnapshot

SPOOL_QUEUE_MAX = 100_000
REPLAY_PROBE_SECONDS = 1.0
BUILD_QUEUE_MAX = 10_000
# how long the builder holds the GIL before yielding to the application's threads
BUILD_SLICE_SECONDS = 0.0002


class Buildable(Protocol):
    """What the caller captured; `build()` makes the event (or None, already logged) off its thread."""

    def build(self) -> AuditEvent | None: ...


_STOP = object()


def producer_settings(config: AuditConfig) -> dict[str, Any]:
    # the deployment's AUDIT_LAYER_KAFKA_* security settings, under what the config sets explicitly
    settings: dict[str, Any] = {
        **client_settings(config.kafka_bootstrap),
        "client.id": "audit-layer-sdk",
        "enable.idempotence": True,
        "acks": "all",
        "partitioner": "murmur2_random",
        "compression.type": config.compression,
        "linger.ms": config.linger_ms,
        "queue.buffering.max.messages": config.queue_max_messages,
        "message.max.bytes": 4 * 1024 * 1024,
        # an undeliverable event moves to the disk spool after this long instead of waiting in memory
        "message.timeout.ms": 15_000,
    }
    settings.update(config.kafka_overrides)
    return settings


class AuditPublisher:
    def __init__(self, config: AuditConfig | None = None) -> None:
        self.config = config or configured()
        self._codec = AvroCodec(AUDIT_EVENT)
        self._ownership: SpoolOwnership | None = None
        self._start()
        lifecycle.register(self)

    def _start(self) -> None:
        """Everything a process must own alone: the Kafka client, the threads, the locks, the spool folder.
        Run again in a forked child, which starts afresh (what the parent queued, the parent delivers)."""
        self._pid = os.getpid()
        self._build_lock = threading.RLock()
        self.stats = PublisherStats()
        self._producer = Producer({**producer_settings(self.config), "error_cb": self._on_error,
                                   "logger": KafkaLogBridge()})
        self._closed = threading.Event()
        self._broker_down = threading.Event()
        self._purge_requested = threading.Event()
        self._spool: DiskSpool | None = None
        if self.config.spool_dir:
            destination = destination_folder(Path(self.config.spool_dir), "kafka", self.config.kafka_bootstrap,
                                              self.config.topic)
            self._ownership = SpoolOwnership(destination)
            self._spool = DiskSpool(self._ownership.folder, self._spool_limits())
            self._ownership.adopt_spools(self._spool_limits())  # counted by flush() from the start
        self._builds: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._queued = 0  # written under _queue_lock by callers
        self._queue_lock = threading.Lock()
        self._built = 0  # written by the builder thread only
        self._builder = threading.Thread(target=self._build_loop, name="audit-layer-builder", daemon=True)
        self._builder.start()
        self._to_spool: deque[tuple[bytes, bytes]] = deque()
        # held while events move from `_to_spool` to disk, so that they are always counted in one of them
        self._drain_lock = threading.Lock()
        self._spool_wakeup = threading.Condition()
        self._poller = threading.Thread(target=self._poll_loop, name="audit-layer-poller", daemon=True)
        self._poller.start()
        self._spooler: threading.Thread | None = None
        if self._spool is not None:
            # two threads: the writer only moves events to disk (a probe of a dead broker never delays
            # the fsync), the replayer probes the broker and replays
            self._spooler = threading.Thread(target=self._spool_loop, name="audit-layer-spool", daemon=True)
            self._spooler.start()
            threading.Thread(target=self._replay_loop, name="audit-layer-replay", daemon=True).start()

    def _spool_limits(self) -> SpoolLimits:
        return SpoolLimits(self.config.spool_max_records, self.config.spool_max_bytes)

    def _after_fork_in_child(self) -> None:
        # librdkafka's threads did not survive the fork and its client must not be destroyed here (that
        # waits for them): it is kept, unused, for the child's life
        lifecycle.abandoned_at_fork.append(self._producer)
        if self._ownership is not None:
            self._ownership.forget_after_fork()
        self._start()

    # -- the caller's path: enqueue, nothing else -------------------------------------------

    def submit(self, item: Buildable) -> bool:
        """Queue a captured call; the builder thread makes and publishes its event."""
        self.stats.add("emitted")
        if self._closed.is_set() or self._builds.qsize() >= BUILD_QUEUE_MAX or not self._builder.is_alive():
            return self._build_and_publish(item)
        with self._queue_lock:
            self._queued += 1
            self._builds.put(item)
        return True

    def _build_and_publish(self, item: Buildable) -> bool:
        with self._build_lock:
            try:
                event = item.build()
            except Exception as exc:  # a bug in building must cost one event, not the builder thread
                log.warning("build", "audit event not built: %s", exc)
                event = None
            if event is None:
                self.stats.add("errors")
                return False
            return self._send(event)

    def publish(self, event: AuditEvent) -> bool:
        """Enqueue one event; False (counted and logged) when it could be neither sent nor spooled."""
        self.stats.add("emitted")
        with self._build_lock:
            return self._send(event)

    def _send(self, event: AuditEvent) -> bool:
        if self._closed.is_set():
            self.stats.add("dropped")
            log.warning("closed", "audit publisher is closed; event %s dropped", event.event_id)
            return False
        try:
            value = self._codec.encode(event.to_avro())
        except Exception as exc:
            self.stats.add("errors")
            log.warning("encode", "audit event %s could not be encoded: %s", event.event_id, exc)
            return False
        key = event.tenant_id.encode("utf-8")
        # checked in the order a drain moves events (queue, then the drain lock, then the disk): an event on
        # its way to disk is never overtaken
        if self._spool is not None and (self._broker_down.is_set() or self._to_spool or self._drain_lock.locked()
                                        or len(self._spool)):
            return self._enqueue_spool(key, value)
        try:
            self._producer.produce(self.config.topic, key=key, value=value, on_delivery=self._on_delivery)
        except BufferError:
            if self._spool is not None:
                return self._enqueue_spool(key, value)
            self.stats.add("dropped")
            log.warning("queue-full", "audit queue full (%d messages); event dropped",
                        self.config.queue_max_messages)
            return False
        except Exception as exc:
            self.stats.add("dropped")
            log.warning("produce", "audit event could not be enqueued: %s", exc)
            return False
        return True

    def _enqueue_spool(self, key: bytes, value: bytes) -> bool:
        if len(self._to_spool) >= SPOOL_QUEUE_MAX:
            self.stats.add("dropped")
            log.warning("spool-queue-full", "audit spool queue full; event dropped")
            return False
        self._to_spool.append((key, value))
        with self._spool_wakeup:
            self._spool_wakeup.notify()
        return True

    # -- background ------------------------------------------------------------------------

    def _build_loop(self) -> None:
        while True:
            item = self._builds.get()
            if item is _STOP:
                return
            slice_end = time.perf_counter() + BUILD_SLICE_SECONDS
            while item is not None:
                self._build_and_publish(item)
                self._built += 1
                if time.perf_counter() > slice_end:
                    time.sleep(0)  # releases the GIL: an application thread waiting for it runs now
                    slice_end = time.perf_counter() + BUILD_SLICE_SECONDS
                try:
                    item = self._builds.get_nowait()
                except queue.Empty:
                    item = None
                if item is _STOP:
                    return

    def _wait_for_builder(self, deadline: float) -> None:
        while self._built < self._queued and self._builder.is_alive() and time.monotonic() < deadline:
            time.sleep(0.001)

    def _stop_builder(self, timeout: float) -> None:
        """Finish what was submitted: by the builder while it lives, then here."""
        self._builds.put(_STOP)
        self._builder.join(timeout)
        while True:
            try:
                item = self._builds.get_nowait()
            except queue.Empty:
                return
            if item is not _STOP:
                self._build_and_publish(item)

    def _poll_loop(self) -> None:
        while not self._closed.is_set():
            try:
                self._producer.poll(0.1)
            except Exception as exc:  # a callback bug must not kill delivery reports
                log.warning("poll", "audit delivery poll failed: %s", exc)

    def _spool_loop(self) -> None:
        while not self._closed.is_set():
            with self._spool_wakeup:
                if not self._to_spool:
                    self._spool_wakeup.wait(0.2)
            try:
                if self._purge_requested.is_set():
                    self._purge_requested.clear()
                    self._producer.purge(in_queue=True, in_flight=False)  # reports arrive as spool entries
                self._drain_to_spool()
            except Exception as exc:  # the spool thread must outlive any single failure
                log.warning("spool", "audit spool: %s", exc)
        self._drain_to_spool()

    def _replay_loop(self) -> None:
        assert self._spool is not None
        while not self._closed.wait(REPLAY_PROBE_SECONDS):
            try:
                while len(self._spool) and not self._closed.is_set():
                    if not self._replay_one_segment(self._spool):
                        break
                self._replay_orphans()
            except Exception as exc:
                log.warning("replay", "audit spool replay: %s", exc)

    def _replay_orphans(self) -> None:
        """Spools of this destination whose process ended: replayed here, in order, then removed."""
        if self._ownership is None or self._broker_down.is_set():
            return
        self._ownership.adopt_spools(self._spool_limits())
        for folder, orphan in list(self._ownership.orphans.items()):
            while len(orphan) and not self._closed.is_set():
                if not self._replay_one_segment(orphan):
                    return
            self._ownership.done_with(folder)

    def _drain_to_spool(self) -> None:
        assert self._spool is not None
        with self._drain_lock:
            batch = []
            while self._to_spool:
                batch.append(self._to_spool.popleft())
            if not batch:
                return
            accepted = self._spool.append_many(batch)
        self.stats.add("spooled", accepted)
        if accepted < len(batch):
            self.stats.add("dropped", len(batch) - accepted)
            log.warning("spool-full", "audit spool full (%d events, %d bytes); %d events dropped",
                        len(self._spool), self._spool.bytes, len(batch) - accepted)

    def _replay_one_segment(self, spool: DiskSpool) -> bool:
        """Replays the oldest segment of `spool`; True when it was delivered whole and removed."""
        try:
            self._producer.list_topics(self.config.topic, timeout=2)
        except Exception:
            self._broker_down.set()
            return False
        segment = spool.oldest()
        if segment is None:
            return False
        path, records = segment
        outcome = {"ok": 0, "failed": 0}

        def on_replayed(err: KafkaError | None, msg: Message) -> None:
            outcome["failed" if err is not None else "ok"] += 1

        for key, value in records:
            while True:
                try:
                    self._producer.produce(self.config.topic, key=key, value=value, on_delivery=on_replayed)
                    break
                except BufferError:
                    self._producer.flush(1)
        self._producer.flush(30)
        if outcome["ok"] == len(records):
            spool.remove(path, len(records))
            self.stats.add("replayed", len(records))
            self.stats.add("delivered", len(records))
            self._broker_down.clear()
            logger.info("audit spool: replayed %d events (%d left)", len(records), len(spool))
            return True
        # the segment stays and is replayed again later; the sequencer drops what arrived twice
        self._broker_down.set()
        return False

    # -- delivery reports ------------------------------------------------------------------

    def _on_delivery(self, err: KafkaError | None, msg: Message) -> None:
        if err is None:
            self.stats.add("delivered")
            self._broker_down.clear()
            return
        key, value = msg.key(), msg.value()
        if self._spool is not None and key is not None and value is not None and not self._closed.is_set():
            self._broker_down.set()
            self._enqueue_spool(key, value)
            return
        self.stats.add("failed")
        log.warning("delivery", "audit event delivery failed: %s", err)

    def _on_error(self, err: KafkaError) -> None:
        if err.code() == KafkaError._ALL_BROKERS_DOWN:
            self._broker_down.set()
            self._purge_requested.set()  # move what waits in memory to disk now, not at message timeout
        log.warning(f"kafka-{err.code()}", "audit Kafka client: %s", err)

    # -- lifecycle -------------------------------------------------------------------------

    def flush(self, timeout: float = 10.0) -> int:
        """Wait up to `timeout` s for delivery, spool included; returns how many are still pending."""
        deadline = time.monotonic() + timeout
        self._wait_for_builder(deadline)
        try:
            remaining = int(self._producer.flush(max(0.0, deadline - time.monotonic())))
        except Exception as exc:
            log.warning("flush", "audit flush failed: %s", exc)
            return -1
        while self._spool is not None and self.spooled_now and time.monotonic() < deadline:
            with self._spool_wakeup:
                self._spool_wakeup.notify()
            time.sleep(0.05)
        # events not yet built are pending too: flush() == 0 means every event was handed over
        return remaining + self.spooled_now + max(0, self._queued - self._built)

    def snapshot(self) -> StatsSnapshot:
        return self.stats.snapshot()

    @property
    def spooled_now(self) -> int:
        """Events waiting in the spool: on disk, plus the few not yet written."""
        with self._drain_lock:
            return self.spooled_on_disk + len(self._to_spool)

    @property
    def spooled_on_disk(self) -> int:
        """Events in this process's spool and in those it adopted from processes that ended."""
        if self._spool is None:
            return 0
        return len(self._spool) + (self._ownership.orphan_records() if self._ownership is not None else 0)

    def close(self, timeout: float = lifecycle.EXIT_FLUSH_SECONDS) -> None:
        """Bounded: deliver what can be delivered in `timeout`, spool the rest (kept for the next start)."""
        if self._closed.is_set():
            return
        self._stop_builder(timeout)
        remaining = int(self._producer.flush(timeout))
        if remaining and self._spool is not None:
            # still queued in memory: move it to disk rather than lose it at exit
            self._producer.purge(in_queue=True, in_flight=False)
            self._producer.poll(0)
        self._closed.set()
        if self._spooler is not None:
            with self._spool_wakeup:
                self._spool_wakeup.notify()
            self._spooler.join(timeout)
        if self._spool is not None:
            self._drain_to_spool()
            if self._ownership is not None:
                self._ownership.let_go(own_empty=not len(self._spool))
        if remaining and self._spool is None:
            logger.warning("audit publisher closed with %d events undelivered", remaining)
        elif self._spool is not None and len(self._spool):
            logger.warning("audit publisher closed with %d events in the spool %s; they are replayed at the "
                           "next start", len(self._spool), self._spool.directory)
