"""The OpenAI client with every chat completion and response recorded, and receipts for completions made
elsewhere."""

from audit_layer_sdk.openai_wrapper import AuditAsyncOpenAI, AuditOpenAI, emit_chat_completion_receipt

AuditedOpenAI = AuditOpenAI
AuditedAsyncOpenAI = AuditAsyncOpenAI

__all__ = ["AuditedAsyncOpenAI", "AuditedOpenAI", "emit_chat_completion_receipt"]
