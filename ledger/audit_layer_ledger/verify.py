"""Recomputes every tenant's hash chain from the stored rows and names the first bad link.

The pure part (`ChainVerifier`) checks rows in (tenant, seq) order; `verify_store` streams
them out of ClickHouse.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from audit_layer_schemas import sha256_hex
from audit_layer_schemas.chain import LinkEncoder
from audit_layer_schemas.merkle import leaf_hash
from audit_layer_store.rows import CHECKPOINT_SELECT, INSERT_COLUMNS, SELECT_COLUMNS, chain_fields_from_row
from audit_layer_store.store import ClickHouseStore
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from audit_layer_ledger.anchors import Anchor, anchor_findings, checkpoint_forks, note_signed_by, trusted
from audit_layer_ledger.evidence import AnchorSummary, Finding, StoredCheckpoint, TenantResult, VerifyReport
from audit_layer_ledger.sql_links import content_ok_sql, create_functions, link_hash_sql


class ChainVerifier:
    """Checks links in (tenant, seq) order, and each tenant's checkpoints as its chain passes them."""

    def __init__(self, checkpoints: Iterable[StoredCheckpoint] = (),
                 public_keys: dict[str, bytes] | None = None) -> None:
        self._encoders: dict[str, LinkEncoder] = {}
        self.report = VerifyReport()
        self._keys = public_keys or {}
        # every distinct checkpoint of a size is checked against the chain: two of one size (a fork, or a
        # forged row beside the real one) are never collapsed into whichever one a read returns first
        self._pending: dict[str, dict[int, list[StoredCheckpoint]]] = {}
        for cp in checkpoints:
            at = self._pending.setdefault(cp.tenant_id, {}).setdefault(cp.last_seq, [])
            if cp not in at:
                at.append(cp)

    def _result(self, tenant: str) -> TenantResult:
        result = self.report.tenants.get(tenant)
        if result is None:
            result = self.report.tenants[tenant] = TenantResult(tenant)
        return result

    def _check_checkpoint(self, result: TenantResult, cp: StoredCheckpoint) -> Finding | None:
        key = self._keys.get(cp.key_id)
        if key is None:
            return Finding(cp.tenant_id, cp.last_seq, "unknown_checkpoint_key",
                           f"checkpoint at seq {cp.last_seq} is signed by key {cp.key_id}, not a trusted key")
        try:
            Ed25519PublicKey.from_public_bytes(key).verify(cp.signature, cp.statement().encode())
        except (InvalidSignature, ValueError):
            return Finding(cp.tenant_id, cp.last_seq, "checkpoint_signature_invalid",
                           f"the checkpoint at seq {cp.last_seq} does not carry a valid signature (altered)")
        if cp.note and not note_signed_by(cp, key):
            return Finding(cp.tenant_id, cp.last_seq, "checkpoint_note_invalid",
                           f"the signed note of the checkpoint at seq {cp.last_seq} is not this checkpoint "
                           "(origin, size or root) signed by its key")
        if cp.head_hash != result.head:
            return Finding(cp.tenant_id, cp.last_seq, "checkpoint_head_mismatch",
                           f"the signed head at seq {cp.last_seq} differs from the stored chain "
                           "(the chain was rewritten after it was signed)")
        if cp.merkle_root != result.frontier.root():
            return Finding(cp.tenant_id, cp.last_seq, "checkpoint_root_mismatch",
                           f"the signed Merkle root at seq {cp.last_seq} differs from the stored links")
        return None

    def finish(self) -> VerifyReport:
        """Checkpoints beyond the stored chain mean the log was cut short after they were signed."""
        for tenant, pending in self._pending.items():
            result = self._result(tenant)
            if result.first_finding is None and pending:
                highest = max(pending)
                result.first_finding = Finding(
                    tenant, result.last_seq + 1, "truncated",
                    f"a signed checkpoint covers seq {highest} but the stored chain ends at seq {result.last_seq}")
        return self.report

    def _encoder(self, link_schema: str) -> LinkEncoder | None:
        """The encoder for the EnrichedEvent version a link was hashed with (older ones from avro/history)."""
        encoder = self._encoders.get(link_schema)
        if encoder is None:
            try:
                encoder = LinkEncoder(fingerprint=bytes.fromhex(link_schema))
            except (KeyError, ValueError):
                return None
            self._encoders[link_schema] = encoder
        return encoder

    def add(self, tenant: str, seq: int, prev_hash: bytes, digest: bytes, link_schema: str,
            enriched: dict[str, Any]) -> None:
        """One stored link, its fields re-encoded here (the reference check)."""
        self._add(tenant, seq, prev_hash, digest, link_schema, enriched, str(enriched["event"].get("event_id")))

    def add_checked(self, tenant: str, seq: int, prev_hash: bytes, digest: bytes, event_id: str) -> None:
        """One stored link whose hash and content digests were already recomputed (by ClickHouse,
        sql_links.py) and matched; the chain, event id, Merkle and checkpoint checks still run here."""
        self._add(tenant, seq, prev_hash, digest, "", None, event_id)

    def add_checked_rows(self, rows: Iterable[tuple[str, int, bytes, bytes, str]]) -> None:
        """`add_checked` for many rows: the common case (the next link, linked, a new id, no
        checkpoint due) in a tight loop; anything else goes through `_add`, which names it."""
        tenants, pending_all = self.report.tenants, self._pending
        current: str | None = None
        result = TenantResult("")
        pending: dict[int, list[StoredCheckpoint]] | None = None
        sha256 = hashlib.sha256
        for tenant, seq, prev_hash, digest, event_id in rows:
            if tenant != current:
                current, result, pending = tenant, tenants.get(tenant) or self._result(tenant), pending_all.get(tenant)
            if result.first_finding is not None:
                continue
            if (seq != result.last_seq + 1 or prev_hash != result.head or event_id in result.event_ids
                    or (pending and seq in pending)):
                self._add(tenant, seq, prev_hash, digest, "", None, event_id)
                continue
            result.links += 1
            result.event_ids.add(event_id)
            result.last_seq, result.head = seq, digest
            result.frontier.append(sha256(b"\x00" + digest).digest())

    def _add(self, tenant: str, seq: int, prev_hash: bytes, digest: bytes, link_schema: str,
             enriched: dict[str, Any] | None, event_id: str) -> None:
        result = self.report.tenants.get(tenant) or self._result(tenant)
        if result.first_finding is not None:
            return  # a broken chain is reported at its first bad link
        result.links += 1
        problem: tuple[str, str] | None = None
        if seq == result.last_seq:
            problem = "duplicate_seq", f"seq {seq} is stored twice"
        elif seq != result.last_seq + 1:
            problem = "seq_gap", f"expected seq {result.last_seq + 1}, found {seq} (rows missing or inserted)"
        elif prev_hash != result.head:
            problem = ("prev_hash_mismatch", "prev_hash is not the hash of the previous link "
                       "(a row before it was changed, removed or reordered)")
        elif enriched is not None:
            problem = self._link_problem(prev_hash, digest, link_schema, enriched, seq)
        if problem is None and event_id in result.event_ids:
            problem = "duplicate_event_id", f"event {event_id} is chained twice (a replayed event)"
        if problem is not None:
            result.first_finding = Finding(tenant, seq, *problem)
            return
        result.event_ids.add(event_id)
        result.last_seq, result.head = seq, digest
        result.frontier.append(leaf_hash(digest))
        pending = self._pending.get(tenant)
        for checkpoint in pending.pop(seq, []) if pending else []:
            finding = self._check_checkpoint(result, checkpoint)
            if finding is not None:
                result.first_finding = finding
                return
            result.checkpoints_verified += 1

    def _link_problem(self, prev_hash: bytes, digest: bytes, link_schema: str, enriched: dict[str, Any],
                      seq: int) -> tuple[str, str] | None:
        encoder = self._encoder(link_schema)
        if encoder is None:
            return "unknown_link_schema", f"link schema {link_schema} is not known to this verifier"
        try:
            recomputed = encoder.link_hash(prev_hash, enriched, seq)
        except (ValueError, TypeError, KeyError, OverflowError) as exc:
            return "malformed_row", f"the stored fields do not fit the schema they were hashed with: {exc}"
        if recomputed != digest:
            return "hash_mismatch", "the stored fields do not hash to the stored hash (this row was altered)"
        # content is outside the chain (erasable); its salted digest is inside, so check the text against it
        event = enriched["event"]
        salt = event.get("content_salt")
        masked = enriched.get("content_action") == "MASK"
        for text_field, digest_field in (("prompt", "prompt_sha256"), ("response", "response_sha256")):
            if masked:  # the stored text is the masked one; its own digest is in the chain
                digest_field = f"masked_{digest_field}"
            text = event.get(text_field)
            expected = enriched.get(digest_field) if masked else event.get(digest_field)
            if text is not None and sha256_hex(text, salt) != expected:
                return "content_mismatch", f"the stored {text_field} does not match its digest (the text was altered)"
        return None

    def add_rows(self, rows: Iterable[tuple[Any, ...]]) -> None:
        for row in rows:
            self.add(*chain_fields_from_row(row))


