"""Signed checkpoints end to end: stored, verified, proofs checked offline, truncation caught."""

from __future__ import annotations

import base64
import hashlib
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from audit_layer_ledger.offline_proof import statement as offline_statement
from audit_layer_ledger.proofs import build_proof
from audit_layer_samples.factories import make_event
from audit_layer_schemas import Topics
from audit_layer_sdk import AuditConfig, AuditPublisher
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from tests.conftest import KEY_DIR, SinkThread, Worker, trusted_keys, verify, wait_for_rows

pytestmark = pytest.mark.integration


def _offline(proof: dict[str, Any], tmp_path: Path, *keys: Path) -> tuple[int, str]:
    path = tmp_path / f"proof-{time.monotonic_ns()}.json"
    path.write_text(json.dumps(proof))
    trusted = [a for key in (keys or sorted(KEY_DIR.glob("*.pub"))) for a in ("--trusted-key", str(key))]
    out = subprocess.run([sys.executable, "-m", "audit_layer_ledger.offline_proof", str(path), *trusted],
                         capture_output=True, text=True, timeout=60)
    return out.returncode, out.stdout + out.stderr


@pytest.fixture
def chained_store(kafka_bootstrap: str, topics: Topics, store: Any, tmp_path: Path) -> Any:
    workers = [Worker("enricher", kafka_bootstrap, topics, tmp_path),
               Worker("sequencer", kafka_bootstrap, topics, tmp_path, "--checkpoint-every", "100",
                      "--checkpoint-seconds", "2")]
    sink = SinkThread(kafka_bootstrap, topics, store)
    try:
        publisher = AuditPublisher(AuditConfig(bootstrap_servers=kafka_bootstrap, topic=topics.events))
        events = [make_event("acme-bank") for _ in range(250)]
        for event in events:
            publisher.publish(event)
        assert publisher.flush(30) == 0
        assert wait_for_rows(store, 250, workers=workers, sink=sink) == 250
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            done = store.query(f"SELECT max(last_seq) FROM {store.database}.checkpoints").result_rows[0][0]
            if done == 250:
                break
            time.sleep(0.5)
        store.events = events  # type: ignore[attr-defined]
        yield store
    finally:
        sink.stop()
        for worker in workers:
            worker.stop()


def test_checkpoints_every_n_and_after_t_seconds_verify(chained_store: Any) -> None:
    store = chained_store
    rows = store.query(f"SELECT first_seq, last_seq FROM {store.database}.checkpoints FINAL "
                       "ORDER BY last_seq").result_rows
    assert rows == [(1, 100), (101, 200), (201, 250)]  # two by count, the last by time
    report = verify(store)
    assert report.ok and report.checkpoints == 3


def test_inclusion_proof_verifies_offline_and_doctored_proofs_fail(chained_store: Any, tmp_path: Path) -> None:
    store = chained_store
    event = store.events[149]
    proof = build_proof(store, event.event_id, trusted_keys())
    assert proof["seq"] == 150 and proof["checkpoint"]["last_seq"] == 200
    code, out = _offline(proof, tmp_path)
    assert code == 0 and "VALID" in out, out

    flipped = bytearray(bytes.fromhex(proof["link_bytes"]))
    flipped[-5] ^= 1
    doctored = {
        "record altered": ({**proof, "link_bytes": flipped.hex()}, "does not hash to its chain hash"),
        "path altered": ({**proof, "audit_path": [("00" * 32), *proof["audit_path"][1:]]},
                         "does not lead to the checkpoint's Merkle root"),
        "root altered": ({**proof, "checkpoint": {**proof["checkpoint"], "merkle_root": "11" * 32}},
                         "does not lead to the checkpoint's Merkle root"),
        "checkpoint re-dated": ({**proof, "checkpoint": {**proof["checkpoint"], "created_at_us": 1}},
                                "signature does not verify"),
        "other seq": ({**proof, "seq": 151}, "link bytes are for seq 150"),
        # what the auditor reads must be what was hashed
        "shown outcome edited": ({**proof, "record": {**proof["record"], "event": {
            **proof["record"]["event"], "decision_outcome": "approved-by-forger"}}}, "field event.decision_outcome"),
        "shown risk edited": ({**proof, "record": {**proof["record"], "risk_level": "LOW"}}, "field risk_level"),
        "shown field added": ({**proof, "record": {**proof["record"], "reviewed_by": "x"}}, "field reviewed_by"),
        "record removed": ({k: v for k, v in proof.items() if k != "record"}, "field record is missing"),
        "event id edited": ({**proof, "event_id": str(store.events[0].event_id)}, "field event_id of the proof"),
    }
    assert proof["record"]["event"]["event_id"] == str(event.event_id)
    for name, (bad, reason) in doctored.items():
        code, out = _offline(bad, tmp_path)
        assert code == 1 and reason in out, (name, out)

    # a proof re-signed by a key the checker was not given is refused, whatever key the document names
    forger = Ed25519PrivateKey.generate()
    forged_raw = forger.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    forged_cp = {**proof["checkpoint"], "key_id": hashlib.sha256(forged_raw).digest()[:8].hex()}
    forged_cp["signature"] = base64.b64encode(forger.sign(offline_statement(forged_cp))).decode()
    forged = {**proof, "checkpoint": forged_cp, "public_key": base64.b64encode(forged_raw).decode()}
    code, out = _offline(forged, tmp_path)
    assert code == 1 and f"signed by key {forged_cp['key_id']}, not a trusted key" in out, out
    # with no trusted key at all the checker will not run
    plain = tmp_path / "plain.json"
    plain.write_text(json.dumps(proof))
    refused = subprocess.run([sys.executable, "-m", "audit_layer_ledger.offline_proof", str(plain)],
                             capture_output=True, text=True, timeout=60)
    assert refused.returncode == 2 and "--trusted-key" in refused.stderr


