"""flush() counts every event it has not handed over, also one on its way from memory to the disk spool.

The broker here is a closed port (the real Kafka client, nothing listening): every event ends in the spool.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from audit_layer_samples.factories import make_event
from audit_layer_sdk import AuditConfig, AuditPublisher
from audit_layer_sdk.spool import DiskSpool


def test_an_event_on_its_way_to_disk_is_still_pending(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # a slow disk widens the moment between the memory queue and the file; flush() once returned 0 inside it
    # (a CI failure, stop 30: "not delivered, not dropped" read as delivered)
    write = DiskSpool.append_many

    def slow_write(spool: DiskSpool, records: list[tuple[bytes, bytes]]) -> int:
        time.sleep(0.5)
        return write(spool, records)

    monkeypatch.setattr(DiskSpool, "append_many", slow_write)
    publisher = AuditPublisher(AuditConfig(bootstrap_servers="127.0.0.1:1", topic="nowhere.audit.events",
                                           spool_dir=str(tmp_path / "spool")))
    try:
        assert publisher.publish(make_event("acme-bank"))
        seen = []
        deadline = time.monotonic() + 8
        while publisher.spooled_on_disk == 0 and time.monotonic() < deadline:
            seen.append(publisher.flush(0.05))
        seen.append(publisher.flush(0.05))
        assert publisher.spooled_on_disk == 1, "the event never reached the spool"
        assert set(seen) == {1}, seen
    finally:
        publisher.close(timeout=2)
    assert publisher.snapshot().dropped == 0
