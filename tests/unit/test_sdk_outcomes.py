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