def test_log_cut_short_after_its_last_checkpoint_is_detected(chained_store: Any) -> None:
    store = chained_store
    store.command(f"ALTER TABLE {store.database}.events DELETE WHERE seq > 230 SETTINGS mutations_sync = 2")
    report = verify(store)
    [finding] = report.findings
    assert (finding.problem, finding.seq) == ("truncated", 231)


def test_altered_checkpoint_is_detected(chained_store: Any) -> None:
    store = chained_store
    store.command(f"ALTER TABLE {store.database}.checkpoints UPDATE created_at = created_at + 1 "
                  "WHERE last_seq = 200 SETTINGS mutations_sync = 2")
    [finding] = verify(store).findings
    assert (finding.problem, finding.seq) == ("checkpoint_signature_invalid", 200)


def test_checkpoints_need_a_trusted_key(chained_store: Any) -> None:
    from audit_layer_ledger.verify import verify_store

    [finding] = verify_store(chained_store, public_keys={}).findings
    assert finding.problem == "unknown_checkpoint_key"


def test_witness_countersigns_the_stored_checkpoints_and_catches_a_rewrite(chained_store: Any,
                                                                          tmp_path: Path) -> None:
    from audit_layer_ledger.proofs import build_consistency, tenant_checkpoints
    from audit_layer_ledger.witness import Witness, WitnessAlarm
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    store = chained_store
    witness = Witness(tmp_path / "witness", Ed25519PrivateKey.generate(), trusted_keys())

    def consistency(a: int, b: int) -> list[str]:
        return build_consistency(store, "acme-bank", a, b)["proof"]

    assert witness.observe("acme-bank", tenant_checkpoints(store, "acme-bank")[:1], consistency) == 1
    assert witness.observe("acme-bank", tenant_checkpoints(store, "acme-bank"), consistency) == 2
    assert witness.seen("acme-bank").size == 250
    # the operator rewrites one early link and re-signs nothing: the next proof no longer matches
    store.command(f"ALTER TABLE {store.database}.events UPDATE hash = unhex(repeat('ab', 32)) "
                  "WHERE tenant_id = 'acme-bank' AND seq = 5 SETTINGS mutations_sync = 2")
    proof = build_consistency(store, "acme-bank", 100, 250)
    assert proof["first_root"] != tenant_checkpoints(store, "acme-bank")[0]["merkle_root"]
    forged = {**tenant_checkpoints(store, "acme-bank")[-1], "last_seq": 250}
    with pytest.raises(WitnessAlarm):
        Witness(tmp_path / "w2", Ed25519PrivateKey.generate(), trusted_keys()).observe(
            "acme-bank", [{**forged, "merkle_root": proof["second_root"]}], consistency)


def _rows_of(store: Any, where: str) -> tuple[list[str], list[list[Any]]]:
    result = store.query(f"SELECT * EXCEPT (loaded_at) FROM {store.database}.events FINAL WHERE {where} ORDER BY seq")
    return list(result.column_names), [list(r) for r in result.result_rows]


