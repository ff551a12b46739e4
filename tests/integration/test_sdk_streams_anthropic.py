"""Streams (OpenAI sync and async) and the Anthropic wrappers, with the real client packages and
their HTTP transport answered locally; events read back from the real broker."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import anthropic
import httpx
import httpx2  # the HTTP package the current anthropic SDK is built on
import openai
import pytest
from audit_layer_schemas import Topics
from audit_layer_sdk import (
    AuditAnthropic,
    AuditAsyncAnthropic,
    AuditAsyncOpenAI,
    AuditConfig,
    AuditOpenAI,
    AuditPublisher,
)

from tests.integration.test_sdk_openai import _read

pytestmark = pytest.mark.integration


@pytest.fixture
def publisher(kafka_bootstrap: str, topics: Topics) -> AuditPublisher:
    return AuditPublisher(AuditConfig(bootstrap_servers=kafka_bootstrap, topic=topics.events, spool_dir=None))


def _sse(events: list[tuple[str | None, Any]]) -> bytes:
    out = []
    for name, data in events:
        if name:
            out.append(f"event: {name}\n")
        out.append(f"data: {data if isinstance(data, str) else json.dumps(data)}\n\n")
    return "".join(out).encode()


def _openai_chunks(finish: str = "stop") -> bytes:
    base = {"id": "c1", "object": "chat.completion.chunk", "created": 1, "model": "gpt-4o-mini-2024-07-18"}
    pieces = ["Den", "ied: ", "ratio."]
    events: list[tuple[str | None, Any]] = [
        (None, {**base, "choices": [{"index": 0, "delta": {"role": "assistant", "content": p},
                                     "finish_reason": None}]}) for p in pieces]
    events.append((None, {**base, "choices": [{"index": 0, "delta": {}, "finish_reason": finish}]}))
    events.append((None, {**base, "choices": [], "usage": {"prompt_tokens": 9, "completion_tokens": 3,
                                                           "total_tokens": 12}}))
    events.append((None, "[DONE]"))
    return _sse(events)


def _openai_stream(request: httpx.Request) -> httpx.Response:
    return httpx.Response(200, content=_openai_chunks("length"), headers={"content-type": "text/event-stream"})


def test_openai_stream_is_passed_through_and_recorded_at_its_end(kafka_bootstrap: str, topics: Topics,
                                                                 publisher: AuditPublisher) -> None:
    client = AuditOpenAI(tenant_id="acme", publisher=publisher, api_key="k", base_url="http://llm.test/v1",
                         http_client=httpx.Client(transport=httpx.MockTransport(_openai_stream)))
    stream = client.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "q"}],
                                            stream=True, stream_options={"include_usage": True},
                                            decision_type="loan_underwriting")
    chunks = list(stream)
    assert [c.choices[0].delta.content for c in chunks[:3]] == ["Den", "ied: ", "ratio."]
    assert isinstance(chunks[0], openai.types.chat.ChatCompletionChunk)
    publisher.flush(10)
    [(_, event)] = _read(kafka_bootstrap, topics.events, 1)
    assert event["response"] == "Denied: ratio." and event["finish_reason"] == "length"
    assert (event["action"], event["reason_codes"]) == ("ALLOW", ["truncated_by_length"])
    assert (event["input_tokens"], event["output_tokens"]) == (9, 3)
    assert float(event["metadata"]["gen_ai.response.time_to_first_chunk"]) >= 0
    assert event["decision_type"] == "loan_underwriting"


def test_abandoned_stream_still_leaves_a_record(kafka_bootstrap: str, topics: Topics,
                                                publisher: AuditPublisher) -> None:
    client = AuditOpenAI(tenant_id="acme", publisher=publisher, api_key="k", base_url="http://llm.test/v1",
                         http_client=httpx.Client(transport=httpx.MockTransport(_openai_stream)))
    stream = client.chat.completions.create(model="m", messages=[], stream=True)
    next(stream)
    stream.close()  # the caller stops reading
    publisher.flush(10)
    [(_, event)] = _read(kafka_bootstrap, topics.events, 1)
    assert event["response"] == "Den" and "stream_abandoned" in event["reason_codes"]


def test_async_openai_stream(kafka_bootstrap: str, topics: Topics, publisher: AuditPublisher) -> None:
    async def handler(request: httpx.Request) -> httpx.Response:
        return _openai_stream(request)

    async def main() -> list[str]:
        client = AuditAsyncOpenAI(tenant_id="acme", publisher=publisher, api_key="k", base_url="http://llm.test/v1",
                                  http_client=httpx.AsyncClient(transport=httpx.MockTransport(handler)))
        stream = await client.chat.completions.create(model="m", messages=[], stream=True)
        return [c.choices[0].delta.content async for c in stream if c.choices]

    assert asyncio.run(main())[:3] == ["Den", "ied: ", "ratio."]
    publisher.flush(10)
    [(_, event)] = _read(kafka_bootstrap, topics.events, 1)
    assert event["response"] == "Denied: ratio."


def _anthropic_message(stop_reason: str) -> dict[str, Any]:
    return {"id": "msg_1", "type": "message", "role": "assistant", "model": "claude-sonnet-4-5",
            "content": [{"type": "text", "text": "Likely viral; refer if fever persists."}],
            "stop_reason": stop_reason, "stop_sequence": None,
            "usage": {"input_tokens": 31, "output_tokens": 12}}


@pytest.mark.parametrize(("stop", "action", "codes"), [
    ("end_turn", "ALLOW", []), ("refusal", "REJECT", ["refusal"]), ("max_tokens", "ALLOW", ["truncated_by_length"]),
])
def test_anthropic_message_is_recorded(kafka_bootstrap: str, topics: Topics, publisher: AuditPublisher,
                                       stop: str, action: str, codes: list[str]) -> None:
    sent: list[dict[str, Any]] = []

    def handler(request: httpx2.Request) -> httpx2.Response:
        sent.append(json.loads(request.content))
        return httpx2.Response(200, json=_anthropic_message(stop))

    http = httpx2.Client(transport=httpx2.MockTransport(handler))
    client = AuditAnthropic(tenant_id="clinic", user_id="dr-5", publisher=publisher, api_key="k",
                            base_url="http://llm.test", http_client=http)
    message = client.messages.create(model="claude-sonnet-4-5", max_tokens=256, system="You assist clinicians.",
                                     messages=[{"role": "user", "content": "Fever and cough?"}],
                                     decision_type="diagnosis_assist")
    assert isinstance(message, anthropic.types.Message)
    assert "decision_type" not in sent[0] and sent[0]["system"] == "You assist clinicians."
    publisher.flush(10)
    [(_, event)] = _read(kafka_bootstrap, topics.events, 1)
    assert event["provider"] == "anthropic" and event["user_id"] == "dr-5"
    assert json.loads(event["prompt"])["system"] == "You assist clinicians."
    assert event["response"] == "Likely viral; refer if fever persists."
    assert (event["input_tokens"], event["output_tokens"], event["finish_reason"]) == (31, 12, stop)
    assert (event["action"], event["reason_codes"]) == (action, codes)
    assert event["model_parameters"] == {"max_tokens": "256"}


def _anthropic_stream_body() -> bytes:
    return _sse([
        ("message_start", {"type": "message_start", "message": {**_anthropic_message("end_turn"), "content": [],
                                                                "stop_reason": None,
                                                                "usage": {"input_tokens": 20, "output_tokens": 1}}}),
        ("content_block_start", {"type": "content_block_start", "index": 0,
                                 "content_block": {"type": "text", "text": ""}}),
        ("content_block_delta", {"type": "content_block_delta", "index": 0,
                                 "delta": {"type": "text_delta", "text": "Refer "}}),
        ("content_block_delta", {"type": "content_block_delta", "index": 0,
                                 "delta": {"type": "text_delta", "text": "today."}}),
        ("content_block_stop", {"type": "content_block_stop", "index": 0}),
        ("message_delta", {"type": "message_delta", "delta": {"stop_reason": "end_turn", "stop_sequence": None},
                           "usage": {"output_tokens": 4}}),
        ("message_stop", {"type": "message_stop"}),
    ])


def test_anthropic_stream_sync_and_async(kafka_bootstrap: str, topics: Topics, publisher: AuditPublisher) -> None:
    def handler(request: httpx2.Request) -> httpx2.Response:
        return httpx2.Response(200, content=_anthropic_stream_body(), headers={"content-type": "text/event-stream"})

    async def ahandler(request: httpx2.Request) -> httpx2.Response:
        return handler(request)

    client = AuditAnthropic(tenant_id="clinic", publisher=publisher, api_key="k", base_url="http://llm.test",
                            http_client=httpx2.Client(transport=httpx2.MockTransport(handler)))
    kinds = [e.type for e in client.messages.create(model="m", max_tokens=9, messages=[], stream=True)]
    assert kinds[0] == "message_start" and kinds[-1] == "message_stop"

    async def main() -> None:
        aclient = AuditAsyncAnthropic(tenant_id="clinic", publisher=publisher, api_key="k", base_url="http://llm.test",
                                      http_client=httpx2.AsyncClient(transport=httpx2.MockTransport(ahandler)))
        async for _ in await aclient.messages.create(model="m", max_tokens=9, messages=[], stream=True):
            pass

    asyncio.run(main())
    publisher.flush(10)
    events = [e for _, e in _read(kafka_bootstrap, topics.events, 2)]
    assert len(events) == 2
    for event in events:
        assert event["response"] == "Refer today." and event["finish_reason"] == "end_turn"
        assert (event["input_tokens"], event["output_tokens"]) == (20, 4)
