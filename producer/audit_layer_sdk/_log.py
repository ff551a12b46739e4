"""A logger that never floods: repeated messages of one kind are counted, not repeated."""

from __future__ import annotations

import logging
import os
import threading
import time

logger = logging.getLogger("audit_layer_sdk")


class RateLimitedLog:
    """At most one record per `key` every `interval` seconds; the next one says how many were held back."""

    def __init__(self, interval: float = 30.0) -> None:
        self._interval = interval
        self._lock = threading.Lock()
        self._last: dict[str, float] = {}
        self._suppressed: dict[str, int] = {}

    def warning(self, key: str, message: str, *args: object) -> None:
        now = time.monotonic()
        with self._lock:
            if now - self._last.get(key, -1e9) < self._interval:
                self._suppressed[key] = self._suppressed.get(key, 0) + 1
                return
            self._last[key] = now
            held = self._suppressed.pop(key, 0)
        if held:
            message += f" ({held} similar messages suppressed)"
        logger.warning(message, *args)


log = RateLimitedLog()


def _new_lock_in_child() -> None:
    # a thread of the parent may have held the lock at fork: the child's copy would stay locked forever
    log._lock = threading.Lock()


os.register_at_fork(after_in_child=_new_lock_in_child)


class KafkaLogBridge:
    """librdkafka's own log lines, rate-limited per facility (a broker outage logs every 50 ms)."""

    def log(self, level: int, message: str, *args: object) -> None:
        text = message % args if args else message
        facility = text.split("|")[2] if text.count("|") >= 3 else "kafka"
        if level >= logging.WARNING:
            log.warning(f"librdkafka-{facility}", "Kafka client: %s", text)
        else:
            logger.debug("Kafka client: %s", text)
