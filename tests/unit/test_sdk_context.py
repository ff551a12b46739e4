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


class _Configured:
    def __init__(self, capture: str) -> None:
        from audit_layer_sdk import AuditConfig

        self.config = AuditConfig(capture=capture, spool_dir=None)


def test_capture_modes() -> None:
    from audit_layer_schemas import sha256_hex

    def build(mode: str):  # type: ignore[no-untyped-def]
        collector = AuditCollector(_Configured(mode), tenant_id="t")  # type: ignore[arg-type]
        collector.set_input("mail jane@example.com please")
        collector.set_output("done")
        return collector.build()

    full = build("full")
    assert full.prompt == "mail jane@example.com please"
    assert full.prompt_sha256 == sha256_hex(full.prompt, full.content_salt)
    hashed = build("hashes_only")
    assert hashed.prompt is None and hashed.response is None and hashed.prompt_sha256 is not None
    redacted = build("redacted")
    assert redacted.prompt == "mail [EMAIL] please"
    assert redacted.prompt_sha256 == sha256_hex("mail [EMAIL] please", redacted.content_salt)


def test_wrong_settings_fail_at_start_naming_the_variable() -> None:
    from audit_layer_sdk import AuditConfig, AuditConfigError

    with pytest.raises(AuditConfigError, match="AUDIT_LAYER_CAPTURE"):
        AuditConfig.from_env({"AUDIT_LAYER_CAPTURE": "everything"})
    with pytest.raises(AuditConfigError, match="AUDIT_LAYER_SPOOL_MAX_RECORDS"):
        AuditConfig.from_env({"AUDIT_LAYER_SPOOL_MAX_RECORDS": "-1"})
    config = AuditConfig.from_env({"AUDIT_LAYER_ORG_ID": "acme", "AUDIT_LAYER_BOOTSTRAP_SERVERS": "h:1",
                                   "AUDIT_LAYER_TOPIC_PREFIX": "p.", "AUDIT_LAYER_CAPTURE": "hashes_only"})
    assert (config.tenant_id, config.bootstrap_servers, config.topic, config.capture) == (
        "acme", "h:1", "p.audit.events", "hashes_only")
