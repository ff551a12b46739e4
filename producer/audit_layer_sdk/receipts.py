"""The receipt vocabulary of the integration guide (`ReceiptStore`, `ReceiptCollector`): the same SDK
under the names its snippets use.

    init_audit_config(AuditConfig.from_env())
    store = ReceiptStore()
    collector = ReceiptCollector(trace_id=..., tenant_id="acme")
    collector.set_input(prompt_text)
    collector.set_output(response_text)
    collector.set_action("allow")
    collector.emit(store)
    collector.cleanup()
"""

from __future__ import annotations

from typing import Any

from audit_layer_sdk.collector import AuditCollector
from audit_layer_sdk.config import AuditConfig
from audit_layer_sdk.destinations import Publisher, publisher_for
from audit_layer_sdk.http_publisher import HttpPublisher
from audit_layer_sdk.publisher import AuditPublisher


def ReceiptStore(config: AuditConfig | None = None) -> AuditPublisher | HttpPublisher:
    """Where receipts go: the configured destination (`init_audit_config`, else the environment): Kafka, or
    the REST API when an API key is configured and no Kafka bootstrap is; with the publisher's guarantees
    (never raises into the caller, a durable spool while the destination is unreachable)."""
    return publisher_for(config)


class ReceiptCollector(AuditCollector):
    """One receipt built step by step; `emit(store)` hands it over, `cleanup()` lets go of what it captured."""

    def __init__(self, *, tenant_id: str, trace_id: str | None = None, session_id: str | None = None,
                 user_id: str | None = None, store: Publisher | None = None, **fields: Any) -> None:
        super().__init__(store, tenant_id=tenant_id, user_id=user_id, session_id=session_id, trace_id=trace_id,
                         **fields)

    def emit(self, store: Publisher | None = None) -> bool:  # type: ignore[override]
        if store is not None:
            self._publisher = store
        return super().emit()

    def cleanup(self) -> None:
        """A receipt begun is a call made: one not emitted yet is emitted now, flagged. What it captured is
        released when the receipt has been built (the builder thread still reads it until then)."""
        if not self._emitted:
            self.fields["reason_codes"] = [*self.fields.get("reason_codes", []), "emitted_at_cleanup"]
            self.emit()
