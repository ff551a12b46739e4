"""Turns a validated AuditEvent into an EnrichedEvent record (pure; no Kafka here)."""

from __future__ import annotations

from typing import Any

from audit_layer_schemas import AuditEvent

from audit_layer_processors.rules import RULES_VERSION, assess

ENRICHER_VERSION = f"enricher-0.1.0/{RULES_VERSION}"


def enrich(event: AuditEvent, ingested_at_us: int) -> dict[str, Any]:
    """The EnrichedEvent Avro record; the event itself in its validated (canonical) form."""
    assessment = assess(event)
    return {
        "event": event.to_avro(),
        "ingested_at_us": ingested_at_us,
        "risk_level": assessment.risk_level.value,
        "risk_reasons": list(assessment.risk_reasons),
        "compliance_tags": list(assessment.compliance_tags),
        "enricher_version": ENRICHER_VERSION,
    }
