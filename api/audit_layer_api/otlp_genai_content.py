"""GenAI message content sent as OTLP log records, turned into content events (pure: no HTTP, no Kafka).

Some instrumentations keep the prompt and the answer off the span: the official openai-v2 one, in its
default form, emits them as log records (`gen_ai.system.message`, `gen_ai.user.message`, `gen_ai.choice`,
...; or one `gen_ai.client.inference.operation.details` record), each carrying the ids of the call's span.
Spans and log records leave the application in separate exports, in either order and at different times, so
the content cannot be folded into the call's event without holding one of them back. Instead, the records of
one span in one export become a **content event** of their own in the tenant's chain: `decision_type =
call_content`, the call's trace and span ids, and in its metadata the id of the call's event (which the span
makes, see otlp_genai.event_id). The console shows the content with the call; both are chained and verified.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from audit_layer_sdk.outcomes import finish_reason_action

from audit_layer_api.otlp_genai import SPAN_IDS, Span, conversation, event_id, finish_reasons

CONTENT_DECISION = "call_content"
CONTENT_OF_KEY = "content_of_event_id"
CONTENT_EVENTS = frozenset({"gen_ai.system.message", "gen_ai.user.message", "gen_ai.assistant.message",
                            "gen_ai.tool.message", "gen_ai.choice", "gen_ai.client.inference.operation.details"})


@dataclass(frozen=True)
class LogRecord:
    """What the mapping reads of one OTLP log record (ids as hex, empty outside a span; body as a Python value)."""

    trace_id: str
    span_id: str
    event_name: str
    time_ns: int
    attributes: Mapping[str, Any]
    body: Any = None
    resource: Mapping[str, Any] = field(default_factory=dict)


def is_genai_content(record: LogRecord) -> bool:
    return record.event_name in CONTENT_EVENTS


def _as_event_attributes(record: LogRecord) -> dict[str, Any]:
    """The record as the span-event form otlp_genai reads: the body's fields (content, message, finish_reason)
    beside the attributes, as the older per-message span events had them."""
    body = record.body if isinstance(record.body, Mapping) else {"content": record.body} if record.body else {}
    return {**record.attributes, **body}


def _digest(records: list[LogRecord]) -> str:
    """A digest of the records themselves: an exporter's retry of the same export makes the same event id (and
    is dropped as a repeat), while records of one span split over two exports make two events."""
    canonical = [[r.event_name, r.time_ns, _as_event_attributes(r)] for r in records]
    return hashlib.sha256(json.dumps(canonical, sort_keys=True, default=str).encode()).hexdigest()


def content_event(records: list[LogRecord]) -> dict[str, Any]:
    """The REST ingest's event fields (schemas.IngestEvent) for the content records of one span."""
    first = records[0]
    times = [r.time_ns for r in records if r.time_ns]
    pseudo = Span(first.trace_id, first.span_id, "", min(times, default=0), max(times, default=0), 0, "", {},
                  tuple((r.event_name, r.time_ns, _as_event_attributes(r)) for r in records), first.resource)
    inputs, outputs = conversation(pseudo)
    reasons = finish_reasons(pseudo, outputs)
    action, codes = finish_reason_action(reasons[0] if reasons else None)
    attributes = {k: v for r in records for k, v in r.attributes.items()}
    in_span = bool(first.trace_id and first.span_id)
    metadata = {"otlp.source": "logs", "otlp.log_records": str(len(records))}
    if in_span:
        metadata[CONTENT_OF_KEY] = event_id(pseudo)
    else:  # kept all the same: content is never dropped because it cannot be placed
        metadata["otlp.span"] = "none: the log records carry no trace and span ids"
    for key in ("service.name", "deployment.environment.name", "deployment.environment", "service.version"):
        if key in first.resource:
            metadata[f"resource.{key}"] = str(first.resource[key])
    ids = f"{first.trace_id}:{first.span_id}:logs:{_digest(records)}"
    event: dict[str, Any] = {
        "event_id": str(uuid.uuid5(SPAN_IDS, ids)),
        "timestamp_us": pseudo.start_ns // 1000 if pseudo.start_ns else None,
        "trace_id": first.trace_id or None, "span_id": first.span_id or None,
        "provider": attributes.get("gen_ai.provider.name") or attributes.get("gen_ai.system"),
        # not the call's operation: a content event is a record about a call, not a second call
        "operation": "content",
        "model": attributes.get("gen_ai.request.model"),
        "prompt": json.dumps(inputs, ensure_ascii=False) if inputs else None,
        "response": "\n".join(o["content"] for o in outputs if o.get("content")) if outputs else None,
        "finish_reason": reasons[0] if reasons else None,
        "action": action.value, "reason_codes": codes,
        "decision_type": CONTENT_DECISION,
        "metadata": metadata,
        "sdk_name": "audit-layer-otlp",
    }
    return {k: v for k, v in event.items() if v is not None}


def content_events(records: Iterable[LogRecord]) -> tuple[list[dict[str, Any]], int]:
    """(a content event per span whose GenAI content records are in the export, how many other log records
    were ignored). Records keep the order they were sent in: the conversation's order."""
    by_span: dict[tuple[str, str], list[LogRecord]] = {}
    ignored = 0
    for record in records:
        if is_genai_content(record):
            by_span.setdefault((record.trace_id, record.span_id), []).append(record)
        else:
            ignored += 1
    return [content_event(group) for group in by_span.values()], ignored
