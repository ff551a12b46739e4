"""`AuditAnthropic` / `AuditAsyncAnthropic`: the Anthropic clients, with every message recorded.

    client = AuditAnthropic(tenant_id="clinic", user_id="dr-5")
    client.messages.create(model=..., max_tokens=512, system="...", messages=[...],
                           decision_type="diagnosis_assist")

`stop_reason` mapping: refusal -> REJECT; max_tokens -> ALLOW with truncated_by_length; others -> ALLOW.
"""

from __future__ import annotations

import json
from typing import Any

import anthropic
from audit_layer_schemas import Action

from audit_layer_sdk.collector import AuditCollector
from audit_layer_sdk.openai_wrapper import _AuditClient
from audit_layer_sdk.publisher import AuditPublisher
from audit_layer_sdk.recording import (
    RecordedAsyncStream,
    RecordedStream,
    record_error,
    record_response,
    snapshot,
    split_audit_kwargs,
    start,
)

REQUEST_PARAMETERS = ("max_tokens", "temperature", "top_p", "top_k", "stop_sequences", "tool_choice", "thinking")


def stop_reason_action(stop_reason: str | None) -> tuple[Action, list[str]]:
    if stop_reason == "refusal":
        return Action.REJECT, ["refusal"]
    if stop_reason == "max_tokens":
        return Action.ALLOW, ["truncated_by_length"]
    return Action.ALLOW, []


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, sort_keys=True, default=str)


def _content_text(blocks: list[Any]) -> str | None:
    texts = [b.text for b in blocks if getattr(b, "type", None) == "text"]
    tools = [{"id": b.id, "name": b.name, "input": b.input} for b in blocks if getattr(b, "type", None) == "tool_use"]
    if texts:
        return "".join(texts) if not tools else _json({"text": "".join(texts), "tool_use": tools})
    return _json(tools) if tools else None


class _MessageStreamAccumulator:
    def __init__(self) -> None:
        self.text: list[str] = []
        self.stop_reason: str | None = None
        self.input_tokens: int | None = None
        self.output_tokens: int | None = None
        self.model: str | None = None

    def add(self, event: Any) -> None:
        kind = getattr(event, "type", None)
        if kind == "message_start":
            self.model = event.message.model
            self.input_tokens = event.message.usage.input_tokens
        elif kind == "content_block_delta" and getattr(event.delta, "type", None) == "text_delta":
            self.text.append(event.delta.text)
        elif kind == "message_delta":
            self.stop_reason = event.delta.stop_reason or self.stop_reason
            self.output_tokens = getattr(event.usage, "output_tokens", None)

    def apply(self, collector: AuditCollector) -> None:
        collector.set_output("".join(self.text) if self.text else None, finish_reason=self.stop_reason,
                             input_tokens=self.input_tokens, output_tokens=self.output_tokens,
                             response_model=self.model)
        action, codes = stop_reason_action(self.stop_reason)
        collector.set_action(action, codes)


class AnthropicMessagesAdapter:
    provider = "anthropic"

    def record_input(self, collector: AuditCollector, kwargs: dict[str, Any]) -> None:
        prompt = {"system": snapshot(kwargs, "system"), "messages": snapshot(kwargs, "messages")}
        collector.set_input_json(prompt, model=kwargs.get("model"),
                                 parameters={k: kwargs[k] for k in REQUEST_PARAMETERS if k in kwargs})

    def record_output(self, collector: AuditCollector, response: Any) -> None:
        usage = response.usage
        collector.set_output(_content_text(response.content), finish_reason=response.stop_reason,
                             input_tokens=getattr(usage, "input_tokens", None),
                             output_tokens=getattr(usage, "output_tokens", None), response_model=response.model)
        action, codes = stop_reason_action(response.stop_reason)
        collector.set_action(action, codes)

    def accumulator(self) -> _MessageStreamAccumulator:
        return _MessageStreamAccumulator()


_ADAPTER = AnthropicMessagesAdapter()


class _Messages:
    def __init__(self, inner: Any, owner: _AuditClient) -> None:
        self._inner = inner
        self._owner = owner

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    def create(self, **kwargs: Any) -> Any:
        audit, kwargs = split_audit_kwargs(kwargs)
        collector = start(self._owner._collector, _ADAPTER, audit, kwargs)
        try:
            response = self._inner.create(**kwargs)
        except BaseException as exc:
            record_error(collector, exc)
            raise
        if kwargs.get("stream"):
            return RecordedStream(response, collector, _ADAPTER.accumulator())
        record_response(collector, _ADAPTER, response)
        return response


class _AsyncMessages(_Messages):
    async def create(self, **kwargs: Any) -> Any:  # type: ignore[override]
        audit, kwargs = split_audit_kwargs(kwargs)
        collector = start(self._owner._collector, _ADAPTER, audit, kwargs)
        try:
            response = await self._inner.create(**kwargs)
        except BaseException as exc:
            record_error(collector, exc)
            raise
        if kwargs.get("stream"):
            return RecordedAsyncStream(response, collector, _ADAPTER.accumulator())
        record_response(collector, _ADAPTER, response)
        return response


class AuditAnthropic(_AuditClient):
    """Drop-in for `anthropic.Anthropic`; attributes other than `messages` pass through."""

    _provider = "anthropic"

    def __init__(self, *, tenant_id: str | None = None, user_id: str | None = None, session_id: str | None = None,
                 publisher: AuditPublisher | None = None, client: anthropic.Anthropic | None = None,
                 **anthropic_kwargs: Any) -> None:
        super().__init__(client if client is not None else anthropic.Anthropic(**anthropic_kwargs), tenant_id,
                         user_id, session_id, publisher)
        self.messages = _Messages(self._client.messages, self)


class AuditAsyncAnthropic(_AuditClient):
    """Drop-in for `anthropic.AsyncAnthropic`."""

    _provider = "anthropic"

    def __init__(self, *, tenant_id: str | None = None, user_id: str | None = None, session_id: str | None = None,
                 publisher: AuditPublisher | None = None, client: anthropic.AsyncAnthropic | None = None,
                 **anthropic_kwargs: Any) -> None:
        super().__init__(client if client is not None else anthropic.AsyncAnthropic(**anthropic_kwargs),
                         tenant_id, user_id, session_id, publisher)
        self.messages = _AsyncMessages(self._client.messages, self)
