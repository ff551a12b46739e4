"""The chain's link hash computed by ClickHouse itself, for `verify` at scale (pure: builds SQL).

The Python verifier re-encodes every stored row as Avro in Python (~80 µs a link). Here the same
link bytes (chain.py: seq, schema fingerprint, Avro body of the EnrichedEvent with content
nulled and map keys sorted) are written as one SQL expression per schema version, generated
from the schema, and ClickHouse hashes them: the verifier then only walks seq, prev_hash, the
event ids and the Merkle frontier. A row whose link or content does not check out in SQL is
re-checked by the Python reference code, which names the finding; so a fault in this encoder
can cost speed, never raise a false alarm, and cannot hide a change: a row passes only if the
bytes built from its stored columns hash to its stored hash.
"""

from __future__ import annotations

import json
from typing import Any

from audit_layer_schemas.chain import CONTENT_FIELDS

# ClickHouse columns of the events table that hold a field under another name or form
_COLUMN = {
    ("event", "event_id"): "toString(event_id)",
    ("event", "timestamp_us"): "toUnixTimestamp64Micro(timestamp)",
    ("event", "compliance_tags"): "declared_tags",
    ("", "ingested_at_us"): "toUnixTimestamp64Micro(ingested_at)",
}
_NUMBERS = [f"(z >= {1 << (7 * k)})" for k in range(1, 10)]
# SQL functions (created once per server): Avro's variable-length zigzag integers and strings
FUNCTIONS = {
    # most values are short strings' lengths and small numbers: one byte, without the array work
    "audit_layer_varint": "(z) -> if(z < 128, char(z), arrayStringConcat(arrayMap(i -> char(bitOr(bitAnd("
                          "bitShiftRight(z, 7 * i), 127), if(bitShiftRight(z, 7 * (i + 1)) > 0, 128, 0))), "
                          "range(1 + " + " + ".join(_NUMBERS) + "))))",
    "audit_layer_long": "(x) -> audit_layer_varint(if(x >= 0, toUInt64(x) * 2, toUInt64(-(x + 1)) * 2 + 1))",
    "audit_layer_str": "(s) -> concat(audit_layer_varint(toUInt64(length(s)) * 2), s)",
}


def _encode(kind: Any, value: str, named: dict[str, Any]) -> str:
    if isinstance(kind, str) and kind in named:
        kind = named[kind]
    if isinstance(kind, list):
        inner = [k for k in kind if k != "null"]
        null_index = kind.index("null")
        if len(kind) != 2:
            raise ValueError(f"unsupported union {kind}")
        return (f"if(isNull({value}), audit_layer_long({null_index}), "
                f"concat(audit_layer_long({1 - null_index}), {_encode(inner[0], f'assumeNotNull({value})', named)}))")
    name = kind if isinstance(kind, str) else kind["type"]
    if name == "string":
        return f"audit_layer_str({value})"
    if name == "long" or name == "int":
        return f"audit_layer_long(toInt64({value}))"
    if name == "double":
        return f"reinterpretAsFixedString(toFloat64({value}))"
    if name == "boolean":
        return f"if({value}, '\\x01', '\\x00')"
    if name == "enum":
        named[kind["name"]] = kind
        symbols = kind["symbols"]
        return (f"audit_layer_long(transform(toString({value}), {symbols!r}, {list(range(len(symbols)))!r}, -1))")
    if name == "array":
        item = _encode(kind["items"], "x", named)
        return (f"if(empty({value}), '\\x00', concat(audit_layer_long(length({value})), "
                f"arrayStringConcat(arrayMap(x -> {item}, {value})), '\\x00'))")
    if name == "map":
        encoded = _encode(kind["values"], "v", named)
        return (f"if(empty({value}), '\\x00', concat(audit_layer_long(length({value})), arrayStringConcat(arrayMap("
                f"(k, v) -> concat(audit_layer_str(k), {encoded}), mapKeys(mapSort({value})), "
                f"mapValues(mapSort({value})))), '\\x00'))")
    raise ValueError(f"unsupported Avro type {kind}")


def _record(schema: dict[str, Any], path: str, named: dict[str, Any]) -> str:
    named[schema["name"]] = schema
    parts = []
    for field in schema["fields"]:
        kind = field["type"]
        if isinstance(kind, str) and kind in named:
            kind = named[kind]
        if isinstance(kind, dict) and kind.get("type") == "record":
            parts.append(_record(kind, field["name"], named))
            continue
        if path == "event" and field["name"] in CONTENT_FIELDS:
            if not (isinstance(kind, list) and "null" in kind):
                raise ValueError(f"content field {field['name']} must be nullable to be erasable")
            parts.append(f"audit_layer_long({kind.index('null')})")  # written as null: outside the hash
            continue
        column = _COLUMN.get((path, field["name"]), field["name"])
        parts.append(_encode(kind, column, named))
    return "concat(" + ", ".join(parts) + ")"


def link_hash_sql(enriched_canonical_form: str, fingerprint: bytes) -> str:
    """SHA-256(prev_hash || link bytes) over an events row, for rows of this EnrichedEvent version."""
    body = _record(json.loads(enriched_canonical_form), "", {})
    return (f"SHA256(concat(prev_hash, reverse(reinterpretAsFixedString(toUInt64(seq))), "
            f"unhex('{fingerprint.hex()}'), {body}))")


def content_ok_sql() -> str:
    """Prompt and response, where still stored, match their salted digests (masked ones their own)."""
    checks = []
    for text in ("prompt", "response"):
        digest = f"lower(hex(SHA256(concat(unhex(ifNull(content_salt, '')), assumeNotNull({text})))))"
        expected = f"if(content_action = 'MASK', masked_{text}_sha256, {text}_sha256)"
        checks.append(f"({text} IS NULL OR {digest} = ifNull({expected}, ''))")
    return " AND ".join(checks)


def create_functions() -> list[str]:
    return [f"CREATE FUNCTION IF NOT EXISTS {name} AS {body}" for name, body in FUNCTIONS.items()]
