"""The integration document's REST body (`request_id`, `prompt_content`, `model_name`, ...), read as this
API's own fields (pure).

Its names map onto the event's: prompt_content → prompt, response_content → response, prompt_tokens →
input_tokens, response_tokens → output_tokens, model_provider → provider, model_name → model,
confidence_score → confidence, organization_id → tenant_id (must be the key's organisation), an ISO-8601
`timestamp` → timestamp_us. `request_id` makes the event id, so a retried request is one record:
the request id itself when it is a UUID, else a UUIDv5 of (organisation, request id); it is kept in the
metadata too. `prompt_hash` ("sha256:<hex>", SHA-256 of the prompt's UTF-8 text) is checked against
`prompt_content` when both are sent; a value that is not a digest (a placeholder) is kept in the metadata,
unchecked. Map values that are not strings (numbers, lists) are stored as JSON text; `risk_level` is the
client's own view, kept in the metadata (the pipeline assigns the record's risk level itself). The
document has no `action`: its records are ALLOW unless the body says otherwise.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
import uuid
from typing import Any

RENAMED = {"prompt_content": "prompt", "response_content": "response", "prompt_tokens": "input_tokens",
           "response_tokens": "output_tokens", "model_provider": "provider", "model_name": "model",
           "confidence_score": "confidence", "organization_id": "tenant_id"}
SEED_ONLY = frozenset({*RENAMED, "request_id", "timestamp", "prompt_hash", "risk_level"})
REQUEST_IDS = uuid.UUID("6a1f3c52-0e3b-5d7a-9c61-2f4b8e0d7a15")  # the namespace of request-id event ids
REQUEST_ID_KEY = "request_id"
_DIGEST = re.compile(r"^(?:sha256:)?([0-9a-f]{64})$")


class SeedBodyError(ValueError):
    pass


def event_id_for(tenant_id: str, record_id: str) -> str:
    """The event id a record id names: itself when it is a UUID, else the event id its request id made."""
    try:
        return str(uuid.UUID(record_id))
    except ValueError:
        return str(uuid.uuid5(REQUEST_IDS, f"{tenant_id}\n{record_id}"))


def _text_map(values: Any) -> Any:
    if not isinstance(values, dict):
        return values  # the model's own validation names the problem
    return {str(k): v if isinstance(v, str) else json.dumps(v, ensure_ascii=False, sort_keys=True)
            for k, v in values.items()}


def uses_seed_names(data: Any) -> bool:
    return isinstance(data, dict) and not SEED_ONLY.isdisjoint(data)


def translate(data: dict[str, Any]) -> dict[str, Any]:
    """The body in this API's names; SeedBodyError when it names one field twice or its digest differs."""
    out = dict(data)
    for seed, own in RENAMED.items():
        if seed in out:
            if own in out:
                raise SeedBodyError(f"{seed} and {own} name one field: send one")
            out[own] = out.pop(seed)
    metadata = dict(out.get("metadata") or {}) if isinstance(out.get("metadata"), dict) else out.get("metadata")
    extra: dict[str, Any] = {}
    if "timestamp" in out:
        if "timestamp_us" in out:
            raise SeedBodyError("timestamp and timestamp_us name one field: send one")
        raw = out.pop("timestamp")
        try:
            when = dt.datetime.fromisoformat(str(raw).replace("Z", "+00:00"))
        except ValueError:
            raise SeedBodyError(f"timestamp {raw!r} is not an ISO-8601 date and time") from None
        when = when if when.tzinfo else when.replace(tzinfo=dt.UTC)
        out["timestamp_us"] = int(when.timestamp() * 1_000_000)
    if "prompt_hash" in out:
        given = out.pop("prompt_hash")
        digest = _DIGEST.match(str(given).lower())
        prompt = out.get("prompt")
        if digest and isinstance(prompt, str) and hashlib.sha256(prompt.encode("utf-8")).hexdigest() != digest.group(1):
            raise SeedBodyError("prompt_hash is not the SHA-256 of prompt_content's UTF-8 text")
        extra["prompt_hash"] = str(given)[:256]
    if "risk_level" in out:
        extra["client_risk_level"] = str(out.pop("risk_level"))[:64]
    if "request_id" in out:
        request_id = str(out.pop("request_id"))
        if not request_id or len(request_id) > 256:
            raise SeedBodyError("request_id must be 1 to 256 characters")
        extra[REQUEST_ID_KEY] = request_id
    if "metadata" in out or extra:
        out["metadata"] = {**_text_map(metadata or {}), **extra}
    if "model_parameters" in out:
        out["model_parameters"] = _text_map(out["model_parameters"])
    # the document has no action: a call it records completed and its answer was used
    out.setdefault("action", "ALLOW")
    if isinstance(out.get("duration_ms"), int):
        out["duration_ms"] = float(out["duration_ms"])
    if isinstance(out.get("confidence"), int):
        out["confidence"] = float(out["confidence"])
    return out
