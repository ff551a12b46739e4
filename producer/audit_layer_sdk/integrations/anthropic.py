"""The Anthropic client with every message recorded."""

from audit_layer_sdk.anthropic_wrapper import AuditAnthropic, AuditAsyncAnthropic

AuditedAnthropic = AuditAnthropic
AuditedAsyncAnthropic = AuditAsyncAnthropic

__all__ = ["AuditedAnthropic", "AuditedAsyncAnthropic"]
