"""Administrative actions (keys, holds, erasure) recorded as audit events in the tenant's own chain."""

from __future__ import annotations

import argparse
from typing import Any

from rich.console import Console

from audit_layer_cli.common import (
    UserError,
    topics_of,
)


def record_admin_event(publisher: Any, tenant_id: str, by: str, *, operation: str, decision_type: str,
                       outcome: str, reason: str, reason_code: str, metadata: dict[str, Any]) -> None:
    """An operator's action on a tenant's records (erasure, legal hold) is itself an audit event in
    the tenant's chain: who did what to whose records, and why."""
    from audit_layer_sdk import AuditCollector

    collector = AuditCollector(publisher, tenant_id=tenant_id, user_id=by, operation=operation,
                               sdk_name="audit-layer-cli")
    collector.set_decision(decision_type, outcome=outcome, reasoning=reason, metadata=metadata)
    collector.set_action("ALLOW", [reason_code])
    collector.emit()


def sdk_config(args: argparse.Namespace) -> Any:
    """The SDK's settings from the environment (its spool folder included), aimed at this command's broker."""
    import dataclasses

    from audit_layer_sdk import AuditConfig

    return dataclasses.replace(AuditConfig.from_env(), bootstrap_servers=args.bootstrap_servers,
                               topic=topics_of(args).events)


def require_recorded(recorded: bool) -> None:
    if not recorded:
        raise UserError("check the broker (`make kafka` starts the local one) and record the action again")


def publish_admin_event(args: argparse.Namespace, what_happened: str, **event: Any) -> bool:
    """True when Kafka acknowledged the event; False (with the reason printed) when it did not."""
    from audit_layer_sdk import AuditPublisher

    publisher = AuditPublisher(sdk_config(args))
    record_admin_event(publisher, **event)
    if publisher.flush(30) != 0:
        Console(stderr=True).print(f"[red]{what_happened}, but its audit event was not acknowledged by Kafka[/]")
        return False
    return True
