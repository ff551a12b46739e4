"""`AuditAnthropic` / `AuditAsyncAnthropic`: the Anthropic clients, with every message recorded.

    client = AuditAnthropic(tenant_id="clinic", user_id="dr-5")
    client.messages.create(model=..., max_tokens=512, system="...", messages=[...],
                           decision_type="diagnosis_assist")

`stop_reason` mapping: refusal -> REJECT; max_tokens -> ALLOW with truncated_by_length; others -> ALLOW.
"""

from __future__ import annotations

import json
from types import SimpleNamespace, TracebackType
from typing import Any

import anthropic
from audit_layer_schemas import Action

from audit_layer_sdk._log import log
from audit_layer_sdk.audited_client import AuditedClient, provider_client, session_for
from audit_layer_sdk.collector import AuditCollector, prompt_json
from audit_layer_sdk.config import AuditConfig
from audit_layer_sdk.destinations import Publisher
from audit_layer_sdk.recording import (
    RecordedAsyncEndpoint,
    RecordedEndpoint,
    record_error,
    snapshot,
    split_audit_kwargs,
    start,
)

REQUEST_PARAMETERS = ("max_tokens", "temperature", "top_p", "top_k", "stop_sequences", "tool_choice", "thinking")


def message_usage(usage: Any) -> dict[str, Any]:
    """set_output's token arguments; Anthropic counts cache reads and writes beside `input_tokens`,
    OpenTelemetry inside it, so they are added in."""
    if usage is None:
        return {}
    read = getattr(usage, "cache_read_input_tokens", None)
    written = getattr(usage, "cache_creation_input_tokens", None)
    fresh = getattr(usage, "input_tokens", None)
    total_input = None if fresh is None else fresh + (read or 0) + (written or 0)
    return {"input_tokens": total_input, "output_tokens": getattr(usage, "output_tokens", None),
            "cache_read_input_tokens": read, "cache_creation_input_tokens": written}


def stop_reason_action(stop_reason: str | None) -> tuple[Action, list[str]]:
    if stop_reason == "refusal":
        return Action.REJECT, ["refusal"]
    if stop_reason == "max_tokens":
        return Action.ALLOW, ["truncated_by_length"]
    return Action.ALLOW, []


def _content_text(blocks: list[Any]) -> str | None:
    texts = [b.text for b in blocks if getattr(b, "type", None) == "text"]
    tools = [{"id": b.id, "name": b.name, "input": b.input} for b in blocks if getattr(b, "type", None) == "tool_use"]
    if texts:
        return "".join(texts) if not tools else prompt_json({"text": "".join(texts), "tool_use": tools})
    return prompt_json(tools) if tools else None


class _MessageStreamAccumulator:
    """Rebuilds the message from stream events: text and tool_use blocks, stop reason, usage."""

    def __init__(self) -> None:
        self.blocks: dict[int, dict[str, Any]] = {}
        self.stop_reason: str | None = None
        self.usage: dict[str, Any] = {}
        self.model: str | None = None
        self.response_id: str | None = None

    def add(self, event: Any) -> None:
        kind = getattr(event, "type", None)
        if kind == "message_start":
            self.model = event.message.model
            self.response_id = getattr(event.message, "id", None)
            self._usage(event.message.usage)
        elif kind == "content_block_start":
            block = event.content_block
            self.blocks[event.index] = {"type": block.type, "text": "", "id": getattr(block, "id", None),
                                        "name": getattr(block, "name", None), "json": ""}
        elif kind == "content_block_delta":
            block = self.blocks.setdefault(event.index, {"type": "text", "text": "", "json": ""})
            delta_type = getattr(event.delta, "type", None)
            if delta_type == "text_delta":
                block["text"] += event.delta.text
            elif delta_type == "input_json_delta":
                block["json"] += event.delta.partial_json
        elif kind == "message_delta":
            self.stop_reason = event.delta.stop_reason or self.stop_reason
            self._usage(event.usage)

    def _usage(self, usage: Any) -> None:
        # message_delta repeats the counts cumulatively; the latest non-null value wins
        for name in ("input_tokens", "output_tokens", "cache_read_input_tokens", "cache_creation_input_tokens"):
            value = getattr(usage, name, None)
            if value is not None:
                self.usage[name] = value

    def apply(self, collector: AuditCollector) -> None:
        ordered = [self.blocks[i] for i in sorted(self.blocks)]
        texts = [b["text"] for b in ordered if b["type"] == "text"]
        tools = [{"id": b["id"], "name": b["name"], "input": _parse_json(b["json"])}
                 for b in ordered if b["type"] == "tool_use"]
        if texts and not tools:
            text: str | None = "".join(texts)
        elif tools:
            text = prompt_json({"text": "".join(texts), "tool_use": tools}) if texts else prompt_json(tools)
        else:
            text = None
        collector.set_output(text, finish_reason=self.stop_reason, response_model=self.model,
                             response_id=self.response_id,
                             **message_usage(SimpleNamespace(**self.usage)))
        action, codes = stop_reason_action(self.stop_reason)
        collector.set_action(action, codes)


def _parse_json(partial: str) -> Any:
    try:
        return json.loads(partial) if partial else {}
    except json.JSONDecodeError:  # a stream cut inside a tool's arguments: keep what arrived
        return partial


