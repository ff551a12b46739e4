"""Tampering by someone with write access to ClickHouse, each class tried on a copy of one real log: what a
store consistent with itself hides (a FINAL read, a dict, deleted checkpoints, tenants or tails) must be found,
the last classes only with an anchor outside the database (the audit.checkpoints topic, a witness)."""

from __future__ import annotations

import base64
import json
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from audit_layer_ledger.anchors import from_witness_state
from audit_layer_ledger.kafka_anchor import read_checkpoint_topic
from audit_layer_ledger.verify import verify_store
from audit_layer_processors.signing import load_signer
from audit_layer_processors.topics_admin import ensure_topics
from audit_layer_samples.factories import make_event
from audit_layer_schemas import Topics
from audit_layer_schemas.chain import LinkEncoder
from audit_layer_schemas.checkpoint import CheckpointStatement
from audit_layer_sdk import AuditConfig, AuditPublisher
from audit_layer_store.rows import INSERT_COLUMNS, SELECT_COLUMNS, chain_fields_from_row, row_from_chained
from audit_layer_store.store import ClickHouseStore

from tests.conftest import PARTITIONS, SIGNING_KEY, SinkThread, Worker, trusted_keys, wait_for_rows

pytestmark = pytest.mark.integration

TENANTS = {"acme-bank": 120, "globex-hr": 80}
EVERY = 25


class Ledger:
    def __init__(self, bootstrap: str, topics: Topics, store: ClickHouseStore, sink_group: str) -> None:
        self.bootstrap, self.topics, self.store, self.sink_group = bootstrap, topics, store, sink_group

    def anchor(self) -> Any:
        return read_checkpoint_topic(self.bootstrap, self.topics.checkpoints, self.sink_group)


@pytest.fixture(scope="module")
def ledger(kafka_bootstrap: str, chdb_path: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Ledger]:
    """One real log (enricher and sequencer processes, the sink), every event covered by a signed checkpoint."""
    topics = Topics(f"t{uuid.uuid4().hex[:10]}.")
    ensure_topics(kafka_bootstrap, topics, partitions=PARTITIONS)
    store = ClickHouseStore(f"chdb://{chdb_path}", f"ledger_{uuid.uuid4().hex[:8]}")
    store.migrate()
    logs = tmp_path_factory.mktemp("workers")
    workers = [Worker("enricher", kafka_bootstrap, topics, logs),
               Worker("sequencer", kafka_bootstrap, topics, logs, "--checkpoint-every", str(EVERY),
                      "--checkpoint-seconds", "1")]
    sink = SinkThread(kafka_bootstrap, topics, store)
    try:
        publisher = AuditPublisher(AuditConfig(bootstrap_servers=kafka_bootstrap, topic=topics.events))
        for tenant, count in TENANTS.items():
            for i in range(count):
                publisher.publish(make_event(tenant, metadata={"loan_amount": str(1000 + i), "branch": "north"}))
        assert publisher.flush(30) == 0
        assert wait_for_rows(store, sum(TENANTS.values()), workers=workers, sink=sink) == sum(TENANTS.values())
        deadline = time.monotonic() + 60
        while dict(store.query(f"SELECT tenant_id, max(last_seq) FROM {store.database}.checkpoints "
                               "GROUP BY tenant_id").result_rows) != TENANTS:
            assert time.monotonic() < deadline, "checkpoints did not cover every event"
            time.sleep(0.5)
        time.sleep(1.5)  # the sink commits what it loaded
    finally:
        sink.stop()
        for worker in workers:
            worker.stop()
    yield Ledger(kafka_bootstrap, topics, store, f"{topics.prefix}sink")
    store.command(f"DROP DATABASE IF EXISTS {store.database}")


@pytest.fixture
def log(ledger: Ledger) -> Iterator[ClickHouseStore]:
    """A copy of the ledger's tables for one attack."""
    copy = ClickHouseStore(ledger.store.dsn, f"attack_{uuid.uuid4().hex[:8]}")
    copy.migrate()
    for table in ("events", "checkpoints"):
        copy.command(f"INSERT INTO {copy.database}.{table} SELECT * FROM {ledger.store.database}.{table}")
    yield copy
    copy.command(f"DROP DATABASE IF EXISTS {copy.database}")


def problems(report: Any) -> set[tuple[str, str]]:
    return {(f.tenant_id, f.problem) for f in report.findings}


