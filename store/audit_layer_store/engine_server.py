"""The embedded engine served over ClickHouse's HTTP interface, so other processes can use it.

chDB lets one process own a data path. That process (the sink, the demo, the API) serves the
engine on 127.0.0.1 with a random password and writes an owner file into the data path; every
other `ClickHouseStore` opened on the same `chdb://` DSN finds the file and connects with
clickhouse-connect's ordinary HTTP client. So `query`, `report` and `verify` work while the
pipeline writes, with the same code as against a ClickHouse server.

Only what clickhouse-connect sends is understood: the SQL in the body or the `query` parameter,
`param_*` query parameters, settings as URL parameters, and `INSERT ... FORMAT <fmt>` followed by
the data (chunked or not).
"""

from __future__ import annotations

import base64
import json
import logging
import os
import re
import secrets
import threading
from dataclasses import asdict, dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlparse

from audit_layer_store.sql_guard import refuse_client_files

log = logging.getLogger("audit_layer.engine_server")

OWNER_FILE = "audit-layer-owner.json"
# URL parameters of the HTTP interface that are not ClickHouse settings
_NOT_SETTINGS = frozenset({
    "query", "database", "query_id", "session_id", "session_timeout", "session_check", "wait_end_of_query",
    "send_progress_in_http_headers", "http_headers_progress_interval_ms", "client_protocol_version",
    "default_format", "compress", "decompress", "user", "password", "quota_key", "role",
    "enable_http_compression",
})
_INSERT = re.compile(rb"\s*INSERT\s+INTO\s+([\w.`]+)\s*(?:\(([^)]*)\))?\s*FORMAT\s+(\w+)[ \t]*\r?\n?", re.I)
_ERROR_CODE = re.compile(r"Code: (\d+)")
MAX_BODY = 512 * 1024 * 1024


@dataclass(frozen=True)
class EngineOwner:
    """Who serves an embedded data path, as written to its owner file."""

    pid: int
    port: int
    password: str

    @property
    def host(self) -> str:
        return "127.0.0.1"


def owner_file(data_path: Path) -> Path:
    return data_path / OWNER_FILE


def read_owner(data_path: Path) -> EngineOwner | None:
    """The live owner of `data_path`, or None when nobody (else) serves it."""
    try:
        owner = EngineOwner(**json.loads(owner_file(data_path).read_text()))
    except (OSError, ValueError, TypeError):
        return None
    if owner.pid == os.getpid():
        return None
    try:
        os.kill(owner.pid, 0)
    except ProcessLookupError:
        return None  # a crashed owner left its file behind
    except PermissionError:
        pass  # alive, another user's
    return owner


class EngineServer:
    """Serves one store's embedded engine on loopback until `stop()`."""

    def __init__(self, store: Any, data_path: Path) -> None:
        self.store = store
        self.data_path = data_path
        self.password = secrets.token_urlsafe(24)
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
        self._httpd.daemon_threads = True
        self.port = int(self._httpd.server_address[1])
        self._thread = threading.Thread(target=self._httpd.serve_forever, name="engine-server", daemon=True)

    def start(self) -> EngineOwner:
        self._thread.start()
        owner = EngineOwner(os.getpid(), self.port, self.password)
        path = owner_file(self.data_path)
        tmp = path.with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)  # the password is in it
        with os.fdopen(fd, "w") as f:
            json.dump(asdict(owner), f)
        os.replace(tmp, path)
        log.info("embedded engine %s served on 127.0.0.1:%d for other processes", self.data_path, self.port)
        return owner

    def stop(self) -> None:
        try:
            current = json.loads(owner_file(self.data_path).read_text())
            if current.get("pid") == os.getpid():
                owner_file(self.data_path).unlink()
        except (OSError, ValueError):
            pass
        self._httpd.shutdown()
        self._httpd.server_close()

    def authorised(self, headers: Any) -> bool:
        key = headers.get("X-ClickHouse-Key")
        if key is None:
            auth = headers.get("Authorization", "")
            if auth.startswith("Basic "):
                try:
                    key = base64.b64decode(auth[6:]).decode().partition(":")[2]
                except ValueError:
                    return False
        return key is not None and secrets.compare_digest(key, self.password)

    def execute(self, url_query: str, params: dict[str, str], body: bytes) -> bytes:
        settings = {k: v for k, v in params.items() if k not in _NOT_SETTINGS and not k.startswith("param_")}
        bound = {k[len("param_"):]: v for k, v in params.items() if k.startswith("param_")}
        head = url_query.encode() + (b"\n" if url_query and body else b"") + body if url_query else body
        insert = _INSERT.match(head)
        with self.store.locked() as client:
            default_database = client.database
            client.database = params.get("database") or default_database  # the caller's default database
            try:
                return self._run(client, insert, head, settings, bound)
            finally:
                client.database = default_database

    @staticmethod
    def _run(client: Any, insert: re.Match[bytes] | None, head: bytes, settings: dict[str, str],
             bound: dict[str, str]) -> bytes:
        if insert:
            table = insert.group(1).decode().replace("`", "")
            names = insert.group(2)
            columns = [c.strip().strip("`") for c in names.decode().split(",")] if names else None
            client.raw_insert(table, columns, insert_block=head[insert.end():], settings=settings or None,
                              fmt=insert.group(3).decode())
            return b""
        sql = head.decode()
        refuse_client_files(sql)
        if not sql.strip():
            raise ValueError("Code: 62. DB::Exception: Empty query. (SYNTAX_ERROR)")
        # the values arrive in ClickHouse's text format, as a server receives them; bound as plain
        # strings they would be escaped a second time (an Array(String) then fails to parse)
        parameters = {name: _AsSent(text) for name, text in bound.items()}
        result: bytes = client.raw_query(sql, parameters=parameters or None, settings=settings or None)
        return result


