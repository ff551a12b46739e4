"""A chained event as an events-table row, and back (pure; the verifier rebuilds links from rows).

Every field of the EnrichedEvent is a column, so the link bytes can be recomputed exactly.
"""

from __future__ import annotations

from typing import Any

# event fields stored under their own name
_EVENT_FIELDS = (
    "duration_ms", "user_id", "session_id", "trace_id", "span_id", "provider", "operation", "model",
    "response_model", "model_parameters", "prompt", "prompt_sha256", "response", "response_sha256",
    "input_tokens", "output_tokens", "total_tokens", "finish_reason", "action", "reason_codes",
    "error_type", "decision_type", "decision_outcome", "confidence", "reasoning", "metadata",
    "sdk_name", "sdk_version", "content_salt",
)
_ENRICHED_FIELDS = ("risk_level", "risk_reasons", "compliance_tags", "enricher_version", "pii_found",
                    "content_action", "masked_prompt_sha256", "masked_response_sha256", "policy_version")

INSERT_COLUMNS = (
    "tenant_id", "seq", "event_id", "timestamp", *_EVENT_FIELDS, "declared_tags", "ingested_at",
    *_ENRICHED_FIELDS, "prev_hash", "hash", "link_schema", "kafka_partition", "kafka_offset",
)

# what the verifier reads, as (expression, name): timestamps as exact integer microseconds
_READ_AS = {
    "event_id": "toString(event_id)",
    "timestamp": "toUnixTimestamp64Micro(timestamp)",
    "ingested_at": "toUnixTimestamp64Micro(ingested_at)",
    "action": "toString(action)",
    "risk_level": "toString(risk_level)",
    "content_action": "toString(content_action)",
}
_SELECTED = tuple(c for c in INSERT_COLUMNS if c not in ("kafka_partition", "kafka_offset"))
SELECT_COLUMNS = tuple(f"{_READ_AS[c]} AS {c}" if c in _READ_AS else c for c in _SELECTED)


def row_from_chained(chained: dict[str, Any], partition: int, offset: int) -> list[Any]:
    enriched = chained["event"]
    event = enriched["event"]
    return [
        event["tenant_id"], chained["seq"], event["event_id"], event["timestamp_us"],
        *(event[f] for f in _EVENT_FIELDS), event["compliance_tags"], enriched["ingested_at_us"],
        *(enriched[f] for f in _ENRICHED_FIELDS),
        chained["prev_hash"], chained["hash"], chained["link_schema"], partition, offset,
    ]


def chain_fields_from_row(row: tuple[Any, ...]) -> tuple[str, int, bytes, bytes, str, dict[str, Any]]:
    """(tenant_id, seq, prev_hash, hash, link_schema, enriched record) from a SELECT_COLUMNS row."""
    values = dict(zip(_SELECTED, row, strict=True))
    event = {f: values[f] for f in _EVENT_FIELDS}
    event.update(
        event_id=values["event_id"],
        timestamp_us=values["timestamp"],
        tenant_id=values["tenant_id"],
        compliance_tags=values["declared_tags"],
    )
    enriched = {
        "event": event,
        "ingested_at_us": values["ingested_at"],
        **{f: values[f] for f in _ENRICHED_FIELDS},
    }
    return (values["tenant_id"], values["seq"], bytes(values["prev_hash"]), bytes(values["hash"]),
            values["link_schema"], enriched)


CHECKPOINT_COLUMNS = ("tenant_id", "first_seq", "last_seq", "head_hash", "merkle_root", "created_at", "key_id",
                      "signature", "note", "kafka_partition", "kafka_offset")
CHECKPOINT_SELECT = ("tenant_id", "first_seq", "last_seq", "head_hash", "merkle_root",
                     "toUnixTimestamp64Micro(created_at) AS created_at_us", "key_id", "signature", "note")


def row_from_checkpoint(checkpoint: dict[str, Any], partition: int, offset: int) -> list[Any]:
    return [checkpoint["tenant_id"], checkpoint["first_seq"], checkpoint["last_seq"], checkpoint["head_hash"],
            checkpoint["merkle_root"], checkpoint["created_at_us"], checkpoint["key_id"], checkpoint["signature"],
            checkpoint.get("note", ""), partition, offset]
