"""The signed checkpoint statement: the exact bytes an Ed25519 signature covers.

A line-oriented text (like a signed note), so a verifier in any language rebuilds it
without an Avro library:

    audit-layer checkpoint v1
    tenant=<tenant_id>
    first_seq=<n>
    last_seq=<n>
    head=<64 hex>
    root=<64 hex>
    time_us=<n>
    key_id=<16 hex>
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

HEADER = "audit-layer checkpoint v1"


def key_id(public_key_raw: bytes) -> str:
    return hashlib.sha256(public_key_raw).digest()[:8].hex()


@dataclass(frozen=True)
class CheckpointStatement:
    tenant_id: str
    first_seq: int
    last_seq: int
    head_hash: bytes
    merkle_root: bytes
    created_at_us: int
    key_id: str

    def encode(self) -> bytes:
        if not self.tenant_id.isprintable():
            raise ValueError("tenant_id must be printable")
        return (
            f"{HEADER}\ntenant={self.tenant_id}\nfirst_seq={self.first_seq}\nlast_seq={self.last_seq}\n"
            f"head={self.head_hash.hex()}\nroot={self.merkle_root.hex()}\ntime_us={self.created_at_us}\n"
            f"key_id={self.key_id}\n"
        ).encode()
