"""GenAI spans, as OpenTelemetry instrumentations export them, turned into audit events (pure: no HTTP, no
Kafka). Reads every form in use for the messages: the current `gen_ai.input.messages` /
`gen_ai.output.messages` / `gen_ai.system_instructions` (span attributes as JSON, or the structured
`gen_ai.client.inference.operation.details` event), the older per-message span events (`gen_ai.user.message`,
`gen_ai.choice`, ...), OpenLLMetry's `gen_ai.prompt.N.*` / `gen_ai.completion.N.*`, and OpenInference's
`llm.input_messages.N.message.*`. Application attributes named `audit_layer.*` fill the decision fields."""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from audit_layer_sdk.otel_spans import EVENT_ID_ATTRIBUTE
from audit_layer_sdk.outcomes import finish_reason_action

# the namespace of the event ids made from (trace id, span id): a name-based UUID (RFC 9562 version 5)
SPAN_IDS = uuid.UUID("6f0e3f6c-5b1e-4d7a-9a52-a1d1e0c0ffee")
# OTLP status codes (opentelemetry.proto.trace.v1.Status.StatusCode)
STATUS_ERROR = 2
_INDEXED = re.compile(r"^(gen_ai\.prompt|gen_ai\.completion)\.(\d+)\.(\w+)$")
_OPENINFERENCE = re.compile(r"^llm\.(input_messages|output_messages)\.(\d+)\.message\.(\w+)$")
_PARAMETERS = ("temperature", "max_tokens", "top_p", "top_k", "frequency_penalty", "presence_penalty", "seed",
               "stop_sequences", "choice.count")
# kept in the event's metadata as they are
_KEPT = ("gen_ai.response.id", "gen_ai.tool.name", "gen_ai.tool.call.id", "gen_ai.agent.name",
         "gen_ai.usage.cache_read.input_tokens", "gen_ai.usage.cache_creation.input_tokens",
         "gen_ai.usage.reasoning.output_tokens", "gen_ai.server.time_to_first_token", "gen_ai.conversation.id",
         "server.address")
_PER_MESSAGE_EVENTS = {"gen_ai.system.message": "system", "gen_ai.user.message": "user",
                       "gen_ai.assistant.message": "assistant", "gen_ai.tool.message": "tool"}


@dataclass(frozen=True)
class Span:
    """What the mapping reads of one OTLP span (ids as hex, times in ns, attributes as Python values)."""

    trace_id: str
    span_id: str
    name: str
    start_ns: int
    end_ns: int
    status_code: int
    status_message: str
    attributes: Mapping[str, Any]
    events: tuple[tuple[str, int, Mapping[str, Any]], ...] = ()
    resource: Mapping[str, Any] = field(default_factory=dict)


# spans that frame model calls rather than make one (LangChain's chains and steps as OpenLLMetry traces them):
# their model calls and tool executions are spans of their own, each an event. A deny-list, so that an
# operation name new to us is recorded rather than lost.
ORCHESTRATION = frozenset({"invoke_agent", "create_agent", "execute_task", "invoke_workflow"})
_FRAMING_KINDS = frozenset({"workflow", "task", "agent"})


def is_genai(span: Span) -> bool:
    """A GenAI operation that is recorded: a model call or a tool execution."""
    a = span.attributes
    if a.get("gen_ai.operation.name") in ORCHESTRATION or a.get("traceloop.span.kind") in _FRAMING_KINDS:
        return False
    if EVENT_ID_ATTRIBUTE in a:  # the Audit Layer SDK's own span of a call it recorded (audit_layer_sdk.otel_spans)
        return False
    return ("gen_ai.operation.name" in a or "gen_ai.system" in a or "gen_ai.provider.name" in a
            or a.get("openinference.span.kind") == "LLM")


def event_id(span: Span) -> str:
    """The same span always makes the same event id: an exporter's retry is dropped by the sequencer."""
    return str(uuid.uuid5(SPAN_IDS, f"{span.trace_id}:{span.span_id}"))


def _json(value: Any) -> Any:
    if isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


def _text(parts: Any) -> str:
    """A message's text: its string content, or its text parts joined."""
    if isinstance(parts, str):
        return parts
    if isinstance(parts, list | tuple):
        texts = []
        for part in parts:
            if isinstance(part, Mapping):
                texts.append(str(part.get("content") or part.get("text") or ""))
            else:
                texts.append(str(part))
        return "".join(texts)
    if isinstance(parts, Mapping):
        return str(parts.get("content") or parts.get("text") or "")
    return "" if parts is None else str(parts)


def _messages(value: Any) -> list[dict[str, Any]]:
    """The semantic conventions' message list (role + parts) as OpenAI-style {role, content} messages."""
    loaded = _json(value)
    if not isinstance(loaded, list | tuple):
        return []
    out = []
    for message in loaded:
        if not isinstance(message, Mapping):
            continue
        item: dict[str, Any] = {"role": message.get("role", "user"),
                                "content": _text(message.get("parts", message.get("content")))}
        if message.get("finish_reason"):
            item["finish_reason"] = message["finish_reason"]
        out.append(item)
    return out


