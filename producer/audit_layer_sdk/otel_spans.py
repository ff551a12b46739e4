"""Audited calls as OpenTelemetry spans too (optional, off by default: `AUDIT_LAYER_OTEL_SPANS=1` or
`AuditConfig(otel_spans=True)`), so a team sees them in its tracing backend beside the rest of the request.

The span is a child of the application's current span, timed as the call, with the GenAI semantic
conventions' attributes and `audit_layer.event_id`, the id of the audit record, to go from a trace to its
record. It never carries the prompt or the answer: those stay in the audit trail, whose access is recorded,
and out of a tracing backend's wider audience. Audit Layer's own OTLP ingest ignores spans that carry
`audit_layer.event_id` (already recorded), so sending traces to it as well does not record a call twice.
"""

from __future__ import annotations

from typing import Any

from audit_layer_schemas import Action

EVENT_ID_ATTRIBUTE = "audit_layer.event_id"

try:
    from opentelemetry import trace as _trace
    from opentelemetry.trace import SpanKind, Status, StatusCode
except ImportError:  # OpenTelemetry is optional
    _trace = None  # type: ignore[assignment]


def available() -> bool:
    return _trace is not None


def _attributes(fields: dict[str, Any], event_id: str) -> dict[str, Any]:
    action = fields.get("action")
    pairs = {
        "gen_ai.operation.name": fields.get("operation") or "chat",
        "gen_ai.provider.name": fields.get("provider"),
        "gen_ai.request.model": fields.get("model"),
        "gen_ai.response.model": fields.get("response_model"),
        "gen_ai.usage.input_tokens": fields.get("input_tokens"),
        "gen_ai.usage.output_tokens": fields.get("output_tokens"),
        "gen_ai.response.finish_reasons": [fields["finish_reason"]] if fields.get("finish_reason") else None,
        "error.type": fields.get("error_type"),
        EVENT_ID_ATTRIBUTE: event_id,
        "audit_layer.action": action.value if isinstance(action, Action) else action,
        "audit_layer.decision_type": fields.get("decision_type"),
        "audit_layer.decision_outcome": fields.get("decision_outcome"),
    }
    return {k: v if isinstance(v, int | float | bool | list) else str(v) for k, v in pairs.items() if v is not None}


def emit_span(fields: dict[str, Any], event_id: str, start_ns: int, end_ns: int) -> None:
    """One span for the audited call, in the current context (the application's trace)."""
    if _trace is None:
        return
    attributes = _attributes(fields, event_id)
    name = f"{attributes['gen_ai.operation.name']} {attributes.get('gen_ai.request.model', '')}".strip()
    span = _trace.get_tracer("audit_layer_sdk").start_span(name, kind=SpanKind.CLIENT, start_time=start_ns,
                                                           attributes=attributes)
    if fields.get("error_type") or fields.get("action") == Action.FAIL_RETRY:
        span.set_status(Status(StatusCode.ERROR, str(fields.get("error_type") or "FAIL_RETRY")))
    span.end(end_time=end_ns)
