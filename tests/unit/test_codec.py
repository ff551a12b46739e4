import json
import subprocess
import sys

import pytest
from audit_layer_samples.factories import enriched_record, make_event
from audit_layer_schemas import AUDIT_EVENT, ENRICHED_EVENT, AvroCodec, DecodeError
from audit_layer_schemas.fingerprint import crc64_avro, fingerprint_bytes
from audit_layer_schemas.registry import AVRO_DIR, SchemaRegistry, default_registry
from fastavro.schema import fingerprint as fastavro_fingerprint


def test_round_trip_raw_and_enriched() -> None:
    event = make_event()
    codec = AvroCodec(AUDIT_EVENT)
    assert codec.decode(codec.encode(event.to_avro())) == event.to_avro()
    enriched = enriched_record(event)
    codec2 = AvroCodec(ENRICHED_EVENT)
    assert codec2.decode(codec2.encode(enriched)) == enriched


def test_single_object_header() -> None:
    codec = AvroCodec(AUDIT_EVENT)
    data = codec.encode(make_event().to_avro())
    assert data[:2] == b"\xc3\x01"
    assert data[2:10] == codec.schema.fingerprint


def test_fingerprint_agrees_with_fastavro() -> None:
    for entry in (default_registry().current(n) for n in default_registry().names()):
        assert entry.fingerprint.hex() == fastavro_fingerprint(entry.canonical_form, "CRC-64-AVRO")
    # the specification's little-endian layout of the 64-bit value
    assert fingerprint_bytes('"null"') == crc64_avro(b'"null"').to_bytes(8, "little")


def test_same_event_same_bytes_whatever_the_map_order() -> None:
    event = make_event()
    record = event.to_avro()
    reordered = dict(record, metadata=dict(reversed(list(record["metadata"].items()))),
                     model_parameters=dict(reversed(list(record["model_parameters"].items()))))
    assert list(reordered["metadata"]) != list(record["metadata"])
    codec = AvroCodec(AUDIT_EVENT)
    assert codec.encode(record) == codec.encode(reordered)


def test_same_bytes_in_another_process() -> None:
    event = make_event()
    record = event.to_avro()
    here = AvroCodec(AUDIT_EVENT).encode(record).hex()
    script = (
        "import json, sys\n"
        "from audit_layer_schemas import AUDIT_EVENT, AvroCodec\n"
        "record = json.loads(sys.stdin.read())\n"
        "record['metadata'] = dict(reversed(list(record['metadata'].items())))\n"
        "print(AvroCodec(AUDIT_EVENT).encode(record).hex())\n"
    )
    out = subprocess.run([sys.executable, "-c", script], input=json.dumps(record), capture_output=True,
                         text=True, check=True, env={"PYTHONHASHSEED": "123", **__import__("os").environ})
    assert out.stdout.strip() == here


def _current_schema() -> dict:
    return json.loads((AVRO_DIR / f"{AUDIT_EVENT}.avsc").read_text())


def _old_schema() -> dict:
    """The AuditEvent as a previous release shipped it: without `reasoning` and `operation`."""
    schema = _current_schema()
    schema["fields"] = [f for f in schema["fields"] if f["name"] not in ("reasoning", "operation")]
    return schema


def _registry_with_old(current_is_old: bool) -> SchemaRegistry:
    registry = SchemaRegistry()
    registry.register(_old_schema(), current=current_is_old)
    registry.register(_current_schema(), current=not current_is_old)
    return registry


def test_new_reader_reads_old_data() -> None:
    old_codec = AvroCodec(AUDIT_EVENT, _registry_with_old(current_is_old=True))
    old_record = {k: v for k, v in make_event().to_avro().items() if k not in ("reasoning", "operation")}
    data = old_codec.encode(old_record)
    decoded = AvroCodec(AUDIT_EVENT, _registry_with_old(current_is_old=False)).decode(data)
    assert decoded["reasoning"] is None and decoded["operation"] is None  # the defaults
    assert decoded["event_id"] == old_record["event_id"]


def test_old_reader_reads_new_data() -> None:
    event = make_event(reasoning="income verified", operation="chat")
    data = AvroCodec(AUDIT_EVENT).encode(event.to_avro())
    old_reader = AvroCodec(AUDIT_EVENT, _registry_with_old(current_is_old=True))
    decoded = old_reader.decode(data)
    assert "reasoning" not in decoded
    assert decoded["tenant_id"] == event.tenant_id and decoded["prompt"] == event.prompt


def test_optional_fields_have_defaults() -> None:
    """Evolution rule: every nullable or collection field carries a default, so both directions resolve."""
    for path in AVRO_DIR.glob("*.avsc"):
        for field in json.loads(path.read_text())["fields"]:
            kind = field["type"]
            optional = (isinstance(kind, list) and "null" in kind) or (
                isinstance(kind, dict) and kind.get("type") in ("array", "map"))
            if optional:
                assert "default" in field, f"{path.name}: {field['name']} needs a default"


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"", "not_single_object_encoding"),
        (b"garbage bytes that are long", "not_single_object_encoding"),
        (b"\xc3\x01" + b"\x00" * 8 + b"\x02", "unknown_schema_fingerprint"),
    ],
)
def test_decode_errors_have_reasons(data: bytes, reason: str) -> None:
    with pytest.raises(DecodeError) as info:
        AvroCodec(AUDIT_EVENT).decode(data)
    assert info.value.reason == reason


def test_truncated_and_trailing_bytes_are_corrupt() -> None:
    codec = AvroCodec(AUDIT_EVENT)
    data = codec.encode(make_event().to_avro())
    for bad in (data[:-5], data + b"\x00"):
        with pytest.raises(DecodeError) as info:
            codec.decode(bad)
        assert info.value.reason == "corrupt_avro"


def test_wrong_record_type_is_refused() -> None:
    enriched = AvroCodec(ENRICHED_EVENT).encode(enriched_record(make_event()))
    with pytest.raises(DecodeError) as info:
        AvroCodec(AUDIT_EVENT).decode(enriched)
    assert info.value.reason == "wrong_record_type"
