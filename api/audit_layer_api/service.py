"""The API's settings and backends (Kafka producer, ClickHouse store, keys); server.py runs it."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from audit_layer_governance.reports.signature import load_report_key
from audit_layer_ledger.proofs import load_public_keys
from audit_layer_schemas import Topics
from audit_layer_store.store import ClickHouseStore
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from audit_layer_api.kafka_acks import AckingProducer, AckPolicy
from audit_layer_api.key_store import KeyStore
from audit_layer_api.rate_limit import RateLimiter

log = logging.getLogger("audit_layer_api")
PUBLIC_KEYS_REFRESH_S = 30.0


@dataclass(frozen=True)
class ApiSettings:
    bootstrap_servers: str
    topics: Topics = field(default_factory=Topics)
    public_keys: Path = Path("data/keys")
    # signs pdf reports (made on first use when missing; $AUDIT_LAYER_REPORT_KEY overrides)
    report_key: Path | None = None
    max_body_bytes: int = 8 * 1024 * 1024  # a batch of 1,000 typical events; one event is at most ~1.6 MB
    backend_timeout_s: float = 10.0
    verify_timeout_s: float = 120.0
    unknown_key_rate_per_s: float = 20.0  # per client address
    acks: AckPolicy = field(default_factory=AckPolicy)
    workers: int = 1  # processes; each enforces 1/workers of a key's rate limit
    # `audit-layer console`: reading only (console and read routes); no ingest, reviews or key admin
    read_only: bool = False
    # seals console session cookies; None: random per process (sessions end at a restart). Processes
    # serving one port share it (server.py hands the parent's to its workers)
    console_secret: bytes | None = None
    # folders of witnesses (`audit-layer witness --state`), whose cosignatures the console shows
    witness_dirs: tuple[Path, ...] = ()

    @property
    def query_settings(self) -> dict[str, Any]:
        # the database stops a query the API has given up on
        return {"max_execution_time": int(self.backend_timeout_s)}


class Backends:
    def __init__(self, settings: ApiSettings, store: ClickHouseStore) -> None:
        self.settings = settings
        self.store = store
        self.topics = settings.topics
        self.keys = KeyStore(store)
        self.limiter = RateLimiter()
        self.producer = AckingProducer(settings.bootstrap_servers, settings.acks)
        self._public_keys: dict[str, bytes] = {}
        self._keys_loaded = 0.0
        self._report_key: Ed25519PrivateKey | None = None

    def public_keys(self) -> dict[str, bytes]:
        """The trusted checkpoint keys, re-read now and then so a rotated key is picked up."""
        if time.monotonic() - self._keys_loaded > PUBLIC_KEYS_REFRESH_S:
            self._public_keys = load_public_keys(self.settings.public_keys)
            self._keys_loaded = time.monotonic()
        return self._public_keys

    def report_key(self) -> Ed25519PrivateKey:
        if self._report_key is None:
            self._report_key = load_report_key(self.settings.report_key)
        return self._report_key

    def stored_size(self, tenant: str) -> int:
        # newest first in the sort key's order reads one granule; max(seq) reads every seq of the tenant
        rows = self.store.query(f"SELECT seq FROM {self.store.database}.events WHERE tenant_id = {{t:String}} "
                                "ORDER BY seq DESC LIMIT 1", parameters={"t": tenant}).result_rows
        return int(rows[0][0]) if rows else 0

    def close(self) -> None:
        self.producer.close()
