"""The sequencer's output bytes: a ChainedEvent written by splicing, not re-encoding.

Avro writes a record as its fields one after another, so a ChainedEvent (event, seq, prev_hash,
hash, link_schema) is the EnrichedEvent's datum exactly as it arrived followed by the link's fields.
Re-encoding the decoded event costs a third of the sequencer's own per-event work; splicing is a
copy. Only a message written with the current EnrichedEvent schema can be spliced; an older
writer's is re-encoded (its datum is in another layout).
"""

from __future__ import annotations

from typing import Any

from audit_layer_schemas import CHAINED_EVENT, ENRICHED_EVENT, AvroCodec
from audit_layer_schemas.avro_writer import encode_long
from audit_layer_schemas.codec import HEADER_SIZE, MAGIC

from audit_layer_processors.chain_state import Link


class ChainedWriter:
    def __init__(self, link_schema: str) -> None:
        self._codec = AvroCodec(CHAINED_EVENT)
        self._enriched_header = MAGIC + AvroCodec(ENRICHED_EVENT).schema.fingerprint
        self._header = MAGIC + self._codec.schema.fingerprint
        self._link_schema = link_schema
        encoded = link_schema.encode("utf-8")
        self._link_schema_field = encode_long(len(encoded)) + encoded

    def write(self, enriched_message: bytes, enriched: dict[str, Any], link: Link) -> bytes:
        """The ChainedEvent message for `link` of the enriched message (and its decoded record)."""
        if enriched_message[:HEADER_SIZE] == self._enriched_header:
            return b"".join((self._header, memoryview(enriched_message)[HEADER_SIZE:], encode_long(link.seq),
                             link.prev_hash, link.hash, self._link_schema_field))
        return self._codec.encode({"event": enriched, "seq": link.seq, "prev_hash": link.prev_hash,
                                   "hash": link.hash, "link_schema": self._link_schema})
