"""Erasing a data subject's content leaves chains, checkpoints and proofs verifiable."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
from audit_layer_cli.admin_events import record_admin_event
from audit_layer_governance.erasure import ErasureError, ErasureRequest, erase_content
from audit_layer_ledger.offline_proof import verify as offline_verify
from audit_layer_ledger.proofs import build_proof
from audit_layer_samples.factories import make_event
from audit_layer_schemas import Topics, sha256_hex
from audit_layer_sdk import AuditConfig, AuditPublisher

from tests.conftest import SinkThread, Worker, trusted_keys, verify, wait_for_rows

pytestmark = pytest.mark.integration


def test_erasure_removes_content_and_every_chain_still_verifies(
    kafka_bootstrap: str, topics: Topics, store: Any, tmp_path: Path
) -> None:
    workers = [Worker("enricher", kafka_bootstrap, topics, tmp_path),
               Worker("sequencer", kafka_bootstrap, topics, tmp_path, "--checkpoint-seconds", "1")]
    sink = SinkThread(kafka_bootstrap, topics, store)
    publisher = AuditPublisher(AuditConfig(bootstrap_servers=kafka_bootstrap, topic=topics.events))
    try:
        events = [make_event("clinic", user_id="patient-7" if i % 3 == 0 else "patient-8",
                             prompt=f"Symptoms of case {i}", content_salt=f"{i:032x}") for i in range(60)]
        for event in events:
            publisher.publish(event)
        assert publisher.flush(30) == 0
        assert wait_for_rows(store, 60, workers=workers, sink=sink) == 60
        deadline = time.monotonic() + 30
        while store.query(f"SELECT max(last_seq) FROM {store.database}.checkpoints").result_rows[0][0] != 60:
            assert time.monotonic() < deadline, "no checkpoint covered the events"
            time.sleep(0.3)
        erased_event = events[0]
        proof_before = build_proof(store, erased_event.event_id, trusted_keys())

        request = ErasureRequest("clinic", user_id="patient-7")
        assert erase_content(store, request) == 20
        record_admin_event(publisher, "clinic", "dpo@clinic", operation="erasure", decision_type="data_erasure",
                           outcome="erased", reason="art. 17 request", reason_code="gdpr_erasure",
                           metadata={"subject_user_id": "patient-7", "records_erased": 20})
        assert publisher.flush(30) == 0
        assert wait_for_rows(store, 61, workers=workers, sink=sink) == 61

        db = store.database
        left = store.query(f"SELECT user_id, countIf(prompt IS NULL), countIf(content_salt IS NULL), "
                           f"countIf(prompt_sha256 IS NOT NULL) FROM {db}.events FINAL "
                           "WHERE decision_type != 'data_erasure' GROUP BY user_id ORDER BY user_id").result_rows
        assert left == [("patient-7", 20, 20, 20), ("patient-8", 0, 0, 40)]
        # nothing of the erased text is left anywhere in the engine: not under the NULL flag, not in a part
        # the mutation superseded, not in the sink's staging table
        underneath = store.query(f"SELECT countIf(position(assumeNotNull(prompt), 'Symptoms') > 0) FROM {db}.events "
                                 "WHERE user_id = 'patient-7'").result_rows
        assert underneath == [(0,)]
        assert store.query("SELECT count() FROM system.parts WHERE database = {d:String} AND table = 'events' "
                           "AND NOT active", parameters={"d": db}).result_rows == [(0,)]
        [(data_path,)] = store.query("SELECT data_paths[1] FROM system.tables WHERE database = {d:String} "
                                     "AND name = 'events'", parameters={"d": db}).result_rows
        not_parts = ("detached", "deduplication_logs")
        on_disk = {d.name for d in Path(data_path).iterdir() if d.is_dir() and d.name not in not_parts}
        active = {name for (name,) in store.query("SELECT name FROM system.parts WHERE database = {d:String} AND "
                                                  "table = 'events' AND active", parameters={"d": db}).result_rows}
        assert on_disk == active and active, (on_disk, active)
        [(kind, meta)] = store.query(f"SELECT operation, metadata FROM {db}.events FINAL "
                                     "WHERE decision_type = 'data_erasure'").result_rows
        assert kind == "erasure" and meta["subject_user_id"] == '"patient-7"' and meta["records_erased"] == "20"

        report = verify(store)
        assert report.ok, report.findings
        proof_after = build_proof(store, erased_event.event_id, trusted_keys())
        assert proof_after["link_bytes"] == proof_before["link_bytes"]
        offline_verify(proof_after, trusted_keys())
        # without the salt, the stored digest does not confirm a guess of the erased text
        digest = store.query(f"SELECT prompt_sha256 FROM {db}.events FINAL WHERE seq = 1").result_rows[0][0]
        assert digest != sha256_hex("Symptoms of case 0")
        assert erase_content(store, request) == 0  # idempotent
    finally:
        sink.stop()
        for worker in workers:
            worker.stop()


def test_erasure_request_names_exactly_one_subject() -> None:
    with pytest.raises(ErasureError):
        ErasureRequest("t")
    with pytest.raises(ErasureError):
        ErasureRequest("t", user_id="u", session_id="s")
