"""Which publisher a configuration gets (Kafka, or the REST API), and the process's default one."""

from __future__ import annotations

import os
import threading
from typing import Any, Protocol

from audit_layer_schemas import AuditEvent

from audit_layer_sdk.config import AuditConfig, configured
from audit_layer_sdk.http_publisher import HttpPublisher
from audit_layer_sdk.publisher import AuditPublisher, Buildable


class Publisher(Protocol):
    """What collectors and wrappers hand events to: AuditPublisher (Kafka), HttpPublisher (the REST API),
    MemoryPublisher (a list)."""

    config: AuditConfig
    stats: Any

    def submit(self, item: Buildable) -> bool: ...

    def publish(self, event: AuditEvent) -> bool: ...

    def flush(self, timeout: float = ...) -> int: ...

    def close(self, timeout: float = ...) -> None: ...


def publisher_for(config: AuditConfig | None = None) -> AuditPublisher | HttpPublisher:
    """A publisher to the configuration's destination (`init_audit_config`, else the environment, by default)."""
    config = config or configured()
    return HttpPublisher(config) if config.transport == "http" else AuditPublisher(config)


_default: AuditPublisher | HttpPublisher | None = None
_default_lock = threading.Lock()


def _new_lock_in_child() -> None:
    # a thread of the parent may have held the lock at fork: the child's copy would stay locked forever
    global _default_lock
    _default_lock = threading.Lock()


os.register_at_fork(after_in_child=_new_lock_in_child)


def default_publisher() -> AuditPublisher | HttpPublisher:
    """One publisher per process, for the configured destination, made on first use (made again when
    `init_audit_config` changed the settings since)."""
    global _default
    with _default_lock:
        wanted = configured()
        if _default is not None and _default.config != wanted:
            previous, _default = _default, None
            previous.close()
        if _default is None:
            _default = publisher_for(wanted)
        return _default
