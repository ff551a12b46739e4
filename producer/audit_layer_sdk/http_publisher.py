"""Publishes audit events to the REST API (`POST <api_url>/audit/log`) with the Kafka publisher's guarantees.

Chosen when an API key is configured and no Kafka bootstrap is (`AuditConfig.transport`). The caller only
queues what it captured; a sender thread builds the events and posts them in batches of up to BATCH_MAX with
the key as a bearer token. Each event carries the SDK's own event id, so a retried request is one record.
A batch the API does not answer (network error, timeout, 429, 5xx) is retried `retry_count` times with
backoff, then written to the bounded, fsync'd spool of this API URL and organisation, and replayed when the
API answers again, also after a restart. Events the API refuses as invalid (400/413/415/422) are split until
the refused one is alone, which is counted as failed and logged with the API's reason: the others go
through. A refused key (401/403) spools the batch: the events wait for a working key rather than vanish.
Only the standard library is used (urllib).
"""

from __future__ import annotations

import json
import os
import queue
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from audit_layer_schemas import AuditEvent

from audit_layer_sdk import lifecycle
from audit_layer_sdk._log import log, logger
from audit_layer_sdk.config import AuditConfig, configured
from audit_layer_sdk.publisher import Buildable
from audit_layer_sdk.spool import DiskSpool, SpoolLimits
from audit_layer_sdk.spool_owner import SpoolOwnership, destination_folder
from audit_layer_sdk.stats import PublisherStats, StatsSnapshot

BATCH_MAX = 500
LINGER_SECONDS = 0.02
REPLAY_PROBE_SECONDS = 1.0
QUEUE_MAX = 100_000
REFUSED = frozenset({400, 413, 415, 422})
_STOP = object()
_NUDGE = object()  # wakes the sender so it replays now; not an event


def ingest_url(api_url: str) -> str:
    """`<base>/audit/log` for a base ending in /v1 (as the integration guide writes it), else
    `<base>/v1/audit/log`."""
    base = api_url.rstrip("/")
    return f"{base}/audit/log" if base.endswith("/v1") else f"{base}/v1/audit/log"


