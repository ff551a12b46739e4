"""The compiled Avro codec (schemas/avro_native): its reader reads exactly what fastavro reads and refuses what is
malformed; its writer writes exactly what the Python writer writes (itself held against fastavro).

fastavro is an implementation we did not write. Every message a worker reads or writes goes through the compiled
codec when it is built, so it must be built here: `make install` builds it.
"""

import io
import json
import struct
from enum import StrEnum
from types import MappingProxyType

import fastavro
import pytest
from audit_layer_samples.factories import enriched_record, make_event
from audit_layer_schemas import AUDIT_EVENT, AvroCodec, DecodeError
from audit_layer_schemas.avro_writer import (
    encode_long,
    erasing_writer_for,
    python_erasing_writer_for,
    python_writer_for,
    writer_for,
)
from audit_layer_schemas.chain import CONTENT_FIELDS
from audit_layer_schemas.datum_reader import datum_reader, fastavro_reader
from audit_layer_schemas.native_codec import NATIVE_VARIABLE, native_built
from audit_layer_schemas.registry import AVRO_DIR, RegisteredSchema, SchemaRegistry, default_registry
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

if native_built():
    from audit_layer_schemas._avro_native import Reader, Writer


def _compiled(schema: RegisteredSchema) -> Reader:
    return Reader(schema.canonical_form)


def _fastavro(schema: RegisteredSchema, data: bytes) -> object:
    return fastavro.schemaless_reader(io.BytesIO(data), schema.parsed, None)


def _same(a: object, b: object) -> bool:
    """Equal, with dict keys in the same order (digests and JSON renderings follow the order)."""
    if isinstance(a, dict) and isinstance(b, dict):
        return list(a) == list(b) and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    return type(a) is type(b) and a == b


def _samples() -> dict[str, list[dict[str, object]]]:
    events = [make_event(f"t-{i}", user_id=f"u-{i}").to_avro() for i in range(5)]
    enriched = [enriched_record(make_event(f"t-{i}")) for i in range(3)]
    return {
        "dev.auditlayer.AuditEvent": events,
        "dev.auditlayer.EnrichedEvent": enriched,
        "dev.auditlayer.ChainedEvent": [{"event": e, "seq": 2**40 + i, "prev_hash": bytes([i]) * 32,
                                         "hash": bytes([i + 1]) * 32, "link_schema": "ab" * 8}
                                        for i, e in enumerate(enriched)],
        "dev.auditlayer.ChainHead": [{"tenant_id": "t", "seq": 3, "hash": b"\x03" * 32, "recent_event_ids": ["a", "b"],
                                      "updated_at_us": 1, "frontier": [b"\x04" * 32, b"\x05" * 32],
                                      "last_checkpoint_seq": 2, "last_checkpoint_at_us": 9}],
        "dev.auditlayer.Checkpoint": [{"tenant_id": "t", "first_seq": 1, "last_seq": 2, "head_hash": b"\x05" * 32,
                                       "merkle_root": b"\x06" * 32, "created_at_us": 5, "key_id": "k",
                                       "signature": b"\x07" * 64, "note": "o\n2\nBgY=\n\n— k AAAA\n"}],
    }


def _every_version() -> list[RegisteredSchema]:
    """The current schemas and each earlier version the registry keeps (older producers' messages)."""
    versions = [default_registry().current(name) for name in default_registry().names()]
    for folder in sorted((AVRO_DIR / "history").iterdir()):
        if folder.is_dir():
            for path in sorted(folder.glob("*.avsc")):
                registry = SchemaRegistry()
                schema = fastavro.schema.load_schema(str(path), _write_hint=False)
                versions.append(registry.register(schema))
    return versions


def test_the_compiled_codec_is_built() -> None:
    assert native_built(), "the compiled codec is missing: `make install` builds it (needs cargo)"


@pytest.mark.parametrize("schema", _every_version(), ids=lambda s: f"{s.name}-{s.fingerprint_hex[:8]}")
def test_every_schema_version_gets_a_compiled_reader(schema: RegisteredSchema) -> None:
    assert _compiled(schema) is not None  # raises ValueError on a schema it would leave to fastavro
    assert getattr(datum_reader(schema), "__self__", None).__class__ is Reader


@pytest.mark.parametrize("name", default_registry().names())
def test_every_current_schema_reads_as_fastavro_reads(name: str) -> None:
    schema = default_registry().current(name)
    write = writer_for(schema.parsed)
    for record in _samples()[name]:
        data = write(record)
        assert _same(_compiled(schema).read(data), _fastavro(schema, data))


