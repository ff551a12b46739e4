"""The FastAPI application: one router per resource (routes/), the web console (console/), the
interactive docs served from the project's own assets, errors as problem+json, the body limit."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

from audit_layer_api import console, problems
from audit_layer_api.context import ApiContext
from audit_layer_api.limits import BodySizeLimit
from audit_layer_api.metrics import RequestMetrics
from audit_layer_api.routes import chain, health, ingest, keys, otlp, records, reports, reviews, search
from audit_layer_api.service import Backends

DOCS_ASSETS = "/docs-assets"
# the pages' own inline set-up scripts run; nothing is fetched from elsewhere (ReDoc's bundle would load
# its "powered by" logo from a CDN)
DOCS_CSP = ("default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; "
            "img-src 'self' data:; font-src 'self' data:; worker-src 'self' blob:; connect-src 'self'")


def _docs_assets() -> str:
    """Swagger UI's and ReDoc's files, from the fastapi-offline package: /docs needs no CDN."""
    from pathlib import Path

    import fastapi_offline

    return str(Path(fastapi_offline.__file__).parent / "static")


def create_app(backends: Backends) -> FastAPI:
    settings = backends.settings
    app = FastAPI(
        title="Audit Layer API",
        version="1.0.0",
        description="A tamper-evident audit trail for AI decisions. Every record belongs to the organisation of "
                    "the API key that wrote it; every read is scoped to the key's organisation and is itself "
                    "recorded as an audit event. Errors are `application/problem+json`. The auditors' web console "
                    "is at [/console](/console).",
        docs_url=None, redoc_url=None,
    )
    app.state.context = ApiContext(backends)
    problems.install(app)
    app.add_middleware(BodySizeLimit, max_bytes=settings.max_body_bytes)
    app.add_middleware(RequestMetrics, metrics=app.state.context.metrics)

    app.include_router(health.router)
    if not settings.read_only:
        app.include_router(ingest.router)
        app.include_router(otlp.router)
    app.include_router(search.router)
    app.include_router(records.router)
    app.include_router(reviews.read_router)
    if not settings.read_only:
        app.include_router(reviews.router)
    app.include_router(reports.router)
    app.include_router(chain.router)
    if not settings.read_only:
        app.include_router(keys.router)
    console.install(app, read_only=settings.read_only, secret=settings.console_secret)

    generate_openapi = app.openapi

    def openapi() -> dict[str, Any]:
        """FastAPI's document, plus the models of the ingest body (validated by hand, see routes/ingest.py)."""
        if app.openapi_schema is None:
            document = generate_openapi()
            if not settings.read_only:
                document["components"]["schemas"].update(ingest.body_schemas())
            app.openapi_schema = document
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]

    app.mount(DOCS_ASSETS, StaticFiles(directory=_docs_assets()), name="docs-assets")

    @app.get("/docs", include_in_schema=False)
    async def swagger() -> HTMLResponse:
        page = get_swagger_ui_html(openapi_url="/openapi.json", title=f"{app.title} - docs",
                                   swagger_js_url=f"{DOCS_ASSETS}/swagger-ui-bundle.js",
                                   swagger_css_url=f"{DOCS_ASSETS}/swagger-ui.css",
                                   swagger_favicon_url=f"{DOCS_ASSETS}/favicon.png")
        page.headers["Content-Security-Policy"] = DOCS_CSP
        return page

    @app.get("/redoc", include_in_schema=False)
    async def redoc() -> HTMLResponse:
        page = get_redoc_html(openapi_url="/openapi.json", title=f"{app.title} - ReDoc",
                              redoc_js_url=f"{DOCS_ASSETS}/redoc.standalone.js",
                              redoc_favicon_url=f"{DOCS_ASSETS}/favicon.png", with_google_fonts=False)
        page.headers["Content-Security-Policy"] = DOCS_CSP
        return page

    return app
