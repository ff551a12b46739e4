"""Writes schemas/test-vectors/audit-events.json: events as JSON, their Avro single-object bytes,
digests and partitions, made by the Python SDK's own code. Both SDKs' tests check them, so the
TypeScript SDK cannot drift from the Python one.

    python scripts/make_test_vectors.py            # rewrite the file
    python scripts/make_test_vectors.py --check    # exit 1 if the file is stale
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from pathlib import Path
from typing import Any

from audit_layer_schemas import AUDIT_EVENT, AuditEvent, AvroCodec, sha256_hex
from audit_layer_schemas.partition import murmur2, partition_for

OUT = Path(__file__).resolve().parent.parent / "schemas" / "test-vectors" / "audit-events.json"
PARTITION_COUNTS = (1, 3, 6, 12, 48)
SALT = "00112233445566778899aabbccddeeff"

EVENTS: list[tuple[str, dict[str, Any]]] = [
    ("minimal", {"event_id": "0190b6d2-7c1e-7a3b-8f00-0123456789ab", "timestamp_us": 1_700_000_000_000_000,
                 "tenant_id": "acme-bank", "action": "ALLOW", "sdk_name": "audit-layer-typescript",
                 "sdk_version": "0.1.0"}),
    ("loan-denied", {
        "event_id": "0190b6d2-7c1e-7a3b-8f00-0123456789ac", "timestamp_us": 1_732_300_000_123_456,
        "duration_ms": 412.5, "tenant_id": "acme-bank", "user_id": "u-1", "session_id": "loan-42",
        "trace_id": "4bf92f3577b34da6a3ce929d0e0e4736", "span_id": "00f067aa0ba902b7", "provider": "openai",
        "operation": "chat", "model": "gpt-4o-mini", "response_model": "gpt-4o-mini-2024-07-18",
        "model_parameters": {"temperature": "0.3", "max_tokens": "256"},
        "prompt": '[{"content": "Assess loan application 42.", "role": "user"}]',
        "response": "Denied: debt ratio too high.", "input_tokens": 21, "output_tokens": 7, "total_tokens": 28,
        "finish_reason": "stop", "action": "ALLOW", "reason_codes": [], "decision_type": "loan_underwriting",
        "decision_outcome": "denied", "confidence": 0.87, "compliance_tags": ["FCRA", "SOC2"],
        "metadata": {"loan_amount": "50000", "branch": "\"north\"", "a_first": "1"},
        "sdk_name": "audit-layer-typescript", "sdk_version": "0.1.0", "content_salt": SALT}),
    ("unicode-and-refusal", {
        "event_id": "0190b6d2-7c1e-7a3b-8f00-0123456789ad", "timestamp_us": 1_732_300_000_999_999,
        "tenant_id": "clinic-ü", "user_id": "dr-5", "provider": "anthropic", "operation": "chat",
        "model": "claude-sonnet-4-5", "prompt": "Fièvre et toux 🤒 — 三天了?", "response": "I can't help with that.",
        "finish_reason": "refusal", "action": "REJECT", "reason_codes": ["refusal"],
        "decision_type": "diagnosis_assist", "sdk_name": "audit-layer-typescript", "sdk_version": "0.1.0",
        "content_salt": SALT}),
    ("provider-error", {
        "event_id": "0190b6d2-7c1e-7a3b-8f00-0123456789ae", "timestamp_us": 1_732_300_001_000_000,
        "duration_ms": 0.25, "tenant_id": "t-0", "provider": "openai", "model": "gpt-4o",
        "action": "FAIL_RETRY", "reason_codes": ["provider_error", "http_status_503"],
        "error_type": "InternalServerError", "sdk_name": "audit-layer-typescript", "sdk_version": "0.1.0"}),
]
KEYS = ["", "a", "ab", "abc", "abcd", "acme-bank", "clinic-ü", "tenant-0001", "t-0", "x" * 37]


def _with_digests(fields: dict[str, Any]) -> dict[str, Any]:
    out = dict(fields)
    for name in ("prompt", "response"):
        if out.get(name) is not None:
            out[f"{name}_sha256"] = sha256_hex(out[name], out.get("content_salt"))
    return out


def build() -> dict[str, Any]:
    codec = AvroCodec(AUDIT_EVENT)
    events = []
    for name, fields in EVENTS:
        record = AuditEvent(**_with_digests(fields)).to_avro()
        encoded = codec.encode(record)
        key = record["tenant_id"].encode()
        events.append({"name": name, "event": record, "avro_hex": encoded.hex(),
                       "sha256": hashlib.sha256(encoded).hexdigest(), "key": record["tenant_id"],
                       "partitions": {str(n): partition_for(key, n) for n in PARTITION_COUNTS}})
    return {
        "schema": AUDIT_EVENT,
        "fingerprint_hex": codec.schema.fingerprint_hex,
        "canonical_form": codec.schema.canonical_form,
        "events": events,
        "murmur2": [{"key": k, "murmur2": murmur2(k.encode()),
                     "partitions": {str(n): partition_for(k.encode(), n) for n in PARTITION_COUNTS}} for k in KEYS],
        "digests": [{"text": t, "salt": SALT, "sha256": sha256_hex(t, SALT)} for t in ("", "x", "Fièvre 🤒")],
    }


def render() -> str:
    return json.dumps(build(), ensure_ascii=False, indent=1, sort_keys=True) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--check", action="store_true", help="exit 1 if the committed file differs")
    args = parser.parse_args()
    text = render()
    if args.check:
        if not OUT.exists() or OUT.read_text(encoding="utf-8") != text:
            print(f"{OUT} is stale: run python scripts/make_test_vectors.py", file=sys.stderr)
            return 1
        print(f"{OUT} is current")
        return 0
    OUT.write_text(text, encoding="utf-8")
    print(f"wrote {OUT} ({len(EVENTS)} events, {len(KEYS)} keys)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
