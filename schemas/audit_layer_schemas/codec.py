"""Avro single-object encoding: C3 01, the writer schema's CRC-64-AVRO fingerprint, the datum.

Encoding is deterministic: map entries are written in sorted key order (fastavro writes
them in dict order), so the same record always gives the same bytes in any process.
"""

from __future__ import annotations

import io
from typing import Any

import fastavro

from audit_layer_schemas.registry import RegisteredSchema, SchemaRegistry, default_registry

MAGIC = b"\xc3\x01"
HEADER_SIZE = 10


class DecodeError(ValueError):
    """A message that is not a readable datum of a known schema. `reason` is a stable code."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


def _map_paths(schema: Any, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    """Paths (field names through nested records) to every map field, found once per schema."""
    paths: list[tuple[str, ...]] = []
    if isinstance(schema, list):
        for branch in schema:
            paths.extend(_map_paths(branch, prefix))
    elif isinstance(schema, dict):
        kind = schema.get("type")
        if kind == "map":
            paths.append(prefix)
        elif kind == "record":
            for field in schema["fields"]:
                paths.extend(_map_paths(field["type"], (*prefix, field["name"])))
        elif kind == "array" and _map_paths(schema["items"]):
            raise NotImplementedError("maps inside arrays are not normalised")
    return paths


def _sorted_at(record: Any, path: tuple[str, ...]) -> Any:
    if record is None:
        return None
    if not path:
        return dict(sorted(record.items())) if record else record
    head, rest = path[0], path[1:]
    if head not in record:
        return record
    copy = dict(record)
    copy[head] = _sorted_at(record[head], rest)
    return copy


class AvroCodec:
    """Writes one schema; reads any registered version of it, resolved to that schema."""

    def __init__(self, schema_name: str, registry: SchemaRegistry | None = None,
                 writer_fingerprint: bytes | None = None) -> None:
        self.registry = registry or default_registry()
        self.schema: RegisteredSchema = self.registry.current(schema_name)
        if writer_fingerprint is not None and writer_fingerprint != self.schema.fingerprint:
            older = self.registry.by_fingerprint(writer_fingerprint)
            if older is None or older.name != schema_name:
                raise KeyError(f"no {schema_name} version with fingerprint {writer_fingerprint.hex()}")
            self.schema = older  # writes that version (verifying links hashed with it)
        self._header = MAGIC + self.schema.fingerprint
        self._map_paths = _map_paths(self.schema.parsed)

    def normalise(self, record: dict[str, Any]) -> dict[str, Any]:
        for path in self._map_paths:
            record = _sorted_at(record, path)
        return record

    def encode_body(self, record: dict[str, Any]) -> bytes:
        buf = io.BytesIO()
        fastavro.schemaless_writer(buf, self.schema.parsed, self.normalise(record))
        return buf.getvalue()

    def encode(self, record: dict[str, Any]) -> bytes:
        return self._header + self.encode_body(record)

    def decode(self, data: bytes) -> dict[str, Any]:
        if not isinstance(data, (bytes, bytearray, memoryview)):
            raise DecodeError("not_bytes", f"expected bytes, got {type(data).__name__}")
        if len(data) < HEADER_SIZE or data[:2] != MAGIC:
            raise DecodeError(
                "not_single_object_encoding",
                "message does not start with the Avro single-object marker C3 01",
            )
        fingerprint = bytes(data[2:HEADER_SIZE])
        writer = self.registry.by_fingerprint(fingerprint)
        if writer is None:
            raise DecodeError(
                "unknown_schema_fingerprint",
                f"writer schema fingerprint {fingerprint.hex()} is not one this reader ships",
            )
        if writer.name != self.schema.name:
            raise DecodeError(
                "wrong_record_type", f"message is a {writer.name}, expected {self.schema.name}"
            )
        buf = io.BytesIO(data[HEADER_SIZE:])
        try:
            if writer is self.schema:
                record = fastavro.schemaless_reader(buf, writer.parsed, None)
            else:
                record = fastavro.schemaless_reader(buf, writer.parsed, self.schema.parsed)
        except Exception as exc:  # fastavro raises EOFError, ValueError, UnicodeDecodeError, ...
            raise DecodeError(
                "corrupt_avro", f"datum does not decode: {type(exc).__name__}: {exc}"
            ) from exc
        if buf.tell() != len(data) - HEADER_SIZE:
            raise DecodeError("corrupt_avro", "trailing bytes after the datum")
        if not isinstance(record, dict):
            raise DecodeError("corrupt_avro", "datum is not a record")
        return record
