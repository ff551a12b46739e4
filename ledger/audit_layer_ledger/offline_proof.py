"""Checks an Audit Layer inclusion proof offline. Depends only on the standard library and `cryptography`,
so an auditor can copy this one file and run it anywhere:

    python offline_proof.py proof.json --trusted-key operator.pub   # exit 0: valid; 1: names what is wrong

What it establishes: the record's link bytes (seq, schema fingerprint, Avro body of the record without its
prompt/response text) hash, with prev_hash, to the record's chain hash; that hash is leaf `seq` of the
tenant's RFC 6962 Merkle tree whose root the checkpoint states; the checkpoint is signed by one of the
keys the caller trusts (never a key the document carries). The record it shows is the one it decoded from
the hashed link bytes with a schema pinned in this file: a record in the document that differs from it in
any field, a missing record, or another event id makes the proof INVALID.
"""

from __future__ import annotations

import argparse
import base64
import functools
import hashlib
import json
import struct
import sys
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

FORMAT = "audit-layer-inclusion-proof/v2"
FORMAT_V1 = "audit-layer-inclusion-proof/v1"

# Every EnrichedEvent version a link may have been hashed with: its Avro fingerprint (CRC-64, easy to
# collide on purpose) -> SHA-256 of its parsing canonical form (not). A schema in a proof is used to decode
# the link only when it is one of these, so nobody can relabel the hashed bytes with a crafted schema.
# tests/unit/test_offline_proof.py keeps this in step with schemas/audit_layer_schemas/avro.
PINNED_LINK_SCHEMAS = {
    "73dfd31573596c3e": "96c544fdada4986509440ea216e183b5b39e95e92d414764c49931b235960119",
    "7674f9ce14b8b758": "b852c83eba0975cf403c4eff568acdfe68cd86a80fbd63fa43853224fd533204",
    "b7e4b7e3e1835320": "3105dab0396fbc72876181bb5d373851223cffa6ca3ae72792dbb3fdea3abe1d",
}


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


def key_id_of(public_raw: bytes) -> str:
    return hashlib.sha256(public_raw).digest()[:8].hex()


# --- Avro: just enough to read the link body with a pinned schema -------------------------------------------

class _Reader:
    def __init__(self, data: bytes) -> None:
        self.data, self.pos = data, 0

    def take(self, n: int) -> bytes:
        if n < 0 or self.pos + n > len(self.data):
            raise ProofInvalid("the link bytes end before the record does")
        chunk = self.data[self.pos:self.pos + n]
        self.pos += n
        return chunk

    def long(self) -> int:
        shift = result = 0
        while True:
            byte = self.take(1)[0]
            result |= (byte & 0x7F) << shift
            if not byte & 0x80:
                return (result >> 1) ^ -(result & 1)
            shift += 7
            if shift > 63:
                raise ProofInvalid("a varint in the link bytes is too long")


def _decode(schema: Any, reader: _Reader) -> Any:
    if isinstance(schema, list):
        branch = reader.long()
        if not 0 <= branch < len(schema):
            raise ProofInvalid(f"union branch {branch} does not exist")
        return _decode(schema[branch], reader)
    kind = schema if isinstance(schema, str) else schema["type"]
    if kind == "null":
        return None
    if kind == "boolean":
        return reader.take(1) != b"\x00"
    if kind in ("int", "long"):
        return reader.long()
    if kind == "float":
        return struct.unpack("<f", reader.take(4))[0]
    if kind == "double":
        return struct.unpack("<d", reader.take(8))[0]
    if kind == "string":
        try:
            return reader.take(reader.long()).decode("utf-8")
        except UnicodeDecodeError:
            raise ProofInvalid("a string in the link bytes is not UTF-8") from None
    if kind == "bytes":
        return reader.take(reader.long()).hex()
    if kind == "enum":
        index = reader.long()
        if not 0 <= index < len(schema["symbols"]):
            raise ProofInvalid(f"enum index {index} does not exist")
        return schema["symbols"][index]
    if kind == "record":
        return {f["name"]: _decode(f["type"], reader) for f in schema["fields"]}
    if kind in ("array", "map"):
        items: list[Any] = []
        entries: dict[str, Any] = {}
        while True:
            count = reader.long()
            if count == 0:
                break
            if count < 0:
                count = -count
                reader.long()  # block size in bytes
            for _ in range(count):
                if kind == "array":
                    items.append(_decode(schema["items"], reader))
                else:
                    key = _decode("string", reader)
                    if key in entries:
                        raise ProofInvalid(f"map key {key!r} is written twice in the link bytes")
                    entries[key] = _decode(schema["values"], reader)
        return items if kind == "array" else entries
    raise ProofInvalid(f"schema type {kind!r} is not supported")


