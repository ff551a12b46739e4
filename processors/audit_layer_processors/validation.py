"""Decode and validate one raw message: an AuditEvent, or the reason it is dead-lettered."""

from __future__ import annotations

from dataclasses import dataclass

from audit_layer_schemas import AUDIT_EVENT, AuditEvent, AvroCodec, DecodeError
from pydantic import ValidationError


@dataclass(frozen=True)
class Rejection:
    reason: str
    detail: str


class EventValidator:
    def __init__(self) -> None:
        self._codec = AvroCodec(AUDIT_EVENT)

    def validate(self, key: bytes | None, value: bytes | None) -> AuditEvent | Rejection:
        if value is None:
            return Rejection("empty_message", "message has no value")
        try:
            record = self._codec.decode(value)
        except DecodeError as exc:
            return Rejection(exc.reason, str(exc))
        try:
            event = AuditEvent.model_validate(record)
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(map(str, first["loc"]))
            return Rejection("invalid_event", f"{where}: {first['msg']} ({exc.error_count()} errors)")
        if key is None or key != event.tenant_id.encode("utf-8"):
            return Rejection("key_tenant_mismatch", "the Kafka key must be the event's tenant_id")
        if not event.content_digests_match():
            return Rejection("content_digest_mismatch", "prompt or response does not match its SHA-256")
        return event
