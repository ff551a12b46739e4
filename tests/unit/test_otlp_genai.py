"""GenAI spans to audit events (pure): every form of the messages in use, finish reasons to actions as the
SDK maps them, errors as FAIL_RETRY, the same span always the same event id."""

from __future__ import annotations

import json
from typing import Any

from audit_layer_api.otlp_genai import Span, event_id, genai_events, to_event


def _span(attributes: dict[str, Any], events: tuple[Any, ...] = (), status: int = 0, span_id: str = "ab" * 8) -> Span:
    return Span("cd" * 16, span_id, "chat m", 1_000_000_000, 1_250_000_000, status, "", attributes, events,
                {"service.name": "svc"})


def test_current_conventions_on_the_span() -> None:
    event = to_event(_span({
        "gen_ai.operation.name": "chat", "gen_ai.provider.name": "openai", "gen_ai.request.model": "gpt-4o",
        "gen_ai.system_instructions": json.dumps([{"type": "text", "content": "Be brief."}]),
        "gen_ai.input.messages": json.dumps([{"role": "user", "parts": [{"type": "text", "content": "Hi"}]}]),
        "gen_ai.output.messages": json.dumps([{"role": "assistant", "parts": [{"type": "text", "content": "Hello"}],
                                               "finish_reason": "length"}]),
        "gen_ai.usage.input_tokens": 3, "gen_ai.usage.output_tokens": 1}))
    assert json.loads(event["prompt"]) == [{"role": "system", "content": "Be brief."},
                                           {"role": "user", "content": "Hi"}]
    assert event["response"] == "Hello" and event["finish_reason"] == "length"
    assert (event["action"], event["reason_codes"]) == ("ALLOW", ["truncated_by_length"])
    assert event["duration_ms"] == 250.0 and event["timestamp_us"] == 1_000_000 and event["total_tokens"] == 4


def test_the_operation_details_event_and_the_older_per_message_events() -> None:
    details_event = "gen_ai.client.inference.operation.details"
    details = to_event(_span({"gen_ai.operation.name": "chat"}, events=((details_event, 0, {
        "gen_ai.input.messages": [{"role": "user", "parts": [{"type": "text", "content": "Q"}]}],
        "gen_ai.output.messages": [{"role": "assistant", "parts": [{"type": "text", "content": "A"}],
                                    "finish_reason": "content_filter"}]}),)))
    assert json.loads(details["prompt"]) == [{"role": "user", "content": "Q"}] and details["response"] == "A"
    assert (details["action"], details["reason_codes"]) == ("REJECT", ["content_filter"])
    older = to_event(_span({"gen_ai.system": "openai"}, events=(
        ("gen_ai.user.message", 0, {"content": "Q2"}),
        ("gen_ai.choice", 0, {"message": json.dumps({"content": "A2"}), "finish_reason": "stop"}))))
    assert json.loads(older["prompt"]) == [{"role": "user", "content": "Q2"}] and older["response"] == "A2"


def test_openinference_attributes() -> None:
    event = to_event(_span({"openinference.span.kind": "LLM", "llm.model_name": "gpt-4o-mini",
                            "llm.input_messages.0.message.role": "user", "llm.input_messages.0.message.content": "Q",
                            "llm.output_messages.0.message.role": "assistant",
                            "llm.output_messages.0.message.content": "A", "llm.token_count.prompt": 5,
                            "llm.invocation_parameters": json.dumps({"temperature": 0})}))
    assert event["model"] == "gpt-4o-mini" and event["input_tokens"] == 5 and event["response"] == "A"
    assert event["model_parameters"] == {"temperature": "0"}


def test_errors_ids_and_spans_that_are_not_genai() -> None:
    failed = to_event(_span({"gen_ai.operation.name": "chat", "error.type": "RateLimitError"}, status=2))
    assert (failed["action"], failed["error_type"], failed["reason_codes"]) == (
        "FAIL_RETRY", "RateLimitError", ["RateLimitError"])
    assert event_id(_span({})) == event_id(_span({"x": 1})) != event_id(_span({}, span_id="ef" * 8))
    events, ignored = genai_events([_span({"http.method": "GET"}), _span({"gen_ai.operation.name": "embeddings"})])
    assert (len(events), ignored) == (1, 1)


def test_spans_that_frame_calls_are_not_calls_and_a_new_operation_name_is_kept() -> None:
    framing = [_span({"gen_ai.provider.name": "langchain", "gen_ai.operation.name": "invoke_agent"}),
               _span({"gen_ai.provider.name": "langchain", "gen_ai.operation.name": "execute_task"}),
               _span({"gen_ai.system": "langchain", "traceloop.span.kind": "workflow"})]
    tool = _span({"gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": "credit_score"}, span_id="01" * 8)
    novel = _span({"gen_ai.operation.name": "generate_video", "gen_ai.provider.name": "x"}, span_id="02" * 8)
    events, ignored = genai_events([*framing, tool, novel])
    assert (ignored, [e["operation"] for e in events]) == (3, ["execute_tool", "generate_video"])
    assert events[0]["metadata"]["gen_ai.tool.name"] == "credit_score"


def test_two_spans_of_one_call_make_one_event_the_richer_one() -> None:
    call = {"gen_ai.operation.name": "chat", "gen_ai.response.id": "msg_1", "gen_ai.provider.name": "anthropic"}
    sdk_span = Span("11" * 16, "22" * 8, "anthropic.messages.create", 10, 20, 0, "", call)
    instrumented = Span("33" * 16, "44" * 8, "anthropic.chat", 11, 19, 0, "",
                        {"gen_ai.operation.name": "chat", "gen_ai.response.id": "msg_1", "gen_ai.provider.name":
                         "anthropic", "gen_ai.input.messages": json.dumps([{"role": "user", "parts": [
                             {"type": "text", "content": "Q"}]}])})
    later_call = Span("55" * 16, "66" * 8, "anthropic.chat", 30, 40, 0, "", call)
    events, ignored = genai_events([sdk_span, instrumented, later_call])
    assert ignored == 1 and [e["span_id"] for e in events] == ["44" * 8, "66" * 8]


def test_two_calls_with_one_response_id_whose_times_touch_are_two_events() -> None:
    """A server that repeats response ids (a gateway, a local model server, a test's stand-in), and two calls
    whose times touch, or of two models: neither may be taken for the other's twin and go unaudited."""
    call = {"gen_ai.operation.name": "chat", "gen_ai.response.id": "c", "gen_ai.provider.name": "openai",
            "gen_ai.request.model": "gpt-4o-mini"}
    first = Span("11" * 16, "22" * 8, "chat gpt-4o-mini", 10, 21, 0, "", call)  # ends as the next one starts
    second = Span("33" * 16, "44" * 8, "chat gpt-4o-mini", 20, 30, 0, "", call)
    other_model = Span("55" * 16, "66" * 8, "chat gpt-4o", 10, 21, 0, "", {**call, "gen_ai.request.model": "gpt-4o"})
    events, ignored = genai_events([first, second, other_model])
    assert ignored == 0 and [e["span_id"] for e in events] == ["22" * 8, "44" * 8, "66" * 8]
    # a wrapper that returns before the stream it wraps is read to the end still covers the same call
    wrapper = Span("77" * 16, "88" * 8, "openai.chat", 100, 110, 0, "", call)
    streamed = Span("99" * 16, "aa" * 8, "ChatCompletion", 101, 500, 0, "", call)
    assert genai_events([wrapper, streamed])[1] == 1
