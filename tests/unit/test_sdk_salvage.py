"""No call goes unaudited: what cannot be stored whole is stored in part and flagged (salvage.py)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from audit_layer_schemas import Action, AuditEvent, sha256_hex
from audit_layer_schemas.codec import AvroCodec
from audit_layer_schemas.models import MAX_CONTENT_CHARS
from audit_layer_schemas.registry import AUDIT_EVENT
from audit_layer_sdk import AuditCollector
from audit_layer_sdk.memory_publisher import MemoryPublisher


def _record(**calls: Any) -> AuditEvent:
    publisher = MemoryPublisher()
    collector = AuditCollector(publisher, tenant_id="acme")  # type: ignore[arg-type]
    for method, args in calls.items():
        getattr(collector, method.rstrip("_"))(*args[0], **args[1])
    assert collector.emit() is True
    [event] = publisher.events
    AvroCodec(AUDIT_EVENT).encode(event.to_avro())  # and Kafka can carry it
    return event


def test_a_long_context_prompt_is_cut_and_flagged_with_the_whole_texts_digest() -> None:
    prompt = "x" * (MAX_CONTENT_CHARS + 10)
    event = _record(set_input=((prompt,), {}))
    assert event.prompt == prompt[:MAX_CONTENT_CHARS] and "content_truncated" in event.reason_codes
    assert event.metadata["audit_layer.prompt_chars"] == str(len(prompt))
    assert event.metadata["audit_layer.prompt_full_sha256"] == sha256_hex(prompt, event.content_salt)
    assert event.content_digests_match()


def test_lone_surrogates_bytes_and_objects_are_escaped_or_written_out() -> None:
    event = _record(set_input=(("bad \ud800 text",), {}), set_output=((b"\xff\xferaw",), {}))
    assert event.prompt == "bad \\ud800 text" and event.response == "\\xff\\xferaw"
    assert {"content_escaped", "content_stringified"} <= set(event.reason_codes)
    assert event.metadata["audit_layer.response_was"] == "bytes"
    event = _record(set_input=(({"question": 42},), {}))
    assert json.loads(event.prompt or "") == {"question": 42}


def test_metadata_nested_too_deep_or_cyclic_is_kept_as_a_bounded_repr() -> None:
    deep: Any = "bottom"
    for _ in range(10_000):
        deep = {"d": deep}
    cyclic: list[Any] = []
    cyclic.append(cyclic)
    event = _record(set_decision=(("loan",), {"metadata": {"deep": deep, "cyclic": cyclic, "ok": 1}}))
    assert event.metadata["ok"] == "1" and "metadata_stringified" in event.reason_codes
    assert event.metadata["deep"].startswith("{'d': {'d':") and len(event.metadata["deep"]) < 5000
    assert event.decision_type == "loan"


@pytest.mark.parametrize("given, action", [("allow", Action.ALLOW), ("Reject", Action.REJECT),
                                           ("fail_retry", Action.FAIL_RETRY), (Action.REJECT, Action.REJECT)])
def test_action_names_in_any_case(given: Any, action: Action) -> None:
    event = _record(set_action=((given,), {}))
    assert event.action == action and "invalid_action" not in event.reason_codes


def test_an_unknown_action_is_fail_retry_with_the_given_name() -> None:
    event = _record(set_action=(("maybe",), {}))
    assert event.action == Action.FAIL_RETRY and "invalid_action" in event.reason_codes
    assert event.metadata["audit_layer.given_action"] == "'maybe'"


def test_other_invalid_fields_move_into_the_metadata() -> None:
    event = _record(set_decision=(("loan",), {"confidence": 7.5}), set_output=(("ok",), {"input_tokens": -3}))
    assert event.confidence is None and event.input_tokens is None and "invalid_field" in event.reason_codes
    assert event.metadata["audit_layer.invalid.confidence"] == "7.5"
    assert event.metadata["audit_layer.invalid.input_tokens"] == "-3"
    assert event.response == "ok"


def test_only_an_invalid_tenant_is_refused_and_emit_says_so() -> None:
    publisher = MemoryPublisher()
    assert AuditCollector(publisher, tenant_id=" spaced ").emit() is False  # type: ignore[arg-type]
    assert publisher.events == [] and publisher.stats.snapshot().errors == 1