def _indexed(attributes: Mapping[str, Any], pattern: re.Pattern[str], kinds: tuple[str, str]) -> tuple[
        list[dict[str, Any]], list[dict[str, Any]]]:
    found: dict[tuple[str, int], dict[str, Any]] = {}
    for key, value in attributes.items():
        match = pattern.match(key)
        if match:
            found.setdefault((match.group(1), int(match.group(2))), {})[match.group(3)] = value
    inputs = [found[k] for k in sorted(k for k in found if k[0] == kinds[0])]
    outputs = [found[k] for k in sorted(k for k in found if k[0] == kinds[1])]
    return inputs, outputs


def conversation(span: Span) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(input messages, output messages) from whichever form the span carries."""
    a = span.attributes
    inputs = _messages(a.get("gen_ai.input.messages"))
    outputs = _messages(a.get("gen_ai.output.messages"))
    system = _messages([{"role": "system", "parts": _json(a["gen_ai.system_instructions"])}]) \
        if "gen_ai.system_instructions" in a else []
    for name, _, attrs in span.events:
        if name == "gen_ai.client.inference.operation.details":
            inputs = inputs or _messages(attrs.get("gen_ai.input.messages"))
            outputs = outputs or _messages(attrs.get("gen_ai.output.messages"))
            if not system and "gen_ai.system_instructions" in attrs:
                system = _messages([{"role": "system", "parts": _json(attrs["gen_ai.system_instructions"])}])
    if not inputs and not outputs:
        for name, _, attrs in span.events:
            if name in _PER_MESSAGE_EVENTS:
                inputs.append({"role": attrs.get("role", _PER_MESSAGE_EVENTS[name]),
                               "content": _text(_json(attrs.get("content", "")))})
            elif name == "gen_ai.choice":
                message = _json(attrs.get("message", {}))
                outputs.append({"role": "assistant", "content": _text(message) if message else "",
                                **({"finish_reason": attrs["finish_reason"]} if attrs.get("finish_reason") else {})})
    if not inputs and not outputs:
        prompts, completions = _indexed(a, _INDEXED, ("gen_ai.prompt", "gen_ai.completion"))
        inputs = [{"role": p.get("role", "user"), "content": _text(p.get("content"))} for p in prompts]
        outputs = [{"role": c.get("role", "assistant"), "content": _text(c.get("content")),
                    **({"finish_reason": c["finish_reason"]} if c.get("finish_reason") else {})} for c in completions]
    if not inputs and not outputs:
        ins, outs = _indexed(a, _OPENINFERENCE, ("input_messages", "output_messages"))
        inputs = [{"role": m.get("role", "user"), "content": _text(m.get("content"))} for m in ins]
        outputs = [{"role": m.get("role", "assistant"), "content": _text(m.get("content"))} for m in outs]
    return system + inputs, outputs


def finish_reasons(span: Span, outputs: list[dict[str, Any]]) -> list[str]:
    reasons = span.attributes.get("gen_ai.response.finish_reasons")
    if isinstance(reasons, list | tuple) and reasons:
        return [str(r) for r in reasons]
    return [str(o["finish_reason"]) for o in outputs if o.get("finish_reason")]


def _int(value: Any) -> int | None:
    return int(value) if isinstance(value, int | float) and not isinstance(value, bool) and value >= 0 else None


def to_event(span: Span) -> dict[str, Any]:
    """The REST ingest's event fields (schemas.IngestEvent) for one GenAI span."""
    a = span.attributes
    inputs, outputs = conversation(span)
    reasons = finish_reasons(span, outputs)
    failed = span.status_code == STATUS_ERROR or "error.type" in a
    if failed:
        action, codes = "FAIL_RETRY", [str(a.get("error.type") or "span_error")]
    else:
        chosen, codes = finish_reason_action(reasons[0] if reasons else None)
        action = chosen.value
    parameters = {name: json.dumps(a[f"gen_ai.request.{name}"]) if not isinstance(a[f"gen_ai.request.{name}"], str)
                  else a[f"gen_ai.request.{name}"] for name in _PARAMETERS if f"gen_ai.request.{name}" in a}
    if "llm.invocation_parameters" in a and not parameters:
        loaded = _json(a["llm.invocation_parameters"])
        if isinstance(loaded, Mapping):
            parameters = {str(k): v if isinstance(v, str) else json.dumps(v) for k, v in loaded.items()}
    usage_in = _int(a.get("gen_ai.usage.input_tokens", a.get("gen_ai.usage.prompt_tokens",
                                                                a.get("llm.token_count.prompt"))))
    usage_out = _int(a.get("gen_ai.usage.output_tokens", a.get("gen_ai.usage.completion_tokens",
                                                                  a.get("llm.token_count.completion"))))
    metadata = {"otlp.span_name": span.name}
    for key in ("service.name", "deployment.environment.name", "deployment.environment", "service.version"):
        if key in span.resource:
            metadata[f"resource.{key}"] = str(span.resource[key])
    for key in _KEPT:
        if key in a:
            metadata[key] = str(a[key])
    if not inputs and not outputs:  # recorded in part, and said so: the span carries no message
        metadata["otlp.messages"] = ("absent: not on the span or its events (content capture off, or sent "
                                     "as log records: export them to /v1/logs to record them)")
    if failed and span.status_message:
        metadata["otlp.status_message"] = span.status_message[:1000]
    if "gen_ai.tool.definitions" in a:
        metadata["gen_ai.tool.definitions"] = str(a["gen_ai.tool.definitions"])[:4000]
    tags = a.get("audit_layer.compliance_tags")
    event: dict[str, Any] = {
        "event_id": event_id(span),
        "timestamp_us": span.start_ns // 1000,
        "duration_ms": max(0.0, (span.end_ns - span.start_ns) / 1e6),
        "trace_id": span.trace_id, "span_id": span.span_id,
        "provider": a.get("gen_ai.provider.name") or a.get("gen_ai.system") or a.get("llm.provider")
        or a.get("llm.system"),
        "operation": a.get("gen_ai.operation.name") or "chat",
        "model": a.get("gen_ai.request.model") or a.get("llm.model_name"),
        "response_model": a.get("gen_ai.response.model"),
        "model_parameters": parameters,
        "prompt": json.dumps(inputs, ensure_ascii=False) if inputs else None,
        "response": "\n".join(o["content"] for o in outputs if o.get("content")) if outputs else None,
        "input_tokens": usage_in, "output_tokens": usage_out,
        "total_tokens": usage_in + usage_out if usage_in is not None and usage_out is not None else None,
        "finish_reason": reasons[0] if reasons else None,
        "action": action, "reason_codes": codes,
        "error_type": str(a["error.type"]) if "error.type" in a else ("span_error" if failed else None),
        "user_id": a.get("audit_layer.user_id") or a.get("user.id") or a.get("enduser.id"),
        "session_id": a.get("audit_layer.session_id") or a.get("session.id"),
        "decision_type": a.get("audit_layer.decision_type"),
        "decision_outcome": a.get("audit_layer.decision_outcome"),
        "compliance_tags": [str(t) for t in tags] if isinstance(tags, list | tuple) else
        ([t.strip() for t in str(tags).split(",") if t.strip()] if tags else []),
        "metadata": metadata,
        "sdk_name": "audit-layer-otlp",
    }
    return {k: v for k, v in event.items() if v is not None}


