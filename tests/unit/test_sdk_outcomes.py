"""How a wrapped call's failure is recorded (the real openai client, the events kept in memory)."""

from __future__ import annotations

import httpx
import pytest
from audit_layer_schemas import Action
from audit_layer_sdk import AuditOpenAI, MemoryPublisher


def _client(publisher: MemoryPublisher, status: int = 200) -> AuditOpenAI:
    def answer(request: httpx.Request) -> httpx.Response:
        return httpx.Response(status, json={"error": {"message": "overloaded", "type": "server_error"}})

    return AuditOpenAI(tenant_id="acme", publisher=publisher, api_key="k", base_url="http://llm.test/v1",  # type: ignore[arg-type]
                       max_retries=0, http_client=httpx.Client(transport=httpx.MockTransport(answer)))


def test_an_error_the_library_raises_before_any_request_is_a_client_error() -> None:
    publisher = MemoryPublisher()
    with pytest.raises(TypeError):
        _client(publisher).chat.completions.create(model="gpt-4o-mini")  # messages missing
    [event] = publisher.events
    assert event.action == Action.FAIL_RETRY and event.reason_codes == ["client_error"]
    assert event.error_type == "TypeError"


def test_an_error_the_provider_returns_is_a_provider_error() -> None:
    publisher = MemoryPublisher()
    with pytest.raises(Exception, match="overloaded"):
        _client(publisher, status=503).chat.completions.create(
            model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}])
    [event] = publisher.events
    assert event.action == Action.FAIL_RETRY and event.reason_codes == ["provider_error", "http_status_503"]


@pytest.mark.parametrize("path, name", [
    (["langchain", "chat_models", "openai", "ChatOpenAI"], "openai"),
    (["langchain", "chat_models", "azure_openai", "AzureChatOpenAI"], "azure.ai.openai"),
    (["langchain_aws", "chat_models", "bedrock", "ChatBedrock"], "aws.bedrock"),
    (["langchain_google_vertexai", "chat_models", "ChatVertexAI"], "gcp.vertex_ai"),
    (["langchain_mistralai", "chat_models", "ChatMistralAI"], "mistral_ai"),
    (["langchain_anthropic", "chat_models", "ChatAnthropic"], "anthropic"),
])
def test_langchain_providers_get_the_semantic_conventions_names(path: list[str], name: str) -> None:
    from audit_layer_sdk.langchain_handler import _provider

    assert _provider({"id": path}) == name


def _openai_answer(finish: str, message: dict[str, object]) -> AuditOpenAI:
    body = {"id": "c7", "object": "chat.completion", "created": 1, "model": "gpt-4o-mini",
            "choices": [{"index": 0, "finish_reason": finish, "message": {"role": "assistant", **message}}],
            "usage": {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5}}
    transport = httpx.MockTransport(lambda request: httpx.Response(200, json=body))
    return AuditOpenAI(tenant_id="acme", publisher=MemoryPublisher(), api_key="k",  # type: ignore[arg-type]
                       base_url="http://llm.test/v1", max_retries=0, http_client=httpx.Client(transport=transport))


@pytest.mark.parametrize("finish, message, action, codes, response", [
    ("stop", {"content": "ok"}, Action.ALLOW, [], "ok"),
    ("length", {"content": "cut"}, Action.ALLOW, ["truncated_by_length"], "cut"),
    ("content_filter", {"content": None}, Action.REJECT, ["content_filter"], None),
    ("tool_calls", {"content": None, "tool_calls": [{"id": "t1", "type": "function",
                                                      "function": {"name": "score", "arguments": "{}"}}]},
     Action.ALLOW, [], '[{"function": {"arguments": "{}", "name": "score"}, "id": "t1", "type": "function"}]'),
])
def test_openai_finish_reasons_map_to_actions(finish: str, message: dict[str, object], action: Action,
                                              codes: list[str], response: str | None) -> None:
    client = _openai_answer(finish, message)
    client.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "q"}])
    [event] = client._publisher.events  # type: ignore[union-attr]
    assert (event.action, event.reason_codes, event.finish_reason) == (action, codes, finish)
    assert event.response == response and event.metadata["gen_ai.response.id"] == '"c7"'


@pytest.mark.parametrize("stop, action, codes", [("end_turn", Action.ALLOW, []),
                                                 ("max_tokens", Action.ALLOW, ["truncated_by_length"]),
                                                 ("refusal", Action.REJECT, ["refusal"])])
def test_anthropic_stop_reasons_map_to_actions(stop: str, action: Action, codes: list[str]) -> None:
    import httpx2  # the HTTP package the current anthropic SDK is built on
    from audit_layer_sdk import AuditAnthropic

    body = {"id": "m1", "type": "message", "role": "assistant", "model": "claude-x", "stop_reason": stop,
            "stop_sequence": None, "content": [{"type": "text", "text": "answer"}],
            "usage": {"input_tokens": 4, "output_tokens": 1}}
    publisher = MemoryPublisher()
    client = AuditAnthropic(tenant_id="acme", store=publisher, api_key="k",  # type: ignore[arg-type]
                            base_url="http://llm.test", max_retries=0,
                            http_client=httpx2.Client(transport=httpx2.MockTransport(
                                lambda request: httpx2.Response(200, json=body))))
    client.messages.create(model="claude-x", max_tokens=10, messages=[{"role": "user", "content": "q"}])
    [event] = publisher.events
    assert (event.action, event.reason_codes, event.input_tokens) == (action, codes, 4)
    assert event.metadata["gen_ai.response.id"] == '"m1"'