class _AsSent:
    """A query parameter already formatted by the caller's client: clickhouse-connect formats a value
    of a type it does not know with str(), so this passes the text on unchanged."""

    def __init__(self, text: str) -> None:
        self.text = text

    def __str__(self) -> str:
        return self.text


def _read_body(handler: BaseHTTPRequestHandler) -> bytes:
    if handler.headers.get("Transfer-Encoding", "").lower() == "chunked":
        parts: list[bytes] = []
        total = 0
        while True:
            size = int(handler.rfile.readline().split(b";")[0].strip() or b"0", 16)
            if size == 0:
                handler.rfile.readline()
                return b"".join(parts)
            total += size
            if total > MAX_BODY:
                raise ValueError("request body too large")
            parts.append(handler.rfile.read(size))
            handler.rfile.readline()
    length = int(handler.headers.get("Content-Length") or 0)
    if length > MAX_BODY:
        raise ValueError("request body too large")
    return handler.rfile.read(length) if length else b""


def _handler_for(server: EngineServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        # headers and body leave in separate writes; with Nagle's algorithm the body waits for the
        # client's delayed ACK of the headers: ~40 ms on every answer
        disable_nagle_algorithm = True

        def log_message(self, format: str, *args: Any) -> None:
            log.debug("%s " + format, self.address_string(), *args)

        def _reply(self, status: int, body: bytes, headers: dict[str, str] | None = None) -> None:
            self.send_response(status)
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def _serve(self) -> None:
            url = urlparse(self.path)
            if url.path in ("/ping", "/ping/"):
                self._reply(200, b"Ok.\n")
                return
            try:
                body = _read_body(self)
            except ValueError as exc:
                self._reply(413, f"Code: 1. DB::Exception: {exc}\n".encode(), {"X-ClickHouse-Exception-Code": "1"})
                self.close_connection = True
                return
            if not server.authorised(self.headers):
                self._reply(401, b"Code: 516. DB::Exception: Authentication failed. (AUTHENTICATION_FAILED)\n",
                            {"X-ClickHouse-Exception-Code": "516"})
                return
            params = dict(parse_qsl(url.query, keep_blank_values=True))
            try:
                out = server.execute(params.get("query", ""), params, body)
            except Exception as exc:  # every engine error goes back to the client, as a server would
                text = str(exc)
                code = _ERROR_CODE.search(text)
                self._reply(500, (text + "\n").encode(),
                            {"X-ClickHouse-Exception-Code": code.group(1) if code else "1"})
                return
            self._reply(200, out, {"X-ClickHouse-Timezone": "UTC", "X-ClickHouse-Summary": "{}"})

        do_GET = _serve
        do_POST = _serve

    return Handler