def load_checkpoints(store: ClickHouseStore, tenant: str | None = None) -> list[StoredCheckpoint]:
    """Every stored copy (no FINAL): two different checkpoints of one size must both be seen."""
    where = "WHERE tenant_id = {tenant:String}" if tenant else ""
    rows = store.query(f"SELECT DISTINCT {', '.join(CHECKPOINT_SELECT)} FROM {store.database}.checkpoints {where}",
                       parameters={"tenant": tenant} if tenant else None).result_rows
    return [StoredCheckpoint(r[0], int(r[1]), int(r[2]), bytes(r[3]), bytes(r[4]), int(r[5]), r[6], bytes(r[7]), r[8])
            for r in rows]


def _repeated_keys(column: str) -> str:
    return f"length(mapKeys({column})) != length(arrayDistinct(mapKeys({column})))"


def stored_row_findings(store: ClickHouseStore, tenant: str | None = None) -> tuple[list[Finding], int]:
    """What a FINAL read or a dict would hide: (tenant, seq) stored more than once in any partition, and maps
    with a repeated key (SQL reads the first value, a reader building a dict the last). Returns the findings
    and the number of identical extra copies (benign)."""
    where = "WHERE tenant_id = {tenant:String}" if tenant else ""
    params = {"tenant": tenant} if tenant else None
    # the sort key and the two maps only; whole rows are read for the (rare) seqs stored twice
    rows = store.query(
        f"SELECT tenant_id, seq, count() AS copies, "
        f"max(({_repeated_keys('metadata')}) OR ({_repeated_keys('model_parameters')})) AS repeated "
        f"FROM {store.database}.events {where} GROUP BY tenant_id, seq HAVING copies > 1 OR repeated "
        "ORDER BY tenant_id, seq", parameters=params, settings={"optimize_aggregation_in_order": 1}).result_rows
    findings, identical = [], 0
    twins = [(tenant_id, int(seq), int(copies)) for tenant_id, seq, copies, _ in rows if copies > 1]
    for tenant_id, seq, _, repeated in rows:
        if repeated:
            findings.append(Finding(tenant_id, int(seq), "malformed_row",
                                    "a stored map (metadata or model_parameters) has a key twice: SQL and the "
                                    "verifier would read different values"))
    # a tuple: hashing the columns one by one would make a NULL of any of them NULL for the whole row
    content = ", ".join(c for c in INSERT_COLUMNS if c not in ("kafka_partition", "kafka_offset"))
    for start in range(0, len(twins), 1000):
        chunk = twins[start:start + 1000]
        versions = dict(((t, int(s)), int(v)) for t, s, v in store.query(
            f"SELECT tenant_id, seq, uniqExact(sipHash128(tuple({content}))) FROM {store.database}.events "
            "WHERE (tenant_id, seq) IN {keys:Array(Tuple(String, UInt64))} GROUP BY tenant_id, seq",
            parameters={"keys": [(t, s) for t, s, _ in chunk]}).result_rows)
        for tenant_id, seq, copies in chunk:
            if versions.get((tenant_id, seq), 1) > 1:
                findings.append(Finding(tenant_id, seq, "forked_seq",
                                        f"seq {seq} is stored {copies} times with {versions[tenant_id, seq]} "
                                        "different contents (a second row for a sequenced event)"))
            else:
                identical += copies - 1
    return findings, identical


