"""Trust from outside the database: signed checkpoints that left the system (the `audit.checkpoints` topic,
witnesses' own state) held against what ClickHouse stores.

Someone with write access to ClickHouse can delete a tenant, its checkpoints or the tail of its chain
and leave a store that is consistent with itself. What they cannot do is reach the copies outside it:
a tenant, a checkpoint or a log size an anchor knows and the store lacks is a finding. Pure: the
reading of each source lives with its plumbing (kafka_anchor.py, the witness folder here).
"""

from __future__ import annotations

import base64
import json
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from audit_layer_schemas import signed_note
from audit_layer_schemas.checkpoint import CheckpointStatement
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from audit_layer_ledger.evidence import Finding, StoredCheckpoint, VerifyReport


@dataclass(frozen=True)
class Anchor:
    """Signed checkpoints one source outside the database holds."""

    source: str
    checkpoints: tuple[StoredCheckpoint, ...]


def signed_by_trusted_key(cp: CheckpointStatement, signature: bytes, keys: dict[str, bytes]) -> bool:
    public = keys.get(cp.key_id)
    if public is None:
        return False
    try:
        Ed25519PublicKey.from_public_bytes(public).verify(signature, cp.encode())
    except (InvalidSignature, ValueError):
        return False
    return True


def note_signed_by(cp: StoredCheckpoint, public_raw: bytes) -> bool:
    """Is the checkpoint's C2SP note exactly this checkpoint (origin `<log name>/<tenant>`, size, root), signed
    by `public_raw` under its origin as key name?"""
    try:
        body, signatures = signed_note.parse(cp.note)
    except signed_note.NoteError:
        return False
    log_origin = body.split("\n", 1)[0]
    if not log_origin.endswith("/" + cp.tenant_id):
        return False
    for sig in signatures:
        if sig.name != log_origin or sig.key_hash != signed_note.key_hash(sig.name, signed_note.ALG_ED25519,
                                                                          public_raw):
            continue
        try:
            Ed25519PublicKey.from_public_bytes(public_raw).verify(sig.signature, body.encode())
        except (InvalidSignature, ValueError):
            return False
        return body == signed_note.checkpoint_body(log_origin, cp.last_seq, cp.merkle_root)
    return False


def trusted(anchors: Iterable[Anchor], keys: dict[str, bytes], tenant: str | None = None) -> list[StoredCheckpoint]:
    """The anchored checkpoints signed by a trusted key (a forged one in an anchor proves nothing), once each."""
    seen: dict[StoredCheckpoint, None] = {}
    for anchor in anchors:
        for cp in anchor.checkpoints:
            if (tenant is None or cp.tenant_id == tenant) and signed_by_trusted_key(cp, cp.signature, keys):
                seen.setdefault(cp)
    return list(seen)


def checkpoint_forks(checkpoints: Iterable[StoredCheckpoint], keys: dict[str, bytes]) -> list[Finding]:
    """Two different validly signed checkpoints of one (tenant, size): the signer's own proof of a fork."""
    by_size: dict[tuple[str, int], list[StoredCheckpoint]] = defaultdict(list)
    for cp in checkpoints:
        if cp not in by_size[cp.tenant_id, cp.last_seq] and signed_by_trusted_key(cp, cp.signature, keys):
            by_size[cp.tenant_id, cp.last_seq].append(cp)
    findings = []
    for (tenant, size), signed in sorted(by_size.items()):
        if len(signed) > 1:
            evidence = "; ".join(f"root {cp.merkle_root.hex()} head {cp.head_hash.hex()} key {cp.key_id} "
                                 f"signature {base64.b64encode(cp.signature).decode()}" for cp in signed)
            findings.append(Finding(tenant, size, "checkpoint_fork",
                                    f"{len(signed)} different signed checkpoints of size {size}: {evidence}"))
    return findings


def anchor_findings(report: VerifyReport, stored: Iterable[StoredCheckpoint],
                    anchored: list[StoredCheckpoint]) -> list[Finding]:
    """Tenants, sizes and checkpoints the anchors know that the store has lost."""
    stored_at: dict[tuple[str, int], set[StoredCheckpoint]] = defaultdict(set)
    for cp in stored:
        stored_at[cp.tenant_id, cp.last_seq].add(cp)
    largest: dict[str, int] = {}
    for cp in anchored:
        largest[cp.tenant_id] = max(largest.get(cp.tenant_id, 0), cp.last_seq)
    findings = []
    for tenant, size in sorted(largest.items()):
        result = report.tenants.get(tenant)
        if result is None or result.links == 0:
            findings.append(Finding(tenant, 1, "tenant_missing",
                                    f"a signed checkpoint outside the database covers {size} events of this tenant; "
                                    "the store holds none"))
        elif result.last_seq < size:
            findings.append(Finding(tenant, result.last_seq + 1, "log_shrunk",
                                    f"a signed checkpoint outside the database covers seq {size}; the stored chain "
                                    f"ends at seq {result.last_seq}"))
    for cp in sorted(anchored, key=lambda c: (c.tenant_id, c.last_seq)):
        if cp.tenant_id not in report.tenants or report.tenants[cp.tenant_id].links == 0:
            continue  # tenant_missing says it once
        if not stored_at.get((cp.tenant_id, cp.last_seq)):  # a different one stored there: checkpoint_forks
            findings.append(Finding(cp.tenant_id, cp.last_seq, "checkpoint_missing",
                                    f"the signed checkpoint of size {cp.last_seq} (root {cp.merkle_root.hex()}) "
                                    "is held outside the database but is not stored"))
    return findings


def from_witness_state(folder: Path) -> Anchor:
    """The checkpoints a witness countersigned, from its own folder (cosigned-<tenant>.jsonl)."""
    if not folder.is_dir():
        raise FileNotFoundError(f"witness state {folder} is not a folder")
    checkpoints = []
    for path in sorted(folder.glob("cosigned-*.jsonl")):
        for line in path.read_text().splitlines():
            if not line.strip():
                continue
            cp = json.loads(line)
            if "signature" not in cp:
                continue  # cosigned over tlog-witness: a note only, without the statement verify walks
            checkpoints.append(StoredCheckpoint(
                cp["tenant_id"], int(cp["first_seq"]), int(cp["last_seq"]), bytes.fromhex(cp["head_hash"]),
                bytes.fromhex(cp["merkle_root"]), int(cp["created_at_us"]), cp["key_id"],
                base64.b64decode(cp["signature"]), cp.get("note", "")))
    return Anchor(f"witness {folder}", tuple(checkpoints))
