"""Checks an Audit Layer inclusion proof offline. Depends only on the standard library and `cryptography`,
so an auditor can copy this one file and run it anywhere:

    python offline_proof.py proof.json          # exit 0: valid; exit 1: names what is wrong

What it establishes: the record's link bytes (seq, schema fingerprint, Avro body of the
record without its prompt/response text) hash, with prev_hash, to the record's chain hash;
that hash is leaf `seq` of the tenant's RFC 6962 Merkle tree whose root the checkpoint
states; the checkpoint is signed by the Ed25519 key given, whose key id it names.
"""

from __future__ import annotations

import base64
import hashlib
import json
import sys
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

FORMAT = "audit-layer-inclusion-proof/v1"


class ProofInvalid(Exception):
    pass


def _hex(value: Any, what: str, size: int | None = 32) -> bytes:
    try:
        raw = bytes.fromhex(value)
    except (TypeError, ValueError):
        raise ProofInvalid(f"{what} is not hex") from None
    if size is not None and len(raw) != size:
        raise ProofInvalid(f"{what} must be {size} bytes, is {len(raw)}")
    return raw


def _node(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def _root_from_path(index: int, size: int, leaf: bytes, path: list[bytes]) -> bytes:
    """RFC 9162 section 2.1.3.2: the root an audit path implies, or ProofInvalid."""
    if not 0 <= index < size:
        raise ProofInvalid(f"leaf index {index} is outside a tree of {size}")
    fn, sn, r = index, size - 1, leaf
    for p in path:
        if sn == 0:
            raise ProofInvalid("audit path is longer than the tree allows")
        if fn & 1 or fn == sn:
            r = _node(p, r)
            while not fn & 1 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            r = _node(r, p)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise ProofInvalid("audit path is shorter than the tree requires")
    return r


def statement(cp: dict[str, Any]) -> bytes:
    return (
        f"audit-layer checkpoint v1\ntenant={cp['tenant_id']}\nfirst_seq={cp['first_seq']}\n"
        f"last_seq={cp['last_seq']}\nhead={cp['head_hash']}\nroot={cp['merkle_root']}\n"
        f"time_us={cp['created_at_us']}\nkey_id={cp['key_id']}\n"
    ).encode()


def verify(proof: dict[str, Any]) -> None:
    """Raises ProofInvalid naming the first thing that does not hold."""
    if proof.get("format") != FORMAT:
        raise ProofInvalid(f"not an {FORMAT} document")
    try:
        seq = int(proof["seq"])
        link_bytes = _hex(proof["link_bytes"], "link_bytes", None)
        prev_hash = _hex(proof["prev_hash"], "prev_hash")
        record_hash = _hex(proof["hash"], "hash")
        path = [_hex(p, "audit_path entry") for p in proof["audit_path"]]
        cp = proof["checkpoint"]
        tree_size = int(cp["last_seq"])
        root = _hex(cp["merkle_root"], "checkpoint merkle_root")
        public_raw = base64.b64decode(proof["public_key"], validate=True)
        signature = base64.b64decode(cp["signature"], validate=True)
    except (KeyError, TypeError, ValueError) as exc:
        raise ProofInvalid(f"malformed proof: {exc!r}") from None

    if int.from_bytes(link_bytes[:8], "big") != seq:
        raise ProofInvalid(f"link bytes are for seq {int.from_bytes(link_bytes[:8], 'big')}, not seq {seq}")
    if hashlib.sha256(prev_hash + link_bytes).digest() != record_hash:
        raise ProofInvalid("the record does not hash to its chain hash: the record or its hash was altered")
    if cp.get("tenant_id") != proof.get("tenant_id"):
        raise ProofInvalid("the checkpoint is for another tenant")
    if not 1 <= seq <= tree_size:
        raise ProofInvalid(f"seq {seq} is not covered by a checkpoint of size {tree_size}")
    leaf = hashlib.sha256(b"\x00" + record_hash).digest()
    if _root_from_path(seq - 1, tree_size, leaf, path) != root:
        raise ProofInvalid("the audit path does not lead to the checkpoint's Merkle root: "
                           "the record is not in the log the checkpoint signs")
    if hashlib.sha256(public_raw).digest()[:8].hex() != cp.get("key_id"):
        raise ProofInvalid("the public key given is not the key the checkpoint names")
    try:
        Ed25519PublicKey.from_public_bytes(public_raw).verify(signature, statement(cp))
    except (InvalidSignature, ValueError):
        raise ProofInvalid("the checkpoint signature does not verify: the checkpoint was altered "
                           "or signed by another key") from None


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print("usage: python -m audit_layer_ledger.offline_proof PROOF.json", file=sys.stderr)
        return 2
    try:
        with open(argv[1], encoding="utf-8") as handle:
            proof = json.load(handle)
        verify(proof)
    except (OSError, json.JSONDecodeError) as exc:
        print(f"cannot read {argv[1]}: {exc}", file=sys.stderr)
        return 2
    except ProofInvalid as exc:
        print(f"INVALID: {exc}")
        return 1
    print(f"VALID: event {proof.get('event_id')} is seq {proof['seq']} of tenant {proof['tenant_id']}, "
          f"in the log signed at size {proof['checkpoint']['last_seq']} by key {proof['checkpoint']['key_id']}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