def verify_store(store: ClickHouseStore, tenant: str | None = None,
                 progress: Callable[[int], None] | None = None,
                 public_keys: dict[str, bytes] | None = None, *, hash_in_database: bool = True,
                 anchors: Sequence[Anchor] = ()) -> VerifyReport:
    """Verify every chain (or one tenant's): the chain walk, rows stored twice or read two ways, forks of
    signed checkpoints, and the checkpoints held outside the database (`anchors`; without any the report
    says unanchored). `hash_in_database`: ClickHouse recomputes each link's hash and content digests
    (sql_links.py) when every row uses the current EnrichedEvent schema; rows that do not check out there,
    and every row otherwise, are checked here in Python."""
    keys = public_keys or {}
    anchored = trusted(anchors, keys, tenant)  # read before the rows: all of it was loaded by then
    stored = load_checkpoints(store, tenant)
    report = _walk(store, tenant, progress, keys, [*stored, *anchored], hash_in_database)
    row_findings, report.identical_twins = stored_row_findings(store, tenant)
    report.other_findings.extend(row_findings)
    report.other_findings.extend(checkpoint_forks([*stored, *anchored], keys))
    report.other_findings.extend(anchor_findings(report, stored, anchored))
    report.anchors = AnchorSummary(tuple(a.source for a in anchors), len(anchored))
    return report


