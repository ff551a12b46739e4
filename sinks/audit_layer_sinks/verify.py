"""Recomputes every tenant's hash chain from the stored rows and names the first bad link.

The pure part (`ChainVerifier`) checks rows in (tenant, seq) order; `verify_store` streams
them out of ClickHouse.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from audit_layer_schemas.chain import GENESIS_HASH, LinkEncoder

from audit_layer_sinks.rows import SELECT_COLUMNS, chain_fields_from_row
from audit_layer_sinks.store import ClickHouseStore


@dataclass(frozen=True)
class Finding:
    tenant_id: str
    seq: int
    problem: str  # stable code: hash_mismatch, prev_hash_mismatch, seq_gap, duplicate_seq, ...
    detail: str


@dataclass
class TenantResult:
    tenant_id: str
    links: int = 0
    last_seq: int = 0
    head: bytes = GENESIS_HASH
    first_finding: Finding | None = None


@dataclass
class VerifyReport:
    tenants: dict[str, TenantResult] = field(default_factory=dict)

    @property
    def findings(self) -> list[Finding]:
        return [t.first_finding for t in self.tenants.values() if t.first_finding is not None]

    @property
    def ok(self) -> bool:
        return not self.findings

    @property
    def links(self) -> int:
        return sum(t.links for t in self.tenants.values())


class ChainVerifier:
    def __init__(self) -> None:
        self._encoders: dict[str, LinkEncoder] = {}
        self.report = VerifyReport()

    def _encoder(self, link_schema: str) -> LinkEncoder | None:
        """The encoder for the EnrichedEvent version a link was hashed with (one version so far)."""
        encoder = self._encoders.get(link_schema)
        if encoder is None:
            current = LinkEncoder()
            if current.schema_hex != link_schema:
                return None
            encoder = self._encoders[link_schema] = current
        return encoder

    def add(self, tenant: str, seq: int, prev_hash: bytes, digest: bytes, link_schema: str,
            enriched: dict[str, Any]) -> None:
        result = self.report.tenants.get(tenant)
        if result is None:
            result = self.report.tenants[tenant] = TenantResult(tenant)
        if result.first_finding is not None:
            return  # a broken chain is reported at its first bad link
        result.links += 1

        def fail(problem: str, detail: str) -> None:
            result.first_finding = Finding(tenant, seq, problem, detail)

        expected_seq = result.last_seq + 1
        if seq == result.last_seq:
            return fail("duplicate_seq", f"seq {seq} is stored twice")
        if seq != expected_seq:
            return fail("seq_gap", f"expected seq {expected_seq}, found {seq} (rows missing or inserted)")
        if prev_hash != result.head:
            return fail("prev_hash_mismatch", "prev_hash is not the hash of the previous link "
                        "(a row before it was changed, removed or reordered)")
        encoder = self._encoder(link_schema)
        if encoder is None:
            return fail("unknown_link_schema", f"link schema {link_schema} is not known to this verifier")
        recomputed = encoder.link_hash(prev_hash, enriched, seq)
        if recomputed != digest:
            return fail("hash_mismatch", "the stored fields do not hash to the stored hash "
                        "(this row was altered)")
        result.last_seq, result.head = seq, digest

    def add_rows(self, rows: Iterable[tuple[Any, ...]]) -> None:
        for row in rows:
            self.add(*chain_fields_from_row(row))


def verify_store(store: ClickHouseStore, tenant: str | None = None,
                 progress: Callable[[int], None] | None = None) -> VerifyReport:
    verifier = ChainVerifier()
    where = "WHERE tenant_id = {tenant:String}" if tenant else ""
    sql = (f"SELECT {', '.join(SELECT_COLUMNS)} FROM {store.database}.events FINAL {where} "
           "ORDER BY tenant_id, seq")
    with store.locked() as client, client.query_row_block_stream(
        sql, parameters={"tenant": tenant} if tenant else None
    ) as stream:
        for block in stream:
            verifier.add_rows(block)
            if progress is not None:
                progress(len(block))
    return verifier.report


__all__ = ["ChainVerifier", "Finding", "VerifyReport", "verify_store"]
