"""`AuditOpenAI` / `AuditAsyncOpenAI`: the OpenAI clients, with every chat completion recorded.

    client = AuditOpenAI(tenant_id="acme", user_id="u-1", session_id="loan-42")
    client.chat.completions.create(model=..., messages=[...], decision_type="loan_underwriting",
                                   decision_outcome="denied", compliance_tags=["FCRA"])

The audit keyword arguments are taken out before the provider sees the request; the
provider's own response object, stream (chunk by chunk) or exception reaches the caller unchanged.
"""

from __future__ import annotations

import os
from typing import Any

import openai
from audit_layer_schemas import Action

from audit_layer_sdk.collector import AuditCollector, prompt_json
from audit_layer_sdk.config import AuditConfigError
from audit_layer_sdk.context import current_context
from audit_layer_sdk.openai_responses import OpenAIResponsesAdapter
from audit_layer_sdk.publisher import AuditPublisher
from audit_layer_sdk.recording import (
    ProviderAdapter,
    RecordedAsyncStream,
    RecordedStream,
    record_error,
    record_response,
    snapshot,
    split_audit_kwargs,
    start,
)

REQUEST_PARAMETERS = ("temperature", "top_p", "max_tokens", "max_completion_tokens", "frequency_penalty",
                      "presence_penalty", "seed", "n", "stop", "response_format", "tool_choice")


def finish_reason_action(finish_reason: str | None) -> tuple[Action, list[str]]:
    if finish_reason == "content_filter":
        return Action.REJECT, ["content_filter"]
    if finish_reason == "length":
        return Action.ALLOW, ["truncated_by_length"]
    return Action.ALLOW, []


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

    def add(self, chunk: Any) -> None:
        self.model = getattr(chunk, "model", None) or self.model
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
                             **chat_usage(self.usage))
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
                             **chat_usage(getattr(response, "usage", None)))
        action, codes = chat_action(getattr(choice, "finish_reason", None), refusal)
        collector.set_action(action, codes)

    def accumulator(self) -> _ChatStreamAccumulator:
        return _ChatStreamAccumulator()


_ADAPTER = OpenAIChatAdapter()
_RESPONSES = OpenAIResponsesAdapter()


class _Completions:
    """`chat.completions` or `responses`: `create` recorded through its adapter, the rest passed through."""

    def __init__(self, inner: Any, owner: _AuditClient, adapter: ProviderAdapter = _ADAPTER) -> None:
        self._inner = inner
        self._owner = owner
        self._adapter = adapter

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    def create(self, **kwargs: Any) -> Any:
        audit, kwargs = split_audit_kwargs(kwargs)
        collector = start(self._owner._collector, self._adapter, audit, kwargs)
        try:
            response = self._inner.create(**kwargs)
        except BaseException as exc:
            record_error(collector, exc)
            raise
        if kwargs.get("stream"):
            return RecordedStream(response, collector, self._adapter.accumulator())
        record_response(collector, self._adapter, response)
        return response


class _AsyncCompletions(_Completions):
    async def create(self, **kwargs: Any) -> Any:  # type: ignore[override]
        audit, kwargs = split_audit_kwargs(kwargs)
        collector = start(self._owner._collector, self._adapter, audit, kwargs)
        try:
            response = await self._inner.create(**kwargs)
        except BaseException as exc:
            record_error(collector, exc)
            raise
        if kwargs.get("stream"):
            return RecordedAsyncStream(response, collector, self._adapter.accumulator())
        record_response(collector, self._adapter, response)
        return response


class _Chat:
    def __init__(self, inner: Any, completions: _Completions) -> None:
        self._inner = inner
        self.completions = completions

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


class _AuditClient:
    """Audit context of a wrapped client: tenant, user and session, overridable per call."""

    _provider = "openai"

    def __init__(self, client: Any, tenant_id: str | None, user_id: str | None, session_id: str | None,
                 publisher: AuditPublisher | None) -> None:
        tenant = tenant_id or os.environ.get("AUDIT_LAYER_ORG_ID")
        if not tenant:
            raise AuditConfigError(f"{type(self).__name__} needs tenant_id=... or AUDIT_LAYER_ORG_ID in the "
                                   "environment")
        self._client = client
        self._tenant_id = tenant
        self._user_id = user_id
        self._session_id = session_id
        self._publisher = publisher

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)

    def _collector(self, audit: dict[str, Any]) -> AuditCollector:
        # the call's own arguments win; the collector fills the rest from audit_context, then the client's
        context = current_context()
        return AuditCollector(self._publisher, tenant_id=self._tenant_id,
                              user_id=audit.get("user_id") or context.user_id or self._user_id,
                              session_id=audit.get("session_id") or context.session_id or self._session_id,
                              provider=self._provider, operation="chat")


class AuditOpenAI(_AuditClient):
    """Drop-in for `openai.OpenAI`: `chat.completions.create` and `responses.create` are recorded;
    every other attribute passes through to the real client."""

    def __init__(self, *, tenant_id: str | None = None, user_id: str | None = None, session_id: str | None = None,
                 publisher: AuditPublisher | None = None, client: openai.OpenAI | None = None,
                 **openai_kwargs: Any) -> None:
        super().__init__(client if client is not None else openai.OpenAI(**openai_kwargs), tenant_id, user_id,
                         session_id, publisher)
        self.chat = _Chat(self._client.chat, _Completions(self._client.chat.completions, self))
        self.responses = _Completions(self._client.responses, self, _RESPONSES)


def emit_chat_completion_receipt(
    completion: Any, *, messages: Any, tenant_id: str | None = None, user_id: str | None = None,
    session_id: str | None = None, publisher: AuditPublisher | None = None, model: str | None = None,
    **audit: Any,
) -> None:
    """Records a chat completion obtained elsewhere (another client, a proxy, a batch job). Never raises."""
    try:
        owner = _AuditClient(None, tenant_id, user_id, session_id, publisher)
        split, _ = split_audit_kwargs(audit)
        collector = start(owner._collector, _ADAPTER, split, {"messages": messages,
                                                              "model": model or getattr(completion, "model", None)})
        record_response(collector, _ADAPTER, completion)
    except Exception as exc:
        from audit_layer_sdk._log import log

        log.warning("receipt", "audit receipt not recorded: %s", exc)


class AuditAsyncOpenAI(_AuditClient):
    """Drop-in for `openai.AsyncOpenAI`."""

    def __init__(self, *, tenant_id: str | None = None, user_id: str | None = None, session_id: str | None = None,
                 publisher: AuditPublisher | None = None, client: openai.AsyncOpenAI | None = None,
                 **openai_kwargs: Any) -> None:
        super().__init__(client if client is not None else openai.AsyncOpenAI(**openai_kwargs), tenant_id, user_id,
                         session_id, publisher)
        self.chat = _Chat(self._client.chat, _AsyncCompletions(self._client.chat.completions, self))
        self.responses = _AsyncCompletions(self._client.responses, self, _RESPONSES)
