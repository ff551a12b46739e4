"""Console sessions and CSRF tokens (pure).

A session cookie names the API key that signed in, when it expires and a random nonce, sealed with an
HMAC of the server's console secret: it carries no secret of the key, and every request still looks the
key up, so revoking the key ends its sessions within the key cache's lifetime. Signing out adds the nonce
to a per-process list of ended sessions (sessions also end at their expiry, and at a restart with a
random secret). A form's CSRF token is an HMAC of the session nonce, so a page of another site cannot
forge it; the sign-in form, before any session, binds its token to a pre-session cookie instead.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import time
from dataclasses import dataclass

COOKIE = "al_console"
PRE_COOKIE = "al_console_pre"
LIFETIME_S = 8 * 3600


def _mac(secret: bytes, *parts: str) -> str:
    digest = hmac.new(secret, "|".join(parts).encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")


@dataclass(frozen=True)
class Session:
    key_id: str
    expires: int
    nonce: str

    def csrf(self, secret: bytes) -> str:
        return _mac(secret, "csrf", self.nonce)


class Sessions:
    def __init__(self, secret: bytes | None = None, lifetime_s: int = LIFETIME_S) -> None:
        self.secret = secret or secrets.token_bytes(32)
        self.lifetime_s = lifetime_s
        self._ended: dict[str, int] = {}  # nonce -> expiry

    def open(self, key_id: str, now: float | None = None) -> tuple[Session, str]:
        """A new session and its cookie value."""
        session = Session(key_id, int(now if now is not None else time.time()) + self.lifetime_s,
                          secrets.token_urlsafe(16))
        body = f"{session.key_id}.{session.expires}.{session.nonce}"
        return session, f"{body}.{_mac(self.secret, 'session', body)}"

    def read(self, cookie: str | None, now: float | None = None) -> Session | None:
        if not cookie or cookie.count(".") != 3:
            return None
        key_id, expires, nonce, mac = cookie.split(".")
        body = f"{key_id}.{expires}.{nonce}"
        if not hmac.compare_digest(mac, _mac(self.secret, "session", body)) or not expires.isdigit():
            return None
        moment = now if now is not None else time.time()
        if int(expires) < moment or nonce in self._ended:
            return None
        return Session(key_id, int(expires), nonce)

    def end(self, session: Session, now: float | None = None) -> None:
        moment = now if now is not None else time.time()
        self._ended = {n: e for n, e in self._ended.items() if e >= moment}
        self._ended[session.nonce] = session.expires

    def check_csrf(self, session: Session, token: str | None) -> bool:
        return bool(token) and hmac.compare_digest(str(token), session.csrf(self.secret))

    # the sign-in form: no session yet, so its token is bound to a random pre-session cookie
    def pre_session(self) -> tuple[str, str]:
        """(cookie value, form token)."""
        value = secrets.token_urlsafe(16)
        return value, _mac(self.secret, "sign-in", value)

    def check_pre_session(self, cookie: str | None, token: str | None) -> bool:
        return bool(cookie) and bool(token) and hmac.compare_digest(str(token), _mac(self.secret, "sign-in",
                                                                                      str(cookie)))
