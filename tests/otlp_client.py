"""An application traced with OpenTelemetry, as such applications run: the OTel SDK, its OTLP/HTTP exporter
(protobuf) sending to the Audit Layer API, and the official openai-v2 instrumentation around the real
openai client (its HTTP answered by tests/llm_stand_in.py). Three calls: plain, streamed, failing.

    python -m tests.otlp_client MODE API_URL INGEST_KEY PROVIDER_URL
MODE: `default` (message content as log records, not on the span: exported to /v1/logs) or `latest`
(OTEL_SEMCONV_STABILITY_OPT_IN=gen_ai_latest_experimental: content as span attributes) of the official
openai-v2 instrumentation; `openllmetry` (Traceloop's anthropic and openai instrumentations) or
`openinference` (Arize's openai instrumentation); `langchain` (OpenLLMetry's LangChain instrumentation around
a LangChain chain and chat model)."""

from __future__ import annotations

import contextlib
import os
import sys
from typing import Any


def main(mode: str, api_url: str, key: str, provider_url: str) -> int:
    if mode in ("openllmetry", "openinference"):
        return other_instrumentation(mode, api_url, key, provider_url)
    if mode == "langchain":
        return langchain(api_url, key, provider_url)
    if mode == "latest":
        os.environ["OTEL_SEMCONV_STABILITY_OPT_IN"] = "gen_ai_latest_experimental"
        os.environ["OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT"] = "SPAN_ONLY"
    else:
        os.environ["OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT"] = "true"
    import openai
    from opentelemetry import trace
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.instrumentation.openai_v2 import OpenAIInstrumentor
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    provider = TracerProvider(resource=Resource.create({"service.name": "loan-desk",
                                                        "deployment.environment.name": "test"}))
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(
        endpoint=f"{api_url}/v1/traces", headers={"Authorization": f"Bearer {key}"})))
    trace.set_tracer_provider(provider)
    logs = None
    if mode == "default":  # the content goes out as log records, through the SDK's own OTLP log exporter
        from opentelemetry import _logs
        from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter
        from opentelemetry.sdk._logs import LoggerProvider
        from opentelemetry.sdk._logs.export import BatchLogRecordProcessor

        logs = LoggerProvider(resource=provider.resource)
        logs.add_log_record_processor(BatchLogRecordProcessor(OTLPLogExporter(
            endpoint=f"{api_url}/v1/logs", headers={"Authorization": f"Bearer {key}"})))
        _logs.set_logger_provider(logs)
    OpenAIInstrumentor().instrument()

    client = openai.OpenAI(base_url=f"{provider_url}/v1", api_key="sk-test", max_retries=0)
    client.chat.completions.create(model="gpt-4o-mini", temperature=0.2, max_tokens=50, messages=[
        {"role": "system", "content": "Decide loan applications."},
        {"role": "user", "content": "Applicant 12: income 40k, debt 35k. Approve?"}])
    stream = client.chat.completions.create(model="gpt-4o-mini", stream=True, messages=[
        {"role": "user", "content": "Summarise case 7."}])
    for _ in stream:
        pass
    broken = openai.OpenAI(base_url="http://127.0.0.1:9/v1", api_key="sk-test", max_retries=0)
    with contextlib.suppress(openai.APIConnectionError):  # recorded by the instrumentation as an error span
        broken.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "Anyone?"}])
    provider.force_flush(30_000)
    provider.shutdown()
    if logs is not None:
        logs.force_flush(30_000)
        logs.shutdown()
    return 0


def _provider(api_url: str, key: str) -> object:
    from opentelemetry import trace
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    provider = TracerProvider(resource=Resource.create({"service.name": "triage-desk"}))
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(
        endpoint=f"{api_url}/v1/traces", headers={"Authorization": f"Bearer {key}"})))
    trace.set_tracer_provider(provider)
    return provider


def other_instrumentation(mode: str, api_url: str, key: str, provider_url: str) -> int:
    """OpenLLMetry's anthropic and openai instrumentations (content on by default), or OpenInference's openai
    one: an anthropic call (mode openllmetry only) and an openai call, then a streamed openai call."""
    import anthropic
    import openai

    provider: Any = _provider(api_url, key)
    if mode == "openllmetry":
        from opentelemetry.instrumentation.anthropic import AnthropicInstrumentor
        from opentelemetry.instrumentation.openai import OpenAIInstrumentor

        AnthropicInstrumentor().instrument()
        OpenAIInstrumentor().instrument()
        claude = anthropic.Anthropic(base_url=provider_url, api_key="sk-test", max_retries=0)
        claude.messages.create(model="claude-sonnet-4", max_tokens=100, system="Triage nurse.",
                               messages=[{"role": "user", "content": "Chest pain, 54."}])
    else:
        from openinference.instrumentation.openai import OpenAIInstrumentor as OpenInference

        OpenInference().instrument()
    client = openai.OpenAI(base_url=f"{provider_url}/v1", api_key="sk-test", max_retries=0)
    client.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "Hello?"}])
    for _ in client.chat.completions.create(model="gpt-4o-mini", stream=True,
                                            messages=[{"role": "user", "content": "Summarise case 7."}]):
        pass
    provider.force_flush(30_000)
    provider.shutdown()
    return 0


def langchain(api_url: str, key: str, provider_url: str) -> int:
    """A LangChain chain (prompt template, then the chat model) and a streamed chat model call, traced by
    OpenLLMetry's LangChain instrumentation: the chain and its steps are spans too, but not model calls."""
    from langchain_core.prompts import ChatPromptTemplate
    from langchain_openai import ChatOpenAI
    from opentelemetry.instrumentation.langchain import LangchainInstrumentor

    provider: Any = _provider(api_url, key)
    LangchainInstrumentor().instrument()
    llm = ChatOpenAI(model="gpt-4o-mini", base_url=f"{provider_url}/v1", api_key="sk-test", max_retries=0)
    chain = ChatPromptTemplate.from_messages([("system", "Triage nurse."), ("user", "{question}")]) | llm
    chain.invoke({"question": "Hello?"})
    for _ in llm.stream("Summarise case 7."):
        pass
    provider.force_flush(30_000)
    provider.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:5]))
