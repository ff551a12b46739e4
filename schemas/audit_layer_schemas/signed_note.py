"""Checkpoints as C2SP signed notes (c2sp.org/signed-note, c2sp.org/tlog-checkpoint, c2sp.org/tlog-cosignature),
so transparency-log tooling and witnesses that never heard of Audit Layer can check them. Pure text and
hashing; the Ed25519 signing and verifying are the caller's.

Each tenant's chain is its own log: origin `<log name>/<tenant_id>`, size `last_seq`, root `merkle_root`
(RFC 6962 over the links' hashes, as the checkpoint states it). The operator's one Ed25519 key signs each
tenant's note under the origin as key name, as witnesses (c2sp.org/tlog-witness) expect of a log's key.
"""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass

ALG_ED25519 = 0x01
ALG_COSIGNATURE_V1 = 0x04
_DASH = "\u2014"  # em dash, as every signature line starts


class NoteError(ValueError):
    pass


def origin(log_name: str, tenant_id: str) -> str:
    return f"{log_name}/{tenant_id}"


def checkpoint_body(log_origin: str, size: int, root: bytes) -> str:
    if not log_origin or "\n" in log_origin or len(log_origin.encode()) > 255:
        raise NoteError("an origin is one line of 1 to 255 bytes")
    return f"{log_origin}\n{size}\n{base64.b64encode(root).decode()}\n"


def valid_key_name(name: str) -> bool:
    return bool(name) and not any(c.isspace() for c in name) and "+" not in name


def key_hash(name: str, alg: int, public_raw: bytes) -> bytes:
    return hashlib.sha256(name.encode() + b"\n" + bytes([alg]) + public_raw).digest()[:4]


def vkey(name: str, alg: int, public_raw: bytes) -> str:
    """The verifier key string tools take: `<name>+<key hash hex>+<base64(alg || key)>`."""
    return f"{name}+{key_hash(name, alg, public_raw).hex()}+{base64.b64encode(bytes([alg]) + public_raw).decode()}"


def signature_line(name: str, hash4: bytes, signature: bytes) -> str:
    return f"{_DASH} {name} {base64.b64encode(hash4 + signature).decode()}\n"


def cosigned_message(body: str, timestamp: int) -> bytes:
    """What a tlog-cosignature/v1 signs: a header, the witness's time, the checkpoint body."""
    return f"cosignature/v1\ntime {timestamp}\n{body}".encode()


@dataclass(frozen=True)
class NoteSignature:
    name: str
    key_hash: bytes
    signature: bytes  # after the key hash: for a cosignature, the 8-byte timestamp and then the signature


def parse(note: str) -> tuple[str, list[NoteSignature]]:
    """The body (with its final newline) and the signature lines of a signed note."""
    body, sep, sigs = note.rpartition("\n\n")
    if not sep or not body:
        raise NoteError("a signed note is its text, a blank line, then signature lines")
    lines = sigs.split("\n")
    if lines[-1] != "":
        raise NoteError("a signed note ends with a newline")
    signatures = []
    for line in lines[:-1]:
        prefix = f"{_DASH} "
        if not line.startswith(prefix):
            raise NoteError(f"not a signature line: {line[:40]!r}")
        name, _, b64 = line[len(prefix):].partition(" ")
        try:
            raw = base64.b64decode(b64, validate=True)
        except ValueError:
            raise NoteError("a signature is not base64") from None
        if not valid_key_name(name) or len(raw) < 5:
            raise NoteError("a malformed signature line")
        signatures.append(NoteSignature(name, raw[:4], raw[4:]))
    if not signatures:
        raise NoteError("a signed note has at least one signature")
    return body + "\n", signatures
