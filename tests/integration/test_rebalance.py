"""A sequencer joining the group takes partitions from the one running without stopping it: the running one
gives up only the partitions that move (the incremental protocol, KIP-429) and keeps chaining the rest
without restoring their heads again, and every event is chained once, each tenant's seqs without a gap."""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Any

import pytest
from audit_layer_samples.factories import make_event
from audit_layer_schemas import Topics
from audit_layer_schemas.partition import partition_for
from audit_layer_sdk import AuditConfig, AuditPublisher

from tests.conftest import PARTITIONS, SinkThread, Worker, verify, wait_for_rows

pytestmark = pytest.mark.integration


def _publish(bootstrap: str, topics: Topics, tenants: list[str], each: int) -> None:
    publisher = AuditPublisher(AuditConfig(bootstrap_servers=bootstrap, topic=topics.events))
    for _ in range(each):
        for tenant in tenants:
            publisher.publish(make_event(tenant))
    assert publisher.flush(30) == 0


def _partitions(log: str, what: str) -> list[set[int]]:
    """The partition sets of each "assigned partitions [...]" or "revoked partitions [...]" line, in order."""
    return [{int(n) for n in found.split(",")} for found in re.findall(rf"{what} partitions \[([\d, ]+)\]", log)]


def test_a_second_sequencer_takes_partitions_without_stopping_the_first(kafka_bootstrap: str, topics: Topics,
                                                                       store: Any, tmp_path: Path) -> None:
    # one tenant on each partition, so both sequencers have chains to extend
    tenants = [next(t for t in (f"tenant-{i}" for i in range(1000)) if partition_for(t.encode(), PARTITIONS) == p)
               for p in range(PARTITIONS)]
    first = Worker("sequencer", kafka_bootstrap, topics, tmp_path, "--instance-id", "0", "--enrich")
    sink = SinkThread(kafka_bootstrap, topics, store)
    second: Worker | None = None
    try:
        _publish(kafka_bootstrap, topics, tenants, 40)
        assert wait_for_rows(store, 40 * PARTITIONS, workers=[first], sink=sink) == 40 * PARTITIONS

        second = Worker("sequencer", kafka_bootstrap, topics, tmp_path, "--instance-id", "1", "--enrich")
        deadline = time.monotonic() + 60
        while not _partitions(second.log_tail(200), "assigned") and time.monotonic() < deadline:
            assert second.alive(), second.log_tail()
            time.sleep(0.25)
        _publish(kafka_bootstrap, topics, tenants, 40)
        assert wait_for_rows(store, 80 * PARTITIONS, workers=[first, second], sink=sink) == 80 * PARTITIONS

        first_log, second_log = first.log_tail(400), second.log_tail(400)
        # the first was given every partition once, and gave up only those the second took
        assert _partitions(first_log, "assigned") == [set(range(PARTITIONS))], first_log
        [given_up] = _partitions(first_log, "revoked")
        [taken] = _partitions(second_log, "assigned")
        assert given_up == taken and 0 < len(taken) < PARTITIONS, (first_log, second_log)

        time.sleep(2)  # a second chain for a tenant would show up as more rows
        rows = store.query(f"SELECT tenant_id, count(), uniqExact(seq), min(seq), max(seq) "
                           f"FROM {store.database}.events GROUP BY tenant_id ORDER BY tenant_id").result_rows
        assert rows == [(tenant, 80, 80, 1, 80) for tenant in sorted(tenants)]
        assert sink.error is None
        report = verify(store)
        assert report.ok and report.links == 80 * PARTITIONS, report.findings
    finally:
        sink.stop()
        first.stop()
        if second is not None:
            second.stop()
