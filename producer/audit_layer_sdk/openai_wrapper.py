"""`AuditOpenAI` / `AuditAsyncOpenAI`: the OpenAI clients, with every chat completion recorded.

    client = AuditOpenAI(tenant_id="acme", user_id="u-1", session_id="loan-42")
    client.chat.completions.create(model=..., messages=[...], decision_type="loan_underwriting",
                                   decision_outcome="denied", compliance_tags=["FCRA"])

The audit keyword arguments are taken out before the provider sees the request; the
provider's own response object, stream (chunk by chunk) or exception reaches the caller unchanged.
"""

from __future__ import annotations

from typing import Any

import openai
from audit_layer_schemas import Action

from audit_layer_sdk.audited_client import AuditedClient, provider_client, session_for
from audit_layer_sdk.collector import AuditCollector, prompt_json
from audit_layer_sdk.config import AuditConfig
from audit_layer_sdk.destinations import Publisher
from audit_layer_sdk.openai_responses import OpenAIResponsesAdapter
from audit_layer_sdk.outcomes import finish_reason_action
from audit_layer_sdk.recording import (
    RecordedAsyncEndpoint,
    RecordedEndpoint,
    record_response,
    snapshot,
    split_audit_kwargs,
    start,
)

REQUEST_PARAMETERS = ("temperature", "top_p", "max_tokens", "max_completion_tokens", "frequency_penalty",
                      "presence_penalty", "seed", "n", "stop", "response_format", "tool_choice")


def chat_usage(usage: Any) -> dict[str, Any]:
    """set_output's token arguments from a chat completion's usage (None when not sent)."""
    if usage is None:
        return {}
    return {
        "input_tokens": getattr(usage, "prompt_tokens", None),
        "output_tokens": getattr(usage, "completion_tokens", None),
        "total_tokens": getattr(usage, "total_tokens", None),
        "cache_read_input_tokens": getattr(getattr(usage, "prompt_tokens_details", None), "cached_tokens", None),
        "reasoning_output_tokens": getattr(getattr(usage, "completion_tokens_details", None), "reasoning_tokens",
                                           None),
    }


def chat_action(finish_reason: str | None, refusal: str | None) -> tuple[Action, list[str]]:
    if refusal:  # the model declined (structured outputs): a rejection whatever the finish reason
        return Action.REJECT, ["refusal"]
    return finish_reason_action(finish_reason)


class _ChatStreamAccumulator:
    def __init__(self) -> None:
        self.text: list[str] = []
        self.tool_calls: dict[int, dict[str, Any]] = {}
        self.finish_reason: str | None = None
        self.refusal: list[str] = []
        self.usage: Any = None
        self.model: str | None = None
        self.response_id: str | None = None

    def add(self, chunk: Any) -> None:
        self.model = getattr(chunk, "model", None) or self.model
        self.response_id = getattr(chunk, "id", None) or self.response_id
        if getattr(chunk, "usage", None) is not None:
            self.usage = chunk.usage
        for choice in getattr(chunk, "choices", None) or []:
            if choice.index != 0:
                continue
            delta = choice.delta
            if getattr(delta, "content", None):
                self.text.append(delta.content)
            if getattr(delta, "refusal", None):
                self.refusal.append(delta.refusal)
            for call in getattr(delta, "tool_calls", None) or []:
                entry = self.tool_calls.setdefault(call.index, {"id": None, "name": "", "arguments": ""})
                entry["id"] = call.id or entry["id"]
                if call.function is not None:
                    entry["name"] += call.function.name or ""
                    entry["arguments"] += call.function.arguments or ""
            if choice.finish_reason:
                self.finish_reason = choice.finish_reason

    def apply(self, collector: AuditCollector) -> None:
        refusal = "".join(self.refusal) or None
        text = "".join(self.text) if self.text else refusal
        if text is None and self.tool_calls:
            text = prompt_json([self.tool_calls[i] for i in sorted(self.tool_calls)])
        collector.set_output(text, finish_reason=self.finish_reason, response_model=self.model,
                             response_id=self.response_id, **chat_usage(self.usage))
        action, codes = chat_action(self.finish_reason, refusal)
        collector.set_action(action, codes)


