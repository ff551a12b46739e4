"""Every Python example of producer/README.md, run as written in its own process, against a local
stand-in for the providers' HTTP APIs (a real socket on loopback) and the real broker."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from audit_layer_schemas import Topics

from tests.conftest import REPO
from tests.integration.test_sdk_openai import _read

pytestmark = pytest.mark.integration
EXAMPLES = re.findall(r"```python\n(.*?)```", (REPO / "producer" / "README.md").read_text(), re.S)


class _Provider(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["content-length"])))
        if self.path.endswith("/messages") and body.get("stream"):
            self._sse([("message_start", {"type": "message_start", "message": {
                           "id": "m", "type": "message", "role": "assistant", "model": body["model"], "content": [],
                           "stop_reason": None, "stop_sequence": None,
                           "usage": {"input_tokens": 10, "output_tokens": 1}}}),
                       ("content_block_start", {"type": "content_block_start", "index": 0,
                                                "content_block": {"type": "text", "text": ""}}),
                       ("content_block_delta", {"type": "content_block_delta", "index": 0,
                                                "delta": {"type": "text_delta", "text": "Stable at discharge."}}),
                       ("content_block_stop", {"type": "content_block_stop", "index": 0}),
                       ("message_delta", {"type": "message_delta", "delta": {"stop_reason": "end_turn"},
                                          "usage": {"output_tokens": 4}}),
                       ("message_stop", {"type": "message_stop"})])
            return
        if self.path.endswith("/responses"):
            self._json({"id": "r", "object": "response", "created_at": 1, "model": body["model"],
                        "status": "completed", "parallel_tool_calls": True, "tool_choice": "auto", "tools": [],
                        "output": [{"type": "message", "id": "m", "role": "assistant", "status": "completed",
                                    "content": [{"type": "output_text", "text": "Refer.", "annotations": []}]}],
                        "usage": {"input_tokens": 9, "output_tokens": 2, "total_tokens": 11}})
            return
        if self.path.endswith("/messages"):
            payload = {"id": "m", "type": "message", "role": "assistant", "model": body["model"],
                       "content": [{"type": "text", "text": "See a doctor today."}], "stop_reason": "end_turn",
                       "stop_sequence": None, "usage": {"input_tokens": 10, "output_tokens": 5}}
            self._json(payload)
            return
        base = {"id": "c", "created": 1, "model": body["model"]}
        if body.get("stream"):
            self.send_response(200)
            self.send_header("content-type", "text/event-stream")
            self.end_headers()
            for text, finish in (("Case 7 ", None), ("summary.", "stop")):
                chunk = {**base, "object": "chat.completion.chunk",
                         "choices": [{"index": 0, "delta": {"content": text}, "finish_reason": finish}]}
                self.wfile.write(f"data: {json.dumps(chunk)}\n\n".encode())
            self.wfile.write(b"data: [DONE]\n\n")
            return
        self._json({**base, "object": "chat.completion",
                    "choices": [{"index": 0, "finish_reason": "stop",
                                 "message": {"role": "assistant", "content": "Denied."}}],
                    "usage": {"prompt_tokens": 8, "completion_tokens": 2, "total_tokens": 10}})

    def _sse(self, events: list[tuple[str, dict[str, object]]]) -> None:
        self.send_response(200)
        self.send_header("content-type", "text/event-stream")
        self.end_headers()
        for name, data in events:
            self.wfile.write(f"event: {name}\ndata: {json.dumps(data)}\n\n".encode())

    def _json(self, payload: dict[str, object]) -> None:
        data = json.dumps(payload).encode()
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def provider_url() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Provider)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def test_the_readme_has_an_example_per_integration() -> None:
    text = "\n".join(EXAMPLES)
    for name in ("AuditOpenAI(", "AuditAnthropic(", "AuditCallbackHandler(", "AuditMiddleware", "AuditCollector(",
                 "responses.create(", "messages.stream("):
        assert name in text


@pytest.mark.parametrize("index", range(len(EXAMPLES)))
def test_readme_example_runs_as_written_and_is_recorded(index: int, provider_url: str, kafka_bootstrap: str,
                                                         topics: Topics, tmp_path: Path) -> None:
    env = {**os.environ, "OPENAI_API_KEY": "test", "OPENAI_BASE_URL": f"{provider_url}/v1",
           "ANTHROPIC_API_KEY": "test", "ANTHROPIC_BASE_URL": provider_url, "AUDIT_LAYER_ORG_ID": "acme-bank",
           "AUDIT_LAYER_BOOTSTRAP_SERVERS": kafka_bootstrap, "AUDIT_LAYER_TOPIC_PREFIX": topics.prefix,
           "AUDIT_LAYER_SPOOL_DIR": str(tmp_path / "spool")}
    out = subprocess.run([sys.executable, "-c", EXAMPLES[index]], capture_output=True, text=True, env=env,
                         timeout=120)
    assert out.returncode == 0, out.stderr[-3000:]
    [(key, event)] = _read(kafka_bootstrap, topics.events, 1)
    assert key == b"acme-bank" and event["tenant_id"] == "acme-bank"