def _walk(store: ClickHouseStore, tenant: str | None, progress: Callable[[int], None] | None,
          public_keys: dict[str, bytes], checkpoints: list[StoredCheckpoint], hash_in_database: bool) -> VerifyReport:
    verifier = ChainVerifier(checkpoints, public_keys)
    where = "WHERE tenant_id = {tenant:String}" if tenant else ""
    params = {"tenant": tenant} if tenant else None
    encoder = LinkEncoder()
    if hash_in_database:
        schemas = store.query(f"SELECT DISTINCT link_schema FROM {store.database}.events {where}",
                              parameters=params).result_rows
        hash_in_database = all(s == encoder.schema_hex for (s,) in schemas)
    if not hash_in_database:
        sql = (f"SELECT {', '.join(SELECT_COLUMNS)} FROM {store.database}.events FINAL {where} "
               "ORDER BY tenant_id, seq")
        with store.locked() as client, client.query_row_block_stream(sql, parameters=params) as stream:
            for block in stream:
                verifier.add_rows(block)
                if progress is not None:
                    progress(len(block))
        return verifier.finish()

    for statement in create_functions():
        store.command(statement)
    link_sql = link_hash_sql(encoder.canonical_form, encoder.schema_fingerprint)
    sql = (f"SELECT tenant_id, seq, prev_hash, hash, toString(event_id), "
           f"({link_sql} = hash) AND ({content_ok_sql()}) FROM {store.database}.events FINAL {where} "
           "ORDER BY tenant_id, seq")
    doubtful: set[str] = set()  # tenants with a row that did not check out in ClickHouse
    with store.locked() as client, client.query_row_block_stream(sql, parameters=params) as stream:
        for block in stream:
            for row in block:
                if not row[5]:
                    doubtful.add(row[0])
            verifier.add_checked_rows(row[:5] for row in block if row[0] not in doubtful)
            if progress is not None:
                progress(len(block))
    report = verifier.finish()
    for tenant_id in sorted(doubtful):  # the reference code names what is wrong, and where
        mine = [cp for cp in checkpoints if cp.tenant_id == tenant_id]
        reference = _walk(store, tenant_id, None, public_keys, mine, hash_in_database=False)
        report.tenants[tenant_id] = reference.tenants[tenant_id]
    return report


__all__ = ["ChainVerifier", "Finding", "VerifyReport", "verify_store"]
