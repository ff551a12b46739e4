"""The Avro binary writer: the schema is turned once into nested closures, so encoding a record is a
walk over its fields with no per-call schema interpretation.

It exists for speed (the chain links every event, and `verify` re-encodes every stored row);
tests check its output is byte-for-byte what fastavro writes. Unions are supported in the
form this project's schemas use them: ["null", T]. Map entries are written in sorted key
order, so equal records always give equal bytes (fastavro writes them in dict order).

`writer_for` and `erasing_writer_for` give the compiled codec's writer (native_codec.py) when it is built:
these closures are its reference (tests hold the two side by side) and its fallback.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Collection, Mapping
from typing import Any

from audit_layer_schemas.native_codec import native_writer

Write = Callable[[list[bytes], Any], None]
_DOUBLE = struct.Struct("<d")
_FLOAT = struct.Struct("<f")


def _varint(n: int) -> bytes:
    out = bytearray()
    while n & ~0x7F:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


_SMALL = [_varint((i << 1) ^ (i >> 63)) for i in range(-64, 64)]


def encode_long(n: int) -> bytes:
    if -64 <= n < 64:
        return _SMALL[n + 64]
    if not -(1 << 63) <= n < (1 << 63):
        raise OverflowError(f"{n} does not fit an Avro long")
    return _varint(((n << 1) ^ (n >> 63)) & 0xFFFFFFFFFFFFFFFF)


def _w_null(out: list[bytes], value: Any) -> None:
    if value is not None:
        raise ValueError(f"{value!r} is not null")


def _w_boolean(out: list[bytes], value: Any) -> None:
    out.append(b"\x01" if value else b"\x00")


def _w_long(out: list[bytes], value: Any) -> None:
    if not isinstance(value, int) or isinstance(value, bool):
        raise TypeError(f"{value!r} is not an integer")
    out.append(encode_long(value))


def _w_double(out: list[bytes], value: Any) -> None:
    out.append(_DOUBLE.pack(value))


def _w_float(out: list[bytes], value: Any) -> None:
    out.append(_FLOAT.pack(value))


def _w_string(out: list[bytes], value: Any) -> None:
    data = value.encode("utf-8")
    out.append(encode_long(len(data)))
    out.append(data)


def _w_bytes(out: list[bytes], value: Any) -> None:
    data = bytes(value)
    out.append(encode_long(len(data)))
    out.append(data)


_PRIMITIVES: dict[str, Write] = {
    "null": _w_null, "boolean": _w_boolean, "int": _w_long, "long": _w_long, "float": _w_float,
    "double": _w_double, "string": _w_string, "bytes": _w_bytes,
}


class _Erasable(bytes):
    """The encoding of an erasable field: the erased form of the record writes the field's null instead."""


def compile_writer(schema: Any, names: dict[str, Write] | None = None,
                   erasable: Mapping[str, Collection[str]] | None = None) -> Write:
    """`erasable`: record name -> fields (["null", T] unions) whose encoding is kept as one _Erasable chunk."""
    names = {} if names is None else names
    erasable = erasable or {}
    if isinstance(schema, str):
        if schema in _PRIMITIVES:
            return _PRIMITIVES[schema]
        try:
            return names[schema]
        except KeyError:
            raise NotImplementedError(f"unknown named type {schema}") from None
    if isinstance(schema, list):
        return _union(schema, names, erasable)
    kind = schema["type"]
    if kind in _PRIMITIVES:
        return _PRIMITIVES[kind]
    if kind == "record":
        return _record(schema, names, erasable)
    if kind == "enum":
        index = {symbol: encode_long(i) for i, symbol in enumerate(schema["symbols"])}

        def w_enum(out: list[bytes], value: Any) -> None:
            try:
                out.append(index[value])
            except KeyError:
                raise ValueError(f"{value!r} is not a symbol of {schema['name']}") from None

        names[schema["name"]] = w_enum
        return w_enum
    if kind == "fixed":
        size = schema["size"]

        def w_fixed(out: list[bytes], value: Any) -> None:
            data = bytes(value)
            if len(data) != size:
                raise ValueError(f"fixed {schema['name']} needs {size} bytes, got {len(data)}")
            out.append(data)

        names[schema["name"]] = w_fixed
        return w_fixed
    if kind == "array":
        item = compile_writer(schema["items"], names, erasable)

        def w_array(out: list[bytes], value: Any) -> None:
            if value:
                out.append(encode_long(len(value)))
                for element in value:
                    item(out, element)
            out.append(b"\x00")

        return w_array
    if kind == "map":
        entry = compile_writer(schema["values"], names, erasable)

        def w_map(out: list[bytes], value: Any) -> None:
            if value:
                out.append(encode_long(len(value)))
                for key, element in sorted(value.items()):  # sorted: the same map, the same bytes
                    _w_string(out, key)
                    entry(out, element)
            out.append(b"\x00")

        return w_map
    raise NotImplementedError(f"Avro type {kind} is not supported by the compiled writer")


