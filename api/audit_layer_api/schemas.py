"""The request and response bodies of the REST API (the OpenAPI document is generated from these)."""

from __future__ import annotations

import datetime as dt
import os
import uuid
from enum import StrEnum
from typing import Annotated, Any, Literal

from audit_layer_schemas import AuditEvent, RiskLevel, sha256_hex
from audit_layer_schemas.ids import uuid7
from audit_layer_schemas.models import MAX_ID_CHARS, Action
from pydantic import AfterValidator, BaseModel, ConfigDict, Discriminator, Field, Tag, field_validator, model_validator

from audit_layer_api.seed_body import REQUEST_ID_KEY, event_id_for, translate, uses_seed_names

API_SDK_NAME = "audit-layer-rest"
API_VERSION = "1"
MAX_BATCH = 1000
KEY_ID_METADATA = "audit_layer.api_key_id"


def _utc(value: dt.datetime) -> dt.datetime:
    return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value


# ClickHouse hands back naive UTC times; RFC 3339 wants the offset written out
UtcDatetime = Annotated[dt.datetime, AfterValidator(_utc)]


class IngestEvent(AuditEvent):
    """One audit event as a client sends it: the SDK's event, where the service fills what is left out.

    `tenant_id` is the API key's organisation; a different one is refused. Without `event_id` the
    service makes one (UUIDv7), but a client that retries should send its own: the pipeline drops
    a repeated event id, so a retry never makes a second record. Without `timestamp_us`, the time
    of receipt. Prompt and response digests are computed, with a fresh salt, when not sent.
    """

    model_config = ConfigDict(frozen=True, extra="forbid", title="IngestEvent")

    event_id: str | None = Field(default=None, description="UUID; made by the service when absent")  # type: ignore[assignment]
    timestamp_us: int | None = Field(default=None, ge=0, strict=True, description="microseconds since the epoch (UTC)")  # type: ignore[assignment]
    tenant_id: str | None = Field(default=None, max_length=MAX_ID_CHARS,  # type: ignore[assignment]
                                  description="optional; must be the key's organisation")
    # numbers as JSON numbers: "5" is a client's mistake to report, not to guess at
    duration_ms: float | None = Field(default=None, ge=0, strict=True)
    input_tokens: int | None = Field(default=None, ge=0, strict=True)
    output_tokens: int | None = Field(default=None, ge=0, strict=True)
    total_tokens: int | None = Field(default=None, ge=0, strict=True)
    confidence: float | None = Field(default=None, ge=0.0, le=1.0, strict=True)
    sdk_name: str = Field(default=API_SDK_NAME, min_length=1, max_length=MAX_ID_CHARS)
    sdk_version: str = Field(default=API_VERSION, min_length=1, max_length=MAX_ID_CHARS)

    @model_validator(mode="before")
    @classmethod
    def _seed_names(cls, data: Any) -> Any:
        """The integration document's body (request_id, prompt_content, model_name, ...): seed_body.py."""
        return translate(data) if uses_seed_names(data) else data

    @field_validator("event_id")
    @classmethod
    def _uuid(cls, value: str | None) -> str | None:  # type: ignore[override]
        if value is None:
            return None
        try:
            return str(uuid.UUID(value))
        except ValueError:
            raise ValueError("event_id must be a UUID") from None

    @field_validator("tenant_id")
    @classmethod
    def _tenant(cls, value: str | None) -> str | None:  # type: ignore[override]
        return value  # whatever it says, it is compared with the key's organisation

    def to_record(self, tenant_id: str, key_id: str, now_us: int) -> dict[str, Any]:
        """The event as published, as its Avro record: the key's tenant, the ids and digests filled in.
        ValueError when the sent digests do not match the sent content."""
        sent_digests = self.prompt_sha256 is not None or self.response_sha256 is not None
        if sent_digests and not self.content_digests_match():
            raise ValueError("prompt_sha256/response_sha256 do not match the content sent with them "
                             "(SHA-256 of content_salt bytes + UTF-8 text); leave them out to have them computed")
        values = self.__dict__.copy()  # the validated fields (pydantic keeps them there)
        values["tenant_id"] = tenant_id
        if values["event_id"] is None and REQUEST_ID_KEY in self.metadata:
            values["event_id"] = event_id_for(tenant_id, self.metadata[REQUEST_ID_KEY])  # a retry is one record
        if values["event_id"] is None:
            values["event_id"] = str(uuid7())
        if values["timestamp_us"] is None:
            values["timestamp_us"] = now_us
        values["metadata"] = {**self.metadata, KEY_ID_METADATA: key_id}
        if (self.prompt is not None or self.response is not None) and not sent_digests and self.content_salt is None:
            values["content_salt"] = os.urandom(16).hex()
        for text in ("prompt", "response"):
            if values[text] is not None and values[f"{text}_sha256"] is None:
                values[f"{text}_sha256"] = sha256_hex(values[text], values["content_salt"])
        # every field was validated as this model (AuditEvent's rules) and the ones filled in here are
        # valid by construction: no second model is built (this is the hot path of ingest)
        values["action"] = self.action.value
        return values


