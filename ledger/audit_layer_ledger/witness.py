"""A witness: a tenant or third party that keeps the operator honest.

It fetches the operator's new signed checkpoints, checks each against the last one it saw with
an RFC 6962 consistency proof (the new log must extend the old one), countersigns it with its
own Ed25519 key and keeps it in its own store. A checkpoint that does not extend what the
witness saw (a rewritten or forked log) raises an alarm with the evidence; the operator
cannot rewrite a chain unseen once a witness holds a countersigned checkpoint.
"""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from audit_layer_schemas import signed_note
from audit_layer_schemas.checkpoint import CheckpointStatement, key_id
from audit_layer_schemas.merkle import verify_consistency
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

COSIGN_HEADER = b"audit-layer witness cosignature v1\n"


class WitnessAlarm(Exception):
    """The operator's log does not extend what this witness saw before, or is not validly signed."""

    def __init__(self, reason: str, evidence: dict[str, Any]) -> None:
        super().__init__(reason)
        self.evidence = evidence


@dataclass(frozen=True)
class Seen:
    size: int
    root: str


def statement_of(cp: dict[str, Any]) -> CheckpointStatement:
    return CheckpointStatement(cp["tenant_id"], cp["first_seq"], cp["last_seq"], bytes.fromhex(cp["head_hash"]),
                               bytes.fromhex(cp["merkle_root"]), cp["created_at_us"], cp["key_id"])


