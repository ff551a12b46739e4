"""The LangChain callback (with the real langchain-openai ChatOpenAI, its HTTP transport answered
locally) and the ASGI middleware (a real FastAPI app through its in-process transport)."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from audit_layer_schemas import Topics
from audit_layer_sdk import AuditCallbackHandler, AuditConfig, AuditMiddleware, AuditPublisher
from fastapi import FastAPI
from fastapi.responses import StreamingResponse
from fastapi.testclient import TestClient

from tests.integration.test_sdk_openai import Provider, _read

pytestmark = pytest.mark.integration


@pytest.fixture
def publisher(kafka_bootstrap: str, topics: Topics) -> AuditPublisher:
    return AuditPublisher(AuditConfig(bootstrap_servers=kafka_bootstrap, topic=topics.events, spool_dir=None))


def test_langchain_chat_model_calls_are_recorded(kafka_bootstrap: str, topics: Topics,
                                                 publisher: AuditPublisher) -> None:
    from langchain_openai import ChatOpenAI

    provider = Provider()
    model = ChatOpenAI(model="gpt-4o-mini", api_key="k", base_url="http://llm.test/v1", max_retries=0,
                       http_client=httpx.Client(transport=httpx.MockTransport(provider)))
    handler = AuditCallbackHandler(publisher, tenant_id="acme-bank", decision_type="loan_underwriting",
                                   compliance_tags=["FCRA"])
    answer = model.invoke("Assess application 42", config={"callbacks": [handler]})
    assert answer.content == "Denied: debt ratio too high."

    failing = ChatOpenAI(model="gpt-4o-mini", api_key="k", base_url="http://llm.test/v1", max_retries=0,
                         http_client=httpx.Client(transport=httpx.MockTransport(Provider(status=503))))
    with pytest.raises(Exception, match="overloaded"):
        failing.invoke("again", config={"callbacks": [handler]})
    publisher.flush(10)
    events = sorted((e for _, e in _read(kafka_bootstrap, topics.events, 2)), key=lambda e: e["action"])
    ok, failed = events
    assert ok["action"] == "ALLOW" and ok["response"] == "Denied: debt ratio too high."
    assert json.loads(ok["prompt"]) == [{"role": "human", "content": "Assess application 42"}]
    assert ok["model"] == "gpt-4o-mini" and ok["provider"] == "openai" and ok["decision_type"] == "loan_underwriting"
    assert (ok["input_tokens"], ok["output_tokens"]) == (21, 7)
    run_id = json.loads(ok["metadata"]["langchain.run_id"])
    assert ok["span_id"] == run_id.replace("-", "") and ok["trace_id"] == ok["span_id"]  # a top-level run
    assert failed["action"] == "FAIL_RETRY" and failed["reason_codes"][0] == "provider_error"


def _app(publisher: AuditPublisher) -> FastAPI:
    app = FastAPI()
    app.add_middleware(AuditMiddleware, publisher=publisher, tenant_id="acme-bank", path_prefix="/decide",
                       capture_body=True, max_body_bytes=64)

    @app.post("/decide/loan")
    async def loan(body: dict[str, Any]) -> dict[str, Any]:
        return {"decision": "denied", "amount": body.get("amount")}

    @app.get("/decide/missing")
    async def missing() -> None:
        from fastapi import HTTPException

        raise HTTPException(404, "no such case")

    @app.get("/decide/boom")
    async def boom() -> None:
        raise RuntimeError("model server unreachable")

    @app.get("/decide/stream")
    async def stream() -> StreamingResponse:
        async def chunks() -> Any:
            for i in range(50):
                yield f"chunk-{i};".encode()

        return StreamingResponse(chunks(), media_type="text/plain")

    @app.get("/health")
    async def health() -> dict[str, str]:
        return {"ok": "yes"}

    return app


def test_middleware_records_matched_requests(kafka_bootstrap: str, topics: Topics, publisher: AuditPublisher) -> None:
    client = TestClient(_app(publisher), raise_server_exceptions=True)
    headers = {"traceparent": f"00-{'a' * 32}-{'b' * 16}-01", "x-session-id": "case-7", "x-user-id": "officer-2"}
    assert client.post("/decide/loan", json={"amount": 50000, "pad": "x" * 200}, headers=headers).status_code == 200
    assert client.get("/decide/missing").status_code == 404
    with pytest.raises(RuntimeError, match="unreachable"):
        client.get("/decide/boom")
    streamed = client.get("/decide/stream")
    assert streamed.text == "".join(f"chunk-{i};" for i in range(50))  # not broken, not truncated
    assert client.get("/health").status_code == 200  # outside the prefix: not recorded
    publisher.flush(10)
    events = {e["prompt"].split("\n")[0]: e for _, e in _read(kafka_bootstrap, topics.events, 4)}
    assert set(events) == {"POST /decide/loan", "GET /decide/missing", "GET /decide/boom", "GET /decide/stream"}
    loan = events["POST /decide/loan"]
    assert loan["action"] == "ALLOW" and loan["trace_id"] == "a" * 32 and loan["span_id"] == "b" * 16
    assert loan["session_id"] == "case-7" and loan["user_id"] == "officer-2"
    assert loan["response"] == '{"decision":"denied","amount":50000}'
    assert len(loan["prompt"].split("\n\n", 1)[1].encode()) == 64 and loan["metadata"]["body_truncated"] == "true"
    assert (events["GET /decide/missing"]["action"], events["GET /decide/missing"]["reason_codes"]) == (
        "REJECT", ["http_404"])
    assert events["GET /decide/boom"]["action"] == "FAIL_RETRY"
    assert events["GET /decide/boom"]["error_type"] == "RuntimeError"
    assert events["GET /decide/stream"]["response"] == "".join(f"chunk-{i};" for i in range(50))[:64]
