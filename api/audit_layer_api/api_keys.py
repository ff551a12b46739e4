"""API keys: their format, their hash, and what a key may do (pure; storage is in key_store.py).

A key reads `al_sk_<key id>_<secret>`. The key id (12 hex characters) is public: it names the key
in listings, logs and access records. The secret is 32 random bytes (base64url); only its SHA-256
is stored, so a leaked key table does not leak a usable key.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from enum import StrEnum

PREFIX = "al_sk_"
_KEY = re.compile(r"^al_sk_([0-9a-f]{12})_([A-Za-z0-9_-]{43})$")


class Scope(StrEnum):
    INGEST = "ingest"  # POST /v1/audit/log
    READ = "read"  # search, records, chain verification and checkpoints
    REPORTS = "reports"  # POST /v1/reports/generate
    ADMIN = "admin"  # the organisation's own API keys
    REVIEW = "review"  # record a person's review of a decision (console, POST /v1/audit/logs/{id}/reviews)
    PII = "pii"  # see personal data the enricher found, unmasked, in the console


class KeyFormatError(ValueError):
    pass


def parse_scopes(text: str) -> frozenset[Scope]:
    """`ingest,read` -> scopes; an unknown name is an error that lists the known ones."""
    names = [n.strip() for n in text.split(",") if n.strip()]
    if not names:
        raise KeyFormatError(f"no scopes given; choose from {', '.join(s.value for s in Scope)}")
    unknown = [n for n in names if n not in Scope.__members__.values()]
    if unknown:
        raise KeyFormatError(f"unknown scope {', '.join(unknown)}; choose from {', '.join(s.value for s in Scope)}")
    return frozenset(Scope(n) for n in names)


def secret_hash(secret: str) -> bytes:
    return hashlib.sha256(secret.encode("ascii")).digest()


@dataclass(frozen=True)
class NewKey:
    """A freshly made key: the full token is shown once and never stored."""

    key_id: str
    token: str
    secret_sha256: bytes


def new_key() -> NewKey:
    key_id = secrets.token_hex(6)
    secret = base64.urlsafe_b64encode(secrets.token_bytes(32)).decode().rstrip("=")
    return NewKey(key_id, f"{PREFIX}{key_id}_{secret}", secret_hash(secret))


def split_token(token: str) -> tuple[str, str]:
    """(key id, secret) of a bearer token, or KeyFormatError saying what a key looks like."""
    match = _KEY.match(token)
    if match is None:
        raise KeyFormatError("an API key looks like al_sk_<12 hex>_<43 characters>; "
                             "create one with `audit-layer keys create`")
    return match.group(1), match.group(2)


@dataclass(frozen=True)
class ApiKey:
    """A stored key: which organisation it belongs to, and what it may do."""

    key_id: str
    tenant_id: str
    name: str
    scopes: frozenset[Scope]
    secret_sha256: bytes
    rate_per_s: float
    created_by: str = ""
    created_at: str = ""
    revoked: bool = False

    def accepts(self, secret: str) -> bool:
        return not self.revoked and hmac.compare_digest(secret_hash(secret), self.secret_sha256)