class AnthropicMessagesAdapter:
    provider = "anthropic"

    def record_input(self, collector: AuditCollector, kwargs: dict[str, Any]) -> None:
        prompt = {"system": snapshot(kwargs, "system"), "messages": snapshot(kwargs, "messages")}
        collector.set_input_json(prompt, model=kwargs.get("model"),
                                 parameters={k: kwargs[k] for k in REQUEST_PARAMETERS if k in kwargs})

    def record_output(self, collector: AuditCollector, response: Any) -> None:
        collector.set_output(_content_text(response.content), finish_reason=response.stop_reason,
                             response_model=response.model, response_id=getattr(response, "id", None),
                             **message_usage(response.usage))
        action, codes = stop_reason_action(response.stop_reason)
        collector.set_action(action, codes)

    def accumulator(self) -> _MessageStreamAccumulator:
        return _MessageStreamAccumulator()


_ADAPTER = AnthropicMessagesAdapter()


class _Messages(RecordedEndpoint):
    """`messages`: `create` recorded (recording.py), and `stream()`'s helper recorded as it is read."""

    def __init__(self, inner: Any, owner: AuditedClient) -> None:
        super().__init__(inner, owner, _ADAPTER)


    def stream(self, **kwargs: Any) -> Any:
        audit, kwargs = split_audit_kwargs(kwargs)
        collector = start(self._owner._collector, _ADAPTER, audit, kwargs)
        try:
            manager = self._inner.stream(**kwargs)
        except BaseException as exc:
            record_error(collector, exc)
            raise
        return _RecordedStreamManager(manager, collector)


class _StreamHelperRecord:
    """Records a `messages.stream(...)` block when it exits, from the SDK's own message snapshot;
    the caller gets the SDK's MessageStream object itself."""

    def __init__(self, collector: AuditCollector) -> None:
        self.collector = collector
        self.stream: Any = None
        self.done = False

    def entered(self, stream: Any) -> Any:
        self.stream = stream
        return stream

    def exited(self, exc: BaseException | None) -> None:
        if self.done:
            return
        self.done = True
        snapshot = None
        try:
            snapshot_or_none = getattr(self.stream, "_current_snapshot_or_none", None)
            snapshot = snapshot_or_none() if snapshot_or_none is not None else self.stream.current_message_snapshot
        except Exception:  # no message_start arrived
            snapshot = None
        if isinstance(exc, anthropic.APIError):
            record_error(self.collector, exc)
            return
        try:
            if snapshot is not None:
                _ADAPTER.record_output(self.collector, snapshot)
            if snapshot is None or snapshot.stop_reason is None:  # left before the message ended
                codes = [*self.collector.fields.get("reason_codes", []), "stream_abandoned"]
                self.collector.set_action(self.collector.fields.get("action", Action.ALLOW), codes)
        except Exception as error:
            log.warning("anthropic-stream", "audit stream not captured: %s", error)
        self.collector.emit()


class _RecordedStreamManager:
    def __init__(self, manager: Any, collector: AuditCollector) -> None:
        self._manager = manager
        self._record = _StreamHelperRecord(collector)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._manager, name)

    def __enter__(self) -> Any:
        try:
            return self._record.entered(self._manager.__enter__())
        except BaseException as exc:
            self._record.exited(exc)
            raise

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> Any:
        try:
            return self._manager.__exit__(exc_type, exc, tb)
        finally:
            self._record.exited(exc)

    async def __aenter__(self) -> Any:
        try:
            return self._record.entered(await self._manager.__aenter__())
        except BaseException as exc:
            self._record.exited(exc)
            raise

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> Any:
        try:
            return await self._manager.__aexit__(exc_type, exc, tb)
        finally:
            self._record.exited(exc)


class _AsyncMessages(RecordedAsyncEndpoint, _Messages):
    """`messages` of the async client: its `create` awaited on the same recorded-call path."""


_OWN = ("user_id", "session_id", "config", "anthropic_api_key", "tenant_id", "publisher", "store", "client")


class AuditAnthropic(AuditedClient):
    """Drop-in for `anthropic.Anthropic`; attributes other than `messages` pass through."""

    _provider = "anthropic"

    def __init__(self, user_id: str | None = None, session_id: str | None = None, config: AuditConfig | None = None,
                 anthropic_api_key: str | None = None, *, tenant_id: str | None = None,
                 publisher: Publisher | None = None, store: Publisher | None = None,
                 client: anthropic.Anthropic | None = None, **anthropic_kwargs: Any) -> None:
        if anthropic_api_key is not None:
            anthropic_kwargs.setdefault("api_key", anthropic_api_key)
        made = client if client is not None else provider_client(anthropic.Anthropic, "AuditAnthropic", _OWN,
                                                                 anthropic_kwargs)
        super().__init__(made, tenant_id, user_id, session_for(user_id, session_id), publisher or store, config)
        self.messages = _Messages(self._client.messages, self)


class AuditAsyncAnthropic(AuditedClient):
    """Drop-in for `anthropic.AsyncAnthropic`."""

    _provider = "anthropic"

    def __init__(self, user_id: str | None = None, session_id: str | None = None, config: AuditConfig | None = None,
                 anthropic_api_key: str | None = None, *, tenant_id: str | None = None,
                 publisher: Publisher | None = None, store: Publisher | None = None,
                 client: anthropic.AsyncAnthropic | None = None, **anthropic_kwargs: Any) -> None:
        if anthropic_api_key is not None:
            anthropic_kwargs.setdefault("api_key", anthropic_api_key)
        made = client if client is not None else provider_client(anthropic.AsyncAnthropic, "AuditAsyncAnthropic", _OWN,
                                                                 anthropic_kwargs)
        super().__init__(made, tenant_id, user_id, session_for(user_id, session_id), publisher or store, config)
        self.messages = _AsyncMessages(self._client.messages, self)
