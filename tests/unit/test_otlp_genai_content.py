"""GenAI content log records to content events (pure): the records of one span make one event that names the
call's event; a resent export makes the same event id, a split one two events; content outside any span is
kept and flagged; other records are ignored. And the OTLP/JSON log decoding."""

from __future__ import annotations

import json
from typing import Any

import pytest
from audit_layer_api.otlp_genai import Span, event_id
from audit_layer_api.otlp_genai_content import CONTENT_DECISION, CONTENT_OF_KEY, LogRecord, content_events
from audit_layer_api.otlp_request import OtlpError, log_records_from_json

TRACE, SPAN = "cd" * 16, "ab" * 8


def _record(name: str, body: Any, at: int, span_id: str = SPAN, trace_id: str = TRACE) -> LogRecord:
    return LogRecord(trace_id, span_id, name, at, {"gen_ai.system": "openai"}, body, {"service.name": "desk"})


def _call() -> list[LogRecord]:
    return [_record("gen_ai.system.message", {"content": "Decide."}, 1_000),
            _record("gen_ai.user.message", {"content": "Approve 12?"}, 2_000),
            _record("gen_ai.choice", {"index": 0, "finish_reason": "stop",
                                      "message": {"role": "assistant", "content": "Denied."}}, 3_000_000)]


def test_the_records_of_one_span_make_one_content_event_naming_the_call() -> None:
    (event,), ignored = content_events([*_call(), LogRecord("", "", "http.request", 5, {"x": 1})])
    assert ignored == 1
    assert json.loads(event["prompt"]) == [{"role": "system", "content": "Decide."},
                                           {"role": "user", "content": "Approve 12?"}]
    assert (event["response"], event["finish_reason"], event["action"]) == ("Denied.", "stop", "ALLOW")
    assert (event["trace_id"], event["span_id"], event["provider"]) == (TRACE, SPAN, "openai")
    assert event["decision_type"] == CONTENT_DECISION and event["operation"] == "content"
    call = Span(TRACE, SPAN, "chat", 0, 0, 0, "", {})
    assert event["metadata"][CONTENT_OF_KEY] == event_id(call) != event["event_id"]
    assert event["metadata"]["resource.service.name"] == "desk" and event["timestamp_us"] == 1


def test_a_resent_export_is_the_same_event_and_a_split_one_two_events() -> None:
    (first,), _ = content_events(_call())
    (again,), _ = content_events(_call())
    assert first["event_id"] == again["event_id"]
    (before,), _ = content_events(_call()[:2])
    (after,), _ = content_events(_call()[2:])
    assert len({first["event_id"], before["event_id"], after["event_id"]}) == 3
    assert after["response"] == "Denied." and "prompt" not in after


def test_two_spans_two_events_and_content_outside_a_span_is_kept_and_flagged() -> None:
    other = [_record("gen_ai.user.message", {"content": "Q2"}, 9, span_id="ef" * 8)]
    loose = [_record("gen_ai.user.message", {"content": "Q3"}, 9, span_id="", trace_id="")]
    events, ignored = content_events([*_call(), *other, *loose])
    assert (len(events), ignored) == (3, 0)
    assert [json.loads(e["prompt"])[-1]["content"] for e in events] == ["Approve 12?", "Q2", "Q3"]
    assert CONTENT_OF_KEY not in events[2]["metadata"] and events[2]["metadata"]["otlp.span"].startswith("none")
    assert "trace_id" not in events[2]


def test_the_operation_details_record_and_a_filtered_answer() -> None:
    details = _record("gen_ai.client.inference.operation.details", None, 7)
    details = LogRecord(TRACE, SPAN, details.event_name, 7, {
        "gen_ai.provider.name": "anthropic", "gen_ai.request.model": "claude-sonnet-4",
        "gen_ai.input.messages": [{"role": "user", "parts": [{"type": "text", "content": "Q"}]}],
        "gen_ai.output.messages": [{"role": "assistant", "parts": [{"type": "text", "content": "A"}],
                                    "finish_reason": "content_filter"}]})
    (event,), _ = content_events([details])
    assert (event["provider"], event["model"], event["response"]) == ("anthropic", "claude-sonnet-4", "A")
    assert (event["action"], event["reason_codes"]) == ("REJECT", ["content_filter"])


def _json_body(**record: Any) -> bytes:
    resource = {"attributes": [{"key": "service.name", "value": {"stringValue": "desk"}}]}
    return json.dumps({"resourceLogs": [{"resource": resource, "scopeLogs": [{"logRecords": [record]}]}]}).encode()


def test_otlp_json_log_records() -> None:
    (record,) = log_records_from_json(_json_body(
        traceId=TRACE.upper(), spanId=SPAN, eventName="gen_ai.user.message", observedTimeUnixNano="12",
        attributes=[{"key": "gen_ai.system", "value": {"stringValue": "openai"}}],
        body={"kvlistValue": {"values": [{"key": "content", "value": {"stringValue": "Hi"}}]}}))
    assert record == LogRecord(TRACE, SPAN, "gen_ai.user.message", 12, {"gen_ai.system": "openai"},
                               {"content": "Hi"}, {"service.name": "desk"})
    # before LogRecord.event_name, the Events API named the event in an attribute
    (older,) = log_records_from_json(_json_body(attributes=[
        {"key": "event.name", "value": {"stringValue": "gen_ai.choice"}}]))
    assert (older.event_name, older.trace_id, older.body) == ("gen_ai.choice", "", None)
    for bad in (_json_body(spanId="abc"), _json_body(traceId="zz" * 16), b"[1]", b"{", _json_body(attributes=5)):
        with pytest.raises(OtlpError):
            list(log_records_from_json(bad))
