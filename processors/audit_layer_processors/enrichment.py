"""Turns a validated AuditEvent into an EnrichedEvent record (pure; no Kafka here)."""

from __future__ import annotations

from typing import Any

from audit_layer_schemas import AuditEvent, sha256_hex
from audit_layer_schemas.pii import detect, mask

from audit_layer_processors.policy import Policy

ENRICHER_VERSION = "enricher-0.2.0"


def enrich(event: AuditEvent, ingested_at_us: int, policy: Policy) -> dict[str, Any]:
    """The EnrichedEvent Avro record: the event in its validated form, risk and tags from the policy,
    personal data tagged, masked or dropped as the tenant's policy says."""
    pii_policy = policy.pii_for(event.tenant_id)
    kinds = tuple(pii_policy.detect)
    prompt_found = detect(event.prompt, kinds)
    response_found = detect(event.response, kinds)
    pii_kinds = sorted({f.kind for f in prompt_found + response_found})
    assessment = policy.assess(event, pii_kinds)
    record = event.to_avro()
    action = "KEEP"
    masked_prompt = masked_response = None
    if pii_kinds and pii_policy.action == "mask":
        action = "MASK"
        if prompt_found and event.prompt is not None:
            record["prompt"] = mask(event.prompt, prompt_found)
        if response_found and event.response is not None:
            record["response"] = mask(event.response, response_found)
        # the SDK's digests prove the original; these prove the masked text as stored
        masked_prompt = sha256_hex(record["prompt"], event.content_salt)
        masked_response = sha256_hex(record["response"], event.content_salt)
    elif pii_kinds and pii_policy.action == "drop":
        action = "DROP"
        record["prompt"] = record["response"] = None
    return {
        "event": record,
        "ingested_at_us": ingested_at_us,
        "risk_level": assessment.risk_level.value,
        "risk_reasons": list(assessment.risk_reasons),
        "compliance_tags": list(assessment.compliance_tags),
        "enricher_version": ENRICHER_VERSION,
        "pii_found": pii_kinds,
        "content_action": action,
        "masked_prompt_sha256": masked_prompt,
        "masked_response_sha256": masked_response,
        "policy_version": policy.version,
    }
