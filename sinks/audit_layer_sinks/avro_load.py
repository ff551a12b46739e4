"""Chained events loaded without decoding them in Python: ClickHouse reads the Avro itself.

The sink's Python cost per message was the Avro decode (~70 µs) and the row building; here a
batch's datums (each message minus its 10-byte single-object header) are wrapped as one block
of an Avro object container file, and ClickHouse's own Avro reader turns them into rows, the
same rows `rows.row_from_chained` builds (a test loads one data set both ways and compares).

Where the compiled codec is built, the batch goes to the engine as a ClickHouse Native block instead
(schemas/avro_native/src/native_block.rs): the same staging rows, already in columns, which the engine takes in
at about a tenth of the Avro container's cost; a test holds the two stagings equal.

Pure: this module builds bytes and SQL; the sink runs them.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from audit_layer_schemas.avro_writer import encode_long
from audit_layer_schemas.codec import HEADER_SIZE
from audit_layer_schemas.native_codec import native_block
from audit_layer_store.rows import INSERT_COLUMNS

# where each events column comes from in a ChainedEvent, when not `event.event.<column>`
_SOURCE = {
    "seq": "seq", "prev_hash": "prev_hash", "hash": "hash", "link_schema": "link_schema",
    "declared_tags": "event.event.compliance_tags", "ingested_at": "event.ingested_at_us",
    "timestamp": "event.event.timestamp_us",
    **{f: f"event.{f}" for f in ("risk_level", "risk_reasons", "compliance_tags", "enricher_version", "pii_found",
                                  "content_action", "masked_prompt_sha256", "masked_response_sha256",
                                  "policy_version")},
}
_CONVERT = {
    "event_id": "toUUID({})",
    "timestamp": "fromUnixTimestamp64Micro({}, 'UTC')",
    "ingested_at": "fromUnixTimestamp64Micro({}, 'UTC')",
}
_PRIMITIVE = {"string": "String", "long": "Int64", "int": "Int32", "double": "Float64", "float": "Float32",
              "boolean": "Bool", "bytes": "String"}


# a batch of one partition: (partition, offsets, messages)
Batch = tuple[int, Sequence[int], Sequence[bytes]]


@dataclass(frozen=True)
class StageLayout:
    """How a staging table keeps a load's rows: the format its files are in, its name beside the events table,
    its columns, and how a field of the ChainedEvent (a dotted path under `chained`) is read from it."""

    file_format: str  # "Avro": the record as one named Tuple column; "Native": every leaf a column of its own
    table: str
    structure: str

    def column(self, path: str) -> str:
        # a flat column's name is its path with "__" for "." (native_block.rs): a dotted name of an Array
        # would be taken for part of a Nested structure
        return f"`{path.replace('.', '__')}`" if self.file_format == "Native" else f"`{path}`"


@dataclass(frozen=True)
class Staging:
    """A batch's staging rows as a file: its pieces, written one after another, and the table they go to."""

    layout: StageLayout
    pieces: list[bytes | memoryview]


def _avro_bytes(value: bytes) -> bytes:
    return encode_long(len(value)) + value


def container(schema_json: str, datums: Sequence[bytes]) -> bytes:
    """An Avro object container file holding `datums` (already encoded with `schema_json`) as one block."""
    return b"".join(container_pieces(schema_json, len(datums), datums))


def container_pieces(schema_json: str, count: int, body: Sequence[bytes | memoryview]) -> list[bytes | memoryview]:
    """The same file as pieces to write one after another: `count` datums whose bytes are `body`'s pieces in
    order. A sink's batch is tens of megabytes: written piece by piece, it is never copied whole in Python."""
    sync = os.urandom(16)
    header = (b"Obj\x01" + encode_long(2) + _avro_bytes(b"avro.schema") + _avro_bytes(schema_json.encode())
              + _avro_bytes(b"avro.codec") + _avro_bytes(b"null") + encode_long(0) + sync)
    size = sum(len(piece) for piece in body)
    return [header + encode_long(count) + encode_long(size), *body, sync]


def _leaves(schema: Any, prefix: str, named: dict[str, Any], out: dict[str, str]) -> None:
    """Every leaf field of a record as dotted path -> ClickHouse type (records flattened)."""
    for field in schema["fields"]:
        path = f"{prefix}{field['name']}"
        kind = field["type"]
        if isinstance(kind, str) and kind in named:
            kind = named[kind]
        if isinstance(kind, dict) and kind.get("type") == "record":
            named[kind["name"]] = kind
            _leaves(kind, path + ".", named, out)
        else:
            out[path] = _clickhouse_type(kind, named)


