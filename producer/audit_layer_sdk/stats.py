"""The SDK's own counters, readable by the application (e.g. for its metrics endpoint)."""

from __future__ import annotations

import threading
from dataclasses import dataclass


@dataclass(frozen=True)
class StatsSnapshot:
    emitted: int
    delivered: int
    failed: int
    dropped: int
    errors: int
    spooled: int = 0
    replayed: int = 0

    @property
    def pending(self) -> int:
        """Emitted but neither delivered (directly or replayed from the spool) nor given up on."""
        return self.emitted - self.delivered - self.failed - self.dropped - self.errors


class PublisherStats:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts = {"emitted": 0, "delivered": 0, "failed": 0, "dropped": 0, "errors": 0, "spooled": 0,
                        "replayed": 0}

    def add(self, name: str, n: int = 1) -> None:
        with self._lock:
            self._counts[name] += n

    def snapshot(self) -> StatsSnapshot:
        with self._lock:
            return StatsSnapshot(**self._counts)
