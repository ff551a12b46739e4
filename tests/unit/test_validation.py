from audit_layer_processors.dlq import DlqLimiter, DlqLimitExceeded, DlqPolicy
from audit_layer_processors.validation import EventValidator, Rejection
from audit_layer_samples.factories import make_event
from audit_layer_schemas import AUDIT_EVENT, AuditEvent, AvroCodec

CODEC = AvroCodec(AUDIT_EVENT)


def _reason(key: bytes | None, value: bytes | None) -> str:
    result = EventValidator().validate(key, value)
    assert isinstance(result, Rejection), result
    return result.reason


def test_valid_event_passes() -> None:
    event = make_event()
    result = EventValidator().validate(b"acme", CODEC.encode(event.to_avro()))
    assert isinstance(result, AuditEvent) and result.event_id == event.event_id


def test_each_kind_of_bad_input_has_its_reason() -> None:
    good = make_event().to_avro()
    assert _reason(b"acme", None) == "empty_message"
    assert _reason(b"acme", b"\x00random bytes") == "not_single_object_encoding"
    assert _reason(b"acme", CODEC.encode(good)[:-3]) == "corrupt_avro"
    assert _reason(b"acme", CODEC.encode({**good, "input_tokens": -5})) == "invalid_event"
    assert _reason(b"acme", CODEC.encode({**good, "tenant_id": ""})) == "invalid_event"
    assert _reason(b"other", CODEC.encode(good)) == "key_tenant_mismatch"
    assert _reason(b"acme", CODEC.encode({**good, "prompt": "edited"})) == "content_digest_mismatch"


def test_dlq_limit_stops_a_worker_fed_garbage() -> None:
    now = [0.0]
    limiter = DlqLimiter(DlqPolicy(max_messages=3, window_seconds=10), clock=lambda: now[0])
    for _ in range(3):
        limiter.record()
    now[0] = 11.0  # the window slides: old dead letters no longer count
    for _ in range(3):
        limiter.record()
    try:
        limiter.record()
    except DlqLimitExceeded as exc:
        assert "--dlq-max" in str(exc)
    else:
        raise AssertionError("the fourth dead letter within the window must stop the worker")
