"""`AuditMiddleware`: one audit event per HTTP request under `path_prefix` of an ASGI app
(FastAPI, Starlette). A plain ASGI middleware: the response, streaming included, passes through
unbuffered; only its first `max_body_bytes` are copied aside when `capture_body` is on.

    app.add_middleware(AuditMiddleware, tenant_id="acme", path_prefix="/decide", capture_body=True)

2xx/3xx -> ALLOW, 4xx/5xx -> REJECT (reason code http_<status>), an exception in the app ->
FAIL_RETRY, and the exception re-raised.
"""

from __future__ import annotations

import re
import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from audit_layer_schemas import Action

from audit_layer_sdk._log import log
from audit_layer_sdk.audited_client import AuditedClient
from audit_layer_sdk.destinations import Publisher
from audit_layer_sdk.recording import record_error

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]
_TRACEPARENT = re.compile(r"^[0-9a-f]{2}-([0-9a-f]{32})-([0-9a-f]{16})-[0-9a-f]{2}$")


class _Capture:
    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.parts: list[bytes] = []
        self.size = 0
        self.truncated = False

    def add(self, chunk: bytes) -> None:
        room = self.limit - self.size
        if room <= 0:
            self.truncated = self.truncated or bool(chunk)
            return
        self.parts.append(chunk[:room])
        self.size += min(len(chunk), room)
        self.truncated = self.truncated or len(chunk) > room

    def text(self) -> str:
        return b"".join(self.parts).decode("utf-8", "replace")


class AuditMiddleware:
    def __init__(self, app: ASGIApp, publisher: Publisher | None = None, tenant_id: str | None = None,
                 path_prefix: str = "/", capture_body: bool = False, max_body_bytes: int = 16 * 1024,
                 trace_header: str = "traceparent", session_header: str = "x-session-id",
                 user_header: str = "x-user-id", store: Publisher | None = None) -> None:
        self.app = app
        self._client = AuditedClient(None, tenant_id, None, None, publisher or store)
        self.path_prefix = path_prefix
        self.capture_body = capture_body
        self.max_body_bytes = max_body_bytes
        self.trace_header = trace_header.lower().encode()
        self.session_header = session_header.lower().encode()
        self.user_header = user_header.lower().encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope.get("type") != "http" or not str(scope.get("path", "")).startswith(self.path_prefix):
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        collector = self._client._collector({})
        request_body = _Capture(self.max_body_bytes if self.capture_body else 0)
        response_body = _Capture(self.max_body_bytes if self.capture_body else 0)
        status: list[int] = []
        started = time.perf_counter()
        try:
            given = headers.get(self.trace_header, b"").decode("latin-1").strip()
            trace = _TRACEPARENT.match(given)
            collector.fields.update(provider="http", operation="http.request",
                                    session_id=headers.get(self.session_header, b"").decode("latin-1") or None,
                                    user_id=headers.get(self.user_header, b"").decode("latin-1") or None)
            if trace:
                collector.fields.update(trace_id=trace.group(1), span_id=trace.group(2))
            elif given:  # an upstream's own trace id (x-trace-id, x-request-id): kept as given
                collector.fields.update(trace_id=given)
        except Exception as exc:
            log.warning("middleware-start", "audit of request not started: %s", exc)

        async def receive_wrapper() -> Message:
            message = await receive()
            if message.get("type") == "http.request":
                request_body.add(message.get("body", b""))
            return message

        async def send_wrapper(message: Message) -> None:
            if message.get("type") == "http.response.start":
                status.append(int(message["status"]))
            elif message.get("type") == "http.response.body":
                response_body.add(message.get("body", b""))
            await send(message)

        method, path = scope.get("method", "GET"), scope.get("path", "")
        try:
            await self.app(scope, receive_wrapper, send_wrapper)
        except BaseException as exc:
            self._describe(collector, method, path, request_body, response_body, status, started)
            record_error(collector, exc)
            raise
        self._describe(collector, method, path, request_body, response_body, status, started)
        code = status[0] if status else 500
        if code >= 400:
            collector.set_action(Action.REJECT, [f"http_{code}"])
        else:
            collector.set_action(Action.ALLOW)
        collector.emit()

    def _describe(self, collector: Any, method: str, path: str, request_body: _Capture, response_body: _Capture,
                  status: list[int], started: float) -> None:
        try:
            prompt = f"{method} {path}" + (f"\n\n{request_body.text()}" if request_body.size else "")
            collector.set_input(prompt, parameters={"http.request.method": method, "url.path": path})
            collector.set_output(response_body.text() if self.capture_body else None,
                                 finish_reason=str(status[0]) if status else None)
            collector.set_decision(None, metadata={
                "http.response.status_code": status[0] if status else None,
                "http.server.duration_ms": round((time.perf_counter() - started) * 1000, 3),
                "body_truncated": request_body.truncated or response_body.truncated})
        except Exception as exc:
            log.warning("middleware-end", "audit of request not captured: %s", exc)