def verify(store: ClickHouseStore, ledger: Ledger | None = None) -> Any:
    return verify_store(store, public_keys=trusted_keys(), anchors=[ledger.anchor()] if ledger else [])


def _rows(store: ClickHouseStore, where: str) -> list[tuple[Any, ...]]:
    return store.query(f"SELECT {', '.join(SELECT_COLUMNS)} FROM {store.database}.events FINAL WHERE {where} "
                       "ORDER BY tenant_id, seq").result_rows


def _insert_enriched(store: ClickHouseStore, tenant: str, seq: int, prev: bytes, digest: bytes,
                     enriched: dict[str, Any]) -> None:
    chained = {"event": enriched, "seq": seq, "prev_hash": prev, "hash": digest,
               "link_schema": LinkEncoder().schema_hex}
    store.insert("events", [row_from_chained(chained, 0, 10_000 + seq)], INSERT_COLUMNS)


def test_an_untouched_log_verifies_anchored_and_unanchored(log: ClickHouseStore, ledger: Ledger) -> None:
    report = verify(log, ledger)
    assert report.ok, report.findings
    [(stored,)] = log.query(f"SELECT count() FROM {log.database}.checkpoints FINAL").result_rows
    assert not report.anchors.unanchored and report.anchors.checkpoints == stored >= len(TENANTS)
    assert report.links == sum(TENANTS.values())
    bare = verify(log)
    assert bare.ok and bare.anchors.unanchored


def test_all_checkpoints_deleted(log: ClickHouseStore, ledger: Ledger) -> None:
    log.command(f"TRUNCATE TABLE {log.database}.checkpoints")
    assert verify(log).ok  # consistent with itself: only an anchor tells
    assert problems(verify(log, ledger)) == {(t, "checkpoint_missing") for t in TENANTS}


def test_a_tenant_deleted(log: ClickHouseStore, ledger: Ledger) -> None:
    for table in ("events", "checkpoints"):
        log.command(f"ALTER TABLE {log.database}.{table} DELETE WHERE tenant_id = 'globex-hr' "
                    "SETTINGS mutations_sync = 2")
    assert verify(log).ok
    found = problems(verify(log, ledger))
    assert ("globex-hr", "tenant_missing") in found and not any(t == "acme-bank" for t, _ in found)


def test_both_tables_truncated(log: ClickHouseStore, ledger: Ledger) -> None:
    for table in ("events", "checkpoints"):
        log.command(f"TRUNCATE TABLE {log.database}.{table}")
    assert verify(log).ok and not verify(log).tenants
    assert {(t, "tenant_missing") for t in TENANTS} <= problems(verify(log, ledger))


def test_suffix_rewritten_with_valid_links_and_its_checkpoints_dropped(log: ClickHouseStore, ledger: Ledger) -> None:
    keep = 60
    encoder = LinkEncoder()
    [(prev,)] = log.query(f"SELECT hash FROM {log.database}.events FINAL WHERE tenant_id = 'acme-bank' "
                          f"AND seq = {keep}").result_rows
    prev = bytes(prev)
    rewritten = []
    for row in _rows(log, f"tenant_id = 'acme-bank' AND seq > {keep}"):
        tenant, seq, _, _, _, enriched = chain_fields_from_row(row)
        enriched["event"]["decision_outcome"] = "approved-by-forger"
        digest = encoder.link_hash(prev, enriched, seq)
        rewritten.append((tenant, seq, prev, digest, enriched))
        prev = digest
    log.command(f"ALTER TABLE {log.database}.events DELETE WHERE tenant_id = 'acme-bank' AND seq > {keep} "
                "SETTINGS mutations_sync = 2")
    log.command(f"ALTER TABLE {log.database}.checkpoints DELETE WHERE tenant_id = 'acme-bank' AND last_seq > {keep} "
                "SETTINGS mutations_sync = 2")
    for tenant, seq, before, digest, enriched in rewritten:
        _insert_enriched(log, tenant, seq, before, digest, enriched)
    assert verify(log).ok  # every link valid, every remaining checkpoint valid
    found = problems(verify(log, ledger))
    assert ("acme-bank", "checkpoint_missing") in found and ("acme-bank", "checkpoint_head_mismatch") in found


