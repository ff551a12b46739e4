"""The compiled codec's Native staging blocks (native_block.rs), without an engine: what they refuse, and that their
columns are the Avro schema's leaves with the types avro_load.py gives them. The engine reading them, row for row
equal to the Avro container and to Python's rows, is tests/integration/test_analytics.py."""

from __future__ import annotations

import json

import pytest
from audit_layer_samples.datasets import chain, varied_events
from audit_layer_schemas import CHAINED_EVENT, AvroCodec
from audit_layer_schemas.codec import HEADER_SIZE
from audit_layer_schemas.native_codec import native_built
from audit_layer_sinks.avro_load import _leaves

if native_built():
    from audit_layer_schemas._avro_native import NativeBlock


def _varuint(data: bytes, at: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        byte = data[at]
        at += 1
        value |= (byte & 0x7F) << shift
        shift += 7
        if byte < 0x80:
            return value, at


def test_the_columns_are_the_schemas_leaves_flat() -> None:
    codec = AvroCodec(CHAINED_EVENT)
    block = NativeBlock(codec.schema.canonical_form)
    types: dict[str, str] = {}
    _leaves(json.loads(codec.schema.canonical_form), "chained.", {}, types)
    expected = [("kafka_partition", "Int32"), ("kafka_offset", "Int64")] + \
        [(path.replace(".", "__"), kind) for path, kind in types.items()]
    assert block.columns == expected


def test_a_block_says_its_columns_and_rows_first() -> None:
    codec = AvroCodec(CHAINED_EVENT)
    messages = [codec.encode(c) for c in chain(varied_events("acme", 300))]
    block = NativeBlock(codec.schema.canonical_form)
    data = block.block([(0, list(range(200)), messages[:200]), (5, list(range(100)), messages[200:])], HEADER_SIZE)
    columns, at = _varuint(data, 0)
    rows, at = _varuint(data, at)
    assert (columns, rows) == (len(block.columns), 300)
    name_length, at = _varuint(data, at)
    assert data[at:at + name_length] == b"kafka_partition"
    assert block.block([], HEADER_SIZE)[:2] == bytes([len(block.columns), 0])


def test_every_prefix_and_any_trailing_byte_is_refused_naming_the_message() -> None:
    codec = AvroCodec(CHAINED_EVENT)
    good, message = (codec.encode(c) for c in chain(varied_events("acme", 2)))
    block = NativeBlock(codec.schema.canonical_form)
    for cut in range(len(message)):
        with pytest.raises(ValueError, match=r"^message at 4:91: "):
            block.block([(4, [90, 91], [good, message[:cut]])], HEADER_SIZE)
    with pytest.raises(ValueError, match=r"^message at 4:91: trailing bytes after the datum$"):
        block.block([(4, [90, 91], [good, message + b"\x00"])], HEADER_SIZE)
    with pytest.raises(ValueError, match="more offsets than messages"):
        block.block([(4, [90, 91, 92], [good, message])], HEADER_SIZE)


def test_schemas_with_no_clickhouse_columns_are_left_to_the_avro_container() -> None:
    for schema in ({"type": "record", "name": "r", "fields": [{"name": "u", "type": ["null", "string", "long"]}]},
                   {"type": "record", "name": "r", "fields": [{"name": "n", "type": ["null", {"type": "array",
                                                                                              "items": "long"}]}]},
                   {"type": "array", "items": "long"},
                   {"type": "record", "name": "r", "fields": [{"name": "a__b", "type": "long"},
                                                              {"name": "a", "type": {"type": "record", "name": "s",
                                                               "fields": [{"name": "b", "type": "long"}]}}]}):
        with pytest.raises(ValueError, match="schema not supported"):
            NativeBlock(json.dumps(schema))