def _clickhouse_type(kind: Any, named: dict[str, Any], records: bool = False) -> str:
    """`records`: a record as a named Tuple (else records are flattened by _leaves and never reach here)."""
    if isinstance(kind, list):
        inner = [k for k in kind if k != "null"]
        if len(inner) != 1:
            raise ValueError(f"unsupported union {kind}")
        return f"Nullable({_clickhouse_type(inner[0], named, records)})"
    if isinstance(kind, str):
        if kind in _PRIMITIVE:
            return _PRIMITIVE[kind]
        return _clickhouse_type(named[kind], named, records)
    if records and kind["type"] == "record":
        named[kind["name"]] = kind
        fields = ", ".join(f"{f['name']} {_clickhouse_type(f['type'], named, records)}" for f in kind["fields"])
        return f"Tuple({fields})"
    if kind["type"] == "enum":
        named[kind["name"]] = kind
        return "String"
    if kind["type"] == "fixed":
        named[kind["name"]] = kind
        return f"FixedString({kind['size']})"
    if kind["type"] == "map":
        return f"Map(String, {_clickhouse_type(kind['values'], named, records)})"
    if kind["type"] == "array":
        return f"Array({_clickhouse_type(kind['items'], named, records)})"
    if kind["type"] in _PRIMITIVE:
        return _PRIMITIVE[kind["type"]]
    raise ValueError(f"unsupported Avro type {kind}")


