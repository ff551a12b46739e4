"""Reading one Avro datum: the compiled reader (schemas/avro_reader, Rust) when it is built, fastavro otherwise.

fastavro is the reference: the compiled reader gives the same values for every datum of the writer schema
(tests/unit/test_datum_reader.py holds the two side by side) and refuses what is malformed. It reads only a
datum of the schema it was built for; resolving an older writer's datum to the current schema stays
fastavro's. `AUDIT_LAYER_AVRO_READER=fastavro` turns it off, for comparisons and as a way out.
"""

from __future__ import annotations

import io
import os
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import fastavro

from audit_layer_schemas.registry import RegisteredSchema

if TYPE_CHECKING:
    from audit_layer_schemas._avro_reader import Reader

_CompiledReader: type[Reader] | None
try:
    from audit_layer_schemas._avro_reader import Reader as _CompiledReader
except ImportError:  # not built (`make install` builds it): fastavro alone
    _CompiledReader = None

READER_VARIABLE = "AUDIT_LAYER_AVRO_READER"
DatumReader = Callable[[bytes], Any]  # raises ValueError (or fastavro's own errors) on a malformed datum


def compiled_reader_built() -> bool:
    return _CompiledReader is not None


def compiled_reader_enabled() -> bool:
    return _CompiledReader is not None and os.environ.get(READER_VARIABLE, "compiled") != "fastavro"


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
    compiled = _CompiledReader if compiled_reader_enabled() else None
    if compiled is not None and (reader is None or reader is writer):
        try:
            return compiled(writer.canonical_form).read
        except ValueError:  # a schema it does not read (recursive, logical types): fastavro's
            pass
    return fastavro_reader(writer, reader)