def test_deleted_inserted_swapped_and_replayed_rows_are_each_named(chained_store: Any) -> None:
    """Each tampering case of `verify`, on the stored rows of a real pipeline run (a fresh copy each)."""
    from audit_layer_schemas.chain import LinkEncoder
    from audit_layer_store.rows import SELECT_COLUMNS, chain_fields_from_row

    store = chained_store
    db = store.database
    columns, original = _rows_of(store, "1")
    seq_at = columns.index("seq")

    def reset() -> None:
        store.command(f"TRUNCATE TABLE {db}.events")
        store.insert("events", original, columns)

    def finding() -> tuple[str, int]:
        [f] = verify(store).findings
        return f.problem, f.seq

    # a deleted row: the chain jumps
    store.command(f"ALTER TABLE {db}.events DELETE WHERE seq = 120 SETTINGS mutations_sync = 2")
    assert finding() == ("seq_gap", 121)

    # an inserted row: everything after it renumbered, the new row linked to its predecessor
    reset()
    store.command(f"TRUNCATE TABLE {db}.events")
    forged = [*original[100][:seq_at], 101, *original[100][seq_at + 1:]]
    forged[columns.index("prev_hash")] = original[99][columns.index("hash")]
    forged[columns.index("decision_outcome")] = "approved by the forger"
    store.insert("events", original[:100] + [forged] + [[*r[:seq_at], r[seq_at] + 1, *r[seq_at + 1:]]
                                                        for r in original[100:]], columns)
    assert finding() == ("hash_mismatch", 101)

    # two rows swapped
    reset()
    a, b = original[79], original[80]
    store.insert("events", [[*b[:seq_at], 80, *b[seq_at + 1:]], [*a[:seq_at], 81, *a[seq_at + 1:]]], columns)
    # FINAL reads the swapped pair; the originals still beside them are second rows with other content
    found = {(f.problem, f.seq) for f in verify(store).findings}
    assert found == {("prev_hash_mismatch", 80), ("forked_seq", 80), ("forked_seq", 81)}

    # a replayed event chained twice, with valid links: caught by its event id
    reset()
    last = store.query(f"SELECT {', '.join(SELECT_COLUMNS)} FROM {db}.events FINAL WHERE seq = 250").result_rows[0]
    replay = store.query(f"SELECT {', '.join(SELECT_COLUMNS)} FROM {db}.events FINAL WHERE seq = 30").result_rows[0]
    _, _, _, head, link_schema, _ = chain_fields_from_row(last)
    *_, enriched = chain_fields_from_row(replay)
    encoder = LinkEncoder(fingerprint=bytes.fromhex(link_schema))
    twin = [*original[29][:seq_at], 251, *original[29][seq_at + 1:]]
    twin[columns.index("prev_hash")] = head
    twin[columns.index("hash")] = encoder.link_hash(head, enriched, 251)
    store.insert("events", [twin], columns)
    assert finding() == ("duplicate_event_id", 251)


def test_key_rotation_keeps_older_checkpoints_verifiable(kafka_bootstrap: str, topics: Topics, store: Any,
                                                        tmp_path: Path) -> None:
    from audit_layer_ledger.offline_proof import verify as offline_verify
    from audit_layer_ledger.proofs import load_public_keys
    from audit_layer_ledger.verify import verify_store
    from audit_layer_processors.signing import generate_key_file

    new_key = tmp_path / "rotated" / "checkpoint-2.pem"
    generate_key_file(new_key)
    every = ("--checkpoint-every", "50", "--checkpoint-seconds", "1")
    enricher = Worker("enricher", kafka_bootstrap, topics, tmp_path)
    old_sequencer = Worker("sequencer", kafka_bootstrap, topics, tmp_path, *every)
    sink = SinkThread(kafka_bootstrap, topics, store)
    publisher = AuditPublisher(AuditConfig(bootstrap_servers=kafka_bootstrap, topic=topics.events))
    db = store.database

    def signed_up_to(seq: int) -> None:
        deadline = time.monotonic() + 60
        while store.query(f"SELECT max(last_seq) FROM {db}.checkpoints").result_rows[0][0] < seq:
            assert time.monotonic() < deadline, f"no checkpoint reached seq {seq}"
            time.sleep(0.3)

    new_sequencer = None
    try:
        events = [make_event("acme-bank") for _ in range(200)]
        for event in events[:100]:
            publisher.publish(event)
        assert publisher.flush(30) == 0
        assert wait_for_rows(store, 100, workers=[enricher, old_sequencer], sink=sink) == 100
        signed_up_to(100)
        old_sequencer.stop()  # the operator rotates the signing key
        new_sequencer = Worker("sequencer", kafka_bootstrap, topics, tmp_path, *every, "--signing-key", str(new_key))
        for event in events[100:]:
            publisher.publish(event)
        assert publisher.flush(30) == 0
        assert wait_for_rows(store, 200, workers=[enricher, new_sequencer], sink=sink) == 200
        signed_up_to(200)

        key_ids = {k for (k,) in store.query(f"SELECT DISTINCT key_id FROM {db}.checkpoints").result_rows}
        both = {**trusted_keys(), **load_public_keys(new_key.parent)}
        assert len(key_ids) == 2 and key_ids == set(both)
        report = verify_store(store, public_keys=both)
        assert report.ok, report.findings
        assert report.checkpoints == store.query(f"SELECT count() FROM {db}.checkpoints FINAL").result_rows[0][0]
        # trusting only the new key, the older checkpoints are named, not silently accepted
        [finding] = verify_store(store, public_keys=load_public_keys(new_key.parent)).findings
        assert finding.problem == "unknown_checkpoint_key" and finding.seq <= 100
        # proofs of records signed under either key check offline
        for event in (events[10], events[150]):
            offline_verify(build_proof(store, event.event_id, both), both)
    finally:
        sink.stop()
        for worker in (enricher, old_sequencer, new_sequencer):
            if worker is not None:
                worker.stop()
