"""The blocking reads behind the routes and the console (run off the event loop by ApiContext.backend):
a page of search results, one record with its proof, the chain's verification."""

from __future__ import annotations

import datetime as dt
from typing import Any

from audit_layer_governance.reports import decision_audit
from audit_layer_governance.reports.compliance_summary import record_verification
from audit_layer_governance.verification import verify_all
from audit_layer_ledger.proofs import ProofError, build_proof
from audit_layer_schemas import AuditEvent
from audit_layer_store.rows import SELECT_COLUMNS, chain_fields_from_row
from audit_layer_store.store import ClickHouseStore

from audit_layer_api.schemas import ChainPosition, Enrichment, Finding, LogSummary, RecordResponse, VerifyResult
from audit_layer_api.search import SUMMARY_NAMES, Filters, encode_cursor, unique_by_seq


def search_page(store: ClickHouseStore, query: tuple[str, dict[str, object]], filters: Filters, limit: int,
                settings: dict[str, Any]) -> tuple[list[LogSummary], str | None]:
    """One page of `query` (search.search_sql), newest first, and the cursor of the next (None on the last)."""
    sql, params = query
    result = store.query(sql, params, settings)
    rows = [dict(zip(SUMMARY_NAMES, r, strict=True)) for r in result.result_rows]
    page, more = unique_by_seq(rows)[:limit], len(rows) > limit
    return [LogSummary(**r) for r in page], encode_cursor(page[-1]["seq"], filters) if more else None


def load_record(store: ClickHouseStore, public_keys: dict[str, bytes], tenant: str, event_id: str) -> RecordResponse:
    row = decision_audit.lookup(store, event_id, tenant)
    _, seq, prev_hash, digest, link_schema, enriched = chain_fields_from_row(row["_row"][:len(SELECT_COLUMNS)])
    try:
        proof: dict[str, Any] | None = build_proof(store, event_id, public_keys, tenant)
        status = "included"
    except ProofError as exc:
        proof, status = None, str(exc)
    return RecordResponse(
        event=AuditEvent(**enriched["event"]),
        enrichment=Enrichment(**{k: enriched[k] for k in Enrichment.model_fields if k in enriched},
                              retention_days=int(row["retention_days"]), legal_hold=bool(row["legal_hold"])),
        chain=ChainPosition(seq=seq, prev_hash=prev_hash.hex(), hash=digest.hex(), link_schema=link_schema),
        proof=proof, proof_status=status)


def latest_verification(store: ClickHouseStore, tenant: str) -> VerifyResult:
    rows = store.query(
        f"SELECT verified_at, ok, links, last_seq, checkpoints_verified, head_hash, finding FROM "
        f"{store.database}.verifications WHERE tenant_id = {{t:String}} ORDER BY verified_at DESC "
        "LIMIT 1", parameters={"t": tenant}).result_rows
    if not rows:
        return VerifyResult(tenant_id=tenant, status="never_verified", verified_at=None, links=0, last_seq=0,
                            checkpoints_verified=0, head_hash=None, finding=None)
    at, ok, links, last, cps, head, finding = rows[0]
    return VerifyResult(tenant_id=tenant, status="verified" if ok else "failed", verified_at=at, links=links,
                        last_seq=last, checkpoints_verified=cps, head_hash=bytes(head).hex(), finding=finding)


def verify_now(store: ClickHouseStore, public_keys: dict[str, bytes], tenant: str) -> VerifyResult:
    report = verify_all(store, tenant, public_keys=public_keys)
    record_verification(store, report)
    result = report.tenants.get(tenant)
    if result is None:
        return VerifyResult(tenant_id=tenant, status="empty", verified_at=dt.datetime.now(dt.UTC), links=0,
                            last_seq=0, checkpoints_verified=0, head_hash=None, finding=None)
    found = report.findings  # the chain walk's and every other check's
    f = found[0] if found else None
    return VerifyResult(tenant_id=tenant, status="verified" if f is None else "failed",
                        verified_at=dt.datetime.now(dt.UTC), links=result.links, last_seq=result.last_seq,
                        checkpoints_verified=result.checkpoints_verified, head_hash=result.head.hex(),
                        finding=None if f is None else Finding(seq=f.seq, problem=f.problem, detail=f.detail))
