"""OpenAI `responses.create` (plain and streaming), cached and reasoning tokens with their cost, the
Anthropic `messages.stream` helper; real client packages, transport answered locally, events read
back from the real broker."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
import httpx2
import openai
import pytest
from anthropic.lib.streaming import MessageStream
from audit_layer_schemas import Topics
from audit_layer_sdk import AuditAnthropic, AuditAsyncAnthropic, AuditConfig, AuditOpenAI, AuditPublisher
from audit_layer_sdk.usage import PriceTable

from tests.integration.test_sdk_openai import _read
from tests.integration.test_sdk_streams_anthropic import _anthropic_message, _sse

pytestmark = pytest.mark.integration

PRICES = PriceTable.from_mapping({"models": {
    "gpt-4o-mini": {"input": 0.15, "cached_input": 0.075, "output": 0.6},
    "claude-sonnet": {"input": 3, "cached_input": 0.3, "cache_write": 3.75, "output": 15},
}})


@pytest.fixture
def publisher(kafka_bootstrap: str, topics: Topics) -> AuditPublisher:
    return AuditPublisher(AuditConfig(bootstrap_servers=kafka_bootstrap, topic=topics.events, spool_dir=None,
                                      prices=PRICES))


def _response(status: str = "completed", output: list[dict[str, Any]] | None = None,
              incomplete: str | None = None, error: dict[str, str] | None = None) -> dict[str, Any]:
    text = {"type": "message", "id": "msg_1", "role": "assistant", "status": "completed",
            "content": [{"type": "output_text", "text": "Approve with conditions.", "annotations": []}]}
    return {
        "id": "resp_1", "object": "response", "created_at": 1, "model": "gpt-4o-mini-2024-07-18", "status": status,
        "output": [text] if output is None else output, "parallel_tool_calls": True, "tool_choice": "auto",
        "tools": [], "incomplete_details": {"reason": incomplete} if incomplete else None, "error": error,
        "usage": {"input_tokens": 1000, "output_tokens": 200, "total_tokens": 1200,
                  "input_tokens_details": {"cached_tokens": 600},
                  "output_tokens_details": {"reasoning_tokens": 150}},
    }


def _openai(handler: Any, publisher: AuditPublisher) -> AuditOpenAI:
    return AuditOpenAI(tenant_id="acme-bank", publisher=publisher, api_key="k", base_url="http://llm.test/v1",
                       http_client=httpx.Client(transport=httpx.MockTransport(handler)), max_retries=0)


def test_responses_create_with_cached_and_reasoning_tokens_and_cost(kafka_bootstrap: str, topics: Topics,
                                                                    publisher: AuditPublisher) -> None:
    sent: list[dict[str, Any]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        sent.append(json.loads(request.content))
        return httpx.Response(200, json=_response())

    client = _openai(handler, publisher)
    result = client.responses.create(model="gpt-4o-mini", instructions="Underwrite.", input="Application 42",
                                     max_output_tokens=300, decision_type="loan_underwriting",
                                     decision_outcome="approved")
    assert isinstance(result, openai.types.responses.Response) and result.output_text == "Approve with conditions."
    assert "decision_type" not in sent[0] and sent[0]["input"] == "Application 42"
    publisher.flush(10)
    [(_, event)] = _read(kafka_bootstrap, topics.events, 1)
    assert json.loads(event["prompt"]) == {"instructions": "Underwrite.", "input": "Application 42"}
    assert event["response"] == "Approve with conditions." and event["finish_reason"] == "stop"
    assert (event["input_tokens"], event["output_tokens"], event["total_tokens"]) == (1000, 200, 1200)
    assert event["model_parameters"] == {"max_output_tokens": "300"}
    assert event["metadata"]["gen_ai.usage.cache_read.input_tokens"] == "600"
    assert event["metadata"]["gen_ai.usage.reasoning.output_tokens"] == "150"
    # 400 fresh x 0.15 + 600 cached x 0.075 + 200 out x 0.6, per million
    assert float(event["metadata"]["audit_layer.cost.usd"]) == pytest.approx((400 * 0.15 + 600 * 0.075 + 200 * 0.6)
                                                                             / 1e6)
    assert (event["action"], event["decision_outcome"]) == ("ALLOW", "approved")


@pytest.mark.parametrize(("body", "finish", "action", "codes"), [
    (_response("incomplete", incomplete="max_output_tokens"), "length", "ALLOW", ["truncated_by_length"]),
    (_response("incomplete", incomplete="content_filter"), "content_filter", "REJECT", ["content_filter"]),
    (_response(output=[{"type": "message", "id": "m", "role": "assistant", "status": "completed",
                        "content": [{"type": "refusal", "refusal": "I can't help with that."}]}]),
     "stop", "REJECT", ["refusal"]),
    (_response("failed", output=[], error={"code": "server_error", "message": "boom"}), "error", "FAIL_RETRY",
     ["provider_error", "error_server_error"]),
    (_response(output=[{"type": "function_call", "id": "fc", "call_id": "call_1", "name": "credit_score",
                        "arguments": "{\"applicant\": 42}", "status": "completed"}]), "tool_calls", "ALLOW", []),
])
def test_responses_outcome_mapping(kafka_bootstrap: str, topics: Topics, publisher: AuditPublisher,
                                   body: dict[str, Any], finish: str, action: str, codes: list[str]) -> None:
    _openai(lambda request: httpx.Response(200, json=body), publisher).responses.create(model="m", input="x")
    publisher.flush(10)
    [(_, event)] = _read(kafka_bootstrap, topics.events, 1)
    assert (event["finish_reason"], event["action"], event["reason_codes"]) == (finish, action, codes)
    if finish == "tool_calls":
        assert json.loads(event["response"]) == [{"call_id": "call_1", "name": "credit_score",
                                                  "arguments": "{\"applicant\": 42}"}]
    if codes == ["refusal"]:
        assert event["response"] == "I can't help with that."


def test_responses_stream_passed_through_and_recorded(kafka_bootstrap: str, topics: Topics,
                                                      publisher: AuditPublisher) -> None:
    final = _response()
    created = {**final, "status": "in_progress", "output": [], "usage": None}
    body = _sse([
        ("response.created", {"type": "response.created", "sequence_number": 0, "response": created}),
        ("response.output_text.delta", {"type": "response.output_text.delta", "sequence_number": 1,
                                        "item_id": "msg_1", "output_index": 0, "content_index": 0,
                                        "delta": "Approve ", "logprobs": []}),
        ("response.output_text.delta", {"type": "response.output_text.delta", "sequence_number": 2,
                                        "item_id": "msg_1", "output_index": 0, "content_index": 0,
                                        "delta": "with conditions.", "logprobs": []}),
        ("response.completed", {"type": "response.completed", "sequence_number": 3, "response": final}),
    ])
    client = _openai(lambda request: httpx.Response(200, content=body,
                                                    headers={"content-type": "text/event-stream"}), publisher)
    events = list(client.responses.create(model="gpt-4o-mini", input="Application 42", stream=True))
    assert [e.type for e in events] == ["response.created", "response.output_text.delta",
                                        "response.output_text.delta", "response.completed"]
    publisher.flush(10)
    [(_, event)] = _read(kafka_bootstrap, topics.events, 1)
    assert event["response"] == "Approve with conditions." and event["output_tokens"] == 200
    assert float(event["metadata"]["gen_ai.response.time_to_first_chunk"]) >= 0


def test_chat_usage_details_and_the_conversation_loop(kafka_bootstrap: str, topics: Topics,
                                                      publisher: AuditPublisher) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json={
            "id": "c", "object": "chat.completion", "created": 1, "model": "gpt-4o-mini",
            "choices": [{"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": "Yes."}}],
            "usage": {"prompt_tokens": 100, "completion_tokens": 10, "total_tokens": 110,
                      "prompt_tokens_details": {"cached_tokens": 64},
                      "completion_tokens_details": {"reasoning_tokens": 4}}})

    client = _openai(handler, publisher)
    messages = [{"role": "user", "content": "First question"}]
    reply = client.chat.completions.create(model="gpt-4o-mini", messages=messages)
    messages.append({"role": "assistant", "content": reply.choices[0].message.content})  # the usual loop
    messages.append({"role": "user", "content": "Second question"})
    client.chat.completions.create(model="gpt-4o-mini", messages=iter(messages))  # a one-shot iterable too
    publisher.flush(10)
    first, second = sorted((e for _, e in _read(kafka_bootstrap, topics.events, 2)), key=lambda e: e["event_id"])
    assert json.loads(first["prompt"]) == [{"role": "user", "content": "First question"}]
    assert len(json.loads(second["prompt"])) == 3
    assert first["metadata"]["gen_ai.usage.cache_read.input_tokens"] == "64"
    assert first["metadata"]["gen_ai.usage.reasoning.output_tokens"] == "4"
    assert float(first["metadata"]["audit_layer.cost.usd"]) == pytest.approx((36 * 0.15 + 64 * 0.075 + 10 * 0.6)
                                                                             / 1e6)


def _anthropic_stream(stop: str | None = "end_turn") -> bytes:
    message = {**_anthropic_message("end_turn"), "content": [], "stop_reason": None,
               "usage": {"input_tokens": 20, "output_tokens": 1, "cache_read_input_tokens": 1000,
                         "cache_creation_input_tokens": 50}}
    events: list[tuple[str | None, Any]] = [
        ("message_start", {"type": "message_start", "message": message}),
        ("content_block_start", {"type": "content_block_start", "index": 0,
                                 "content_block": {"type": "text", "text": ""}}),
        ("content_block_delta", {"type": "content_block_delta", "index": 0,
                                 "delta": {"type": "text_delta", "text": "Checking the chart."}}),
        ("content_block_stop", {"type": "content_block_stop", "index": 0}),
        ("content_block_start", {"type": "content_block_start", "index": 1,
                                 "content_block": {"type": "tool_use", "id": "tu_1", "name": "lookup_chart",
                                                   "input": {}}}),
        ("content_block_delta", {"type": "content_block_delta", "index": 1,
                                 "delta": {"type": "input_json_delta", "partial_json": "{\"patient\": "}}),
        ("content_block_delta", {"type": "content_block_delta", "index": 1,
                                 "delta": {"type": "input_json_delta", "partial_json": "\"p-7\"}"}}),
        ("content_block_stop", {"type": "content_block_stop", "index": 1}),
    ]
    if stop is not None:
        events += [("message_delta", {"type": "message_delta", "delta": {"stop_reason": stop, "stop_sequence": None},
                                      "usage": {"output_tokens": 30}}),
                   ("message_stop", {"type": "message_stop"})]
    return _sse(events)


def _anthropic_handler(stop: str | None = "end_turn") -> Any:
    def handler(request: httpx2.Request) -> httpx2.Response:
        return httpx2.Response(200, content=_anthropic_stream(stop), headers={"content-type": "text/event-stream"})
    return handler


def test_anthropic_stream_helper_sync_and_async(kafka_bootstrap: str, topics: Topics,
                                                publisher: AuditPublisher) -> None:
    client = AuditAnthropic(tenant_id="clinic", publisher=publisher, api_key="k", base_url="http://llm.test",
                            http_client=httpx2.Client(transport=httpx2.MockTransport(_anthropic_handler())))
    with client.messages.stream(model="claude-sonnet-4-5", max_tokens=99, system="Clinic assistant.",
                                messages=[{"role": "user", "content": "Chart of p-7?"}],
                                decision_type="diagnosis_assist") as stream:
        assert isinstance(stream, MessageStream)  # the SDK's own object
        assert "".join(stream.text_stream) == "Checking the chart."
        final = stream.get_final_message()
    assert final.stop_reason == "end_turn"

    async def main() -> None:
        async def ahandler(request: httpx2.Request) -> httpx2.Response:
            response: httpx2.Response = _anthropic_handler("tool_use")(request)
            return response

        aclient = AuditAsyncAnthropic(tenant_id="clinic", publisher=publisher, api_key="k",
                                      base_url="http://llm.test",
                                      http_client=httpx2.AsyncClient(transport=httpx2.MockTransport(ahandler)))
        async with aclient.messages.stream(model="claude-sonnet-4-5", max_tokens=99, messages=[]) as astream:
            await astream.get_final_message()

    asyncio.run(main())
    publisher.flush(10)
    events = sorted((e for _, e in _read(kafka_bootstrap, topics.events, 2)), key=lambda e: e["event_id"])
    assert [e["finish_reason"] for e in events] == ["end_turn", "tool_use"]
    for event in events:
        assert json.loads(event["response"]) == {"text": "Checking the chart.", "tool_use": [
            {"id": "tu_1", "name": "lookup_chart", "input": {"patient": "p-7"}}]}
        # OpenTelemetry counts cache reads and writes inside the input tokens
        assert (event["input_tokens"], event["output_tokens"]) == (1070, 30)
        assert event["metadata"]["gen_ai.usage.cache_read.input_tokens"] == "1000"
        assert event["metadata"]["gen_ai.usage.cache_creation.input_tokens"] == "50"
        assert float(event["metadata"]["audit_layer.cost.usd"]) == pytest.approx(
            (20 * 3 + 1000 * 0.3 + 50 * 3.75 + 30 * 15) / 1e6)
    assert json.loads(events[0]["prompt"])["system"] == "Clinic assistant."
    assert events[0]["decision_type"] == "diagnosis_assist"


def test_anthropic_stream_helper_left_early_and_streamed_tool_use(kafka_bootstrap: str, topics: Topics,
                                                                   publisher: AuditPublisher) -> None:
    client = AuditAnthropic(tenant_id="clinic", publisher=publisher, api_key="k", base_url="http://llm.test",
                            http_client=httpx2.Client(transport=httpx2.MockTransport(_anthropic_handler(None))))
    with client.messages.stream(model="claude-sonnet-4-5", max_tokens=99, messages=[]) as stream:
        next(iter(stream))  # the caller reads one event and leaves
    kinds = [e.type for e in client.messages.create(model="claude-sonnet-4-5", max_tokens=9, messages=[],
                                                    stream=True)]
    assert kinds[0] == "message_start"
    publisher.flush(10)
    events = sorted((e for _, e in _read(kafka_bootstrap, topics.events, 2)), key=lambda e: e["event_id"])
    assert "stream_abandoned" in events[0]["reason_codes"] and events[0]["action"] == "ALLOW"
    assert json.loads(events[1]["response"])["tool_use"][0]["input"] == {"patient": "p-7"}
    # the provider's stream ended without a stop reason: cut short, and the record says so
    assert events[1]["finish_reason"] is None and "stream_incomplete" in events[1]["reason_codes"]
