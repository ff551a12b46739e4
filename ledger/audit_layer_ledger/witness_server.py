"""Our witness over c2sp.org/tlog-witness: `POST /add-checkpoint`, so a log operator can use it or any other
witness (litewitness, the transparency-dev witness) alike. Logs are `<log name>/<tenant>` origins signed by
the operator's keys under the origin as key name; state and cosignatures live in the Witness folder."""

from __future__ import annotations

import base64
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from audit_layer_schemas import signed_note
from audit_layer_schemas.merkle import verify_consistency
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from audit_layer_ledger.witness import Seen, Witness

MAX_BODY = 1 << 20
Answer = tuple[int, str, bytes]


def _text(status: int, text: str, content_type: str = "text/plain; charset=utf-8") -> Answer:
    return status, content_type, text.encode()


class AddCheckpoint:
    """The protocol's one endpoint, without HTTP: a request body in, (status, content type, body) out."""

    def __init__(self, witness: Witness, log_name: str) -> None:
        self.witness = witness
        self.prefix = log_name + "/"
        self._lock = threading.Lock()  # one update of a log's state at a time

    def handle(self, body: bytes) -> Answer:
        try:
            old, proof, note = self._parse(body.decode("utf-8"))
            text, signatures = signed_note.parse(note)
            origin, size_text, root_b64, *_ = text.split("\n")
            size = int(size_text)
            root = base64.b64decode(root_b64, validate=True)
            if size < 0 or size_text != str(size) or len(root) != 32:
                raise ValueError("malformed checkpoint")
        except (ValueError, signed_note.NoteError, UnicodeDecodeError) as exc:
            return _text(400, f"malformed request: {exc}\n")
        if not origin.startswith(self.prefix) or origin == self.prefix:
            return _text(404, f"unknown log {origin}\n")
        tenant = origin[len(self.prefix):]
        if not self._signed(origin, text, signatures):
            return _text(403, "no valid signature by a known key of this log\n")
        if old > size:
            return _text(400, f"old size {old} is above the checkpoint's size {size}\n")
        with self._lock:
            seen = self.witness.seen(tenant)
            if old != seen.size:
                return _text(409, f"{seen.size}\n", "text/x.tlog.size")
            if not self._extends(seen, size, root, proof):
                return _text(422, f"size {size} does not extend the tree cosigned at size {seen.size}\n")
            line = self.witness.cosignature(note, int(time.time()))
            self.witness.remember(tenant, size, root.hex(), {"tenant_id": tenant, "last_seq": size,
                                                             "merkle_root": root.hex(), "cosigned_note": note + line})
        return _text(200, line, "text/x.tlog.cosignature")

    @staticmethod
    def _parse(text: str) -> tuple[int, list[bytes], str]:
        head, sep, note = text.partition("\n\n")
        if not sep:
            raise ValueError("no blank line before the checkpoint")
        lines = head.split("\n")
        if not lines[0].startswith("old "):
            raise ValueError("the first line is not 'old <size>'")
        old = int(lines[0][4:])
        proof = [base64.b64decode(line, validate=True) for line in lines[1:]]
        if old < 0 or any(len(h) != 32 for h in proof):
            raise ValueError("a malformed size or proof hash")
        return old, proof, note

    def _signed(self, origin: str, text: str, signatures: list[signed_note.NoteSignature]) -> bool:
        for public in self.witness.operator_keys.values():
            expected = signed_note.key_hash(origin, signed_note.ALG_ED25519, public)
            for sig in signatures:
                if sig.name == origin and sig.key_hash == expected:
                    try:
                        Ed25519PublicKey.from_public_bytes(public).verify(sig.signature, text.encode())
                        return True
                    except (InvalidSignature, ValueError):
                        continue
        return False

    @staticmethod
    def _extends(seen: Seen, size: int, root: bytes, proof: list[bytes]) -> bool:
        if seen.size == 0:
            return not proof
        if size == seen.size:
            return not proof and root.hex() == seen.root
        return verify_consistency(seen.size, size, bytes.fromhex(seen.root), root, proof)


def serve(endpoint: AddCheckpoint, host: str, port: int) -> ThreadingHTTPServer:
    """An HTTP server for the endpoint (started by the caller: serve_forever, or a thread)."""

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            pass

        def do_POST(self) -> None:
            if self.path != "/add-checkpoint":
                self._reply((404, "text/plain", b"not found\n"))
                return
            length = int(self.headers.get("Content-Length") or 0)
            if length > MAX_BODY:
                self._reply((413, "text/plain", b"request too large\n"))
                return
            self._reply(endpoint.handle(self.rfile.read(length)))

        def _reply(self, answer: Answer) -> None:
            status, content_type, body = answer
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    return ThreadingHTTPServer((host, port), Handler)


__all__ = ["AddCheckpoint", "serve"]
