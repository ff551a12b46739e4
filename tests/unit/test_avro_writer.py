"""The compiled writer writes exactly what fastavro writes (with map keys sorted)."""

import io

import fastavro
import pytest
from audit_layer_samples.factories import enriched_record, make_event
from audit_layer_schemas.avro_writer import encode_long, writer_for
from audit_layer_schemas.registry import default_registry
from hypothesis import given, settings
from hypothesis import strategies as st


def _fastavro(schema: object, record: object) -> bytes:
    buf = io.BytesIO()
    fastavro.schemaless_writer(buf, schema, record)
    return buf.getvalue()


def _sorted_maps(value: object) -> object:
    if isinstance(value, dict):
        return {k: _sorted_maps(v) for k, v in sorted(value.items())}
    if isinstance(value, list):
        return [_sorted_maps(v) for v in value]
    return value


@pytest.mark.parametrize("name", default_registry().names())
def test_every_current_schema_round_trips_through_fastavro(name: str) -> None:
    schema = default_registry().current(name).parsed
    records = {
        "dev.auditlayer.AuditEvent": make_event().to_avro(),
        "dev.auditlayer.EnrichedEvent": enriched_record(make_event()),
        "dev.auditlayer.ChainedEvent": {"event": enriched_record(make_event()), "seq": 7, "prev_hash": b"\x01" * 32,
                                        "hash": b"\x02" * 32, "link_schema": "ab" * 8},
        "dev.auditlayer.ChainHead": {"tenant_id": "t", "seq": 3, "hash": b"\x03" * 32, "recent_event_ids": ["a"],
                                     "updated_at_us": 1, "frontier": [b"\x04" * 32], "last_checkpoint_seq": 2,
                                     "last_checkpoint_at_us": 9},
        "dev.auditlayer.Checkpoint": {"tenant_id": "t", "first_seq": 1, "last_seq": 2, "head_hash": b"\x05" * 32,
                                      "merkle_root": b"\x06" * 32, "created_at_us": 5, "key_id": "k",
                                      "signature": b"\x07" * 64,
                                      "note": "o\n2\nBgYGBgYGBgYGBgYGBgYGBgYGBgYGBgYGBgYGBgYGBgY=\n\n— k AAAA\n"},
    }
    record = records[name]
    assert writer_for(schema)(record) == _fastavro(schema, _sorted_maps(record))
    assert fastavro.schemaless_reader(io.BytesIO(writer_for(schema)(record)), schema, None) == _sorted_maps(record)


@settings(max_examples=300, deadline=None)
@given(
    tokens=st.one_of(st.none(), st.integers(min_value=0, max_value=2**62)),
    confidence=st.one_of(st.none(), st.floats(min_value=0, max_value=1)),
    metadata=st.dictionaries(st.text(max_size=8), st.text(max_size=12), max_size=6),
    tags=st.lists(st.text(max_size=6), max_size=4),
    prompt=st.one_of(st.none(), st.text(max_size=50)),
    ts=st.integers(min_value=0, max_value=2**62),
)
def test_random_events_match_fastavro(tokens, confidence, metadata, tags, prompt, ts) -> None:  # type: ignore[no-untyped-def]
    schema = default_registry().current("dev.auditlayer.AuditEvent").parsed
    record = {**make_event().to_avro(), "input_tokens": tokens, "confidence": confidence, "metadata": metadata,
              "compliance_tags": tags, "prompt": prompt, "timestamp_us": ts}
    assert writer_for(schema)(record) == _fastavro(schema, _sorted_maps(record))


def test_long_encoding_edges() -> None:
    for n in [0, -1, 1, 63, -64, 64, -65, 2**31, -(2**31), 2**63 - 1, -(2**63)]:
        buf = io.BytesIO()
        fastavro.schemaless_writer(buf, "long", n)
        assert encode_long(n) == buf.getvalue(), n
    with pytest.raises(OverflowError):
        encode_long(2**63)


def test_bad_values_raise() -> None:
    schema = default_registry().current("dev.auditlayer.AuditEvent").parsed
    with pytest.raises((ValueError, TypeError)):
        writer_for(schema)({**make_event().to_avro(), "action": "MAYBE"})
    with pytest.raises((ValueError, TypeError)):
        writer_for(schema)({**make_event().to_avro(), "input_tokens": "12"})