def _richness(span: Span) -> tuple[int, int]:
    inputs, outputs = conversation(span)
    return (len(inputs) + len(outputs), len(span.attributes))


def _provider(span: Span) -> str:
    return str(span.attributes.get("gen_ai.provider.name") or span.attributes.get("gen_ai.system") or "").lower()


def _one_call(a: Span, b: Span) -> bool:
    """Two spans with one response id describe one call when they asked for the same model and cover the same
    time: one wraps the other, so they share at least half of the shorter one. Calls made one after the other
    only touch at an end (a span may end a moment after the application started its next call), and must
    stay two calls even where the server repeats response ids (a gateway, a local model server)."""
    model_a, model_b = a.attributes.get("gen_ai.request.model"), b.attributes.get("gen_ai.request.model")
    if model_a is not None and model_b is not None and model_a != model_b:
        return False
    shared = min(a.end_ns, b.end_ns) - max(a.start_ns, b.start_ns)
    return shared >= 0 and 2 * shared >= min(a.end_ns - a.start_ns, b.end_ns - b.start_ns)


def genai_events(spans: Iterable[Span]) -> tuple[list[dict[str, Any]], int]:
    """(events of the GenAI spans, how many other spans were ignored). Two spans of one provider call (a client
    library's own span beside an instrumentation's, e.g. the anthropic SDK's and OpenLLMetry's, often in two
    traces) have the same response id from the same provider and cover the same time (`_one_call`): of those in
    the request, the one that carries the most (messages first) is the call's event; the others are ignored.
    Found through an index of response ids, so a batch of 512 spans costs 512 lookups, not 512² comparisons."""
    genai: list[Span] = []
    by_response: dict[tuple[str, str], list[int]] = {}
    ignored = 0
    for span in spans:
        if not is_genai(span):
            ignored += 1
            continue
        response = span.attributes.get("gen_ai.response.id")
        if response is None:
            genai.append(span)
            continue
        key = (str(response), _provider(span))
        kept = by_response.setdefault(key, [])
        twin = next((i for i in kept if _one_call(genai[i], span)), None)
        if twin is None:
            kept.append(len(genai))
            genai.append(span)
        else:
            ignored += 1
            if _richness(span) > _richness(genai[twin]):
                genai[twin] = span
    return [to_event(span) for span in genai], ignored