def test_a_different_twin_in_another_partition(log: ClickHouseStore) -> None:
    [row] = _rows(log, "tenant_id = 'acme-bank' AND seq = 10")
    tenant, seq, prev, digest, _, enriched = chain_fields_from_row(row)
    enriched["event"]["decision_outcome"] = "approved-by-forger"
    enriched["ingested_at_us"] -= 90 * 86_400 * 1_000_000  # another monthly partition
    _insert_enriched(log, tenant, seq, prev, digest, enriched)
    assert log.query(f"SELECT uniqExact(_partition_id) FROM {log.database}.events WHERE seq = 10 "
                     "AND tenant_id = 'acme-bank'").result_rows == [(2,)]
    found = [f for f in verify(log).findings if f.problem == "forked_seq"]
    assert [(f.tenant_id, f.seq) for f in found] == [("acme-bank", 10)]


def test_a_different_twin_that_final_picks(log: ClickHouseStore) -> None:
    [row] = _rows(log, "tenant_id = 'globex-hr' AND seq = 33")
    tenant, seq, prev, digest, _, enriched = chain_fields_from_row(row)
    enriched["event"]["user_id"] = "someone-else"
    _insert_enriched(log, tenant, seq, prev, digest, enriched)  # inserted last: FINAL keeps it
    found = verify(log).findings
    assert ("globex-hr", 33, "forked_seq") in {(f.tenant_id, f.seq, f.problem) for f in found}


def test_an_identical_twin_is_benign_and_reported(log: ClickHouseStore) -> None:
    log.command(f"INSERT INTO {log.database}.events SELECT * FROM {log.database}.events "
                "WHERE tenant_id = 'globex-hr' AND seq = 7")
    report = verify(log)
    assert report.ok and report.identical_twins == 1
    # the daily aggregates counted the row twice; the report counts it once and stays verified
    import datetime as dt

    from audit_layer_governance.reports import compliance_summary

    today = dt.datetime.now(dt.UTC).date()
    summary = compliance_summary.build(log, "globex-hr", today - dt.timedelta(days=1), today + dt.timedelta(days=1),
                                       public_keys=trusted_keys()).data
    assert summary["events"] == TENANTS["globex-hr"] and sum(summary["actions"].values()) == TENANTS["globex-hr"]
    assert summary["chain"]["status"] == "VERIFIED", summary["chain"]["last_verification"]["finding"]
    assert summary["chain"]["figures"]["rows_stored_twice_only"]
    assert summary["chain"]["figures"]["figures_from"] == "stored events"


def test_a_map_with_a_repeated_key(log: ClickHouseStore) -> None:
    # SQL reads the first value (forged), a dict keeps the last (the hashed one)
    log.command(f"ALTER TABLE {log.database}.events UPDATE metadata = CAST((arrayConcat(['loan_amount'], "
                "mapKeys(metadata)), arrayConcat(['999999'], mapValues(metadata))), 'Map(String, String)') "
                "WHERE tenant_id = 'acme-bank' AND seq = 12 SETTINGS mutations_sync = 2")
    [(shown,)] = log.query(f"SELECT metadata['loan_amount'] FROM {log.database}.events FINAL "
                           "WHERE tenant_id = 'acme-bank' AND seq = 12").result_rows
    assert shown == "999999"
    found = verify(log).findings
    assert ("acme-bank", 12, "malformed_row") in {(f.tenant_id, f.seq, f.problem) for f in found}


def test_two_signed_checkpoints_of_one_size(log: ClickHouseStore) -> None:
    signer = load_signer(SIGNING_KEY)
    [(first, last, head, created)] = log.query(
        f"SELECT first_seq, last_seq, head_hash, toUnixTimestamp64Micro(created_at) FROM {log.database}.checkpoints "
        "WHERE tenant_id = 'acme-bank' ORDER BY last_seq LIMIT 1").result_rows
    fork = CheckpointStatement("acme-bank", first, last, bytes(head), bytes(32), created, signer.key_id)
    log.insert("checkpoints", [["acme-bank", first, last, bytes(head), bytes(32), created, signer.key_id,
                                signer.sign(fork), 0, 99]],
               ["tenant_id", "first_seq", "last_seq", "head_hash", "merkle_root", "created_at", "key_id",
                "signature", "kafka_partition", "kafka_offset"])
    forks = [f for f in verify(log).findings if f.problem == "checkpoint_fork"]
    assert [(f.tenant_id, f.seq) for f in forks] == [("acme-bank", last)]
    assert base64.b64encode(signer.sign(fork)).decode() in forks[0].detail  # the evidence


