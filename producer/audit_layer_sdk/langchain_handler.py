"""`AuditCallbackHandler`: one audit event per LangChain LLM or chat-model call.

    chain.invoke(inputs, config={"callbacks": [AuditCallbackHandler(tenant_id="acme", decision_type="triage")]})

LangChain run ids become the trace id (the parent run, or the run itself at the top) and the
span id (the run), so an event can be joined to the LangChain trace it belongs to.
"""

from __future__ import annotations

import json
import threading
from typing import Any
from uuid import UUID

from audit_layer_schemas import Action
from langchain_core.callbacks import BaseCallbackHandler

from audit_layer_sdk._log import log
from audit_layer_sdk.audited_client import AuditedClient
from audit_layer_sdk.collector import AuditCollector
from audit_layer_sdk.destinations import Publisher
from audit_layer_sdk.outcomes import finish_reason_action
from audit_layer_sdk.recording import record_error

MODEL_KEYS = ("model", "model_name", "model_id")


# a LangChain class path's telling part -> gen_ai.provider.name's well-known value (OpenTelemetry GenAI
# semantic conventions); the first match wins, so Azure OpenAI is found before OpenAI
PROVIDERS = (("azure", "azure.ai.openai"), ("bedrock", "aws.bedrock"), ("vertex", "gcp.vertex_ai"),
             ("google_genai", "gcp.gen_ai"), ("mistral", "mistral_ai"), ("anthropic", "anthropic"),
             ("openai", "openai"), ("cohere", "cohere"), ("groq", "groq"), ("deepseek", "deepseek"),
             ("xai", "x_ai"), ("perplexity", "perplexity"), ("ibm", "ibm.watsonx.ai"), ("ollama", "ollama"))


def _provider(serialized: dict[str, Any] | None) -> str | None:
    path = [str(part).lower() for part in (serialized or {}).get("id") or []]
    for telling, name in PROVIDERS:
        if any(telling in part for part in path):
            return name
    return path[-1] if path else None


class AuditCallbackHandler(BaseCallbackHandler):
    raise_error = False  # a recording problem never interrupts the chain

    def __init__(self, publisher: Publisher | None = None, *, store: Publisher | None = None,
                 tenant_id: str | None = None,
                 user_id: str | None = None, session_id: str | None = None, decision_type: str | None = None,
                 compliance_tags: list[str] | None = None, metadata: dict[str, Any] | None = None) -> None:
        self._client = AuditedClient(None, tenant_id, user_id, session_id, publisher or store)
        self._decision_type = decision_type
        self._compliance_tags = compliance_tags
        self._metadata = metadata or {}
        self._runs: dict[UUID, AuditCollector] = {}
        self._lock = threading.Lock()

    def _begin(self, serialized: dict[str, Any] | None, prompt: str, run_id: UUID, parent_run_id: UUID | None,
               kwargs: dict[str, Any], operation: str) -> None:
        try:
            params = dict(kwargs.get("invocation_params") or {})
            model = next((str(params[k]) for k in MODEL_KEYS if params.get(k)), None)
            collector = self._client._collector({})
            collector.fields.update(trace_id=(parent_run_id or run_id).hex, span_id=run_id.hex,
                                    provider=_provider(serialized), operation=operation)
            parameters = {k: v for k, v in params.items() if k in ("temperature", "max_tokens", "top_p")}
            collector.set_input(prompt, model=model, parameters=parameters)
            collector.set_decision(self._decision_type, compliance_tags=self._compliance_tags,
                                   metadata={**self._metadata, "langchain.run_id": str(run_id)})
            with self._lock:
                self._runs[run_id] = collector
        except Exception as exc:
            log.warning("langchain-start", "audit of LangChain run not started: %s", exc)

    def on_llm_start(self, serialized: dict[str, Any], prompts: list[str], *, run_id: UUID,
                     parent_run_id: UUID | None = None, **kwargs: Any) -> None:
        text = prompts[0] if len(prompts) == 1 else json.dumps(prompts, ensure_ascii=False)
        self._begin(serialized, text, run_id, parent_run_id, kwargs, "text_completion")

    def on_chat_model_start(self, serialized: dict[str, Any], messages: list[list[Any]], *, run_id: UUID,
                            parent_run_id: UUID | None = None, **kwargs: Any) -> None:
        rendered = [[{"role": m.type, "content": m.content} for m in batch] for batch in messages]
        text = json.dumps(rendered[0] if len(rendered) == 1 else rendered, ensure_ascii=False, sort_keys=True,
                          default=str)
        self._begin(serialized, text, run_id, parent_run_id, kwargs, "chat")

    def on_llm_end(self, response: Any, *, run_id: UUID, **kwargs: Any) -> None:
        with self._lock:
            collector = self._runs.pop(run_id, None)
        if collector is None:
            return
        try:
            generation = response.generations[0][0]
            info = generation.generation_info or {}
            message = getattr(generation, "message", None)
            usage = (response.llm_output or {}).get("token_usage") or {}
            meta = getattr(message, "usage_metadata", None) or {}
            finish = info.get("finish_reason")
            collector.set_output(generation.text, finish_reason=finish,
                                 input_tokens=usage.get("prompt_tokens", meta.get("input_tokens")),
                                 output_tokens=usage.get("completion_tokens", meta.get("output_tokens")),
                                 total_tokens=usage.get("total_tokens", meta.get("total_tokens")),
                                 response_model=(response.llm_output or {}).get("model_name"))
            action, codes = finish_reason_action(finish)
            collector.set_action(action, codes)
        except Exception as exc:
            log.warning("langchain-end", "audit of LangChain output not captured: %s", exc)
            collector.set_action(Action.ALLOW)
        collector.emit()

    def on_llm_error(self, error: BaseException, *, run_id: UUID, **kwargs: Any) -> None:
        with self._lock:
            collector = self._runs.pop(run_id, None)
        if collector is not None:
            record_error(collector, error)