def test_the_shared_test_vectors_read_as_fastavro_reads() -> None:
    vectors = json.loads((AVRO_DIR.parent.parent / "test-vectors" / "audit-events.json").read_text())
    schema = default_registry().current(AUDIT_EVENT)
    assert vectors["events"]
    for vector in vectors["events"]:
        data = bytes.fromhex(vector["avro_hex"])[10:]  # the vectors are single-object encoded
        assert _same(_compiled(schema).read(data), _fastavro(schema, data))


_text = st.text(max_size=40)  # any code point but surrogates, which Avro strings cannot carry
_id = st.one_of(st.none(), st.text(min_size=1, max_size=20))


@settings(max_examples=400, deadline=None)
@given(
    ts=st.integers(min_value=-(2**63), max_value=2**63 - 1),
    tokens=st.one_of(st.none(), st.integers(min_value=-(2**63), max_value=2**63 - 1)),
    duration=st.one_of(st.none(), st.floats(allow_nan=False)),
    confidence=st.one_of(st.none(), st.floats(allow_nan=False)),
    prompt=st.one_of(st.none(), st.text(max_size=300)),
    user=_id,
    metadata=st.dictionaries(_text, _text, max_size=8),
    params=st.dictionaries(_text, _text, max_size=3),
    tags=st.lists(_text, max_size=6),
    action=st.sampled_from(["ALLOW", "REJECT", "FAIL_RETRY"]),
)
def test_random_events_read_as_fastavro_reads(ts, tokens, duration, confidence, prompt, user, metadata,  # type: ignore[no-untyped-def]
                                              params, tags, action) -> None:
    schema = default_registry().current(AUDIT_EVENT)
    record = {**make_event().to_avro(), "timestamp_us": ts, "input_tokens": tokens, "duration_ms": duration,
              "confidence": confidence, "prompt": prompt, "user_id": user, "metadata": metadata,
              "model_parameters": params, "reason_codes": tags, "action": action}
    data = writer_for(schema.parsed)(record)
    assert _same(_compiled(schema).read(data), _fastavro(schema, data))


_CHAINED = default_registry().current("dev.auditlayer.ChainedEvent")
_CHAINED_DATA = writer_for(_CHAINED.parsed)(_samples()["dev.auditlayer.ChainedEvent"][0])


@settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(edits=st.lists(st.tuples(st.integers(min_value=0, max_value=len(_CHAINED_DATA) - 1),
                                st.integers(min_value=0, max_value=255)), min_size=1, max_size=4),
       cut=st.integers(min_value=0, max_value=len(_CHAINED_DATA)))
def test_a_damaged_datum_is_refused_or_read_as_fastavro_reads_it(edits: list[tuple[int, int]], cut: int) -> None:
    """Bytes flipped and the datum cut short: whatever the compiled reader accepts, fastavro reads the same."""
    data = bytearray(_CHAINED_DATA)
    for at, value in edits:
        data[at] = value
    damaged = bytes(data[:cut]) if cut < len(data) else bytes(data)
    try:
        ours = _compiled(_CHAINED).read(damaged)
    except ValueError:
        return
    buf = io.BytesIO(damaged)
    theirs = fastavro.schemaless_reader(buf, _CHAINED.parsed, None)
    assert buf.tell() == len(damaged)
    assert _same(ours, theirs)


def test_every_prefix_of_a_datum_is_refused() -> None:
    for cut in range(len(_CHAINED_DATA)):
        with pytest.raises(ValueError):
            _compiled(_CHAINED).read(_CHAINED_DATA[:cut])


def _all_kinds() -> RegisteredSchema:
    return SchemaRegistry().register({
        "type": "record", "name": "t.AllKinds", "fields": [
            {"name": "b", "type": "boolean"},
            {"name": "i", "type": "int"},
            {"name": "f", "type": "float"},
            {"name": "raw", "type": "bytes"},
            {"name": "fx", "type": {"type": "fixed", "name": "t.Four", "size": 4}},
            {"name": "again", "type": "t.Four"},
            {"name": "e", "type": {"type": "enum", "name": "t.E", "symbols": ["A", "B"]}},
            {"name": "u", "type": ["null", "int", "string", {"type": "array", "items": "long"}]},
            {"name": "inner", "type": {"type": "array", "items": {
                "type": "record", "name": "t.Inner", "fields": [{"name": "m", "type": {
                    "type": "map", "values": ["null", {"type": "array", "items": "string"}]}}]}}},
            {"name": "nulls", "type": {"type": "map", "values": "null"}},
        ]})


