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
