"""A local stand-in for the LLM providers' HTTP APIs, for tests that run the documents' examples as written
in their own processes (the provider clients find it through OPENAI_BASE_URL / ANTHROPIC_BASE_URL)."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Provider(BaseHTTPRequestHandler):
    """Canned answers of the OpenAI and Anthropic HTTP APIs (plain, streamed, Responses), on a real socket."""

    def _body(self) -> bytes:
        """The request body, sized or chunked (Node's clients send chunked)."""
        if self.headers.get("content-length") is not None:
            return self.rfile.read(int(self.headers["content-length"]))
        chunks = []
        while size := int(self.rfile.readline().split(b";")[0], 16):
            chunks.append(self.rfile.read(size))
            self.rfile.readline()
        self.rfile.readline()
        return b"".join(chunks)

    def do_POST(self) -> None:
        body = json.loads(self._body())
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


@contextmanager
def serving() -> Iterator[str]:
    """The stand-in on a free loopback port; yields its base URL."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), Provider)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
