"""The compiled Avro codec (schemas/avro_native, Rust and PyO3), when `make install` has built it.

The Python code stays the reference and the fallback: fastavro reads (datum_reader.py) and the closures of
avro_writer.py write wherever the extension is not built, does not take a schema (a recursive one, logical
types, unions other than ["null", T]), or is turned off with `AUDIT_LAYER_AVRO_NATIVE=off` (for side-by-side
comparisons, and as a way out).
"""

from __future__ import annotations

import json
import os
from collections.abc import Collection, Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from audit_layer_schemas._avro_native import NativeBlock, Reader, Writer

_Reader: type[Reader] | None
_Writer: type[Writer] | None
_NativeBlock: type[NativeBlock] | None
try:
    from audit_layer_schemas._avro_native import NativeBlock as _NativeBlock
    from audit_layer_schemas._avro_native import Reader as _Reader
    from audit_layer_schemas._avro_native import Writer as _Writer
except ImportError:  # not built (`make install` builds it)
    _Reader = _Writer = _NativeBlock = None

NATIVE_VARIABLE = "AUDIT_LAYER_AVRO_NATIVE"


def native_built() -> bool:
    return _Reader is not None


def native_enabled() -> bool:
    return native_built() and os.environ.get(NATIVE_VARIABLE, "on") != "off"


def native_reader(canonical_form: str) -> Reader | None:
    """A reader of the datums of this writer schema (its Parsing Canonical Form), or None: fastavro's."""
    if _Reader is None or not native_enabled():
        return None
    try:
        return _Reader(canonical_form)
    except ValueError:  # a schema it does not read
        return None


def native_writer(schema: Any, erasable: Mapping[str, Collection[str]] | None = None) -> Writer | None:
    """A writer of this schema (with its defaults: not the canonical form), or None: the Python writer's."""
    if _Writer is None or not native_enabled():
        return None
    try:
        return _Writer(json.dumps(schema), {name: set(fields) for name, fields in (erasable or {}).items()})
    except (ValueError, TypeError):  # a schema it does not write, or one that is not JSON
        return None


def native_block(canonical_form: str) -> NativeBlock | None:
    """A maker of ClickHouse Native staging blocks of this writer schema's datums, or None: the sink stages an
    Avro container, which the engine reads itself (avro_load.py)."""
    if _NativeBlock is None or not native_enabled():
        return None
    try:
        return _NativeBlock(canonical_form)
    except ValueError:  # a schema with no ClickHouse columns (a union other than ["null", T], ...)
        return None
