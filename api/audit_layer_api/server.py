"""Running the API: one process, or several sharing the port (uvicorn --workers)."""

from __future__ import annotations

import json
import logging
import os
import secrets
from pathlib import Path
from typing import Any

from audit_layer_schemas import Topics
from audit_layer_store.store import ClickHouseStore

from audit_layer_api.app import create_app
from audit_layer_api.service import ApiSettings, Backends

log = logging.getLogger("audit_layer_api")
CONFIG_ENV = "AUDIT_LAYER_API_CONFIG"


def app_from_env() -> Any:
    """A worker process's app (uvicorn --workers): settings from the parent, the store through the
    parent's (the embedded engine's owner serves it; a ClickHouse server is opened directly)."""
    config = json.loads(os.environ[CONFIG_ENV])
    settings = ApiSettings(config["bootstrap"], Topics(config["prefix"]), public_keys=Path(config["public_keys"]),
                           report_key=Path(config["report_key"]) if config["report_key"] else None,
                           max_body_bytes=config["max_body_bytes"], backend_timeout_s=config["backend_timeout_s"],
                           verify_timeout_s=config["verify_timeout_s"], workers=config["workers"],
                           read_only=config["read_only"], console_secret=bytes.fromhex(config["console_secret"]),
                           witness_dirs=tuple(Path(d) for d in config["witness_dirs"]))
    return create_app(Backends(settings, ClickHouseStore(config["dsn"], config["database"])))


def serve(settings: ApiSettings, store: ClickHouseStore, *, host: str, port: int, access_log: bool = False,
          log_level: str = "INFO") -> None:
    """Run the API; with settings.workers > 1, as that many processes sharing the port."""
    import uvicorn

    options: dict[str, Any] = {"host": host, "port": port, "access_log": access_log, "log_level": log_level.lower(),
                               "limit_concurrency": 2000, "timeout_graceful_shutdown": 10, "server_header": False}
    log.info("Audit Layer %s on http://%s:%d with %d process(es) (console: /console, OpenAPI: /openapi.json, "
             "docs: /docs)", "console (read-only)" if settings.read_only else "API", host, port, settings.workers)
    if settings.workers > 1:
        secret = settings.console_secret or secrets.token_bytes(32)  # one console session key for every worker
        os.environ[CONFIG_ENV] = json.dumps({
            "console_secret": secret.hex(), "witness_dirs": [str(d) for d in settings.witness_dirs],
            "bootstrap": settings.bootstrap_servers, "prefix": settings.topics.prefix,
            "public_keys": str(settings.public_keys), "max_body_bytes": settings.max_body_bytes,
            "report_key": None if settings.report_key is None else str(settings.report_key),
            "read_only": settings.read_only,
            "backend_timeout_s": settings.backend_timeout_s, "verify_timeout_s": settings.verify_timeout_s,
            "workers": settings.workers, "dsn": store.dsn, "database": store.database})
        uvicorn.run("audit_layer_api.server:app_from_env", factory=True, workers=settings.workers, **options)
        return
    backends = Backends(settings, store)
    try:
        uvicorn.run(create_app(backends), **options)
    finally:
        backends.close()
