"""Property-based fuzz of the codec, the validator and the enricher: whatever arrives, the answer
is a decoded event or a named rejection, never a crash of the worker."""

from __future__ import annotations

from typing import Any

from audit_layer_processors.enrichment import enrich
from audit_layer_processors.policy import load_policy
from audit_layer_processors.validation import EventValidator, Rejection
from audit_layer_samples.factories import make_event
from audit_layer_schemas import AUDIT_EVENT, ENRICHED_EVENT, AuditEvent, AvroCodec, DecodeError
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

CODEC = AvroCodec(AUDIT_EVENT)
VALIDATOR = EventValidator()
POLICY = load_policy()
VALID = CODEC.encode(make_event("acme-bank").to_avro())
FUZZ = settings(max_examples=1000, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)


@FUZZ
@given(st.binary(max_size=2048))
def test_decoding_any_bytes_is_an_event_or_a_decode_error(data: bytes) -> None:
    try:
        record = CODEC.decode(data)
    except DecodeError as exc:
        assert exc.reason  # a named reason, as the DLQ header carries it
        return
    assert isinstance(record, dict)


@FUZZ
@given(st.binary(max_size=64), st.binary(max_size=2048))
def test_validating_any_message_never_raises(key: bytes, value: bytes) -> None:
    assert isinstance(VALIDATOR.validate(key, value), AuditEvent | Rejection)


@FUZZ
@given(st.lists(st.tuples(st.integers(0, len(VALID) - 1), st.integers(0, 255)), min_size=1, max_size=8))
def test_a_valid_message_with_bytes_changed_is_an_event_or_a_rejection(edits: list[tuple[int, int]]) -> None:
    data = bytearray(VALID)
    for at, byte in edits:
        data[at] = byte
    result = VALIDATOR.validate(b"acme-bank", bytes(data))
    assert isinstance(result, AuditEvent | Rejection)
    if isinstance(result, AuditEvent):
        AvroCodec(ENRICHED_EVENT).encode(enrich(result, 1_700_000_000_000_000, POLICY))


_text = st.text(max_size=300)
_ids = st.none() | st.text(min_size=1, max_size=40)


@FUZZ
@given(st.fixed_dictionaries({
    "tenant_id": st.sampled_from(["acme-bank", "northwind-health", "globex-hr", "other"]),
    "prompt": st.none() | _text, "response": st.none() | _text, "reasoning": st.none() | _text,
    "user_id": _ids, "decision_type": _ids, "decision_outcome": _ids, "finish_reason": _ids,
    "action": st.sampled_from(["ALLOW", "REJECT", "FAIL_RETRY"]),
    "confidence": st.none() | st.floats(0.0, 1.0),
    "input_tokens": st.none() | st.integers(0, 10**9),
    "compliance_tags": st.lists(st.text(min_size=1, max_size=20), max_size=5),
    "reason_codes": st.lists(st.text(min_size=1, max_size=20), max_size=5),
    "metadata": st.dictionaries(st.text(max_size=20), st.text(max_size=50), max_size=5),
}))
def test_enriching_any_valid_event_gives_an_encodable_record(fields: dict[str, Any]) -> None:
    event = make_event(fields.pop("tenant_id"), **fields)
    record = enrich(event, 1_700_000_000_000_000, POLICY)
    encoded = AvroCodec(ENRICHED_EVENT).encode(record)
    assert AvroCodec(ENRICHED_EVENT).decode(encoded)["event"]["event_id"] == event.event_id