@functools.lru_cache(maxsize=8)
def _schema_digest(canonical_schema: str) -> str:
    return hashlib.sha256(canonical_schema.encode("utf-8")).hexdigest()


@functools.lru_cache(maxsize=8)
def _parsed(canonical_schema: str) -> Any:
    return json.loads(canonical_schema)


def decode_link(link_bytes: bytes, canonical_schema: str) -> tuple[int, dict[str, Any]]:
    """(seq, record) from link bytes, with the schema they name, which must be pinned here."""
    if len(link_bytes) < 16:
        raise ProofInvalid("link bytes are shorter than their header")
    fingerprint = link_bytes[8:16]
    pinned = PINNED_LINK_SCHEMAS.get(fingerprint.hex())
    if pinned is None:
        raise ProofInvalid(f"the link was hashed with schema {fingerprint.hex()}, which this checker does not "
                           "know (use the checker of the Audit Layer version that wrote it)")
    if _schema_digest(canonical_schema) != pinned:
        raise ProofInvalid(f"the proof's link_schema is not the pinned schema {fingerprint.hex()}")
    reader = _Reader(link_bytes[16:])
    record = _decode(_parsed(canonical_schema), reader)
    if reader.pos != len(reader.data):
        raise ProofInvalid("the link bytes hold more than one record")
    return int.from_bytes(link_bytes[:8], "big"), record


def _first_difference(shown: Any, decoded: Any, path: str) -> str | None:
    if isinstance(decoded, dict) and isinstance(shown, dict):
        for key in sorted(set(shown) | set(decoded)):
            if key not in decoded:
                return f"{path}{key} (not in the hashed record)"
            if key not in shown:
                return f"{path}{key} (missing)"
            found = _first_difference(shown[key], decoded[key], f"{path}{key}.")
            if found:
                return found
        return None
    if shown != decoded or type(shown) is not type(decoded):
        return path.rstrip(".") or "record"
    return None


