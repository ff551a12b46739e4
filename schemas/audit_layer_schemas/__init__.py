"""The Audit Layer contract: Avro schemas, pydantic models mirroring them, the codec, the chain link."""

from audit_layer_schemas.codec import AvroCodec, DecodeError
from audit_layer_schemas.models import (
    Action,
    AuditEvent,
    ChainedEvent,
    ChainHead,
    Checkpoint,
    EnrichedEvent,
    RiskLevel,
    sha256_hex,
)
from audit_layer_schemas.registry import (
    AUDIT_EVENT,
    CHAIN_HEAD,
    CHAINED_EVENT,
    CHECKPOINT,
    ENRICHED_EVENT,
    default_registry,
)
from audit_layer_schemas.topics import Topics

__all__ = [
    "AUDIT_EVENT",
    "CHAINED_EVENT",
    "CHAIN_HEAD",
    "CHECKPOINT",
    "ENRICHED_EVENT",
    "Action",
    "AuditEvent",
    "AvroCodec",
    "ChainHead",
    "ChainedEvent",
    "Checkpoint",
    "DecodeError",
    "EnrichedEvent",
    "RiskLevel",
    "Topics",
    "default_registry",
    "sha256_hex",
]