def test_cli_names_what_the_anchor_knows_and_requires_an_anchor(log: ClickHouseStore, ledger: Ledger,
                                                                  tmp_path: Path) -> None:
    log.command(f"TRUNCATE TABLE {log.database}.checkpoints")
    served = ClickHouseStore(log.dsn, log.database, serve=True)
    keys = tmp_path / "keys"
    keys.mkdir()
    for pub in SIGNING_KEY.parent.glob("*.pub"):
        (keys / pub.name).write_text(pub.read_text())
    base = [sys.executable, "-m", "audit_layer_cli.main", "verify", "--dsn", log.dsn, "--database", log.database,
            "--public-keys", str(keys), "--bootstrap-servers", ledger.bootstrap, "--json"]
    try:
        anchored = subprocess.run([*base, "--topic-prefix", ledger.topics.prefix, "--sink-group", ledger.sink_group],
                                  capture_output=True, text=True, timeout=120)
        assert anchored.returncode == 1, anchored.stdout + anchored.stderr
        result = json.loads(anchored.stdout)
        assert not result["anchors"]["unanchored"]
        assert {f["problem"] for f in result["findings"]} == {"checkpoint_missing"}
        bare = subprocess.run([*base, "--no-kafka-anchor"], capture_output=True, text=True, timeout=120)
        assert bare.returncode == 0 and json.loads(bare.stdout)["anchors"]["unanchored"]
        required = subprocess.run([*base, "--no-kafka-anchor", "--require-anchor"], capture_output=True, text=True,
                                  timeout=120)
        assert required.returncode == 1 and "no anchor" in required.stderr
    finally:
        served.close()


def test_the_witness_alarms_on_a_rollback_and_verify_anchors_to_its_state(log: ClickHouseStore, ledger: Ledger,
                                                                          tmp_path: Path) -> None:
    from audit_layer_processors.signing import generate_key_file

    served = ClickHouseStore(log.dsn, log.database, serve=True)
    key = tmp_path / "witness" / "witness.pem"
    generate_key_file(key)
    state = tmp_path / "witness-state"  # the witness's own folder, outside the log's data
    witness = [sys.executable, "-m", "audit_layer_cli.main", "witness", "--dsn", log.dsn, "--database", log.database,
               "--tenant", "acme-bank", "--key", str(key), "--state", str(state),
               "--operator-keys", str(SIGNING_KEY.parent)]
    try:
        first = subprocess.run(witness, capture_output=True, text=True, timeout=120)
        assert first.returncode == 0, first.stdout + first.stderr
        assert verify_store(log, public_keys=trusted_keys(), anchors=[from_witness_state(state)]).ok
        # the log loses its newest checkpoints and the events they covered
        log.command(f"ALTER TABLE {log.database}.checkpoints DELETE WHERE tenant_id = 'acme-bank' AND last_seq > 50 "
                    "SETTINGS mutations_sync = 2")
        log.command(f"ALTER TABLE {log.database}.events DELETE WHERE tenant_id = 'acme-bank' AND seq > 50 "
                    "SETTINGS mutations_sync = 2")
        again = subprocess.run(witness, capture_output=True, text=True, timeout=120)
        assert again.returncode == 3 and "rollback" in again.stdout, again.stdout + again.stderr
        assert (state / "ALARM-acme-bank.json").exists()
        assert verify_store(log, public_keys=trusted_keys()).ok  # consistent with itself
        report = verify_store(log, public_keys=trusted_keys(), anchors=[from_witness_state(state)])
        assert {("acme-bank", "log_shrunk"), ("acme-bank", "checkpoint_missing")} <= problems(report)
    finally:
        served.close()


