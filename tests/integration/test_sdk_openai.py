"""AuditOpenAI with the real openai package (HTTP transport answered locally) and the real broker."""

from __future__ import annotations

import json
import time
from typing import Any

import httpx
import openai
import pytest
from audit_layer_schemas import AUDIT_EVENT, AvroCodec, Topics, sha256_hex
from audit_layer_sdk import AuditCollector, AuditConfig, AuditOpenAI, AuditPublisher
from confluent_kafka import Consumer

pytestmark = pytest.mark.integration


class Provider:
    """Answers chat completions like the provider's API, and keeps every request body it got."""

    def __init__(self, finish_reason: str = "stop", status: int = 200) -> None:
        self.finish_reason = finish_reason
        self.status = status
        self.requests: list[dict[str, Any]] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(json.loads(request.content))
        if self.status != 200:
            return httpx.Response(self.status, json={"error": {"message": "overloaded", "type": "server_error"}})
        return httpx.Response(200, json={
            "id": "chatcmpl-1", "object": "chat.completion", "created": 1, "model": "gpt-4o-mini-2024-07-18",
            "choices": [{"index": 0, "finish_reason": self.finish_reason,
                         "message": {"role": "assistant", "content": "Denied: debt ratio too high."}}],
            "usage": {"prompt_tokens": 21, "completion_tokens": 7, "total_tokens": 28},
        })


def _client(provider: Provider, publisher: AuditPublisher, **kw: Any) -> AuditOpenAI:
    http = httpx.Client(transport=httpx.MockTransport(provider))
    return AuditOpenAI(tenant_id="acme-bank", publisher=publisher, api_key="k", base_url="http://llm.test/v1",
                       http_client=http, max_retries=0, **kw)


def _read(bootstrap: str, topic: str, expected: int, timeout: float = 30) -> list[tuple[bytes, dict[str, Any]]]:
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": f"{topic}-check",
                         "auto.offset.reset": "earliest"})
    consumer.subscribe([topic])
    codec = AvroCodec(AUDIT_EVENT)
    out: list[tuple[bytes, dict[str, Any]]] = []
    deadline = time.monotonic() + timeout
    try:
        while len(out) < expected and time.monotonic() < deadline:
            for m in consumer.consume(100, 0.5):
                if m.error() is None:
                    out.append((m.key(), codec.decode(m.value())))
    finally:
        consumer.close()
    return out


@pytest.fixture
def publisher(kafka_bootstrap: str, topics: Topics) -> AuditPublisher:
    return AuditPublisher(AuditConfig(bootstrap_servers=kafka_bootstrap, topic=topics.events))


def test_chat_completion_is_recorded_field_by_field(kafka_bootstrap: str, topics: Topics,
                                                    publisher: AuditPublisher) -> None:
    provider = Provider()
    client = _client(provider, publisher, user_id="u-1", session_id="loan-42")
    messages = [{"role": "user", "content": "Assess application 42"}]
    response = client.chat.completions.create(
        model="gpt-4o-mini", messages=messages, temperature=0.3,
        decision_type="loan_underwriting", decision_outcome="denied", compliance_tags=["SOC2", "FCRA"],
        metadata={"loan_amount": 50000},
    )
    assert isinstance(response, openai.types.chat.ChatCompletion)
    assert response.choices[0].message.content == "Denied: debt ratio too high."
    sent = provider.requests[0]
    assert not {"decision_type", "decision_outcome", "compliance_tags", "metadata"} & set(sent)
    assert sent["temperature"] == 0.3
    assert publisher.flush(10) == 0

    [(key, event)] = _read(kafka_bootstrap, topics.events, 1)
    assert key == b"acme-bank"
    expected_prompt = json.dumps(messages, ensure_ascii=False, sort_keys=True)
    assert event["tenant_id"] == "acme-bank" and event["user_id"] == "u-1" and event["session_id"] == "loan-42"
    assert event["provider"] == "openai" and event["operation"] == "chat"
    assert event["model"] == "gpt-4o-mini" and event["response_model"] == "gpt-4o-mini-2024-07-18"
    assert event["model_parameters"] == {"temperature": "0.3"}
    salt = event["content_salt"]
    assert len(salt) == 32 and event["prompt"] == expected_prompt
    assert event["prompt_sha256"] == sha256_hex(expected_prompt, salt) != sha256_hex(expected_prompt)
    assert event["response"] == "Denied: debt ratio too high."
    assert event["response_sha256"] == sha256_hex("Denied: debt ratio too high.", salt)
    assert (event["input_tokens"], event["output_tokens"], event["total_tokens"]) == (21, 7, 28)
    assert event["finish_reason"] == "stop" and event["action"] == "ALLOW" and event["reason_codes"] == []
    assert event["decision_type"] == "loan_underwriting" and event["decision_outcome"] == "denied"
    assert event["compliance_tags"] == ["FCRA", "SOC2"]
    assert event["metadata"] == {"loan_amount": "50000", "gen_ai.response.id": "\"chatcmpl-1\""}
    assert event["sdk_name"] == "audit-layer-python" and event["duration_ms"] >= 0
    assert event["event_id"][14] == "7"  # UUIDv7


