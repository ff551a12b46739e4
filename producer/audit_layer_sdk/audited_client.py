"""What every audited client, handler and middleware shares: whose calls these are (tenant, user, session,
overridable per call and by `audit_context`) and where their receipts go. No optional package here."""

from __future__ import annotations

import os
from typing import Any

from audit_layer_sdk.collector import AuditCollector
from audit_layer_sdk.config import AuditConfigError
from audit_layer_sdk.context import current_context
from audit_layer_sdk.publisher import AuditPublisher


class AuditedClient:
    """Audit context of a wrapped client: tenant, user and session, overridable per call."""

    _provider = "openai"

    def __init__(self, client: Any, tenant_id: str | None, user_id: str | None, session_id: str | None,
                 publisher: AuditPublisher | None) -> None:
        tenant = tenant_id or os.environ.get("AUDIT_LAYER_ORG_ID")
        if not tenant:
            raise AuditConfigError(f"{type(self).__name__} needs tenant_id=... or AUDIT_LAYER_ORG_ID in the "
                                   "environment")
        self._client = client
        self._tenant_id = tenant
        self._user_id = user_id
        self._session_id = session_id
        self._publisher = publisher

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)

    def _collector(self, audit: dict[str, Any]) -> AuditCollector:
        # the call's own arguments win; the collector fills the rest from audit_context, then the client's
        context = current_context()
        return AuditCollector(self._publisher, tenant_id=self._tenant_id,
                              user_id=audit.get("user_id") or context.user_id or self._user_id,
                              session_id=audit.get("session_id") or context.session_id or self._session_id,
                              provider=self._provider, operation="chat")
