"""`audit-layer status` on a running pipeline: exit 0 while nothing needs a person; a dead letter, a failed
verification, a stalled sequencer's lag and an undelivered SDK spool each make it exit 1 and say where."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from audit_layer_samples.factories import make_event
from audit_layer_sdk import AuditConfig, AuditPublisher
from audit_layer_store.store import ClickHouseStore
from confluent_kafka import Producer

from tests.conftest import verify, wait_for_checkpoint, wait_for_rows

pytestmark = pytest.mark.integration


def _status(pipeline: dict[str, Any], store: Any, *extra: str) -> tuple[int, dict[str, Any]]:
    topics = pipeline["topics"]
    done = subprocess.run(
        [sys.executable, "-m", "audit_layer_cli.main", "status", "--json", "--bootstrap-servers",
         pipeline["bootstrap"], "--topic-prefix", topics.prefix, "--dsn", store.dsn, "--database", store.database,
         "--enricher-group", f"{topics.prefix}enricher", "--sequencer-group", f"{topics.prefix}sequencer",
         "--sink-group", f"{topics.prefix}sink", *extra],
        capture_output=True, text=True, timeout=120)
    assert done.returncode in (0, 1), done.stderr
    return done.returncode, json.loads(done.stdout)


def _flagged(report: dict[str, Any]) -> list[tuple[str, str]]:
    return [(c["area"], c["subject"]) for c in report["checks"] if c["attention"]]


def test_status_says_what_needs_a_person(pipeline: dict[str, Any], tmp_path: Path) -> None:
    store, topics = pipeline["store"], pipeline["topics"]
    publisher = AuditPublisher(AuditConfig(bootstrap_servers=pipeline["bootstrap"], topic=topics.events,
                                           spool_dir=str(tmp_path / "app-spool")))
    for i in range(30):
        assert publisher.publish(make_event(["acme-bank", "mercy-clinic"][i % 2]))
    assert publisher.flush(30) == 0
    assert wait_for_rows(store, 30, workers=pipeline["workers"], sink=pipeline["sink"]) == 30
    wait_for_checkpoint(store, "acme-bank", 15)
    wait_for_checkpoint(store, "mercy-clinic", 15)
    assert verify(store).ok
    store.command(f"INSERT INTO {store.database}.verifications (tenant_id, verified_at, ok, links, last_seq, "
                  "head_hash, checkpoints_verified) VALUES ('acme-bank', now64(3), 1, 15, 15, repeat('x', 32), 1)")
    served = ClickHouseStore(store.dsn, store.database, serve=True)  # the command reaches the engine through us
    try:
        code, report = _status(pipeline, store, "--spool-dir", str(tmp_path / "app-spool"))
        assert code == 0 and report["attention"] == 0, _flagged(report)
        areas = {(c["area"], c["subject"]): c for c in report["checks"]}
        assert areas[("verification", "acme-bank")]["state"] == "passed"
        assert areas[("verification", "mercy-clinic")]["state"] == "never"
        assert areas[("checkpoint", "acme-bank")]["state"] == "ok"
        assert {c["subject"] for c in report["checks"] if c["area"] == "lag"} == {
            f"enricher <- {topics.events}", f"sequencer <- {topics.enriched}", f"sink <- {topics.chained}",
            f"sink <- {topics.checkpoints}"}

        # a poison message, a failed verification, a spool left by an application that could not deliver
        poison = Producer({"bootstrap.servers": pipeline["bootstrap"]})
        poison.produce(topics.events, key=b"acme-bank", value=b"\x00 not an event")
        assert poison.flush(10) == 0
        store.command(f"INSERT INTO {store.database}.verifications (tenant_id, verified_at, ok, links, last_seq, "
                      "head_hash, checkpoints_verified, finding) VALUES ('mercy-clinic', now64(3), 0, 15, 15, "
                      "repeat('x', 32), 1, 'hash_mismatch at 7')")
        stranded = AuditPublisher(AuditConfig(bootstrap_servers="127.0.0.1:1", topic=topics.events,
                                              spool_dir=str(tmp_path / "app-spool")))
        assert stranded.publish(make_event("acme-bank"))
        stranded.close(timeout=20)  # nothing answers there: the event is kept in the spool
        # the sequencer stops: what the enricher writes piles up before it
        pipeline["workers"][1].stop()
        for _ in range(40):
            assert publisher.publish(make_event("acme-bank"))
        assert publisher.flush(30) == 0
        code, report = _status(pipeline, store, "--spool-dir", str(tmp_path / "app-spool"), "--max-lag", "20")
        flagged = _flagged(report)
        assert code == 1 and report["attention"] == len(flagged) == 4, flagged
        assert ("dead letters", "audit.dlq") in flagged
        assert ("verification", "mercy-clinic") in flagged
        assert ("lag", f"sequencer <- {topics.enriched}") in flagged
        assert [a for a, _ in flagged].count("sdk spool") == 1
        dlq = next(c for c in report["checks"] if c["area"] == "dead letters")
        assert "not_single_object_encoding: 1" in dlq["detail"]

        table = subprocess.run(
            [sys.executable, "-m", "audit_layer_cli.main", "status", "--bootstrap-servers", pipeline["bootstrap"],
             "--topic-prefix", topics.prefix, "--dsn", store.dsn, "--database", store.database,
             "--spool-dir", str(tmp_path / "app-spool")], capture_output=True, text=True, timeout=120)
        assert table.returncode == 1 and "need a person" in table.stdout and "FAILED" in table.stdout, table.stdout
        wrong = subprocess.run([sys.executable, "-m", "audit_layer_cli.main", "status", "--witness-dir",
                                str(tmp_path / "nowhere")], capture_output=True, text=True, timeout=60)
        assert wrong.returncode == 2 and "is not a folder" in wrong.stderr
    finally:
        served.close()
        publisher.close()