@pytest.mark.parametrize(("finish", "action", "codes"), [
    ("content_filter", "REJECT", ["content_filter"]),
    ("length", "ALLOW", ["truncated_by_length"]),
    ("tool_calls", "ALLOW", []),
])
def test_finish_reason_mapping(kafka_bootstrap: str, topics: Topics, publisher: AuditPublisher,
                               finish: str, action: str, codes: list[str]) -> None:
    _client(Provider(finish), publisher).chat.completions.create(model="m", messages=[])
    publisher.flush(10)
    [(_, event)] = _read(kafka_bootstrap, topics.events, 1)
    assert (event["action"], event["reason_codes"]) == (action, codes)


def test_provider_error_is_fail_retry_and_reraised_unchanged(kafka_bootstrap: str, topics: Topics,
                                                             publisher: AuditPublisher) -> None:
    client = _client(Provider(status=503), publisher)
    with pytest.raises(openai.InternalServerError) as info:
        client.chat.completions.create(model="m", messages=[{"role": "user", "content": "x"}])
    assert info.value.status_code == 503
    publisher.flush(10)
    [(_, event)] = _read(kafka_bootstrap, topics.events, 1)
    assert event["action"] == "FAIL_RETRY" and event["error_type"] == "InternalServerError"
    assert event["reason_codes"] == ["provider_error", "http_status_503"]


def test_other_attributes_pass_through(publisher: AuditPublisher) -> None:
    client = _client(Provider(), publisher)
    assert client.base_url == "http://llm.test/v1/"
    assert client.chat.completions.with_raw_response is not None


def test_unreachable_kafka_never_raises_or_blocks() -> None:
    publisher = AuditPublisher(AuditConfig(bootstrap_servers="127.0.0.1:1", topic="audit.events"))
    client = _client(Provider(), publisher)
    started = time.perf_counter()
    for _ in range(200):
        client.chat.completions.create(model="m", messages=[{"role": "user", "content": "x"}])
    assert time.perf_counter() - started < 10  # generous: proves no per-call wait on the broker
    assert publisher.snapshot().emitted == 200
    with AuditCollector(publisher, tenant_id="") as bad:  # invalid tenant: logged and counted, not raised
        bad.set_input("x")
    publisher.flush(0.5)
    stats = publisher.snapshot()
    assert (stats.emitted, stats.errors) == (201, 1)


def test_receipt_for_a_completion_obtained_elsewhere(kafka_bootstrap: str, topics: Topics,
                                                      publisher: AuditPublisher) -> None:
    from audit_layer_sdk import emit_chat_completion_receipt

    completion = openai.types.chat.ChatCompletion.model_validate({
        "id": "c9", "object": "chat.completion", "created": 1, "model": "gpt-4o",
        "choices": [{"index": 0, "finish_reason": "content_filter", "message": {"role": "assistant",
                                                                                 "content": None}}],
        "usage": {"prompt_tokens": 5, "completion_tokens": 0, "total_tokens": 5}})
    emit_chat_completion_receipt(completion, messages=[{"role": "user", "content": "x"}], tenant_id="acme-bank",
                                 publisher=publisher, decision_type="support_reply", user_id="u-9")
    publisher.flush(10)
    [(_, event)] = _read(kafka_bootstrap, topics.events, 1)
    assert (event["action"], event["reason_codes"], event["user_id"]) == ("REJECT", ["content_filter"], "u-9")
    assert event["model"] == "gpt-4o" and event["decision_type"] == "support_reply"
