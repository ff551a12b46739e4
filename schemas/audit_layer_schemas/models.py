"""Pydantic models mirroring the Avro schemas field for field (a test keeps them in step)."""

from __future__ import annotations

import hashlib
import uuid
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

# Larger content belongs in object storage with its digest here; the limit keeps one event
# well under the topics' max.message.bytes, so a huge prompt is refused, not silently lost.
MAX_CONTENT_CHARS = 512 * 1024
MAX_ID_CHARS = 256


class Action(StrEnum):
    ALLOW = "ALLOW"
    REJECT = "REJECT"
    FAIL_RETRY = "FAIL_RETRY"


class RiskLevel(StrEnum):
    LOW = "LOW"
    MEDIUM = "MEDIUM"
    HIGH = "HIGH"
    CRITICAL = "CRITICAL"


def sha256_hex(text: str | None, salt_hex: str | None = None) -> str | None:
    """The content digest: SHA-256 of salt || UTF-8 text (the salt makes erased text unguessable)."""
    if text is None:
        return None
    salt = bytes.fromhex(salt_hex) if salt_hex else b""
    return hashlib.sha256(salt + text.encode("utf-8")).hexdigest()


_Id = Field(default=None, max_length=MAX_ID_CHARS)


class AuditEvent(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    event_id: str
    timestamp_us: int = Field(ge=0)
    duration_ms: float | None = Field(default=None, ge=0)
    tenant_id: str = Field(min_length=1, max_length=MAX_ID_CHARS)
    user_id: str | None = _Id
    session_id: str | None = _Id
    trace_id: str | None = _Id
    span_id: str | None = _Id
    provider: str | None = _Id
    operation: str | None = _Id
    model: str | None = _Id
    response_model: str | None = _Id
    model_parameters: dict[str, str] = Field(default_factory=dict)
    prompt: str | None = Field(default=None, max_length=MAX_CONTENT_CHARS)
    prompt_sha256: str | None = Field(default=None, pattern=r"^[0-9a-f]{64}$")
    response: str | None = Field(default=None, max_length=MAX_CONTENT_CHARS)
    response_sha256: str | None = Field(default=None, pattern=r"^[0-9a-f]{64}$")
    input_tokens: int | None = Field(default=None, ge=0)
    output_tokens: int | None = Field(default=None, ge=0)
    total_tokens: int | None = Field(default=None, ge=0)
    finish_reason: str | None = _Id
    action: Action
    reason_codes: list[str] = Field(default_factory=list)
    error_type: str | None = _Id
    decision_type: str | None = _Id
    decision_outcome: str | None = _Id
    confidence: float | None = Field(default=None, ge=0.0, le=1.0)
    reasoning: str | None = Field(default=None, max_length=MAX_CONTENT_CHARS)
    compliance_tags: list[str] = Field(default_factory=list)
    metadata: dict[str, str] = Field(default_factory=dict)
    sdk_name: str = Field(min_length=1, max_length=MAX_ID_CHARS)
    sdk_version: str = Field(min_length=1, max_length=MAX_ID_CHARS)
    content_salt: str | None = Field(default=None, pattern=r"^[0-9a-f]{32}$")

    @field_validator("event_id")
    @classmethod
    def _uuid(cls, value: str) -> str:
        try:
            parsed = uuid.UUID(value)
        except ValueError:
            raise ValueError("event_id must be a UUID (UUIDv7 from the SDK)") from None
        return str(parsed)

    @field_validator("tenant_id")
    @classmethod
    def _tenant(cls, value: str) -> str:
        if value != value.strip() or not value.isprintable():
            raise ValueError("tenant_id must be printable with no surrounding whitespace")
        return value

    def content_digests_match(self) -> bool:
        """True when each captured content matches the digest sent beside it."""
        return all(
            text is None or digest is None or sha256_hex(text, self.content_salt) == digest
            for text, digest in ((self.prompt, self.prompt_sha256), (self.response, self.response_sha256))
        )

    def to_avro(self) -> dict[str, Any]:
        return self.model_dump(mode="json")


class ContentAction(StrEnum):
    KEEP = "KEEP"
    MASK = "MASK"
    DROP = "DROP"


class EnrichedEvent(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    event: AuditEvent
    ingested_at_us: int = Field(ge=0)
    risk_level: RiskLevel
    risk_reasons: list[str] = Field(default_factory=list)
    compliance_tags: list[str] = Field(default_factory=list)
    enricher_version: str
    pii_found: list[str] = Field(default_factory=list)
    content_action: ContentAction = ContentAction.KEEP
    masked_prompt_sha256: str | None = None
    masked_response_sha256: str | None = None
    policy_version: str = ""

    def to_avro(self) -> dict[str, Any]:
        return self.model_dump(mode="json")


class ChainedEvent(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    event: EnrichedEvent
    seq: int = Field(ge=1)
    prev_hash: bytes = Field(min_length=32, max_length=32)
    hash: bytes = Field(min_length=32, max_length=32)
    link_schema: str

    def to_avro(self) -> dict[str, Any]:
        record = self.model_dump(mode="python")
        record["event"] = self.event.to_avro()
        return record


class ChainHead(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    tenant_id: str
    seq: int = Field(ge=0)
    hash: bytes = Field(min_length=32, max_length=32)
    recent_event_ids: list[str] = Field(default_factory=list)
    updated_at_us: int = Field(ge=0)
    frontier: list[bytes] = Field(default_factory=list)
    last_checkpoint_seq: int = Field(default=0, ge=0)
    last_checkpoint_at_us: int = Field(default=0, ge=0)

    def to_avro(self) -> dict[str, Any]:
        return self.model_dump(mode="python")


class Checkpoint(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    tenant_id: str
    first_seq: int = Field(ge=1)
    last_seq: int = Field(ge=1)
    head_hash: bytes = Field(min_length=32, max_length=32)
    merkle_root: bytes = Field(min_length=32, max_length=32)
    created_at_us: int = Field(ge=0)
    key_id: str
    signature: bytes
    note: str = ""

    def to_avro(self) -> dict[str, Any]:
        return self.model_dump(mode="python")
