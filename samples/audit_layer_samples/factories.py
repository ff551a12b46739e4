"""Valid events for tests, built the way the SDK builds them."""

from __future__ import annotations

import functools
import time
from typing import Any

from audit_layer_schemas import AuditEvent, sha256_hex
from audit_layer_schemas.ids import uuid7


def make_event(tenant: str = "acme", **overrides: Any) -> AuditEvent:
    salt = overrides.pop("content_salt", "5a" * 16)
    prompt = overrides.pop("prompt", "Should loan 42 be approved?")
    response = overrides.pop("response", "Approve: income covers repayments.")
    fields: dict[str, Any] = {
        "event_id": str(uuid7()),
        "timestamp_us": time.time_ns() // 1000,
        "duration_ms": 12.5,
        "tenant_id": tenant,
        "user_id": "u-1",
        "session_id": "s-1",
        "provider": "openai",
        "operation": "chat",
        "model": "gpt-4o-mini",
        "model_parameters": {"temperature": "0.2", "max_tokens": "200"},
        "prompt": prompt,
        "content_salt": salt,
        "prompt_sha256": sha256_hex(prompt, salt),
        "response": response,
        "response_sha256": sha256_hex(response, salt),
        "input_tokens": 10,
        "output_tokens": 20,
        "total_tokens": 30,
        "finish_reason": "stop",
        "action": "ALLOW",
        "decision_type": "loan_underwriting",
        "decision_outcome": "approved",
        "confidence": 0.9,
        "compliance_tags": ["SOC2"],
        "metadata": {"loan_amount": "50000", "branch": "\"north\""},
        "sdk_name": "audit-layer-python",
        "sdk_version": "0.1.0",
    }
    fields.update(overrides)
    return AuditEvent(**fields)


@functools.cache
def _default_policy() -> Any:
    from audit_layer_processors.policy import load_policy

    return load_policy()


# when "the pipeline received" factory records: fixed for the process (records built twice hash alike) and
# recent, since retention counts from it (a 2023 receipt would be past every retention class)
RECEIVED_US = time.time_ns() // 1000


def enriched_record(event: AuditEvent, ingested_at_us: int = RECEIVED_US) -> dict[str, Any]:
    from audit_layer_processors.enrichment import enrich

    return enrich(event, ingested_at_us, _default_policy())
