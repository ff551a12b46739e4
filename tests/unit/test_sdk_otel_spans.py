"""The SDK's optional spans (the real openai client over a local transport, the real OpenTelemetry SDK):
off by default; on, each audited call is a child span of the application's span, timed as the call, naming
its audit record and carrying no content; a failed call's span is an error; and Audit Layer's own OTLP
ingest does not record such a span a second time."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import openai
import pytest
from audit_layer_api.otlp_genai import Span, genai_events
from audit_layer_sdk import AuditConfig, AuditOpenAI, MemoryPublisher
from audit_layer_sdk.config import AuditConfigError
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

ANSWER = {"id": "chatcmpl-1", "object": "chat.completion", "created": 1, "model": "gpt-4o-mini",
          "choices": [{"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": "Denied."}}],
          "usage": {"prompt_tokens": 9, "completion_tokens": 2, "total_tokens": 11}}


@pytest.fixture(scope="module")
def spans() -> Iterator[InMemorySpanExporter]:
    provider = trace.get_tracer_provider()
    if not isinstance(provider, TracerProvider):  # another test of this process may have set one already
        provider = TracerProvider()
        trace.set_tracer_provider(provider)
    exporter = InMemorySpanExporter()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    yield exporter


def _client(publisher: MemoryPublisher, status: int = 200) -> AuditOpenAI:
    def answer(request: httpx.Request) -> httpx.Response:
        return httpx.Response(status, json=ANSWER if status == 200 else {"error": {"message": "overloaded"}})

    return AuditOpenAI(tenant_id="acme", publisher=publisher, api_key="k", base_url="http://llm.test/v1",  # type: ignore[arg-type]
                       max_retries=0, http_client=httpx.Client(transport=httpx.MockTransport(answer)))


def _ask(client: AuditOpenAI) -> None:
    client.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "Approve 12?"}])


def _ours(exporter: InMemorySpanExporter) -> list[ReadableSpan]:
    return [s for s in exporter.get_finished_spans() if s.instrumentation_scope.name == "audit_layer_sdk"]


def test_off_by_default(spans: InMemorySpanExporter) -> None:
    spans.clear()
    publisher = MemoryPublisher()
    _ask(_client(publisher))
    assert len(publisher.events) == 1 and _ours(spans) == []
    assert AuditConfig.from_env({}).otel_spans is False
    assert AuditConfig.from_env({"AUDIT_LAYER_OTEL_SPANS": "1"}).otel_spans is True
    with pytest.raises(AuditConfigError, match="AUDIT_LAYER_OTEL_SPANS"):
        AuditConfig.from_env({"AUDIT_LAYER_OTEL_SPANS": "yes please"})


def test_each_audited_call_is_a_child_span_naming_its_record(spans: InMemorySpanExporter) -> None:
    spans.clear()
    publisher = MemoryPublisher(AuditConfig(spool_dir=None, otel_spans=True))
    with trace.get_tracer("app").start_as_current_span("POST /loans") as parent:
        _ask(_client(publisher))
        with pytest.raises(openai.InternalServerError):
            _ask(_client(publisher, status=503))
    ok, failed = _ours(spans)
    [event, failed_event] = publisher.events
    assert ok.parent is not None and ok.parent.span_id == parent.get_span_context().span_id
    assert ok.context.trace_id == parent.get_span_context().trace_id
    assert event.trace_id == format(ok.context.trace_id, "032x")  # the record names the application's span
    attributes = dict(ok.attributes or {})
    assert attributes["audit_layer.event_id"] == event.event_id and ok.name == "chat gpt-4o-mini"
    assert (attributes["gen_ai.provider.name"], attributes["gen_ai.request.model"]) == ("openai", "gpt-4o-mini")
    assert (attributes["gen_ai.usage.input_tokens"], attributes["gen_ai.usage.output_tokens"]) == (9, 2)
    assert attributes["gen_ai.response.finish_reasons"] == ("stop",) and attributes["audit_layer.action"] == "ALLOW"
    assert not any("Approve" in str(v) or "Denied" in str(v) for v in attributes.values())  # no content
    assert ok.start_time is not None and ok.end_time is not None and ok.end_time >= ok.start_time
    assert abs(ok.start_time - event.timestamp_us * 1000) < 1000  # timed as the call the record describes
    assert failed.status.status_code == trace.StatusCode.ERROR
    assert dict(failed.attributes or {})["audit_layer.event_id"] == failed_event.event_id

    # exported to Audit Layer's own OTLP ingest as well, such a span is not a second record
    as_sent = Span(format(ok.context.trace_id, "032x"), format(ok.context.span_id, "016x"), ok.name,
                   ok.start_time or 0, ok.end_time or 0, 0, "", attributes)
    assert genai_events([as_sent]) == ([], 1)
