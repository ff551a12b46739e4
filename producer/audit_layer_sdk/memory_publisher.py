"""A publisher that keeps events in memory: for tests of what a wrapper records, and for applications
that want the events themselves. Builds each event on the caller's thread, in order."""

from __future__ import annotations

from audit_layer_schemas import AuditEvent

from audit_layer_sdk.config import AuditConfig
from audit_layer_sdk.publisher import Buildable
from audit_layer_sdk.stats import PublisherStats


class MemoryPublisher:
    def __init__(self, config: AuditConfig | None = None) -> None:
        self.config = config or AuditConfig(spool_dir=None)
        self.stats = PublisherStats()
        self.events: list[AuditEvent] = []

    def submit(self, item: Buildable) -> bool:
        self.stats.add("emitted")
        event = item.build()
        if event is None:
            self.stats.add("errors")
            return False
        self.events.append(event)
        self.stats.add("delivered")
        return True

    def publish(self, event: AuditEvent) -> bool:
        self.stats.add("emitted")
        self.events.append(event)
        self.stats.add("delivered")
        return True

    def flush(self, timeout: float = 0.0) -> int:
        return 0

    def close(self, timeout: float = 0.0) -> None:
        return None
