"""API keys in ClickHouse (`api_keys`), with a short cache so a request costs no query.

A revocation reaches every API process within CACHE_SECONDS. Unknown key ids are cached too, so a
caller guessing ids costs the database nothing more than one query per id and interval.
"""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections import OrderedDict
from typing import Any

from audit_layer_store.store import ClickHouseStore

from audit_layer_api.api_keys import ApiKey, KeyFormatError, NewKey, Scope, new_key

CACHE_SECONDS = 5.0
CACHE_ENTRIES = 10_000
_COLUMNS = ["key_id", "tenant_id", "name", "scopes", "secret_sha256", "rate_per_s", "created_by", "created_at",
            "revoked_at", "version"]
_SELECT = ("SELECT key_id, tenant_id, name, scopes, secret_sha256, rate_per_s, created_by, toString(created_at), "
           "revoked_at IS NOT NULL FROM {db}.api_keys FINAL")
DEFAULT_RATE_PER_S = 50.0


def _version() -> int:
    return time.time_ns()


def _key(row: tuple[Any, ...]) -> ApiKey:
    key_id, tenant, name, scopes, digest, rate, by, created, revoked = row
    return ApiKey(key_id, tenant, name, frozenset(Scope(s) for s in scopes if s in Scope.__members__.values()),
                  bytes(digest) if isinstance(digest, bytes | bytearray) else str(digest).encode("latin-1"),
                  float(rate), by, created, bool(revoked))


class KeyStore:
    def __init__(self, store: ClickHouseStore) -> None:
        self.store = store
        self._cache: OrderedDict[str, tuple[float, ApiKey | None]] = OrderedDict()
        self._lock = threading.Lock()

    def create(self, tenant_id: str, scopes: frozenset[Scope], *, name: str = "", created_by: str = "",
               rate_per_s: float = DEFAULT_RATE_PER_S) -> tuple[NewKey, ApiKey]:
        if not tenant_id or tenant_id != tenant_id.strip() or not tenant_id.isprintable():
            raise KeyFormatError("a key belongs to one organisation: give its tenant id (printable, no spaces around)")
        if not scopes:
            raise KeyFormatError("a key needs at least one scope")
        if not rate_per_s > 0:
            raise KeyFormatError("the rate limit must be a positive number of requests per second")
        made = new_key()
        now = dt.datetime.now(dt.UTC)
        self.store.insert("api_keys", [[made.key_id, tenant_id, name, sorted(s.value for s in scopes),
                                        made.secret_sha256, rate_per_s, created_by, now, None, _version()]],
                          _COLUMNS)
        return made, ApiKey(made.key_id, tenant_id, name, scopes, made.secret_sha256, rate_per_s, created_by,
                            now.isoformat())

    def revoke(self, key_id: str, tenant_id: str | None = None) -> ApiKey:
        """Revoke a key (of `tenant_id` only, when given: an organisation revokes its own keys)."""
        key = self._load(key_id)
        if key is None or (tenant_id is not None and key.tenant_id != tenant_id):
            raise KeyError(key_id)
        if not key.revoked:
            created = dt.datetime.fromisoformat(key.created_at).replace(tzinfo=dt.UTC)
            self.store.insert("api_keys", [[key.key_id, key.tenant_id, key.name, sorted(s.value for s in key.scopes),
                                            key.secret_sha256, key.rate_per_s, key.created_by, created,
                                            dt.datetime.now(dt.UTC), _version()]], _COLUMNS)
        with self._lock:
            self._cache.pop(key_id, None)
        return ApiKey(**{**vars(key), "revoked": True})

    def list(self, tenant_id: str | None = None) -> list[ApiKey]:
        where = " WHERE tenant_id = {t:String}" if tenant_id else ""
        rows = self.store.query(_SELECT.format(db=self.store.database) + where + " ORDER BY created_at, key_id",
                                parameters={"t": tenant_id} if tenant_id else None).result_rows
        return [_key(tuple(r)) for r in rows]

    def _load(self, key_id: str) -> ApiKey | None:
        rows = self.store.query(_SELECT.format(db=self.store.database) + " WHERE key_id = {k:String}",
                                parameters={"k": key_id}).result_rows
        return _key(tuple(rows[0])) if rows else None

    def cached(self, key_id: str) -> ApiKey | None:
        """The key when the cache holds it fresh (no query; None also for a cached unknown id)."""
        with self._lock:
            hit = self._cache.get(key_id)
        if hit is not None and time.monotonic() - hit[0] < CACHE_SECONDS:
            return hit[1]
        return None

    def find(self, key_id: str) -> ApiKey | None:
        """The key by id, from the cache when it is fresh."""
        now = time.monotonic()
        with self._lock:
            hit = self._cache.get(key_id)
            if hit is not None and now - hit[0] < CACHE_SECONDS:
                return hit[1]
        key = self._load(key_id)
        with self._lock:
            self._cache[key_id] = (now, key)
            self._cache.move_to_end(key_id)
            while len(self._cache) > CACHE_ENTRIES:
                self._cache.popitem(last=False)
        return key
