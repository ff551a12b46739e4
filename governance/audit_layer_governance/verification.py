"""The whole verification: the ledger's (chain, stored rows, checkpoints, anchors) and what governs deletion
(legal-hold flags held against the chained hold events). What `verify`, the API and reports run."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from audit_layer_ledger.anchors import Anchor
from audit_layer_ledger.evidence import VerifyReport
from audit_layer_ledger.verify import verify_store
from audit_layer_store.store import ClickHouseStore

from audit_layer_governance.legal_hold import hold_findings
from audit_layer_governance.retention import RetentionPolicy, default_retention, retention_findings


def verify_all(store: ClickHouseStore, tenant: str | None = None, *, public_keys: dict[str, bytes] | None = None,
               anchors: Sequence[Anchor] = (), progress: Callable[[int], None] | None = None,
               retention: RetentionPolicy | None = None, **options: Any) -> VerifyReport:
    """`retention`: the enrichment policy's retention classes the sink keeps rows by (default: the shipped
    policy's)."""
    report = verify_store(store, tenant, progress, public_keys, anchors=anchors, **options)
    report.other_findings.extend(hold_findings(store, tenant))
    report.other_findings.extend(retention_findings(store, tenant, retention or default_retention()))
    return report
