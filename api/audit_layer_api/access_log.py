"""Who read what: every read, search, export and report through the API becomes an audit event
in the reading organisation's own chain (pure: builds the event; the app publishes it).

The reader is the API key (`user_id` = `api-key:<key id>`); the metadata names the endpoint, the
parameters and the ids of the records served, so an auditor can answer "who saw this record".
Refused and empty reads are recorded too: probing is worth knowing about.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping, Sequence

from audit_layer_schemas import AuditEvent
from audit_layer_schemas.ids import uuid7
from audit_layer_schemas.models import Action

from audit_layer_api.api_keys import ApiKey
from audit_layer_api.schemas import API_SDK_NAME, API_VERSION

ACCESS_DECISION = "record_access"
MAX_IDS_RECORDED = 1000


def access_event(key: ApiKey, endpoint: str, *, outcome: str, params: Mapping[str, object],
                 event_ids: Sequence[str] = (), client: str | None = None) -> AuditEvent:
    metadata = {
        "api_key_id": key.key_id,
        "api_key_name": key.name,
        "endpoint": endpoint,
        "params": json.dumps({k: v for k, v in params.items() if v is not None}, sort_keys=True, default=str),
        "records_served": str(len(event_ids)),
    }
    if event_ids:
        metadata["event_ids"] = ",".join(event_ids[:MAX_IDS_RECORDED])
    if client:
        metadata["client_address"] = client
    return AuditEvent(
        event_id=str(uuid7()), timestamp_us=time.time_ns() // 1000, tenant_id=key.tenant_id,
        user_id=f"api-key:{key.key_id}", provider="audit-layer-api", operation=endpoint,
        action=Action.REJECT if outcome == "denied" else Action.ALLOW, reason_codes=[f"api_{outcome}"],
        decision_type=ACCESS_DECISION, decision_outcome=outcome, metadata=metadata,
        sdk_name=API_SDK_NAME, sdk_version=API_VERSION,
    )
