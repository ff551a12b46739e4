"""A FastAPI app with the audit middleware served by a real gunicorn with --preload and 4 workers: the
publisher is made in the master before the workers fork, and every request is recorded exactly once."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import httpx
import pytest
from audit_layer_schemas import Topics

from tests.integration.test_sdk_openai import _read

pytestmark = pytest.mark.integration
REQUESTS = 120

APP = '''
import os

from fastapi import FastAPI

from audit_layer_sdk import AuditCollector, AuditConfig, AuditPublisher
from audit_layer_sdk.integrations.fastapi import AuditMiddleware

publisher = AuditPublisher(AuditConfig(bootstrap_servers=os.environ["TEST_BOOTSTRAP"], topic=os.environ["TEST_TOPIC"],
                                       spool_dir=os.environ["TEST_SPOOL"]))
with AuditCollector(publisher, tenant_id="acme-bank", user_id="master") as audit:  # before the workers fork
    audit.set_input("started")

app = FastAPI()
app.add_middleware(AuditMiddleware, store=publisher, tenant_id="acme-bank", path_prefix="/decide",
                   user_header="x-user-id")


@app.post("/decide/{n}")
def decide(n: int) -> dict[str, int]:
    return {"n": n, "pid": os.getpid()}
'''


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_gunicorn_preload_workers_record_every_request_once(kafka_bootstrap: str, topics: Topics,
                                                            tmp_path: Path) -> None:
    (tmp_path / "audited_app.py").write_text(APP)
    port = _free_port()
    env = {**os.environ, "TEST_BOOTSTRAP": kafka_bootstrap, "TEST_TOPIC": topics.events,
           "TEST_SPOOL": str(tmp_path / "spool"), "PYTHONPATH": os.pathsep.join([str(tmp_path), *sys.path])}
    server = subprocess.Popen([sys.executable, "-m", "gunicorn", "--preload", "-w", "4", "-k",
                               "uvicorn.workers.UvicornWorker", "-b", f"127.0.0.1:{port}", "audited_app:app"],
                              cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    pids: Counter[int] = Counter()
    try:
        deadline = time.monotonic() + 60
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10) as http:
            while True:
                try:
                    http.get("/")
                    break
                except httpx.TransportError:
                    assert server.poll() is None and time.monotonic() < deadline, "gunicorn did not start"
                    time.sleep(0.2)
            for n in range(REQUESTS):
                answer = http.post(f"/decide/{n}", headers={"x-user-id": f"user-{n}", "connection": "close"})
                assert answer.status_code == 200
                pids[answer.json()["pid"]] += 1
    finally:
        server.send_signal(signal.SIGTERM)  # graceful: each worker, then the master, closes its publisher
        output = server.communicate(timeout=60)[0].decode(errors="replace")
    assert server.returncode == 0, output[-3000:]
    assert len(pids) >= 2, f"the requests reached one worker only: {pids}"
    events = [e for _, e in _read(kafka_bootstrap, topics.events, REQUESTS + 1, timeout=60)]
    users = Counter(e["user_id"] for e in events)
    assert users == {"master": 1, **{f"user-{n}": 1 for n in range(REQUESTS)}}, users
    assert len({e["event_id"] for e in events}) == REQUESTS + 1