class ChainedEventLoad:
    """The INSERT ... SELECT that loads staged ChainedEvent datums into `events`.

    Staged as an Avro container, each row is a `SinkRow` {kafka_partition: int, kafka_offset: long, chained:
    ChainedEvent}: Avro writes a record as its fields one after the other, so a row is two varints
    followed by the message's datum, as it came from Kafka. Staged as a Native block (`native_layout`, where
    the compiled codec is built), the same row is its partition, its offset and the record's leaves, a column
    each. Either way the partition and offset travel with their row, so one load holds several partitions'
    batches, and ClickHouse may read the files in parallel and in any order.
    """

    def __init__(self, canonical_form: str) -> None:
        chained = json.loads(canonical_form)
        wrapper = {"type": "record", "name": "SinkRow", "namespace": "dev.auditlayer.sink",
                   "fields": [{"name": "kafka_partition", "type": "int"}, {"name": "kafka_offset", "type": "long"},
                              {"name": "chained", "type": chained}]}
        self.schema_json = json.dumps(wrapper, separators=(",", ":"))
        types: dict[str, str] = {}
        _leaves(wrapper, "", {}, types)
        self.columns = (*INSERT_COLUMNS, "retention_days", "legal_hold")
        sources = {c: c if c in ("kafka_partition", "kafka_offset") else "chained." + _SOURCE.get(c, f"event.event.{c}")
                   for c in INSERT_COLUMNS}
        missing = [s for s in sources.values() if s not in types]
        if missing:
            raise ValueError(f"the ChainedEvent schema lacks {missing}")
        used = sorted(set(sources.values()))
        self.structure = ", ".join(f"`{path}` {types[path]}" for path in used)
        self._sources = sources
        # an Avro staging table holds the records as named Tuples: dotted column names of Arrays would be
        # taken for a Nested structure, whose arrays must all have one length
        self.avro_layout = StageLayout("Avro", "sink_stage", f"kafka_partition Int32, kafka_offset Int64, "
                                                             f"chained {_clickhouse_type(chained, {}, records=True)}")
        self._native = native_block(canonical_form)
        # the Native block's own columns are the table's, so the two cannot differ
        self.native_layout = None if self._native is None else StageLayout(
            "Native", "sink_stage_native", ", ".join(f"`{name}` {kind}" for name, kind in self._native.columns))

    def staging(self, batches: Sequence[Batch], header: int, native: bool = True) -> Staging:
        """The staging rows of these batches (each message's datum after its `header` bytes): a Native block
        when the compiled codec is built and `native`, else an Avro container. ValueError: a message that is
        not a datum of the schema (the Native block reads every datum; the engine would refuse the container)."""
        if native and self._native is not None and self.native_layout is not None:
            block = self._native.block([(p, list(offsets), list(messages)) for p, offsets, messages in batches],
                                       header)
            return Staging(self.native_layout, [block])
        if header != HEADER_SIZE:
            raise ValueError(f"an Avro container's rows take messages with the {HEADER_SIZE}-byte single-object header")
        pieces: list[bytes | memoryview] = []
        for partition, offsets, messages in batches:
            pieces += self.row_pieces(partition, offsets, messages)
        count = sum(len(offsets) for _, offsets, _ in batches)
        return Staging(self.avro_layout, container_pieces(self.schema_json, count, pieces))

    @staticmethod
    def row(partition: int, offset: int, message: bytes) -> bytes:
        """A SinkRow datum from a Kafka message (its single-object header already checked)."""
        return encode_long(partition) + encode_long(offset) + message[HEADER_SIZE:]

    @staticmethod
    def row_pieces(partition: int, offsets: Sequence[int], messages: Sequence[bytes]) -> list[bytes | memoryview]:
        """The SinkRow datums of one partition's messages, as `row` makes them, in pieces that share the
        messages' memory (a container's body; `b"".join` of them is the rows one after another)."""
        prefix = encode_long(partition)
        pieces: list[bytes | memoryview] = []
        add = pieces.extend
        for offset, message in zip(offsets, messages, strict=True):
            add((prefix, encode_long(offset), memoryview(message)[HEADER_SIZE:]))
        return pieces

    def _staged_key(self, layout: StageLayout) -> str:
        return f"{layout.column('chained.event.event.tenant_id')}, {layout.column('chained.seq')}"

    def statement(self, layout: StageLayout, stage: str, retention: str, hold: str, skip_stored: bool = True) -> str:
        """The insert of the rows staged in `stage` (kept as `layout` says); `retention` and `hold`: SQL
        expressions over the event's columns. `skip_stored`: leave out every (tenant, seq) already stored; False
        only when `stored` found none of the staged ones (the filter is about a quarter of the insert's time on
        a small batch)."""
        # inner query: each source under its column's name, so hold and retention conditions read plainly
        inner = ", ".join(f"{_CONVERT.get(c, '{}').format(layout.column(s))} AS {c}" for c, s in self._sources.items())
        select = ", ".join(INSERT_COLUMNS)
        insert = (f"INSERT INTO {{table}} ({', '.join(self.columns)}) SELECT {select}, {retention}, {hold} "
                  f"FROM (SELECT {inner} FROM {stage})")
        if not skip_stored:
            return insert
        # a (tenant, seq) already stored is not stored again (`stored` refused any with another hash): a
        # second copy would be counted twice by the aggregates its insert feeds
        return (f"{insert} WHERE (tenant_id, seq) NOT IN (SELECT tenant_id, seq FROM {{table}} "
                f"WHERE (tenant_id, seq) IN (SELECT {self._staged_key(layout)} FROM {stage}))")

    @staticmethod
    def stage_statements(layout: StageLayout, stage: str, files: Sequence[str]) -> list[str]:
        """Load staging files (in `layout`'s format) into the staging table `stage` (made here, emptied first):
        the CREATE, the TRUNCATE, then one INSERT per file. The engine may not read files itself (store.py: no
        FILE grant), so the client-side INFILE of the embedded engine brings each file in; `statement` then
        reads the rows from `stage`."""
        inserts = []
        for name in files:
            quoted = name.replace("\\", "\\\\").replace("'", "\\'")
            inserts.append(f"INSERT INTO {stage} FROM INFILE '{quoted}' FORMAT {layout.file_format}")
        return [f"CREATE TABLE IF NOT EXISTS {stage} ({layout.structure}) ENGINE = Memory",
                f"TRUNCATE TABLE {stage}", *inserts]

    def stored(self, layout: StageLayout, stage: str) -> str:
        """The staged (tenant, seq) already stored (`{table}`: the events), each with whether its stored hash
        differs from the staged one: a fork."""
        staged = self._staged_key(layout)
        return (f"SELECT tenant_id, seq, (tenant_id, seq, hash) NOT IN (SELECT {staged}, "
                f"{layout.column('chained.hash')} FROM {stage}) "
                f"FROM {{table}} WHERE (tenant_id, seq) IN (SELECT {staged} FROM {stage})")