def test_every_avro_type_reads_as_fastavro_reads() -> None:
    schema = _all_kinds()
    records = [
        {"b": True, "i": -(2**31), "f": 1.5, "raw": b"\x00\xff", "fx": b"abcd", "again": b"wxyz", "e": "B",
         "u": [1, -2, 2**62], "inner": [{"m": {"k": ["x", "é"], "n": None}}, {"m": {}}], "nulls": {"a": None}},
        {"b": False, "i": 2**31 - 1, "f": -0.0, "raw": b"", "fx": b"\0\0\0\0", "again": b"1234", "e": "A",
         "u": "text", "inner": [], "nulls": {}},
        {"b": False, "i": 0, "f": 3.4e38, "raw": b"x" * 300, "fx": b"abcd", "again": b"abcd", "e": "A",
         "u": None, "inner": [{"m": {"": None}}], "nulls": {}},
    ]
    for record in records:
        buf = io.BytesIO()
        fastavro.schemaless_writer(buf, schema.parsed, record)
        data = buf.getvalue()
        assert _same(_compiled(schema).read(data), _fastavro(schema, data))
    # blocks written with their byte size (a negative count), as other writers may
    schema_map = SchemaRegistry().register({"type": "record", "name": "t.M", "fields": [
        {"name": "m", "type": {"type": "map", "values": "null"}}]})
    blocked = encode_long(-1) + encode_long(3) + b"\x02k" + encode_long(0)
    assert _compiled(schema_map).read(blocked) == _fastavro(schema_map, blocked) == {"m": {"k": None}}


@pytest.mark.parametrize("data, why", [
    (encode_long(2**62) + b"abc", "a string longer than the bytes left"),
    (encode_long(-3) + b"abc", "a negative length"),
    (b"\x04\xff\xfe", "a string that is not UTF-8"),
    (b"\x04\xed\xa0", "half a surrogate pair in UTF-8"),
    (b"", "nothing at all"),
])
def test_hostile_lengths_and_text_are_refused(data: bytes, why: str) -> None:
    schema = SchemaRegistry().register({"type": "record", "name": "t.S", "fields": [{"name": "s", "type": "string"}]})
    with pytest.raises(ValueError):
        _compiled(schema).read(data)


@pytest.mark.parametrize("field_type, data, why", [
    ({"type": "array", "items": "long"}, encode_long(10**12) + b"\x02", "a block count no bytes back"),
    ({"type": "array", "items": "long"}, encode_long(-(2**62)) + encode_long(1) + b"\x02", "a negative block count"),
    ({"type": "map", "values": "long"}, encode_long(10**9) + b"\x02k\x02", "a map count no bytes back"),
    ({"type": "enum", "name": "t.E", "symbols": ["A"]}, encode_long(1), "an enum index out of range"),
    ({"type": "enum", "name": "t.E", "symbols": ["A"]}, encode_long(-1), "a negative enum index"),
    (["null", "long"], encode_long(2), "a union branch out of range"),
    (["null", "long"], encode_long(-1), "a negative union branch"),
    ("boolean", b"\x02", "a boolean neither 0 nor 1"),
    ("int", encode_long(2**31), "an int over 32 bits"),
    ("long", encode_long(5) + b"\x00", "a byte after the datum"),
    ("long", b"\xff" * 10 + b"\x01", "a varint of more than 10 bytes"),
    ("long", b"\xff" * 9 + b"\x7f", "a varint over 64 bits"),
    ("long", b"\xff" * 9 + b"\x02", "a varint one bit over 64"),
    ({"type": "fixed", "name": "t.F", "size": 4}, b"abc", "a fixed cut short"),
    ("double", b"\x00" * 7, "a double cut short"),
])
def test_malformed_datums_are_refused(field_type: object, data: bytes, why: str) -> None:
    schema = SchemaRegistry().register({"type": "record", "name": "t.R", "fields": [{"name": "x", "type": field_type}]})
    with pytest.raises(ValueError):
        _compiled(schema).read(data)