class Witness:
    """State in a folder: state-<tenant>.json (the last size and root seen), cosigned-<tenant>.jsonl."""

    def __init__(self, folder: Path, key: Ed25519PrivateKey, operator_keys: dict[str, bytes],
                 name: str = "witness.audit-layer.local") -> None:
        if not signed_note.valid_key_name(name):
            raise ValueError(f"{name!r} is not a key name: no spaces, no '+', not empty")
        self.folder = folder
        self.key = key
        self.operator_keys = operator_keys
        self.name = name  # its key name in C2SP cosignatures
        folder.mkdir(parents=True, exist_ok=True)

    @property
    def key_id(self) -> str:
        return key_id(self.key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw))

    def seen(self, tenant: str) -> Seen:
        path = self.folder / f"state-{tenant}.json"
        if not path.exists():
            return Seen(0, "")
        data = json.loads(path.read_text())
        return Seen(data["size"], data["root"])

    def remember(self, tenant: str, size: int, root: str, entry: dict[str, Any]) -> None:
        """Keep a newly cosigned checkpoint: its entry, then the state (so a crash never forgets it signed)."""
        with (self.folder / f"cosigned-{tenant}.jsonl").open("a") as out:
            out.write(json.dumps(entry) + "\n")
        (self.folder / f"state-{tenant}.json").write_text(json.dumps(Seen(size, root).__dict__))

    def countersigned(self, tenant: str) -> dict[int, str]:
        """Every size this witness countersigned for the tenant, and the root it saw there."""
        path = self.folder / f"cosigned-{tenant}.jsonl"
        if not path.exists():
            return {}
        entries = (json.loads(line) for line in path.read_text().splitlines() if line.strip())
        return {int(e["last_seq"]): e["merkle_root"] for e in entries}

    def check_memory(self, tenant: str, checkpoints: list[dict[str, Any]]) -> None:
        """What this witness remembers must still be in the log (the log's whole checkpoint list): its latest
        countersigned checkpoint, nothing smaller as the log's newest, no second checkpoint of a size it saw."""
        seen = self.seen(tenant)
        if not seen.size:
            return
        latest = max((cp["last_seq"] for cp in checkpoints), default=0)
        if latest < seen.size:
            raise WitnessAlarm(f"rollback: the log's newest checkpoint is size {latest}, below size {seen.size} "
                               "this witness countersigned", {"seen": seen.__dict__, "log_latest": latest})
        if not any(cp["last_seq"] == seen.size and cp["merkle_root"] == seen.root for cp in checkpoints):
            raise WitnessAlarm(f"the checkpoint of size {seen.size} this witness countersigned is no longer in the "
                               "log", {"seen": seen.__dict__})
        known = self.countersigned(tenant)
        for cp in checkpoints:
            root = known.get(cp["last_seq"])
            if root is not None and cp["merkle_root"] != root:
                raise WitnessAlarm(f"fork: a second checkpoint of size {cp['last_seq']} with another root",
                                   {"countersigned_root": root, "checkpoint": cp})

    def observe(self, tenant: str, checkpoints: list[dict[str, Any]],
                consistency: Callable[[int, int], list[str]]) -> int:
        """Check the log against what this witness remembers, then check and countersign new checkpoints in
        order; returns how many were countersigned. `checkpoints`: every checkpoint the log holds."""
        self.check_memory(tenant, checkpoints)
        seen = self.seen(tenant)
        signed = 0
        for cp in sorted(checkpoints, key=lambda c: c["last_seq"]):
            if cp["tenant_id"] != tenant:
                raise WitnessAlarm("checkpoint of another tenant", {"checkpoint": cp})
            self._check_signature(cp)
            size, new_root = cp["last_seq"], cp["merkle_root"]
            if size < seen.size:
                continue  # older than what was witnessed: already covered
            if size == seen.size:
                if new_root != seen.root:
                    raise WitnessAlarm(f"fork: two different roots for size {size}",
                                       {"seen": seen.__dict__, "checkpoint": cp})
                continue
            if seen.size:
                proof = consistency(seen.size, size)
                ok = verify_consistency(seen.size, size, bytes.fromhex(seen.root), bytes.fromhex(new_root),
                                        [bytes.fromhex(p) for p in proof])
                if not ok:
                    raise WitnessAlarm(
                        f"the log at size {size} does not extend the log witnessed at size {seen.size}: "
                        "history was rewritten", {"seen": seen.__dict__, "checkpoint": cp, "proof": proof})
            self._cosign(tenant, cp)
            seen = Seen(size, new_root)
            (self.folder / f"state-{tenant}.json").write_text(json.dumps(seen.__dict__))
            signed += 1
        return signed

    def _check_signature(self, cp: dict[str, Any]) -> None:
        public = self.operator_keys.get(cp["key_id"])
        if public is None:
            raise WitnessAlarm(f"checkpoint signed by unknown key {cp['key_id']}", {"checkpoint": cp})
        try:
            Ed25519PublicKey.from_public_bytes(public).verify(base64.b64decode(cp["signature"]),
                                                              statement_of(cp).encode())
        except InvalidSignature:
            raise WitnessAlarm("checkpoint signature invalid", {"checkpoint": cp}) from None

    @property
    def public_raw(self) -> bytes:
        return self.key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)

    def vkey(self) -> str:
        """This witness's C2SP cosignature verifier key, for tools that check its cosignatures."""
        return signed_note.vkey(self.name, signed_note.ALG_COSIGNATURE_V1, self.public_raw)

    def cosignature(self, note: str, timestamp: int) -> str:
        """A c2sp.org/tlog-cosignature/v1 line over the checkpoint body of `note`."""
        body, _ = signed_note.parse(note)
        signature = self.key.sign(signed_note.cosigned_message(body, timestamp))
        return signed_note.signature_line(
            self.name, signed_note.key_hash(self.name, signed_note.ALG_COSIGNATURE_V1, self.public_raw),
            timestamp.to_bytes(8, "big") + signature)

    def _cosign(self, tenant: str, cp: dict[str, Any]) -> None:
        signature = self.key.sign(COSIGN_HEADER + statement_of(cp).encode())
        entry = {**cp, "witness_key_id": self.key_id, "witness_signature": base64.b64encode(signature).decode()}
        if cp.get("note"):  # the checkpoint with this witness's cosignature, as transparency-log tools read it
            entry["cosigned_note"] = cp["note"] + self.cosignature(cp["note"], int(time.time()))
        with (self.folder / f"cosigned-{tenant}.jsonl").open("a") as out:
            out.write(json.dumps(entry) + "\n")

    def raise_alarm(self, tenant: str, alarm: WitnessAlarm) -> Path:
        path = self.folder / f"ALARM-{tenant}.json"
        path.write_text(json.dumps({"reason": str(alarm), **alarm.evidence}, indent=2))
        return path
