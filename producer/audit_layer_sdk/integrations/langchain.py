"""The LangChain callback handler: one receipt per LLM or chat-model call."""

from audit_layer_sdk.langchain_handler import AuditCallbackHandler

__all__ = ["AuditCallbackHandler"]
