import pytest
from audit_layer_sdk import AuditCollector, audit_context


def _event(**kwargs):  # type: ignore[no-untyped-def]
    collector = AuditCollector(object(), tenant_id=kwargs.pop("tenant_id", "client-tenant"), **kwargs)  # type: ignore[arg-type]
    collector.set_input("q")
    return collector.build()


def test_context_fills_what_the_call_does_not_say() -> None:
    with audit_context(user_id="u-ctx", session_id="s-ctx", trace_id="a" * 32, span_id="b" * 16):
        event = _event()
        assert (event.user_id, event.session_id, event.trace_id, event.span_id) == ("u-ctx", "s-ctx", "a" * 32,
                                                                                    "b" * 16)
        with audit_context(session_id="s-inner"):
            assert _event().session_id == "s-inner" and _event().user_id == "u-ctx"
        assert _event(user_id="u-call").user_id == "u-call"  # the call's own argument wins
    assert _event().user_id is None


def test_context_can_set_the_tenant() -> None:
    with audit_context(tenant_id="ctx-tenant"):
        assert _event().tenant_id == "ctx-tenant"


def test_opentelemetry_span_ids_are_used() -> None:
    from opentelemetry import trace
    from opentelemetry.trace import NonRecordingSpan, SpanContext, TraceFlags

    span = NonRecordingSpan(SpanContext(trace_id=0x1234, span_id=0x99, is_remote=False,
                                        trace_flags=TraceFlags(1)))
    with trace.use_span(span):
        event = _event()
    assert event.trace_id == f"{0x1234:032x}" and event.span_id == f"{0x99:016x}"


def test_unknown_context_field_is_refused() -> None:
    with pytest.raises(TypeError), audit_context(tenant="x"):
        pass