class HttpPublisher:
    def __init__(self, config: AuditConfig | None = None) -> None:
        self.config = config or configured()
        self._url = ingest_url(self.config.api_url)
        self._ownership: SpoolOwnership | None = None
        self._start()
        lifecycle.register(self)

    def _start(self) -> None:
        self._pid = os.getpid()
        self._build_lock = threading.RLock()
        self.stats = PublisherStats()
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._pending = 0  # queued or being sent, under _lock
        self._closed = threading.Event()
        self._replay_now = threading.Event()
        self._spool: DiskSpool | None = None
        if self.config.spool_dir:
            destination = destination_folder(Path(self.config.spool_dir), "http", self._url,
                                              self.config.tenant_id or "")
            self._ownership = SpoolOwnership(destination)
            self._spool = DiskSpool(self._ownership.folder, self._limits())
            self._ownership.adopt_spools(self._limits())  # counted by flush() from the start
        self._sender = threading.Thread(target=self._send_loop, name="audit-layer-http", daemon=True)
        self._sender.start()

    def _limits(self) -> SpoolLimits:
        return SpoolLimits(self.config.spool_max_records, self.config.spool_max_bytes)

    def _after_fork_in_child(self) -> None:
        if self._ownership is not None:
            self._ownership.forget_after_fork()
        self._start()

    # -- the caller's path -----------------------------------------------------------------

    def submit(self, item: Buildable) -> bool:
        self.stats.add("emitted")
        return self._enqueue(item)

    def publish(self, event: AuditEvent) -> bool:
        self.stats.add("emitted")
        return self._enqueue(event)

    def _enqueue(self, item: Any) -> bool:
        if not self.config.async_logging or self._closed.is_set() or self._queue.qsize() >= QUEUE_MAX:
            events = self._built([item])  # sent (or spooled) before the call returns
            if events:
                self._deliver(events)
            return bool(events)
        with self._lock:
            self._pending += 1
        self._queue.put(item)
        return True

    # -- sending ---------------------------------------------------------------------------

    def _built(self, items: list[Any]) -> list[AuditEvent]:
        events = []
        for item in items:
            try:
                with self._build_lock:
                    event = item if isinstance(item, AuditEvent) else item.build()
            except Exception as exc:  # a bug in building costs one event, not the sender thread
                log.warning("build", "audit event not built: %s", exc)
                event = None
            if event is None:
                self.stats.add("errors")
            else:
                events.append(event)
        return events

    def _send_loop(self) -> None:
        while True:
            try:
                item = self._queue.get(timeout=REPLAY_PROBE_SECONDS)
            except queue.Empty:
                self._replay()
                continue
            if item is _STOP:
                return
            if item is _NUDGE:
                self._replay()
                continue
            items, deadline = [item], time.monotonic() + LINGER_SECONDS
            while len(items) < BATCH_MAX:
                try:
                    more = self._queue.get(timeout=max(0.0, deadline - time.monotonic()))
                except queue.Empty:
                    break
                if more is _STOP:
                    self._queue.put(_STOP)
                    break
                if more is _NUDGE:
                    self._replay_now.set()
                    continue
                items.append(more)
            try:
                self._deliver(self._built(items))
            except Exception as exc:  # the sender thread must outlive any single failure
                log.warning("http", "audit events not sent: %s", exc)
            with self._lock:
                self._pending -= len(items)
            if self._replay_now.is_set():
                self._replay()

    def _post(self, bodies: list[bytes]) -> tuple[int, str]:
        """(HTTP status, or 0 when the API did not answer; the API's reason)."""
        data = b'{"events":[' + b",".join(bodies) + b"]}"
        request = urllib.request.Request(self._url, data=data, method="POST", headers={
            "Authorization": f"Bearer {self.config.api_key}", "Content-Type": "application/json",
            "User-Agent": "audit-layer-sdk"})
        try:
            with urllib.request.urlopen(request, timeout=self.config.timeout_seconds) as answer:
                return answer.status, ""
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read(2000).decode("utf-8", "replace")
        except (OSError, ValueError) as exc:
            return 0, str(exc)

    def _deliver(self, events: list[AuditEvent]) -> None:
        if not events:
            return
        with self._build_lock:
            bodies = [json.dumps(e.to_avro(), ensure_ascii=False).encode("utf-8") for e in events]
        keys = [e.tenant_id.encode("utf-8") for e in events]
        if self._spool is not None and len(self._spool):
            self._to_spool(keys, bodies)  # behind what waits already, so the order is kept
            self._replay_now.set()
            return
        if self._send(keys, bodies, retries=self.config.retry_count):
            return
        self._to_spool(keys, bodies)

    def _send(self, keys: list[bytes], bodies: list[bytes], retries: int) -> bool:
        """True when every event was answered for (accepted, or refused as invalid and counted)."""
        for attempt in range(retries + 1):
            status, reason = self._post(bodies)
            if 200 <= status < 300:
                self.stats.add("delivered", len(bodies))
                return True
            if status in REFUSED:
                if len(bodies) == 1:
                    self.stats.add("failed")
                    log.warning("http-refused", "audit event refused by the API (%d): %s", status, reason[:500])
                    return True
                half = len(bodies) // 2
                first = self._send(keys[:half], bodies[:half], 0)
                second = self._send(keys[half:], bodies[half:], 0)
                if not first:
                    self._to_spool(keys[:half], bodies[:half])
                if not second:
                    self._to_spool(keys[half:], bodies[half:])
                return True
            if status in (401, 403):
                log.warning("http-auth", "the audit API refused the API key (%d): %s; events are kept in the spool "
                            "until a working key is configured", status, reason[:300])
                return False
            if attempt < retries and not self._closed.is_set():
                time.sleep(min(2.0, 0.1 * 2 ** attempt))
        log.warning("http-down", "the audit API at %s did not take %d events (last answer: %s)", self._url,
                    len(bodies), status or reason[:200])
        return False

    def _to_spool(self, keys: list[bytes], bodies: list[bytes]) -> None:
        if self._spool is None:
            self.stats.add("dropped", len(bodies))
            log.warning("http-dropped", "audit API unreachable and no spool configured: %d events dropped",
                        len(bodies))
            return
        accepted = self._spool.append_many(list(zip(keys, bodies, strict=True)))
        self.stats.add("spooled", accepted)
        if accepted < len(bodies):
            self.stats.add("dropped", len(bodies) - accepted)
            log.warning("spool-full", "audit spool full; %d events dropped", len(bodies) - accepted)

    def _replay(self) -> None:
        self._replay_now.clear()
        spools: list[tuple[DiskSpool, Path | None]] = []
        if self._spool is not None:
            spools.append((self._spool, None))
        if self._ownership is not None:
            self._ownership.adopt_spools(self._limits())
            spools += [(spool, folder) for folder, spool in self._ownership.orphans.items()]
        for spool, orphan in spools:
            while len(spool) and not self._closed.is_set():
                segment = spool.oldest()
                if segment is None:
                    break
                path, records = segment
                if not all(self._send([k for k, _ in chunk], [v for _, v in chunk], retries=0)
                           for chunk in (records[i:i + BATCH_MAX] for i in range(0, len(records), BATCH_MAX))):
                    break  # still unreachable: this segment stays, whole, and is replayed again later
                spool.remove(path, len(records))
                self.stats.add("replayed", len(records))
                logger.info("audit spool: replayed %d events to the API (%d left)", len(records), len(spool))
            if orphan is not None and self._ownership is not None and not len(spool):
                self._ownership.done_with(orphan)

    # -- lifecycle -------------------------------------------------------------------------

    def flush(self, timeout: float = 10.0) -> int:
        """Wait up to `timeout` s for delivery, spool included; returns how many are still pending."""
        deadline = time.monotonic() + timeout
        while self._pending and time.monotonic() < deadline:
            time.sleep(0.005)
        while self.spooled_on_disk and time.monotonic() < deadline:
            self._replay_now.set()
            self._queue.put(_NUDGE)
            time.sleep(0.05)
        return self._pending + self.spooled_on_disk

    def snapshot(self) -> StatsSnapshot:
        return self.stats.snapshot()

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
        self.flush(timeout)
        self._closed.set()
        self._queue.put(_STOP)
        self._sender.join(timeout)
        leftover = []
        while True:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                break
            if item is not _STOP and item is not _NUDGE:
                leftover.append(item)
        events = self._built(leftover)
        if events:
            with self._build_lock:
                bodies = [json.dumps(e.to_avro(), ensure_ascii=False).encode("utf-8") for e in events]
            self._to_spool([e.tenant_id.encode("utf-8") for e in events], bodies)
        if self._spool is not None and self._ownership is not None:
            self._ownership.let_go(own_empty=not len(self._spool))
        if self._spool is not None and len(self._spool):
            logger.warning("audit publisher closed with %d events in the spool %s; they are replayed at the next "
                           "start", len(self._spool), self._spool.directory)

