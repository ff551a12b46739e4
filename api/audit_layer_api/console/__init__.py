"""The auditors' web console (pages.py), its sessions (session.py), templates and assets."""

from __future__ import annotations

from urllib.parse import quote

from fastapi import FastAPI, Request
from fastapi.responses import RedirectResponse, Response
from fastapi.staticfiles import StaticFiles

from audit_layer_api.console.pages import HERE, SignInRequired, router
from audit_layer_api.console.session import Sessions


def install(app: FastAPI, *, read_only: bool, secret: bytes | None = None) -> None:
    app.state.console_sessions = Sessions(secret)
    app.state.console_read_only = read_only
    app.mount("/console/static", StaticFiles(directory=str(HERE / "static")), name="console-static")
    app.include_router(router)

    async def sign_in(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, SignInRequired)
        note = f"&note={quote(exc.note)}" if exc.note else ""
        return RedirectResponse(f"/console/sign-in?next={quote(exc.next_url)}{note}", status_code=303)

    app.add_exception_handler(SignInRequired, sign_in)