def test_a_forged_verification_row_or_aggregate_does_not_make_a_report_say_verified(log: ClickHouseStore) -> None:
    import datetime as dt

    from audit_layer_governance.reports import compliance_summary

    today = dt.datetime.now(dt.UTC).date()
    period = (today - dt.timedelta(days=1), today + dt.timedelta(days=1))
    clean = compliance_summary.build(log, "acme-bank", *period, public_keys=trusted_keys()).data["chain"]
    assert clean["status"] == "VERIFIED" and clean["figures"]["ok"]
    # an aggregate row edited in: the report's figures would change
    [(day, action, risk)] = log.query(f"SELECT day, action, risk_level FROM {log.database}.events_daily "
                                      "WHERE tenant_id = 'acme-bank' LIMIT 1").result_rows
    log.insert("events_daily", [["acme-bank", day, "loan_underwriting", "openai", "gpt-4o-mini", action, risk, 500]],
               ["tenant_id", "day", "decision_type", "provider", "model", "action", "risk_level", "events"])
    forged = compliance_summary.build(log, "acme-bank", *period, public_keys=trusted_keys()).data
    chain = forged["chain"]
    assert not chain["figures"]["ok"] and chain["status"].startswith("FAILED")
    assert forged["events"] == TENANTS["acme-bank"]  # the figures shown are the stored events', not the forged row's
    # a broken chain and a forged 'verified' row: the report verifies for itself
    log.command(f"ALTER TABLE {log.database}.events UPDATE decision_outcome = 'approved-by-forger' "
                "WHERE tenant_id = 'acme-bank' AND seq = 3 SETTINGS mutations_sync = 2")
    log.insert("verifications", [["acme-bank", dt.datetime.now(dt.UTC) + dt.timedelta(days=1), 1, 120, 120,
                                  bytes(32), 5, None]],
               ["tenant_id", "verified_at", "ok", "links", "last_seq", "head_hash", "checkpoints_verified", "finding"])
    chain = compliance_summary.build(log, "acme-bank", *period, public_keys=trusted_keys()).data["chain"]
    assert chain["status"] == "FAILED" and "hash_mismatch" in chain["last_verification"]["finding"]
    cited = compliance_summary.build(log, "acme-bank", *period, verify_now=False).data["chain"]
    assert cited["status"].startswith("NOT CHECKED") and cited["status"] != "VERIFIED"


def test_a_cleared_or_forged_hold_flag_is_found(store: ClickHouseStore) -> None:
    from audit_layer_governance.retention import default_retention
    from audit_layer_governance.verification import verify_all
    from audit_layer_samples.datasets import EVENT_COLUMNS, chain

    held_user = "patient-7"
    events = [make_event("clinic", user_id=held_user if i % 2 else "patient-8") for i in range(10)]
    placed = make_event("clinic", user_id="dpo", operation="legal_hold", decision_type="legal_hold",
                        decision_outcome="placed", metadata={"hold_id": '"h1"', "hold_user_id": json.dumps(held_user),
                                                             "scope": json.dumps(f"user {held_user} of tenant clinic")})
    chained = chain([*events, placed])
    retention = default_retention()
    rows = [[*row_from_chained(c, 0, i), retention.days_for(c["event"]["compliance_tags"]),
             int(c["event"]["event"]["user_id"] == held_user)] for i, c in enumerate(chained)]
    store.insert("events", rows, EVENT_COLUMNS)
    assert verify_all(store, public_keys=trusted_keys()).ok
    store.command(f"ALTER TABLE {store.database}.events UPDATE legal_hold = 0 WHERE seq = 2 "
                  "SETTINGS mutations_sync = 2")  # the flag that keeps it past its retention, cleared
    [finding] = verify_all(store, public_keys=trusted_keys()).findings
    assert (finding.problem, finding.seq) == ("hold_mismatch", 2) and "cleared" in finding.detail
    assert verify_store(store, public_keys=trusted_keys()).ok  # the chain alone cannot see it
    store.command(f"ALTER TABLE {store.database}.events UPDATE legal_hold = if(seq = 2, 1, legal_hold) "
                  "WHERE 1 SETTINGS mutations_sync = 2")
    store.command(f"ALTER TABLE {store.database}.events UPDATE legal_hold = 1 WHERE seq = 3 "
                  "SETTINGS mutations_sync = 2")  # a hold no chained event placed
    [finding] = verify_all(store, public_keys=trusted_keys()).findings
    assert (finding.problem, finding.seq) == ("hold_mismatch", 3) and "no chained hold" in finding.detail


def test_a_shortened_retention_is_found(store: ClickHouseStore) -> None:
    from audit_layer_governance.verification import verify_all
    from audit_layer_samples.datasets import chain, load

    # loan decisions carry RETENTION-FINANCIAL (2555 days in the default policy)
    load(store, chain([make_event("acme-bank", decision_type="loan_underwriting") for _ in range(5)]))
    [(days,)] = store.query(f"SELECT DISTINCT retention_days FROM {store.database}.events").result_rows
    assert days > 180 and verify_all(store, public_keys=trusted_keys()).ok
    store.command(f"ALTER TABLE {store.database}.events UPDATE retention_days = 180 WHERE seq = 4 "
                  "SETTINGS mutations_sync = 2")  # it would leave years early
    [finding] = verify_all(store, public_keys=trusted_keys()).findings
    assert (finding.problem, finding.seq) == ("retention_mismatch", 4)
