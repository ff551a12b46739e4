"""Avro single-object encoding: C3 01, the writer schema's CRC-64-AVRO fingerprint, the datum.

Encoding is deterministic: the compiled writer (avro_writer.py) writes map entries in sorted
key order, so the same record always gives the same bytes in any process.
"""

from __future__ import annotations

from typing import Any

from audit_layer_schemas.avro_writer import writer_for
from audit_layer_schemas.datum_reader import DatumReader, datum_reader
from audit_layer_schemas.registry import RegisteredSchema, SchemaRegistry, default_registry

MAGIC = b"\xc3\x01"
HEADER_SIZE = 10


class DecodeError(ValueError):
    """A message that is not a readable datum of a known schema. `reason` is a stable code."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


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
        self._write = writer_for(self.schema.parsed)
        self._readers: dict[bytes, DatumReader] = {}  # by writer fingerprint, made on first use

    def encode_body(self, record: dict[str, Any]) -> bytes:
        """The datum alone; maps sorted by key (the compiled writer sorts them)."""
        return self._write(record)

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
        read = self._readers.get(fingerprint)
        if read is None:
            read = self._readers[fingerprint] = datum_reader(writer, self.schema)
        body = data[HEADER_SIZE:]
        try:
            record = read(body if isinstance(body, bytes) else bytes(body))
        except Exception as exc:  # ValueError from either reader; fastavro's EOFError, UnicodeDecodeError, ...
            raise DecodeError(
                "corrupt_avro", f"datum does not decode: {type(exc).__name__}: {exc}"
            ) from exc
        if not isinstance(record, dict):
            raise DecodeError("corrupt_avro", "datum is not a record")
        return record
