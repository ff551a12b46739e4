"""deploy/otel-collector/audit-layer.yaml as users run it: in an OpenTelemetry Collector built from the upstream
components it names (tests/interop/otelcol, from the Go module proxy), between an application traced by the
official openai-v2 instrumentation (spans and content log records, the OTel SDK's own exporters) and the
running API. Every GenAI call reaches the audit trail with its content event; the spans that are not GenAI
reach only the team's tracing backend (a stand-in here); the chain verifies."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
from audit_layer_schemas import Topics

from tests.api_server import ApiServer, api_pipeline
from tests.conftest import REPO, verify, wait_for_rows

pytestmark = pytest.mark.integration
DISTRIBUTION = REPO / "tests/interop/otelcol"
RECIPE = REPO / "deploy/otel-collector/audit-layer.yaml"


@pytest.fixture
def api(kafka_bootstrap: str, topics: Topics, store: Any, tmp_path: Path) -> Iterator[ApiServer]:
    with api_pipeline(kafka_bootstrap, topics, store, tmp_path, checkpoint_every=5) as server:
        yield server


@pytest.fixture(scope="module")
def otelcol(tmp_path_factory: pytest.TempPathFactory) -> Path:
    binary = tmp_path_factory.mktemp("otelcol") / "otelcol"
    subprocess.run(["go", "build", "-o", str(binary), "."], cwd=DISTRIBUTION, check=True, timeout=1200)
    return binary


class TracingBackend(BaseHTTPRequestHandler):
    """The team's usual tracing backend, as far as the collector can tell: OTLP/HTTP, the span names kept."""

    names: list[str] = []

    def do_POST(self) -> None:
        from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

        body = self.rfile.read(int(self.headers.get("content-length", 0)))
        if self.headers.get("content-encoding") == "gzip":
            import gzip

            body = gzip.decompress(body)
        request = ExportTraceServiceRequest.FromString(body)
        self.names.extend(s.name for rs in request.resource_spans for ss in rs.scope_spans for s in ss.spans)
        self.send_response(200)
        self.send_header("content-type", "application/x-protobuf")
        self.send_header("content-length", "0")
        self.end_headers()

    def log_message(self, *_: Any) -> None:
        pass


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_for_port(port: int, process: subprocess.Popen[str], seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        assert process.poll() is None, f"the collector exited: {process.stdout.read() if process.stdout else ''}"
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.2)
    raise AssertionError(f"the collector did not listen on {port} within {seconds:.0f} s")


def test_the_collector_recipe_forwards_genai_spans_and_content_and_keeps_the_rest_for_tracing(
        api: ApiServer, store: Any, otelcol: Path, provider_url: str, tmp_path: Path) -> None:
    tenant = "otel-collector"
    key = api.key(tenant)
    backend = ThreadingHTTPServer(("127.0.0.1", 0), TracingBackend)
    TracingBackend.names = []
    threading.Thread(target=backend.serve_forever, daemon=True).start()
    port = _free_port()
    env = {**os.environ, "AUDIT_LAYER_URL": api.url, "AUDIT_LAYER_API_KEY": key,
           "TRACING_BACKEND": f"http://127.0.0.1:{backend.server_port}",
           "AUDIT_LAYER_QUEUE_DIR": str(tmp_path / "audit-queue")}
    assert subprocess.run([str(otelcol), "validate", f"--config={RECIPE}"], env=env, capture_output=True,
                          text=True, timeout=60).returncode == 0
    collector = subprocess.Popen(
        [str(otelcol), f"--config={RECIPE}",
         f"--set=receivers::otlp::protocols::http::endpoint=127.0.0.1:{port}",
         "--set=receivers::otlp::protocols::grpc::endpoint=127.0.0.1:0",
         "--set=service::telemetry::metrics::level=none"],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        _wait_for_port(port, collector)
        # the application sends to the collector, not to Audit Layer; its key goes with the collector's exporter
        done = subprocess.run([sys.executable, "-m", "tests.otlp_client", "default", f"http://127.0.0.1:{port}",
                               "not-a-key", provider_url], cwd=REPO, capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr[-3000:]
        other = {"resourceSpans": [{"scopeSpans": [{"spans": [{
            "traceId": "5b8efff798038103d269b633813fc60c", "spanId": "00f067aa0ba902b7", "name": "GET /health",
            "startTimeUnixNano": str(time.time_ns() - 1000), "endTimeUnixNano": str(time.time_ns()),
            "attributes": [{"key": "http.request.method", "value": {"stringValue": "GET"}}]}]}]}]}
        assert httpx.post(f"http://127.0.0.1:{port}/v1/traces", json=other).status_code == 200

        assert wait_for_rows(store, 6, workers=api.workers, sink=api.sink) >= 6
        time.sleep(3)
        rows = store.query(f"SELECT operation, span_id, prompt, response, metadata FROM {store.database}.events "
                           "WHERE tenant_id = {t:String} ORDER BY timestamp", parameters={"t": tenant}).result_rows
        calls = [r for r in rows if r[0] == "chat"]
        content = {r[1]: r for r in rows if r[0] == "content"}
        assert (len(calls), len(content)) == (3, 3), rows
        plain = calls[0]
        assert json.loads(content[plain[1]][2])[-1] == {
            "role": "user", "content": "Applicant 12: income 40k, debt 35k. Approve?"}
        assert content[plain[1]][3] == "Denied." and plain[4]["resource.service.name"] == "loan-desk"
        report = verify(store)
        assert report.ok, report.findings[:3]
        # the filter kept the non-GenAI span from the audit trail; the tracing backend got everything
        metrics = httpx.get(f"{api.url}/metrics").text
        assert 'audit_layer_otlp_spans_total{outcome="ignored"}' not in metrics or \
            'audit_layer_otlp_spans_total{outcome="ignored"} 0.0' in metrics
        deadline = time.monotonic() + 30
        while "GET /health" not in TracingBackend.names and time.monotonic() < deadline:
            time.sleep(0.5)
        assert "GET /health" in TracingBackend.names
        assert sum(name.startswith("chat") for name in TracingBackend.names) == 3
    finally:
        collector.terminate()
        try:
            collector.wait(30)
        except subprocess.TimeoutExpired:
            collector.kill()
        backend.shutdown()
