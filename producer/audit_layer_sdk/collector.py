"""The generic collector: describe one AI call or decision step by step, then emit it.

    with AuditCollector(publisher, tenant_id="acme", user_id="u-1") as audit:
        audit.set_input("Approve loan 42?", model="gpt-4o", provider="openai")
        answer = my_model(...)
        audit.set_output(answer, finish_reason="stop", input_tokens=12, output_tokens=40)
        audit.set_action(Action.ALLOW)
        audit.set_decision("loan_underwriting", outcome="approved", confidence=0.91)

Nothing here raises into the caller: a bad value is logged and counted, the event still goes
out with what was valid, or (if nothing valid remains) is counted as an error.

The caller's thread only captures (references, shallow copies, clocks, context); JSON, digests,
validation and Avro happen in `build()`, which the publisher runs on its builder thread.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Iterable, Mapping
from types import TracebackType
from typing import Any

from audit_layer_schemas import Action, AuditEvent, sha256_hex
from audit_layer_schemas.ids import uuid7
from audit_layer_schemas.models import MAX_ID_CHARS
from audit_layer_schemas.pii import detect, mask
from pydantic import ValidationError

from audit_layer_sdk._log import log
from audit_layer_sdk.context import current_context, otel_ids
from audit_layer_sdk.destinations import Publisher, default_publisher
from audit_layer_sdk.otel_spans import emit_span
from audit_layer_sdk.salvage import (
    TEXT_FIELDS,
    Flags,
    action_of,
    as_text,
    cut_text,
    fit_ids,
    fit_map,
    move_invalid,
    safe_json,
)
from audit_layer_sdk.usage import COST, Usage
from audit_layer_sdk.version import SDK_NAME, SDK_VERSION


def prompt_json(value: Any) -> str:
    """Structured content as text, the same in every wrapper and in the TypeScript SDK."""
    return json.dumps(value, ensure_ascii=False, sort_keys=True, default=str)


class _Deferred:
    """A field made at build time from what was captured at call time (flagging what it could not keep)."""

    __slots__ = ("make", "value")

    def __init__(self, make: Callable[[Any, Flags], Any], value: Any) -> None:
        self.make = make
        self.value = value


def _compact_json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, sort_keys=True, default=str, separators=(",", ":"))


def json_values(values: Mapping[str, Any] | None, flags: Flags | None = None) -> dict[str, str]:
    """Avro maps hold strings: every value is stored JSON-encoded, so types survive (a value JSON cannot
    write is stored as a bounded repr, flagged)."""
    if not values:
        return {}
    flags = flags if flags is not None else Flags()
    return {str(k): safe_json(v, flags, f"metadata.{k}", _compact_json) for k, v in values.items()}


def _prompt_of(value: Any, flags: Flags) -> str:
    return safe_json(value, flags, "prompt", prompt_json)


class AuditCollector:
    def __init__(
        self,
        publisher: Publisher | None = None,
        *,
        tenant_id: str,
        user_id: str | None = None,
        session_id: str | None = None,
        trace_id: str | None = None,
        span_id: str | None = None,
        provider: str | None = None,
        operation: str | None = None,
        sdk_name: str = SDK_NAME,
    ) -> None:
        self._publisher = publisher
        context = current_context()
        ids = otel_ids() if trace_id is None and context.trace_id is None else None
        tenant_id = context.tenant_id or tenant_id
        user_id = user_id or context.user_id
        session_id = session_id or context.session_id
        trace_id = trace_id or context.trace_id or (ids[0] if ids else None)
        span_id = span_id or context.span_id or (ids[1] if ids else None)
        self._started_ns = time.time_ns()
        self._perf_start = time.perf_counter()
        self._duration_ms: float | None = None
        self._emitted = False
        self._event_id: str | None = None  # made at emit when a span names it; else when the event is built
        self._usage: Usage | None = None
        self.fields: dict[str, Any] = {
            "tenant_id": tenant_id,
            "user_id": user_id,
            "session_id": session_id,
            "trace_id": trace_id,
            "span_id": span_id,
            "provider": provider,
            "operation": operation,
            "action": Action.ALLOW,
            "reason_codes": [],
            "sdk_name": sdk_name,
            "sdk_version": SDK_VERSION,
        }

    def set_input(
        self,
        prompt: str | None,
        *,
        model: str | None = None,
        provider: str | None = None,
        parameters: Mapping[str, Any] | None = None,
    ) -> AuditCollector:
        self.fields["prompt"] = prompt
        if model is not None:
            self.fields["model"] = model
        if provider is not None:
            self.fields["provider"] = provider
        if parameters:
            self.fields["model_parameters"] = _Deferred(json_values, dict(parameters))
        return self

    def set_input_json(
        self,
        prompt: Any,
        *,
        model: str | None = None,
        provider: str | None = None,
        parameters: Mapping[str, Any] | None = None,
    ) -> AuditCollector:
        """A structured prompt (chat messages, a system prompt...), stored as JSON made at build time.
        Pass a copy of any list the caller may append to later (see `snapshot`)."""
        self.set_input(None, model=model, provider=provider, parameters=parameters)
        self.fields["prompt"] = None if prompt is None else _Deferred(_prompt_of, prompt)
        return self

    def set_output(
        self,
        response: str | None,
        *,
        finish_reason: str | None = None,
        input_tokens: int | None = None,
        output_tokens: int | None = None,
        total_tokens: int | None = None,
        response_model: str | None = None,
        cache_read_input_tokens: int | None = None,
        cache_creation_input_tokens: int | None = None,
        reasoning_output_tokens: int | None = None,
        response_id: str | None = None,
    ) -> AuditCollector:
        """Token counts as OpenTelemetry defines them: cache tokens are part of `input_tokens`,
        reasoning tokens part of `output_tokens`."""
        self._duration_ms = (time.perf_counter() - self._perf_start) * 1000.0
        self._usage = Usage(input_tokens, output_tokens, cache_read_input_tokens, cache_creation_input_tokens,
                            reasoning_output_tokens)
        self.fields["response"] = response
        self.fields["finish_reason"] = finish_reason
        self.fields["input_tokens"] = input_tokens
        self.fields["output_tokens"] = output_tokens
        if total_tokens is None and input_tokens is not None and output_tokens is not None:
            total_tokens = input_tokens + output_tokens
        self.fields["total_tokens"] = total_tokens
        self.fields["response_model"] = response_model
        if response_id:
            self.add_metadata("gen_ai.response.id", str(response_id))
        return self

    def set_action(
        self, action: Action | str, reason_codes: Iterable[str] = (), *, error_type: str | None = None
    ) -> AuditCollector:
        self.fields["action"] = action
        self.fields["reason_codes"] = list(reason_codes)
        if error_type is not None:
            self.fields["error_type"] = error_type
        return self

    def set_decision(
        self,
        decision_type: str | None,
        *,
        outcome: str | None = None,
        confidence: float | None = None,
        reasoning: str | None = None,
        compliance_tags: Iterable[str] | None = None,
        metadata: Mapping[str, Any] | None = None,
    ) -> AuditCollector:
        self.fields["decision_type"] = decision_type
        self.fields["decision_outcome"] = outcome
        self.fields["confidence"] = confidence
        self.fields["reasoning"] = reasoning
        if compliance_tags is not None:
            self.fields["compliance_tags"] = sorted(set(compliance_tags))
        if metadata is not None:
            self.fields["metadata"] = _Deferred(json_values, dict(metadata))
        return self

    def add_metadata(self, key: str, value: Any) -> AuditCollector:
        metadata = self.fields.get("metadata")
        if isinstance(metadata, _Deferred):
            metadata.value[key] = value
        else:
            self.fields["metadata"] = _Deferred(json_values, {**(metadata or {}), key: value})
        return self

    def build(self) -> AuditEvent | None:
        """The event, with what could not be kept whole cut, escaped or moved and flagged (salvage.py); None
        (logged) only when its tenant id is not valid."""
        duration = self._duration_ms
        if duration is None:
            duration = (time.perf_counter() - self._perf_start) * 1000.0
        flags = Flags()
        try:
            self._add_usage_metadata()
        except Exception as exc:  # prices or usage: the event goes without its cost
            log.warning("usage", "audit event without usage metadata: %s", exc)
        for name, value in self.fields.items():
            if isinstance(value, _Deferred):
                self.fields[name] = value.make(value.value, flags)
        salt = os.urandom(16).hex()
        for name in TEXT_FIELDS:
            self.fields[name] = as_text(self.fields.get(name), flags, name)
        cut_text(self.fields, salt, flags)
        fit_ids(self.fields, flags)
        self.fields["action"] = action_of(self.fields.get("action"), flags)
        for name in ("reason_codes", "compliance_tags"):
            if self.fields.get(name) is not None:
                self.fields[name] = [str(v)[:256] for v in self.fields[name]]
        self._apply_capture(salt)
        values = {k: v for k, v in self.fields.items() if v is not None}
        values.update(event_id=self._event_id or str(uuid7()), timestamp_us=self._started_ns // 1000,
                      duration_ms=duration)
        reasons, metadata = list(values.get("reason_codes", [])), fit_map(values.get("metadata"), flags)
        if "model_parameters" in values:
            values["model_parameters"] = fit_map(values["model_parameters"], flags)
        for _attempt in range(3):
            values["reason_codes"] = reasons + [r for r in flags.reasons if r not in reasons]
            values["metadata"] = {**metadata, **flags.metadata}
            try:
                return AuditEvent(**values)
            except ValidationError as exc:
                invalid = sorted({str(e["loc"][0]) for e in exc.errors() if e["loc"]})
                if not move_invalid(values, invalid, flags):
                    first = exc.errors()[0]
                    log.warning("invalid-event", "audit event not emitted: %s: %s",
                                ".".join(map(str, first["loc"])), first["msg"])
                    return None
            except Exception as exc:
                log.warning("build-event", "audit event not emitted: %s", exc)
                return None
        log.warning("invalid-event", "audit event not emitted: fields still invalid after salvage")
        return None

    def _add_usage_metadata(self) -> None:
        if self._usage is None:
            return
        for key, count in self._usage.metadata().items():
            self.add_metadata(key, count)
        config = getattr(self._publisher or default_publisher(), "config", None)
        prices = getattr(config, "prices", None)
        if prices is not None:
            cost = prices.cost(self.fields.get("response_model") or self.fields.get("model"), self._usage)
            if cost is not None:
                self.add_metadata(COST, round(float(cost), 10))

    def _apply_capture(self, salt: str) -> None:
        """Digests of what is sent; in `hashes_only` the text itself stays in the process."""
        config = getattr(self._publisher or default_publisher(), "config", None)
        mode = getattr(config, "capture", "full")
        self._salt = self.fields["content_salt"] = salt
        for text_field in ("prompt", "response"):
            text = self.fields.get(text_field)
            if text is None:
                continue
            if mode == "redacted":
                text = self.fields[text_field] = mask(text, detect(text))
            self.fields[f"{text_field}_sha256"] = sha256_hex(text, self._salt)
            if mode == "hashes_only":
                self.fields[text_field] = None

    def emit(self) -> bool:
        """Hand the event to the publisher once (later calls are no-ops); it is built off this thread."""
        if self._emitted:
            return False
        self._emitted = True
        tenant = self.fields.get("tenant_id")
        if not (isinstance(tenant, str) and 0 < len(tenant) <= MAX_ID_CHARS and tenant == tenant.strip()
                and tenant.isprintable()):
            # the one field nothing can stand in for: say so now rather than accept an event that cannot be built
            log.warning("tenant", "audit event not emitted: tenant_id %r is not a printable id of 1 to %d "
                        "characters", tenant, MAX_ID_CHARS)
            stats = getattr(self._publisher or default_publisher(), "stats", None)
            if stats is not None:  # counted as emitted and in error, as a call that could not be recorded
                stats.add("emitted")
                stats.add("errors")
            return False
        if self._duration_ms is None:
            self._duration_ms = (time.perf_counter() - self._perf_start) * 1000.0
        try:
            publisher = self._publisher or default_publisher()
            if getattr(getattr(publisher, "config", None), "otel_spans", False):
                self._span()
            return publisher.submit(self)
        except Exception as exc:  # the SDK never raises into the application
            log.warning("emit", "audit event not emitted: %s", exc)
            return False

    def _span(self) -> None:
        """The call as a span too; a tracing failure never costs the audit event."""
        self._event_id = str(uuid7())
        try:
            emit_span(self.fields, self._event_id, self._started_ns,
                      self._started_ns + int((self._duration_ms or 0.0) * 1_000_000))
        except Exception as exc:
            log.warning("otel-span", "audit event kept; its OpenTelemetry span not emitted: %s", exc)

    def __enter__(self) -> AuditCollector:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if exc is not None and not self._emitted:
            self.set_action(Action.FAIL_RETRY, ["exception"], error_type=type(exc).__name__)
        self.emit()