class IngestBatch(BaseModel):
    """Up to 1,000 events in one request; all are published, or none is acknowledged."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    events: list[IngestEvent] = Field(min_length=1, max_length=MAX_BATCH)


def _body_kind(value: Any) -> str:
    return "batch" if isinstance(value, dict) and "events" in value else "event"


IngestBody = Annotated[
    Annotated[IngestEvent, Tag("event")] | Annotated[IngestBatch, Tag("batch")],
    Discriminator(_body_kind),
]


class IngestResult(BaseModel):
    tenant_id: str
    event_ids: list[str] = Field(description="in the order sent; acknowledged by Kafka (acks=all)")


class LogSummary(BaseModel):
    """One record in a search result; the full record is at /v1/audit/logs/{event_id}."""

    event_id: str
    seq: int = Field(description="position in the organisation's hash chain (1, 2, ...)")
    timestamp: UtcDatetime
    user_id: str | None
    session_id: str | None
    provider: str | None
    model: str | None
    operation: str | None
    decision_type: str | None
    decision_outcome: str | None
    action: Action
    risk_level: RiskLevel
    compliance_tags: list[str]
    input_tokens: int | None
    output_tokens: int | None
    duration_ms: float | None
    finish_reason: str | None


class LogPage(BaseModel):
    items: list[LogSummary]
    next_cursor: str | None = Field(description="pass as `cursor` for the next page; null on the last page")


class Enrichment(BaseModel):
    ingested_at_us: int
    risk_level: RiskLevel
    risk_reasons: list[str]
    compliance_tags: list[str]
    enricher_version: str
    policy_version: str
    pii_found: list[str]
    content_action: str
    retention_days: int
    legal_hold: bool


class ChainPosition(BaseModel):
    seq: int
    prev_hash: str = Field(description="hex SHA-256 of the previous link (32 zero bytes at seq 1)")
    hash: str = Field(description="hex SHA-256 of this link")
    link_schema: str


class RecordResponse(BaseModel):
    event: AuditEvent
    enrichment: Enrichment
    chain: ChainPosition
    proof: dict[str, Any] | None = Field(
        description="self-contained RFC 6962 inclusion proof (format audit-layer-inclusion-proof/v1) against a "
                    "signed checkpoint; check it offline with `python -m audit_layer_ledger.offline_proof FILE`")
    proof_status: str = Field(description="`included` or why there is no proof yet")


class ReportType(StrEnum):
    DECISION_AUDIT = "decision_audit"
    COMPLIANCE_SUMMARY = "compliance_summary"


class ReportFormat(StrEnum):
    JSON = "json"
    CSV = "csv"
    HTML = "html"
    PDF = "pdf"


class ReportRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    report_type: ReportType
    format: ReportFormat = ReportFormat.JSON
    audit_log_id: str | None = Field(default=None, max_length=256,
                                     description="decision_audit: the event id, or the request_id it was sent with")
    start_date: dt.date | None = Field(default=None, description="compliance_summary: first day (UTC)")
    end_date: dt.date | None = Field(default=None, description="compliance_summary: last day (UTC), inclusive")
    verify: bool = Field(default=True, description="compliance_summary: verify the chain for this report (default); "
                         "false cites the last recorded verification, marked as not re-checked")


class Finding(BaseModel):
    seq: int
    problem: str
    detail: str


class VerifyResult(BaseModel):
    tenant_id: str
    status: Literal["verified", "failed", "empty", "never_verified"]
    verified_at: UtcDatetime | None
    links: int
    last_seq: int
    checkpoints_verified: int
    head_hash: str | None
    finding: Finding | str | None


class CheckpointOut(BaseModel):
    tenant_id: str
    first_seq: int
    last_seq: int
    head_hash: str
    merkle_root: str
    created_at_us: int
    key_id: str
    signature: str = Field(description="base64 Ed25519 signature")


class ConsistencyProof(BaseModel):
    format: str
    tenant_id: str
    first_size: int
    second_size: int
    first_root: str
    second_root: str
    proof: list[str]


class PublicKey(BaseModel):
    key_id: str
    ed25519_public_key: str = Field(description="base64 raw 32-byte key")


class Health(BaseModel):
    status: Literal["ok", "unavailable"]
    checks: dict[str, str] = Field(default_factory=dict)


class KeyOut(BaseModel):
    key_id: str
    name: str
    scopes: list[str]
    rate_per_s: float
    created_by: str
    created_at: str
    revoked: bool


class KeyCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(default="", max_length=200)
    scopes: list[Literal["ingest", "read", "reports", "review", "pii", "admin"]] = Field(min_length=1)
    rate_per_s: float = Field(default=50.0, gt=0, le=1_000_000)


class KeyCreated(KeyOut):
    api_key: str = Field(description="the secret key; shown once, only its hash is stored")


class ReviewCreate(BaseModel):
    """A person's verdict on a decision, recorded after the fact."""

    model_config = ConfigDict(extra="forbid")
    verdict: Literal["confirmed", "overridden"] = Field(
        description="`confirmed`: the decision stands; `overridden`: a person changed it")
    note: str = Field(min_length=1, max_length=10_000, description="why; part of the chained record")


class ReviewOut(BaseModel):
    review_event_id: str = Field(description="the review's own audit event (chained like any other)")
    event_id: str = Field(description="the reviewed decision")
    decision_seq: int | None = None
    verdict: str
    note: str
    reviewer: str
    reviewed_at_us: int
