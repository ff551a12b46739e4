"""The sink's Avro container (avro_load.py), read back by fastavro: an Avro implementation we did not write."""

from __future__ import annotations

import io
from typing import Any

import fastavro
from audit_layer_samples.datasets import chain, varied_events
from audit_layer_schemas import CHAINED_EVENT, AvroCodec
from audit_layer_sinks.avro_load import ChainedEventLoad, container, container_pieces


def test_a_container_written_in_pieces_holds_each_message_with_its_partition_and_offset() -> None:
    codec = AvroCodec(CHAINED_EVENT)
    chained = chain(varied_events("acme", 40))
    messages = [codec.encode(c) for c in chained]
    load = ChainedEventLoad(codec.schema.canonical_form)
    offsets = [7 + 3 * k for k in range(40)]  # gaps, as transaction markers leave them
    pieces = load.row_pieces(2, offsets[:25], messages[:25]) + load.row_pieces(70_000, offsets[25:], messages[25:])
    rows = ([load.row(2, o, m) for o, m in zip(offsets[:25], messages[:25], strict=True)]
            + [load.row(70_000, o, m) for o, m in zip(offsets[25:], messages[25:], strict=True)])
    assert b"".join(pieces) == b"".join(rows)

    written = io.BytesIO()
    written.writelines(container_pieces(load.schema_json, len(rows), pieces))
    for data in (written.getvalue(), container(load.schema_json, rows)):
        reader = fastavro.reader(io.BytesIO(data))
        records: list[Any] = list(reader)
        assert [(r["kafka_partition"], r["kafka_offset"]) for r in records] == \
            [(2, o) for o in offsets[:25]] + [(70_000, o) for o in offsets[25:]]
        assert [r["chained"]["hash"] for r in records] == [c["hash"] for c in chained]
        assert [r["chained"]["event"]["event"]["event_id"] for r in records] == \
            [c["event"]["event"]["event_id"] for c in chained]
