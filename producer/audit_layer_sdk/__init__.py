"""The Audit Layer SDK: record AI calls and decisions as audit events on Kafka.

Imports only what the SDK needs (confluent-kafka, fastavro, pydantic); the OpenAI wrapper
is imported lazily so applications without `openai` can use the collector.
"""

from typing import Any

from audit_layer_schemas import Action

from audit_layer_sdk.collector import AuditCollector
from audit_layer_sdk.config import AuditConfig, AuditConfigError, init_audit_config
from audit_layer_sdk.context import audit_context
from audit_layer_sdk.destinations import Publisher, default_publisher, publisher_for
from audit_layer_sdk.http_publisher import HttpPublisher
from audit_layer_sdk.memory_publisher import MemoryPublisher
from audit_layer_sdk.publisher import AuditPublisher
from audit_layer_sdk.receipts import ReceiptCollector, ReceiptStore

__all__ = [
    "Action",
    "AuditAnthropic",
    "AuditAsyncAnthropic",
    "AuditAsyncOpenAI",
    "AuditCallbackHandler",
    "AuditCollector",
    "AuditConfig",
    "AuditConfigError",
    "AuditMiddleware",
    "AuditOpenAI",
    "AuditPublisher",
    "HttpPublisher",
    "MemoryPublisher",
    "Publisher",
    "ReceiptCollector",
    "ReceiptStore",
    "audit_context",
    "default_publisher",
    "emit_chat_completion_receipt",
    "init_audit_config",
    "publisher_for",
]


def __getattr__(name: str) -> Any:
    if name in ("AuditOpenAI", "AuditAsyncOpenAI", "emit_chat_completion_receipt"):
        from audit_layer_sdk import openai_wrapper

        return getattr(openai_wrapper, name)
    if name in ("AuditAnthropic", "AuditAsyncAnthropic"):
        from audit_layer_sdk import anthropic_wrapper

        return getattr(anthropic_wrapper, name)
    if name == "AuditCallbackHandler":
        from audit_layer_sdk.langchain_handler import AuditCallbackHandler

        return AuditCallbackHandler
    if name == "AuditMiddleware":
        from audit_layer_sdk.fastapi_middleware import AuditMiddleware

        return AuditMiddleware
    raise AttributeError(name)