def test_schemas_it_does_not_read_are_left_to_fastavro() -> None:
    listed = SchemaRegistry().register({"type": "record", "name": "t.List", "fields": [
        {"name": "v", "type": "long"}, {"name": "next", "type": ["null", "t.List"]}]})
    nulls = SchemaRegistry().register({"type": "record", "name": "t.N", "fields": [
        {"name": "a", "type": {"type": "array", "items": "null"}}]})
    for schema, record in ((listed, {"v": 1, "next": {"v": 2, "next": None}}), (nulls, {"a": [None, None]})):
        with pytest.raises(ValueError, match="not supported by the compiled codec"):
            _compiled(schema)
        buf = io.BytesIO()
        fastavro.schemaless_writer(buf, schema.parsed, record)
        assert datum_reader(schema)(buf.getvalue()) == record


def test_the_codec_reads_memoryviews_and_names_a_corrupt_datum() -> None:
    codec = AvroCodec(AUDIT_EVENT)
    data = codec.encode(make_event().to_avro())
    assert codec.decode(memoryview(data)) == codec.decode(bytearray(data)) == codec.decode(data)
    with pytest.raises(DecodeError) as refused:
        codec.decode(data + b"\x00")
    assert refused.value.reason == "corrupt_avro" and "trailing bytes" in str(refused.value)


def test_the_variable_turns_it_off(monkeypatch: pytest.MonkeyPatch) -> None:
    schema = default_registry().current(AUDIT_EVENT)
    monkeypatch.setenv(NATIVE_VARIABLE, "off")
    read = datum_reader(schema)
    assert getattr(read, "__self__", None) is None
    data = writer_for(schema.parsed)(make_event().to_avro())
    assert _same(read(data), fastavro_reader(schema)(data))


# The writer: byte for byte what the Python writer writes, refusing what it refuses.

def _both(schema: object, erasable: dict[str, list[str]] | None = None) -> tuple[Writer, object]:
    native = Writer(json.dumps(schema), {k: set(v) for k, v in (erasable or {}).items()})
    python = python_erasing_writer_for(schema, erasable) if erasable else python_writer_for(schema)
    return native, python


@pytest.mark.parametrize("name", default_registry().names())
def test_every_current_schema_writes_as_the_python_writer_writes(name: str) -> None:
    parsed = default_registry().current(name).parsed
    native, python = _both(parsed)
    for record in _samples()[name]:
        assert native.write(record) == python(record)  # type: ignore[operator]
    assert getattr(writer_for(parsed), "__self__", None).__class__ is Writer


def _erasable() -> tuple[object, dict[str, list[str]]]:
    parsed = default_registry().current("dev.auditlayer.EnrichedEvent").parsed
    event_type = next(f["type"] for f in parsed["fields"] if f["name"] == "event")
    return parsed, {event_type["name"]: list(CONTENT_FIELDS)}


def test_the_erasing_writer_gives_the_python_writers_two_encodings() -> None:
    parsed, erasable = _erasable()
    native, python = _both(parsed, erasable)
    for record in _samples()["dev.auditlayer.EnrichedEvent"]:
        datum, link_body = native.write_erasing(record)
        assert (datum, link_body) == python(record)  # type: ignore[operator]
        assert datum != link_body  # the samples carry content: the link body has it null
    assert getattr(erasing_writer_for(parsed, erasable), "__self__", None).__class__ is Writer


@settings(max_examples=400, deadline=None)
@given(
    ts=st.integers(min_value=-(2**63), max_value=2**63 - 1),
    tokens=st.one_of(st.none(), st.integers(min_value=-(2**63), max_value=2**63 - 1)),
    confidence=st.one_of(st.none(), st.floats()),
    prompt=st.one_of(st.none(), st.text(max_size=300)),
    response=st.one_of(st.none(), st.text(max_size=50)),
    metadata=st.dictionaries(_text, _text, max_size=8),
    tags=st.lists(_text, max_size=6),
    risk=st.sampled_from(["LOW", "MEDIUM", "HIGH", "CRITICAL"]),
)
def test_random_enriched_events_write_as_the_python_writer_writes(ts, tokens, confidence, prompt, response,  # type: ignore[no-untyped-def]
                                                                  metadata, tags, risk) -> None:
    parsed, erasable = _erasable()
    native, python = _both(parsed, erasable)
    base = _samples()["dev.auditlayer.EnrichedEvent"][0]
    event = {**base["event"], "timestamp_us": ts, "output_tokens": tokens, "confidence": confidence,  # type: ignore[dict-item]
             "prompt": prompt, "response": response, "metadata": metadata, "compliance_tags": tags}
    record = {**base, "event": event, "risk_level": risk, "risk_reasons": tags}
    assert native.write_erasing(record) == python(record)  # type: ignore[operator]
    assert native.write(record) == python_writer_for(parsed)(record)