class OpenAIChatAdapter:
    provider = "openai"

    def record_input(self, collector: AuditCollector, kwargs: dict[str, Any]) -> None:
        collector.set_input_json(snapshot(kwargs, "messages"), model=kwargs.get("model"),
                                 parameters={k: kwargs[k] for k in REQUEST_PARAMETERS if k in kwargs})

    def record_output(self, collector: AuditCollector, response: Any) -> None:
        choice = response.choices[0] if response.choices else None
        message = choice.message if choice is not None else None
        refusal = getattr(message, "refusal", None)
        text = getattr(message, "content", None) or refusal
        if text is None and message is not None and getattr(message, "tool_calls", None):
            text = prompt_json([c.model_dump() for c in message.tool_calls])
        collector.set_output(text, finish_reason=getattr(choice, "finish_reason", None),
                             response_model=getattr(response, "model", None),
                             response_id=getattr(response, "id", None),
                             **chat_usage(getattr(response, "usage", None)))
        action, codes = chat_action(getattr(choice, "finish_reason", None), refusal)
        collector.set_action(action, codes)

    def accumulator(self) -> _ChatStreamAccumulator:
        return _ChatStreamAccumulator()


_ADAPTER = OpenAIChatAdapter()
_RESPONSES = OpenAIResponsesAdapter()


class _Chat:
    def __init__(self, inner: Any, completions: RecordedEndpoint) -> None:
        self._inner = inner
        self.completions = completions

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


_OWN = ("user_id", "session_id", "config", "openai_api_key", "tenant_id", "publisher", "store", "client")


class AuditOpenAI(AuditedClient):
    """Drop-in for `openai.OpenAI`: `chat.completions.create` and `responses.create` are recorded;
    every other attribute passes through to the real client."""

    def __init__(self, user_id: str | None = None, session_id: str | None = None, config: AuditConfig | None = None,
                 openai_api_key: str | None = None, *, tenant_id: str | None = None, publisher: Publisher | None = None,
                 store: Publisher | None = None, client: openai.OpenAI | None = None, **openai_kwargs: Any) -> None:
        if openai_api_key is not None:
            openai_kwargs.setdefault("api_key", openai_api_key)
        made = client if client is not None else provider_client(openai.OpenAI, "AuditOpenAI", _OWN, openai_kwargs)
        super().__init__(made, tenant_id, user_id, session_for(user_id, session_id), publisher or store, config)
        self.chat = _Chat(self._client.chat, RecordedEndpoint(self._client.chat.completions, self, _ADAPTER))
        self.responses = RecordedEndpoint(self._client.responses, self, _RESPONSES)


def emit_chat_completion_receipt(
    completion_or_store: Any = None, *, messages: Any, response: Any = None, tenant_id: str | None = None,
    user_id: str | None = None, session_id: str | None = None, publisher: Publisher | None = None,
    store: Publisher | None = None, model: str | None = None, **audit: Any,
) -> bool:
    """Records a chat completion obtained elsewhere (another client, a proxy, a batch job), called either
    as `emit_chat_completion_receipt(completion, messages=...)` or as
    `emit_chat_completion_receipt(store, tenant_id=..., model=..., messages=..., response=completion)`.
    Never raises; True when the receipt was accepted."""
    from audit_layer_sdk._log import log

    if response is None and hasattr(completion_or_store, "submit"):
        log.warning("receipt", "emit_chat_completion_receipt(store, ...) got no response=: recorded without one")
    if hasattr(completion_or_store, "submit"):  # seed 000's form: the store comes first
        store, completion = store or completion_or_store, response
    else:
        completion = completion_or_store if completion_or_store is not None else response
    try:
        owner = AuditedClient(None, tenant_id, user_id, session_id, publisher or store)
        split, _ = split_audit_kwargs(audit)
        collector = start(owner._collector, _ADAPTER, split, {"messages": messages,
                                                              "model": model or getattr(completion, "model", None)})
        if completion is None:
            collector.set_action(Action.FAIL_RETRY, ["no_response"])
            return collector.emit()
        return record_response(collector, _ADAPTER, completion)
    except Exception as exc:
        log.warning("receipt", "audit receipt not recorded: %s", exc)
        return False


class AuditAsyncOpenAI(AuditedClient):
    """Drop-in for `openai.AsyncOpenAI`."""

    def __init__(self, user_id: str | None = None, session_id: str | None = None, config: AuditConfig | None = None,
                 openai_api_key: str | None = None, *, tenant_id: str | None = None, publisher: Publisher | None = None,
                 store: Publisher | None = None, client: openai.AsyncOpenAI | None = None,
                 **openai_kwargs: Any) -> None:
        if openai_api_key is not None:
            openai_kwargs.setdefault("api_key", openai_api_key)
        made = client if client is not None else provider_client(openai.AsyncOpenAI, "AuditAsyncOpenAI", _OWN,
                                                                 openai_kwargs)
        super().__init__(made, tenant_id, user_id, session_for(user_id, session_id), publisher or store, config)
        self.chat = _Chat(self._client.chat, RecordedAsyncEndpoint(self._client.chat.completions, self, _ADAPTER))
        self.responses = RecordedAsyncEndpoint(self._client.responses, self, _RESPONSES)
