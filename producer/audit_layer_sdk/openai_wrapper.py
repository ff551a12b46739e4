"""`AuditOpenAI`: the OpenAI client, with every chat completion recorded as an audit event.

    client = AuditOpenAI(tenant_id="acme", user_id="u-1", session_id="loan-42")
    client.chat.completions.create(model=..., messages=[...], decision_type="loan_underwriting",
                                   decision_outcome="denied", compliance_tags=["FCRA"])

The audit keyword arguments are taken out before the provider sees the request; the
provider's own response object (or exception) reaches the caller unchanged.
"""

from __future__ import annotations

import json
import os
from typing import Any

import openai
from audit_layer_schemas import Action

from audit_layer_sdk._log import log
from audit_layer_sdk.collector import AuditCollector
from audit_layer_sdk.config import AuditConfigError
from audit_layer_sdk.publisher import AuditPublisher

AUDIT_KWARGS = (
    "decision_type",
    "decision_outcome",
    "compliance_tags",
    "metadata",
    "confidence",
    "reasoning",
    "user_id",
    "session_id",
)
REQUEST_PARAMETERS = (
    "temperature",
    "top_p",
    "max_tokens",
    "max_completion_tokens",
    "frequency_penalty",
    "presence_penalty",
    "seed",
    "n",
    "stop",
    "response_format",
    "tool_choice",
)


def finish_reason_action(finish_reason: str | None) -> tuple[Action, list[str]]:
    if finish_reason == "content_filter":
        return Action.REJECT, ["content_filter"]
    if finish_reason == "length":
        return Action.ALLOW, ["truncated_by_length"]
    return Action.ALLOW, []


def _prompt_text(messages: Any) -> str | None:
    if messages is None:
        return None
    try:
        return json.dumps(messages, ensure_ascii=False, sort_keys=True, default=str)
    except Exception:
        return str(messages)


class _AuditedCompletions:
    def __init__(self, inner: Any, owner: AuditOpenAI) -> None:
        self._inner = inner
        self._owner = owner

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    def create(self, **kwargs: Any) -> Any:
        audit = {k: kwargs.pop(k) for k in AUDIT_KWARGS if k in kwargs}
        if kwargs.get("stream"):
            # streamed calls are recorded by the streaming wrapper of the SDK issue; until then
            # the stream passes through untouched rather than being half-recorded
            return self._inner.create(**kwargs)
        collector = self._owner._collector(audit)
        try:
            collector.set_input(
                _prompt_text(kwargs.get("messages")),
                model=kwargs.get("model"),
                parameters={k: kwargs[k] for k in REQUEST_PARAMETERS if k in kwargs},
            )
            collector.set_decision(
                audit.get("decision_type"),
                outcome=audit.get("decision_outcome"),
                confidence=audit.get("confidence"),
                reasoning=audit.get("reasoning"),
                compliance_tags=audit.get("compliance_tags"),
                metadata=audit.get("metadata"),
            )
        except Exception as exc:
            log.warning("openai-input", "audit input not captured: %s", exc)
        try:
            response = self._inner.create(**kwargs)
        except Exception as exc:
            status = getattr(exc, "status_code", None)
            codes = ["provider_error"] + ([f"http_status_{status}"] if status is not None else [])
            collector.set_action(Action.FAIL_RETRY, codes, error_type=type(exc).__name__)
            collector.emit()
            raise
        self._record(collector, response)
        return response

    @staticmethod
    def _record(collector: AuditCollector, response: Any) -> None:
        try:
            choice = response.choices[0] if response.choices else None
            message = choice.message if choice is not None else None
            text = getattr(message, "content", None)
            if text is None and message is not None and getattr(message, "tool_calls", None):
                text = json.dumps([c.model_dump() for c in message.tool_calls], sort_keys=True)
            finish = getattr(choice, "finish_reason", None)
            usage = response.usage
            collector.set_output(
                text,
                finish_reason=finish,
                input_tokens=getattr(usage, "prompt_tokens", None),
                output_tokens=getattr(usage, "completion_tokens", None),
                total_tokens=getattr(usage, "total_tokens", None),
                response_model=getattr(response, "model", None),
            )
            action, codes = finish_reason_action(finish)
            collector.set_action(action, codes)
        except Exception as exc:
            log.warning("openai-output", "audit output not captured: %s", exc)
        collector.emit()


class _AuditedChat:
    def __init__(self, inner: Any, owner: AuditOpenAI) -> None:
        self._inner = inner
        self.completions = _AuditedCompletions(inner.completions, owner)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


class AuditOpenAI:
    """Drop-in for `openai.OpenAI`; attributes other than `chat` pass through to the real client."""

    def __init__(
        self,
        *,
        tenant_id: str | None = None,
        user_id: str | None = None,
        session_id: str | None = None,
        publisher: AuditPublisher | None = None,
        client: openai.OpenAI | None = None,
        **openai_kwargs: Any,
    ) -> None:
        tenant = tenant_id or os.environ.get("AUDIT_LAYER_ORG_ID")
        if not tenant:
            raise AuditConfigError("AuditOpenAI needs tenant_id=... or AUDIT_LAYER_ORG_ID in the environment")
        self._client = client if client is not None else openai.OpenAI(**openai_kwargs)
        self._tenant_id = tenant
        self._user_id = user_id
        self._session_id = session_id
        self._publisher = publisher
        self.chat = _AuditedChat(self._client.chat, self)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)

    def _collector(self, audit: dict[str, Any]) -> AuditCollector:
        return AuditCollector(
            self._publisher,
            tenant_id=self._tenant_id,
            user_id=audit.get("user_id", self._user_id),
            session_id=audit.get("session_id", self._session_id),
            provider="openai",
            operation="chat",
        )