class _Level(StrEnum):
    HIGH = "HIGH"


def test_what_the_python_writer_takes_besides_plain_values_is_written_alike() -> None:
    parsed = default_registry().current("dev.auditlayer.EnrichedEvent").parsed
    native, python = _both(parsed)
    base = _samples()["dev.auditlayer.EnrichedEvent"][0]
    event = dict(base["event"])  # type: ignore[call-overload]
    variants = [
        {**base, "risk_level": _Level.HIGH},  # a str enum for an Avro enum
        {**base, "event": MappingProxyType({**event, "metadata": MappingProxyType({"b": "1", "a": "2"})})},
        {**base, "event": {**event, "reason_codes": ("x", "y"), "compliance_tags": None, "metadata": None}},
        {k: v for k, v in base.items() if k not in ("content_action", "risk_reasons")},  # left to their defaults
        {**base, "event": {**event, "confidence": 1, "input_tokens": 2**63 - 1}},
    ]
    for record in variants:
        assert native.write(record) == python(record)  # type: ignore[operator]
    chained = default_registry().current("dev.auditlayer.ChainedEvent").parsed
    native, python = _both(chained)
    record = {**_samples()["dev.auditlayer.ChainedEvent"][0], "prev_hash": bytearray(32), "hash": memoryview(bytes(32))}
    assert native.write(record) == python(record)  # type: ignore[operator]


@pytest.mark.parametrize("change, refused", [
    ({"timestamp_us": 2**63}, OverflowError),
    ({"timestamp_us": -(2**63) - 1}, OverflowError),
    ({"timestamp_us": True}, TypeError),
    ({"timestamp_us": 1.0}, TypeError),
    ({"timestamp_us": "1"}, TypeError),
    ({"action": "MAYBE"}, ValueError),
    ({"action": 1}, ValueError),
    ({"prompt": "\ud800"}, UnicodeEncodeError),
    ({"metadata": {"k": "\udc00"}}, UnicodeEncodeError),
    ({"tenant_id": None}, (TypeError, AttributeError)),
    ({"tenant_id": b"t"}, (TypeError, AttributeError)),
    ({"metadata": {1: "x"}}, (TypeError, AttributeError)),
    ({"confidence": "high"}, (TypeError, struct.error)),
    ({"sdk_name": ...}, (TypeError, AttributeError)),
])
def test_values_the_python_writer_refuses_are_refused(change: dict[str, object], refused: object) -> None:
    parsed = default_registry().current(AUDIT_EVENT).parsed
    native, python = _both(parsed)
    record = {**make_event().to_avro(), **change}
    with pytest.raises(refused):  # type: ignore[call-overload]
        python(record)  # type: ignore[operator]
    with pytest.raises(refused):  # type: ignore[call-overload]
        native.write(record)


def test_missing_fields_fixed_sizes_and_floats_are_refused_alike() -> None:
    parsed = default_registry().current(AUDIT_EVENT).parsed
    native, python = _both(parsed)
    record = make_event().to_avro()
    del record["tenant_id"]
    for write in (native.write, python):
        with pytest.raises(ValueError, match=r"field tenant_id of dev\.auditlayer\.AuditEvent is missing"):
            write(record)  # type: ignore[operator]
    chained = default_registry().current("dev.auditlayer.ChainedEvent").parsed
    native, python = _both(chained)
    short = {**_samples()["dev.auditlayer.ChainedEvent"][0], "hash": b"\x00" * 31}
    for write in (native.write, python):
        with pytest.raises(ValueError, match="needs 32 bytes, got 31"):
            write(short)  # type: ignore[operator]
    floats = {"type": "record", "name": "t.F", "fields": [{"name": "f", "type": "float"}]}
    native, python = _both(floats)
    assert native.write({"f": 3.4028235e38}) == python({"f": 3.4028235e38})  # type: ignore[operator]
    for write in (native.write, python):
        with pytest.raises(OverflowError):
            write({"f": 1e39})  # type: ignore[operator]


def test_schemas_it_does_not_write_are_left_to_the_python_writer() -> None:
    listed = {"type": "record", "name": "t.List", "fields": [
        {"name": "v", "type": "long"}, {"name": "next", "type": ["null", "t.List"]}]}
    with pytest.raises(ValueError, match="not supported by the compiled codec"):
        Writer(json.dumps(listed))
    record = {"v": 1, "next": {"v": 2, "next": None}}
    assert writer_for(listed)(record) == python_writer_for(listed)(record)
