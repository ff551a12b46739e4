"""The console's and the reports' pure parts: sessions and CSRF, conversations, periods, reviews."""

from __future__ import annotations

import json

import pytest
from audit_layer_api.console.session import Sessions
from audit_layer_governance.reports.compliance_summary import time_series
from audit_layer_governance.reports.conversation import prompt_messages, response_messages
from audit_layer_governance.reports.document import rfc3339
from audit_layer_governance.reviews import ReviewError, review_event


def test_a_session_cookie_is_sealed_expires_and_ends_at_sign_out() -> None:
    sessions = Sessions(b"k" * 32, lifetime_s=60)
    session, cookie = sessions.open("abc123def456", now=1000)
    assert sessions.read(cookie, now=1001) == session
    assert sessions.read(cookie, now=1061) is None  # expired
    key_id, expires, nonce, mac = cookie.split(".")
    assert sessions.read(f"ffffffffffff.{expires}.{nonce}.{mac}", now=1001) is None  # another key's
    assert sessions.read(f"{key_id}.99999.{nonce}.{mac}", now=1001) is None  # a longer life
    assert Sessions(b"x" * 32).read(cookie, now=1001) is None  # another server's secret
    assert sessions.read("garbage", now=1001) is None and sessions.read(None) is None
    assert sessions.check_csrf(session, session.csrf(sessions.secret))
    assert not sessions.check_csrf(session, "") and not sessions.check_csrf(session, "x")
    other, _ = sessions.open("abc123def456", now=1000)
    assert not sessions.check_csrf(session, other.csrf(sessions.secret))  # tied to the session
    sessions.end(session, now=1002)
    assert sessions.read(cookie, now=1003) is None
    pre, token = sessions.pre_session()
    assert sessions.check_pre_session(pre, token) and not sessions.check_pre_session("other", token)


def test_prompts_read_back_as_messages() -> None:
    openai = json.dumps([{"role": "system", "content": "Be brief."},
                         {"role": "user", "content": [{"type": "text", "text": "Hi"}]},
                         {"role": "assistant", "content": None, "tool_calls": [
                             {"id": "c1", "type": "function",
                              "function": {"name": "lookup", "arguments": "{\"a\":1}"}}]},
                         {"role": "tool", "content": "42", "tool_call_id": "c1"}])
    assert [(m.role, m.text, m.name) for m in prompt_messages(openai)] == [
        ("system", "Be brief.", ""), ("user", "Hi", ""), ("tool call", "{\"a\":1}", "lookup"), ("tool", "42", "")]
    anthropic = json.dumps({"system": "S", "messages": [{"role": "user", "content": "Q"}]})
    assert [(m.role, m.text) for m in prompt_messages(anthropic)] == [("system", "S"), ("user", "Q")]
    langchain = json.dumps([{"role": "human", "content": "Q"}, {"role": "ai", "content": "A"}])
    assert [m.role for m in prompt_messages(langchain)] == ["user", "assistant"]
    assert [(m.role, m.text) for m in prompt_messages("plain {text")] == [("user", "plain {text")]
    assert [(m.role, m.text) for m in prompt_messages('{"k": 1}')] == [("user", '{"k": 1}')]  # shown as stored
    assert prompt_messages(None) == ()
    calls = json.dumps({"text": "Let me look.", "tool_use": [{"name": "search", "input": {"q": "x"}}]})
    assert [(m.role, m.text, m.name) for m in response_messages(calls)] == [
        ("assistant", "Let me look.", ""), ("tool call", '{"q": "x"}', "search")]
    assert [(m.role, m.text) for m in response_messages("Approved.")] == [("assistant", "Approved.")]


@pytest.mark.parametrize(("first", "last", "title", "bars"), [
    ("2026-03-05", "2026-03-05", None, 0),
    ("2026-03-01", "2026-03-31", "Events per day", 31),
    ("2026-01-01", "2026-06-30", "Events per ISO week", 27),
    ("2025-01-01", "2025-12-31", "Events per month", 12),
])
def test_the_time_chart_fits_the_period(first: str, last: str, title: str | None, bars: int) -> None:
    per_day = {"2026-03-05": 7, "2025-07-04": 3}
    charts = time_series(first, last, per_day)
    assert [c.title for c in charts] == ([title] if title else [])
    if charts:
        assert len(charts[0].labels) == bars
        assert sum(charts[0].values) == sum(v for d, v in per_day.items() if first <= d <= last)


def test_one_timestamp_format() -> None:
    assert rfc3339(0) == "1970-01-01T00:00:00Z"
    assert rfc3339(1.5) == "1970-01-01T00:00:01.500000Z"


def test_a_review_needs_a_verdict_a_note_and_an_event_id() -> None:
    made = review_event(tenant_id="t", reviewed_event_id="0190d6f0-0000-7000-8000-000000000001",
                        verdict="overridden", note=" misread ", reviewer="api-key:abc")
    assert made.decision_type == "decision_review" and made.decision_outcome == "overridden"
    assert made.reasoning == "misread" and made.metadata["reviews_event_id"].endswith("000000000001")
    for verdict, note, event_id in (("maybe", "n", "0190d6f0-0000-7000-8000-000000000001"),
                                    ("confirmed", "  ", "0190d6f0-0000-7000-8000-000000000001"),
                                    ("confirmed", "n", "not-an-id")):
        with pytest.raises(ReviewError):
            review_event(tenant_id="t", reviewed_event_id=event_id, verdict=verdict, note=note, reviewer="r")
