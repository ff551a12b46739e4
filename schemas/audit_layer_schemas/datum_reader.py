"""Reading one Avro datum: the compiled reader (native_codec.py) when it is built, fastavro otherwise.

fastavro is the reference: the compiled reader gives the same values for every datum of the writer schema
(tests/unit/test_native_codec.py holds the two side by side) and refuses what is malformed. It reads only a
datum of the schema it was built for; resolving an older writer's datum to the current schema stays fastavro's.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from typing import Any

import fastavro

from audit_layer_schemas.native_codec import native_reader
from audit_layer_schemas.registry import RegisteredSchema

DatumReader = Callable[[bytes], Any]  # raises ValueError (or fastavro's own errors) on a malformed datum


def fastavro_reader(writer: RegisteredSchema, reader: RegisteredSchema | None = None) -> DatumReader:
    """The reference: fastavro, resolving to `reader` when given. Trailing bytes are an error, as compiled."""
    reader_parsed = None if reader is None or reader is writer else reader.parsed

    def read(data: bytes) -> Any:
        buf = io.BytesIO(data)
        record = fastavro.schemaless_reader(buf, writer.parsed, reader_parsed)
        if buf.tell() != len(data):
            raise ValueError("trailing bytes after the datum")
        return record

    return read


def datum_reader(writer: RegisteredSchema, reader: RegisteredSchema | None = None) -> DatumReader:
    """The fastest reader of `writer`'s datums as `reader` (default: as written)."""
    compiled = native_reader(writer.canonical_form) if reader is None or reader is writer else None
    return fastavro_reader(writer, reader) if compiled is None else compiled.read
