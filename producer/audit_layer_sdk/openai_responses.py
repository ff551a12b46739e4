"""How an OpenAI Responses API call (`client.responses.create`) maps onto an audit event.

The Responses API has no finish reason; it is derived so that both OpenAI APIs read alike:
`incomplete` for `max_output_tokens` -> `length` (ALLOW, truncated_by_length), `incomplete` for
`content_filter` -> `content_filter` (REJECT), a refusal -> REJECT with `refusal`, `failed` ->
`error` (FAIL_RETRY with the provider's error code), function calls -> `tool_calls`, else `stop`.
"""

from __future__ import annotations

from typing import Any

from audit_layer_schemas import Action

from audit_layer_sdk.collector import AuditCollector, prompt_json
from audit_layer_sdk.recording import snapshot

REQUEST_PARAMETERS = ("temperature", "top_p", "max_output_tokens", "reasoning", "tool_choice", "text", "truncation",
                      "previous_response_id", "service_tier")


def responses_usage(usage: Any) -> dict[str, Any]:
    if usage is None:
        return {}
    return {
        "input_tokens": getattr(usage, "input_tokens", None),
        "output_tokens": getattr(usage, "output_tokens", None),
        "total_tokens": getattr(usage, "total_tokens", None),
        "cache_read_input_tokens": getattr(getattr(usage, "input_tokens_details", None), "cached_tokens", None),
        "reasoning_output_tokens": getattr(getattr(usage, "output_tokens_details", None), "reasoning_tokens", None),
    }


def _output(response: Any) -> tuple[str | None, str | None, list[dict[str, Any]]]:
    """(text, refusal, function calls) of a response's output items."""
    texts: list[str] = []
    refusals: list[str] = []
    calls: list[dict[str, Any]] = []
    for item in getattr(response, "output", None) or []:
        kind = getattr(item, "type", None)
        if kind == "message":
            for part in item.content or []:
                if getattr(part, "type", None) == "output_text":
                    texts.append(part.text)
                elif getattr(part, "type", None) == "refusal":
                    refusals.append(part.refusal)
        elif kind == "function_call":
            calls.append({"call_id": item.call_id, "name": item.name, "arguments": item.arguments})
    return ("".join(texts) or None), ("".join(refusals) or None), calls


def finish_reason(response: Any, has_calls: bool) -> str:
    status = getattr(response, "status", None)
    if status == "incomplete":
        reason = getattr(getattr(response, "incomplete_details", None), "reason", None)
        return {"max_output_tokens": "length", "content_filter": "content_filter"}.get(reason or "", reason or "length")
    if status == "failed":
        return "error"
    return "tool_calls" if has_calls else "stop"


def response_action(finish: str, refusal: str | None, response: Any) -> tuple[Action, list[str], str | None]:
    if finish == "error":
        code = getattr(getattr(response, "error", None), "code", None)
        return Action.FAIL_RETRY, ["provider_error"] + ([f"error_{code}"] if code else []), "ResponseFailed"
    if refusal or finish == "content_filter":
        return Action.REJECT, ["refusal" if refusal else "content_filter"], None
    if finish == "length":
        return Action.ALLOW, ["truncated_by_length"], None
    return Action.ALLOW, [], None


def record_response_object(collector: AuditCollector, response: Any) -> None:
    text, refusal, calls = _output(response)
    content = text or refusal
    if calls:
        content = prompt_json({"text": content, "function_calls": calls}) if content else prompt_json(calls)
    finish = finish_reason(response, bool(calls))
    collector.set_output(content, finish_reason=finish, response_model=getattr(response, "model", None),
                         response_id=getattr(response, "id", None),
                         **responses_usage(getattr(response, "usage", None)))
    action, codes, error_type = response_action(finish, refusal, response)
    collector.set_action(action, codes, error_type=error_type)


class _ResponseStreamAccumulator:
    """Keeps the final response from the terminal event; deltas only matter if the stream is cut."""

    def __init__(self) -> None:
        self.final: Any = None
        self.text: list[str] = []
        self.model: str | None = None
        self.response_id: str | None = None

    def add(self, event: Any) -> None:
        kind = getattr(event, "type", None)
        if kind in ("response.completed", "response.incomplete", "response.failed"):
            self.final = event.response
        elif kind == "response.created":
            self.model = getattr(event.response, "model", None)
            self.response_id = getattr(event.response, "id", None) or self.response_id
        elif kind == "response.output_text.delta":
            self.text.append(event.delta)

    def apply(self, collector: AuditCollector) -> None:
        if self.final is not None:
            record_response_object(collector, self.final)
            return
        collector.set_output("".join(self.text) or None, response_model=self.model, response_id=self.response_id)


class OpenAIResponsesAdapter:
    provider = "openai"

    def record_input(self, collector: AuditCollector, kwargs: dict[str, Any]) -> None:
        prompt = {"instructions": kwargs.get("instructions"), "input": snapshot(kwargs, "input")}
        collector.set_input_json(prompt, model=kwargs.get("model"),
                                 parameters={k: kwargs[k] for k in REQUEST_PARAMETERS if k in kwargs})

    def record_output(self, collector: AuditCollector, response: Any) -> None:
        record_response_object(collector, response)

    def accumulator(self) -> _ResponseStreamAccumulator:
        return _ResponseStreamAccumulator()
