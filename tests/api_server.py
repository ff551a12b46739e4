"""The REST API served over real HTTP on loopback (uvicorn in a thread of the test process, which
owns the embedded engine), with keys of its own organisations."""

from __future__ import annotations

import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import uvicorn
from audit_layer_api.api_keys import Scope
from audit_layer_api.app import create_app
from audit_layer_api.service import ApiSettings, Backends
from audit_layer_schemas import Topics

ALL_SCOPES = frozenset(Scope)


class ApiServer:
    # the pipeline behind it, when started by api_pipeline()
    workers: list[Any] = []
    sink: Any = None

    def __init__(self, bootstrap: str, topics: Topics, store: Any, public_keys: Path, port: int = 0,
                 **settings: Any) -> None:
        # pdf reports are signed with a report key of the test's own, never the developer's data/report-keys
        settings.setdefault("report_key", Path(tempfile.mkdtemp(prefix="audit-layer-report-key-")) / "report.pem")
        self.backends = Backends(ApiSettings(bootstrap, topics, public_keys=public_keys, **settings), store)
        self.app = create_app(self.backends)
        self.server = uvicorn.Server(uvicorn.Config(self.app, host="127.0.0.1", port=port, log_level="warning",
                                                    lifespan="off"))
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started:
            assert time.monotonic() < deadline, "the API did not start"
            time.sleep(0.02)
        port = self.server.servers[0].sockets[0].getsockname()[1]
        self.url = f"http://127.0.0.1:{port}"

    def key(self, tenant: str, scopes: frozenset[Scope] = ALL_SCOPES, rate_per_s: float = 10_000.0,
            name: str = "test") -> str:
        made, _ = self.backends.keys.create(tenant, scopes, name=name, created_by="tests", rate_per_s=rate_per_s)
        return made.token

    def client(self, token: str | None = None) -> httpx.Client:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return httpx.Client(base_url=self.url, headers=headers, timeout=60)

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(15)
        self.backends.close()


@contextmanager
def api_pipeline(bootstrap: str, topics: Topics, store: Any, log_dir: Path, *,
                 checkpoint_every: int, port: int = 0) -> Iterator[ApiServer]:
    """The API with what it needs behind it: the enricher and sequencer processes and the sink (in this
    process, which owns the embedded engine); everything stopped afterwards."""
    from tests.conftest import KEY_DIR, SinkThread, Worker, trusted_keys

    trusted_keys()  # makes the session's signing key
    workers = [Worker("enricher", bootstrap, topics, log_dir),
               Worker("sequencer", bootstrap, topics, log_dir, "--checkpoint-every", str(checkpoint_every),
                      "--checkpoint-seconds", "1")]
    sink = SinkThread(bootstrap, topics, store)
    server = ApiServer(bootstrap, topics, store, KEY_DIR, port=port)
    server.workers, server.sink = workers, sink
    try:
        yield server
    finally:
        server.stop()
        sink.stop()
        for worker in workers:
            worker.stop()