def verify(proof: dict[str, Any], trusted_keys: dict[str, bytes]) -> dict[str, Any]:
    """Returns the record decoded from the hashed link bytes; raises ProofInvalid naming the first thing that
    does not hold. `trusted_keys`: key id -> raw Ed25519 public key, given by the caller."""
    if proof.get("format") != FORMAT:
        raise ProofInvalid(f"not an {FORMAT} document" + (" (a v1 proof binds no record: ask the operator for "
                                                           "a new one)" if proof.get("format") == FORMAT_V1 else ""))
    try:
        seq = int(proof["seq"])
        link_bytes = _hex(proof["link_bytes"], "link_bytes", None)
        link_schema = str(proof["link_schema"])
        prev_hash = _hex(proof["prev_hash"], "prev_hash")
        record_hash = _hex(proof["hash"], "hash")
        path = [_hex(p, "audit_path entry") for p in proof["audit_path"]]
        cp = proof["checkpoint"]
        tree_size = int(cp["last_seq"])
        root = _hex(cp["merkle_root"], "checkpoint merkle_root")
        signature = base64.b64decode(cp["signature"], validate=True)
    except (KeyError, TypeError, ValueError) as exc:
        raise ProofInvalid(f"malformed proof: {exc!r}") from None

    if hashlib.sha256(prev_hash + link_bytes).digest() != record_hash:
        raise ProofInvalid("the record does not hash to its chain hash: the record or its hash was altered")
    linked_seq, decoded = decode_link(link_bytes, link_schema)
    if linked_seq != seq:
        raise ProofInvalid(f"link bytes are for seq {linked_seq}, not seq {seq}")
    if "record" not in proof:
        raise ProofInvalid("the proof shows no record: field record is missing")
    difference = _first_difference(proof["record"], decoded, "")
    if difference:
        raise ProofInvalid(f"the record shown differs from the hashed record in field {difference}")
    event = decoded["event"]
    for field, value in (("event_id", proof.get("event_id")), ("tenant_id", proof.get("tenant_id"))):
        if event.get(field) != value:
            raise ProofInvalid(f"field {field} of the proof ({value}) is not the hashed record's ({event.get(field)})")
    if cp.get("tenant_id") != event["tenant_id"]:
        raise ProofInvalid("the checkpoint is for another tenant")
    if not 1 <= seq <= tree_size:
        raise ProofInvalid(f"seq {seq} is not covered by a checkpoint of size {tree_size}")
    leaf = hashlib.sha256(b"\x00" + record_hash).digest()
    if _root_from_path(seq - 1, tree_size, leaf, path) != root:
        raise ProofInvalid("the audit path does not lead to the checkpoint's Merkle root: "
                           "the record is not in the log the checkpoint signs")
    public_raw = trusted_keys.get(str(cp.get("key_id")))
    if public_raw is None:
        raise ProofInvalid(f"the checkpoint is signed by key {cp.get('key_id')}, not a trusted key "
                           f"(trusted: {', '.join(sorted(trusted_keys)) or 'none'})")
    try:
        Ed25519PublicKey.from_public_bytes(public_raw).verify(signature, statement(cp))
    except (InvalidSignature, ValueError):
        raise ProofInvalid("the checkpoint signature does not verify: the checkpoint was altered "
                           "or signed by another key") from None
    return decoded


def read_trusted_key(path: str) -> tuple[str, bytes]:
    """A public key file as `audit-layer keys` writes it: the base64 of the raw 32-byte Ed25519 key."""
    with open(path, encoding="ascii") as handle:
        raw = base64.b64decode(handle.read().strip(), validate=True)
    if len(raw) != 32:
        raise ValueError(f"{path} does not hold a 32-byte Ed25519 public key")
    return key_id_of(raw), raw


def _summary(record: dict[str, Any]) -> str:
    event = record["event"]
    shown = [("user", event.get("user_id")), ("model", event.get("model")), ("action", event.get("action")),
             ("decision", event.get("decision_type")), ("outcome", event.get("decision_outcome")),
             ("risk", record.get("risk_level")), ("tags", ",".join(record.get("compliance_tags") or []))]
    return "  ".join(f"{k}={v}" for k, v in shown if v not in (None, ""))


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="offline_proof", description="Check an Audit Layer inclusion proof with nothing but the proof and "
        "the operator's public key(s), obtained from the operator out of band.")
    parser.add_argument("proof", help="the proof document (JSON), as `audit-layer proof --out` writes it")
    parser.add_argument("--trusted-key", action="append", default=[], metavar="FILE",
                        help="an operator public key file (base64 Ed25519); repeat for rotated keys. Required: "
                             "a key inside the proof is never trusted")
    args = parser.parse_args(argv[1:])
    if not args.trusted_key:
        parser.error("give at least one --trusted-key FILE (the operator's published checkpoint key)")
    try:
        trusted = dict(read_trusted_key(path) for path in args.trusted_key)
    except (OSError, ValueError) as exc:
        print(f"cannot read a trusted key: {exc}", file=sys.stderr)
        return 2
    try:
        with open(args.proof, encoding="utf-8") as handle:
            proof = json.load(handle)
        if not isinstance(proof, dict):
            raise ProofInvalid("the document is not a JSON object")
        record = verify(proof, trusted)
    except (OSError, json.JSONDecodeError) as exc:
        print(f"cannot read {args.proof}: {exc}", file=sys.stderr)
        return 2
    except ProofInvalid as exc:
        print(f"INVALID: {exc}")
        return 1
    print(f"VALID: event {record['event']['event_id']} is seq {proof['seq']} of tenant {record['event']['tenant_id']}, "
          f"in the log signed at size {proof['checkpoint']['last_seq']} by trusted key {proof['checkpoint']['key_id']}")
    print(f"  {_summary(record)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
