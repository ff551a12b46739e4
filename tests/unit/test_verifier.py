"""The pure chain verifier against each kind of tampering (no ClickHouse here)."""

from typing import Any

from audit_layer_ledger.verify import ChainVerifier
from audit_layer_processors.chain_state import ChainBatch, DedupPolicy
from audit_layer_samples.factories import enriched_record, make_event
from audit_layer_schemas.chain import LinkEncoder

SCHEMA = LinkEncoder().schema_hex


def _chain(n: int, tenant: str = "acme") -> list[tuple[str, int, bytes, bytes, str, dict[str, Any]]]:
    batch = ChainBatch({}, LinkEncoder(), DedupPolicy())
    rows = []
    for _ in range(n):
        record = enriched_record(make_event(tenant))
        link = batch.link(record)
        assert link is not None
        rows.append((tenant, link.seq, link.prev_hash, link.hash, SCHEMA, record))
    return rows


def _verify(rows: list[Any]) -> tuple[bool, Any]:
    verifier = ChainVerifier()
    for row in rows:
        verifier.add(*row)
    findings = verifier.report.findings
    return verifier.report.ok, findings[0] if findings else None


def test_untouched_chain_verifies() -> None:
    ok, _ = _verify(_chain(20))
    assert ok


def test_modified_row_is_named() -> None:
    rows = _chain(10)
    tenant, seq, prev, digest, schema, record = rows[4]
    rows[4] = (tenant, seq, prev, digest, schema,
               {**record, "event": {**record["event"], "decision_outcome": "denied"}})
    ok, finding = _verify(rows)
    assert not ok and (finding.seq, finding.problem) == (5, "hash_mismatch")


def test_deleted_row_is_a_gap() -> None:
    rows = _chain(10)
    del rows[6]
    ok, finding = _verify(rows)
    assert not ok and (finding.seq, finding.problem) == (8, "seq_gap")


def test_swapped_rows_are_found() -> None:
    rows = _chain(10)
    a, b = rows[2], rows[3]
    rows[2] = (a[0], a[1], a[2], a[3], a[4], b[5])
    rows[3] = (b[0], b[1], b[2], b[3], b[4], a[5])
    ok, finding = _verify(rows)
    assert not ok and finding.seq == 3


def test_inserted_row_is_found() -> None:
    rows = _chain(10)
    forged = rows[5]
    rows.insert(6, (forged[0], 7, forged[3], b"\x00" * 32, SCHEMA, enriched_record(make_event())))
    ok, finding = _verify(rows)
    assert not ok and finding.seq == 7


def test_tenants_are_independent() -> None:
    rows = _chain(5, "a") + _chain(5, "b")
    ok, _ = _verify(rows)
    assert ok


def test_links_hashed_with_an_older_schema_version_still_verify() -> None:
    from audit_layer_schemas.registry import ENRICHED_EVENT, default_registry

    registry = default_registry()
    current = registry.current(ENRICHED_EVENT).fingerprint
    older = [e for e in registry._by_fingerprint.values() if e.name == ENRICHED_EVENT and e.fingerprint != current]
    assert older, "avro/history must ship the previous EnrichedEvent"
    old_encoder = LinkEncoder(fingerprint=older[0].fingerprint)
    batch = ChainBatch({}, old_encoder, DedupPolicy())
    verifier = ChainVerifier()
    for _ in range(5):
        record = enriched_record(make_event())
        link = batch.link(record)
        assert link is not None
        verifier.add("acme", link.seq, link.prev_hash, link.hash, old_encoder.schema_hex, record)
    assert verifier.finish().ok and old_encoder.schema_hex != SCHEMA


def test_altered_content_is_found_through_its_salted_digest() -> None:
    rows = _chain(6)
    tenant, seq, prev, digest, schema, record = rows[2]
    rows[2] = (tenant, seq, prev, digest, schema, {**record, "event": {**record["event"], "response": "Deny."}})
    ok, finding = _verify(rows)
    assert not ok and (finding.seq, finding.problem) == (3, "content_mismatch")
    erased = {**record, "event": {**record["event"], "prompt": None, "response": None, "content_salt": None}}
    rows[2] = (tenant, seq, prev, digest, schema, erased)
    assert _verify(rows)[0]  # erased content is not an alteration


def test_an_event_chained_twice_is_found() -> None:
    batch = ChainBatch({}, LinkEncoder(), DedupPolicy(window=1))  # a window too small to drop the replay
    record = enriched_record(make_event())
    rows = []
    for r in (record, enriched_record(make_event()), record):
        link = batch.link(r)
        assert link is not None
        rows.append(("acme", link.seq, link.prev_hash, link.hash, SCHEMA, r))
    ok, finding = _verify(rows)
    assert not ok and (finding.seq, finding.problem) == (3, "duplicate_event_id")
