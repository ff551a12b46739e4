"""Audit context for a block of code: tenant, user, session, trace and span ids.

    with audit_context(user_id="u-1", session_id="loan-42"):
        client.chat.completions.create(...)      # recorded with that user and session

Precedence: the call's own keyword arguments, then the innermost `audit_context`, then the
client's arguments, then AUDIT_LAYER_ORG_ID. Trace and span ids come from the current
OpenTelemetry span when OpenTelemetry is installed and a span is active.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, fields, replace


@dataclass(frozen=True)
class AuditContext:
    tenant_id: str | None = None
    user_id: str | None = None
    session_id: str | None = None
    trace_id: str | None = None
    span_id: str | None = None


_current: ContextVar[AuditContext] = ContextVar(
    "audit_layer_context", default=AuditContext()  # noqa: B039 - frozen, so safe to share
)


@contextmanager
def audit_context(**values: str | None) -> Iterator[AuditContext]:
    known = {f.name for f in fields(AuditContext)}
    unknown = set(values) - known
    if unknown:
        raise TypeError(f"audit_context() takes {sorted(known)}, not {sorted(unknown)}")
    merged = replace(_current.get(), **{k: v for k, v in values.items() if v is not None})
    token = _current.set(merged)
    try:
        yield merged
    finally:
        _current.reset(token)


def current_context() -> AuditContext:
    return _current.get()


try:
    from opentelemetry import trace as _otel_trace
except ImportError:  # OpenTelemetry is optional
    _otel_trace = None  # type: ignore[assignment]


def otel_ids() -> tuple[str, str] | None:
    """(trace id, span id) of the active OpenTelemetry span, as W3C hex, or None."""
    if _otel_trace is None:
        return None
    span_context = _otel_trace.get_current_span().get_span_context()
    if not span_context.is_valid:
        return None
    return format(span_context.trace_id, "032x"), format(span_context.span_id, "016x")
