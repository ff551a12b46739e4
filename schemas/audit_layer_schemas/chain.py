"""The hash chain's link: which bytes are hashed, so any process in any language agrees.

link bytes = seq (8 bytes, big-endian)
           || fingerprint of the EnrichedEvent schema (8 bytes)
           || Avro body of the EnrichedEvent with prompt and response content set to null
              (their SHA-256 digests stay), map keys sorted
hash       = SHA-256(prev_hash || link bytes); prev_hash of seq 1 is 32 zero bytes.

Content is outside the hashed bytes so it can be erased while every chain still verifies;
its digest is inside, so altering content is still evident.
"""

from __future__ import annotations

import hashlib
from typing import Any

from audit_layer_schemas.avro_writer import erasing_writer_for
from audit_layer_schemas.codec import MAGIC, AvroCodec
from audit_layer_schemas.registry import ENRICHED_EVENT, SchemaRegistry

GENESIS_HASH = bytes(32)
# erasable: outside the hashed bytes (their salted digests are inside)
CONTENT_FIELDS = ("prompt", "response", "content_salt")


class LinkEncoder:
    """Computes link bytes and hashes for one version of the EnrichedEvent schema (the current one by default)."""

    def __init__(self, registry: SchemaRegistry | None = None, fingerprint: bytes | None = None) -> None:
        self._codec = AvroCodec(ENRICHED_EVENT, registry, writer_fingerprint=fingerprint)
        self.schema_fingerprint = self._codec.schema.fingerprint
        parsed = self._codec.schema.parsed
        event_type = next(f["type"] for f in parsed["fields"] if f["name"] == "event")
        self._erasing = erasing_writer_for(parsed, {event_type["name"]: CONTENT_FIELDS})
        self._header = MAGIC + self.schema_fingerprint

    @property
    def schema_hex(self) -> str:
        return self.schema_fingerprint.hex()

    @property
    def canonical_form(self) -> str:
        """The EnrichedEvent schema (parsing canonical form) whose Avro body the link bytes carry."""
        return self._codec.schema.canonical_form

    def link_bytes(self, enriched: dict[str, Any], seq: int) -> bytes:
        event = dict(enriched["event"])
        for field in CONTENT_FIELDS:
            if field in event:
                event[field] = None
        body = self._codec.encode_body({**enriched, "event": event})
        return seq.to_bytes(8, "big") + self.schema_fingerprint + body

    def encode(self, enriched: dict[str, Any]) -> tuple[bytes, bytes]:
        """The EnrichedEvent's message (single-object encoding) and its link body, in one pass: where an
        event is enriched and chained in one process, the record is not encoded twice."""
        body, link_body = self._erasing(enriched)
        return self._header + body, link_body

    def message(self, enriched: dict[str, Any]) -> bytes:
        """The EnrichedEvent's message alone (single-object encoding): where no link is built."""
        return self._codec.encode(enriched)

    def link_hash(self, prev_hash: bytes, enriched: dict[str, Any], seq: int, link_body: bytes | None = None) -> bytes:
        """`link_body`: the record's body as `encode` gave it, when at hand."""
        if link_body is None:
            return hashlib.sha256(prev_hash + self.link_bytes(enriched, seq)).digest()
        return hashlib.sha256(prev_hash + seq.to_bytes(8, "big") + self.schema_fingerprint + link_body).digest()
