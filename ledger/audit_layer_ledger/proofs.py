"""Inclusion proofs for one record, built from ClickHouse, and the trusted public keys."""

from __future__ import annotations

import base64
import hashlib
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from audit_layer_schemas.chain import LinkEncoder
from audit_layer_schemas.merkle import consistency_path, inclusion_needs, inclusion_path, range_root
from audit_layer_store.lookup import EventNotFound, event_key, row_at
from audit_layer_store.rows import CHECKPOINT_SELECT, chain_fields_from_row
from audit_layer_store.store import ClickHouseStore

from audit_layer_ledger.merkle_index import DamagedLog, StoredSubtrees
from audit_layer_ledger.offline_proof import FORMAT, decode_link


class ProofError(RuntimeError):
    pass


def load_public_keys(path: Path) -> dict[str, bytes]:
    """key id -> raw Ed25519 public key, from a .pub file (base64) or a folder of them."""
    files = sorted(path.glob("*.pub")) if path.is_dir() else [path] if path.exists() else []
    keys = {}
    for file in files:
        raw = base64.b64decode(file.read_text().strip())
        keys[hashlib.sha256(raw).digest()[:8].hex()] = raw
    return keys


def checkpoint_dict(row: tuple[Any, ...]) -> dict[str, Any]:
    tenant, first, last, head, root, created, key, signature, note = row
    return {"tenant_id": tenant, "first_seq": int(first), "last_seq": int(last), "head_hash": bytes(head).hex(),
            "merkle_root": bytes(root).hex(), "created_at_us": int(created), "key_id": key,
            "signature": base64.b64encode(bytes(signature)).decode(), "note": note}


def build_proof(store: ClickHouseStore, event_id: str, public_keys: dict[str, bytes],
                tenant: str | None = None) -> dict[str, Any]:
    """The inclusion proof of one event (of `tenant` only, when given)."""
    db = store.database
    try:
        tenant, seq = event_key(store, event_id, tenant)
    except EventNotFound as exc:
        raise ProofError(str(exc)) from None
    event_id = str(uuid.UUID(event_id))
    # the row, the widest read, runs on a second client while this one reads the checkpoint and the
    # audit path: the two do not depend on each other
    with ThreadPoolExecutor(1) as pool:
        row_read = pool.submit(row_at, store.sibling(), tenant, seq, event_id)
        # no FINAL: twins of one (tenant, last_seq) are the same signed checkpoint inserted twice, and
        # the proof's verifier checks the signature of whichever is read
        checkpoints = store.query(
            f"SELECT {', '.join(CHECKPOINT_SELECT)} FROM {db}.checkpoints "
            "WHERE tenant_id = {t:String} AND last_seq >= {s:UInt64} ORDER BY last_seq LIMIT 1",
            parameters={"t": tenant, "s": seq}).result_rows
        if not checkpoints:
            raise ProofError(f"event {event_id} (tenant {tenant}, seq {seq}) is not yet covered by a signed "
                             "checkpoint; try again after the next one")
        checkpoint = checkpoint_dict(checkpoints[0])
        subtrees = StoredSubtrees(store, tenant)
        needs = inclusion_needs(seq - 1, checkpoint["last_seq"])
        try:
            if not subtrees.prefetch(needs):  # the sink extends the index in steps (MerkleIndexPolicy); behind
                subtrees.extend(checkpoint["last_seq"])
                subtrees = StoredSubtrees(store, tenant)
                subtrees.prefetch(needs)
            path = inclusion_path(seq - 1, checkpoint["last_seq"], subtrees)
        except DamagedLog as exc:
            raise ProofError(str(exc)) from None
        subtrees.save()
        try:
            row = row_read.result()
        except EventNotFound as exc:
            raise ProofError(str(exc)) from None
    _, _, prev_hash, digest, link_schema, enriched = chain_fields_from_row(row)
    if checkpoint["key_id"] not in public_keys:
        raise ProofError(f"the public key {checkpoint['key_id']} that signed the checkpoint is not among the "
                         "trusted keys (--public-keys)")
    return proof_document(event_id, tenant, seq, prev_hash, digest, link_schema, enriched, path, checkpoint)


def proof_document(event_id: str, tenant: str, seq: int, prev_hash: bytes, digest: bytes, link_schema: str,
                   enriched: dict[str, Any], path: list[bytes], checkpoint: dict[str, Any]) -> dict[str, Any]:
    """The proof of one link (pure): its bytes, the record they decode to, its audit path to `checkpoint`."""
    try:
        encoder = LinkEncoder(fingerprint=bytes.fromhex(link_schema))
    except (KeyError, ValueError):
        raise ProofError(f"link schema {link_schema} is not known to this version") from None
    link_bytes = encoder.link_bytes(enriched, seq)
    # the record shown is what the hashed bytes decode to, so the checker can hold the two against each other
    _, record = decode_link(link_bytes, encoder.canonical_form)
    document = {
        "format": FORMAT,
        "event_id": event_id,
        "tenant_id": tenant,
        "seq": seq,
        "prev_hash": prev_hash.hex(),
        "hash": digest.hex(),
        "link_bytes": link_bytes.hex(),
        "link_schema": encoder.canonical_form,
        "audit_path": [p.hex() for p in path],
        "checkpoint": checkpoint,
        "record": record,
    }
    if checkpoint["note"]:  # the same inclusion as transparency-log tooling reads it
        document["tlog_proof"] = tlog_proof(seq - 1, path, checkpoint["note"])
    return document


def tlog_proof(index: int, path: list[bytes], note: str) -> str:
    """A c2sp.org/tlog-proof@v1 document: the leaf index, the RFC 6962 audit path, the signed checkpoint."""
    hashes = "".join(base64.b64encode(h).decode() + "\n" for h in path)
    return f"c2sp.org/tlog-proof@v1\nindex {index}\n{hashes}\n{note}"


def build_consistency(store: ClickHouseStore, tenant: str, first: int, second: int) -> dict[str, Any]:
    """RFC 6962 proof that the tenant's tree at size `first` is a prefix of the tree at size `second`."""
    if not 0 <= first <= second:
        raise ProofError(f"need 0 <= first <= second, got {first} and {second}")
    subtrees = StoredSubtrees(store, tenant)
    try:
        result = {"format": "audit-layer-consistency-proof/v1", "tenant_id": tenant, "first_size": first,
                  "second_size": second, "first_root": range_root(subtrees, 0, first).hex(),
                  "second_root": range_root(subtrees, 0, second).hex(),
                  "proof": [p.hex() for p in consistency_path(first, second, subtrees)]}
    except DamagedLog as exc:
        raise ProofError(str(exc)) from None
    subtrees.save()
    return result


def tenant_checkpoints(store: ClickHouseStore, tenant: str, after_seq: int = 0) -> list[dict[str, Any]]:
    # every stored copy (no FINAL): a second checkpoint of one size must be seen, not collapsed
    rows = store.query(
        f"SELECT DISTINCT {', '.join(CHECKPOINT_SELECT)} FROM {store.database}.checkpoints "
        "WHERE tenant_id = {t:String} AND last_seq > {s:UInt64} ORDER BY last_seq",
        parameters={"t": tenant, "s": after_seq}).result_rows
    return [checkpoint_dict(r) for r in rows]
