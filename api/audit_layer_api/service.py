"""The API's settings and backends (Kafka producer, ClickHouse store, keys), and running it."""

from __future__ import annotations

import json
import logging
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from audit_layer_ledger.proofs import load_public_keys
from audit_layer_schemas import Topics
from audit_layer_store.store import ClickHouseStore

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
    max_body_bytes: int = 8 * 1024 * 1024  # a batch of 1,000 typical events; one event is at most ~1.6 MB
    backend_timeout_s: float = 10.0
    verify_timeout_s: float = 120.0
    unknown_key_rate_per_s: float = 20.0  # per client address
    acks: AckPolicy = field(default_factory=AckPolicy)
    workers: int = 1  # processes; each enforces 1/workers of a key's rate limit

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

    def public_keys(self) -> dict[str, bytes]:
        """The trusted checkpoint keys, re-read now and then so a rotated key is picked up."""
        if time.monotonic() - self._keys_loaded > PUBLIC_KEYS_REFRESH_S:
            self._public_keys = load_public_keys(self.settings.public_keys)
            self._keys_loaded = time.monotonic()
        return self._public_keys

    def stored_size(self, tenant: str) -> int:
        rows = self.store.query(f"SELECT max(seq) FROM {self.store.database}.events WHERE tenant_id = {{t:String}}",
                                parameters={"t": tenant}).result_rows
        return int(rows[0][0] or 0)

    def close(self) -> None:
        self.producer.close()


CONFIG_ENV = "AUDIT_LAYER_API_CONFIG"


def app_from_env() -> Any:
    """A worker process's app (uvicorn --workers): settings from the parent, the store through the
    parent's (the embedded engine's owner serves it; a ClickHouse server is opened directly)."""
    from audit_layer_api.app import create_app

    config = json.loads(os.environ[CONFIG_ENV])
    settings = ApiSettings(config["bootstrap"], Topics(config["prefix"]), public_keys=Path(config["public_keys"]),
                           max_body_bytes=config["max_body_bytes"], backend_timeout_s=config["backend_timeout_s"],
                           verify_timeout_s=config["verify_timeout_s"], workers=config["workers"])
    return create_app(Backends(settings, ClickHouseStore(config["dsn"], config["database"])))


def serve(settings: ApiSettings, store: ClickHouseStore, *, host: str, port: int, access_log: bool = False,
          log_level: str = "INFO") -> None:
    """Run the API; with settings.workers > 1, as that many processes sharing the port."""
    import uvicorn

    from audit_layer_api.app import create_app

    options: dict[str, Any] = {"host": host, "port": port, "access_log": access_log, "log_level": log_level.lower(),
                               "limit_concurrency": 2000, "timeout_graceful_shutdown": 10, "server_header": False}
    log.info("Audit Layer API on http://%s:%d with %d process(es) (OpenAPI: /openapi.json, docs: /docs)",
             host, port, settings.workers)
    if settings.workers > 1:
        os.environ[CONFIG_ENV] = json.dumps({
            "bootstrap": settings.bootstrap_servers, "prefix": settings.topics.prefix,
            "public_keys": str(settings.public_keys), "max_body_bytes": settings.max_body_bytes,
            "backend_timeout_s": settings.backend_timeout_s, "verify_timeout_s": settings.verify_timeout_s,
            "workers": settings.workers, "dsn": store.dsn, "database": store.database})
        uvicorn.run("audit_layer_api.service:app_from_env", factory=True, workers=settings.workers, **options)
        return
    backends = Backends(settings, store)
    try:
        uvicorn.run(create_app(backends), **options)
    finally:
        backends.close()
