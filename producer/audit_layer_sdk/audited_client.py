"""What every audited client, handler and middleware shares: whose calls these are (tenant, user, session,
overridable per call and by `audit_context`) and where their receipts go. No optional package here."""

from __future__ import annotations

import inspect
import uuid
from collections.abc import Callable
from typing import Any

from audit_layer_sdk.collector import AuditCollector
from audit_layer_sdk.config import AuditConfig, AuditConfigError, configured
from audit_layer_sdk.context import current_context
from audit_layer_sdk.destinations import Publisher, publisher_for


class AuditedClient:
    """Audit context of a wrapped client: tenant, user and session, overridable per call."""

    _provider = "openai"

    def __init__(self, client: Any, tenant_id: str | None, user_id: str | None, session_id: str | None,
                 publisher: Publisher | None, config: AuditConfig | None = None) -> None:
        tenant = tenant_id or (config.tenant_id if config is not None else None) or configured().tenant_id
        if not tenant:
            raise AuditConfigError(f"{type(self).__name__} needs tenant_id=..., a config with org_id=..., or "
                                   "AUDIT_LAYER_ORG_ID in the environment")
        if publisher is None and config is not None and config != configured():
            publisher = publisher_for(config)  # this client's own destination
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


def provider_client(factory: Callable[..., Any], owner: str, own: tuple[str, ...], kwargs: dict[str, Any]) -> Any:
    """The provider's client, made from the keywords the audited client does not take itself; a keyword
    neither takes is refused here, naming both sets (not deep inside the provider's constructor)."""
    try:
        accepted: set[str] | None = set(inspect.signature(factory).parameters)
    except (TypeError, ValueError):
        accepted = None
    unknown = sorted(set(kwargs) - accepted) if accepted is not None else []
    if unknown and accepted is not None:
        raise TypeError(f"{owner}() got unexpected keyword argument(s) {', '.join(unknown)}: its own are "
                        f"{', '.join(own)}; any other keyword goes to {factory.__qualname__}(), which takes "
                        f"{', '.join(sorted(accepted))}")
    return factory(**kwargs)


def session_for(user_id: str | None, session_id: str | None) -> str | None:
    """A client made for one user (the integration guide's `AuditOpenAI("user-1")`) is one session: a session
    id is made when none is given. A shared client (no user) gets none: its calls are not one session."""
    return session_id or (str(uuid.uuid4()) if user_id else None)