def _union(branches: list[Any], names: dict[str, Write], erasable: Mapping[str, Collection[str]]) -> Write:
    if len(branches) != 2 or "null" not in branches:
        raise NotImplementedError("only [\"null\", T] unions are supported")
    null_index = branches.index("null")
    other = compile_writer(branches[1 - null_index], names, erasable)
    null_tag, value_tag = encode_long(null_index), encode_long(1 - null_index)

    def w_union(out: list[bytes], value: Any) -> None:
        if value is None:
            out.append(null_tag)
        else:
            out.append(value_tag)
            other(out, value)

    return w_union


def _erasable(field: dict[str, Any], write: Write) -> Write:
    if field["type"] != ["null", field["type"][-1]] or field.get("default") is not None:
        raise NotImplementedError(f"erasable field {field['name']} must be a [\"null\", T] union, null by default")

    def w_erasable(out: list[bytes], value: Any) -> None:
        chunk: list[bytes] = []
        write(chunk, value)
        out.append(_Erasable(b"".join(chunk)))

    return w_erasable


def _record(schema: dict[str, Any], names: dict[str, Write], erasable: Mapping[str, Collection[str]]) -> Write:
    fields: list[tuple[str, Write, bool, Any]] = []
    erased = erasable.get(schema["name"], ())

    def w_record(out: list[bytes], value: Any) -> None:
        for name, write, has_default, default in fields:
            if name in value:
                write(out, value[name])
            elif has_default:
                write(out, default)
            else:
                raise ValueError(f"field {name} of {schema['name']} is missing")

    names[schema["name"]] = w_record  # before the fields, so a record may refer to itself
    for field in schema["fields"]:
        write = compile_writer(field["type"], names, erasable)
        if field["name"] in erased:
            write = _erasable(field, write)
        fields.append((field["name"], write, "default" in field, field.get("default")))
    return w_record


def python_writer_for(schema: Any) -> Callable[[Any], bytes]:
    write = compile_writer(schema)

    def encode(record: Any) -> bytes:
        out: list[bytes] = []
        write(out, record)
        return b"".join(out)

    return encode


def python_erasing_writer_for(schema: Any,
                              erasable: Mapping[str, Collection[str]]) -> Callable[[Any], tuple[bytes, bytes]]:
    """One pass, two encodings: the record as it is, and as it would be with the `erasable` fields null.
    The second is the first with those fields' chunks swapped for the null branch's tag (0: null first)."""
    write = compile_writer(schema, erasable=erasable)

    def encode(record: Any) -> tuple[bytes, bytes]:
        out: list[bytes] = []
        write(out, record)
        return b"".join(out), b"".join([b"\x00" if type(chunk) is _Erasable else chunk for chunk in out])

    return encode


def writer_for(schema: Any) -> Callable[[Any], bytes]:
    """The fastest writer of `schema`; the closures' checks refuse what neither writes."""
    python = python_writer_for(schema)
    native = native_writer(schema)
    return python if native is None else native.write


def erasing_writer_for(schema: Any, erasable: Mapping[str, Collection[str]]) -> Callable[[Any], tuple[bytes, bytes]]:
    """The fastest erasing writer of `schema` (see python_erasing_writer_for)."""
    python = python_erasing_writer_for(schema, erasable)
    native = native_writer(schema, erasable)
    return python if native is None else native.write_erasing
