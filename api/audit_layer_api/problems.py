"""Errors as RFC 9457 `application/problem+json`: a status, a title, a detail that says what to do.

Every error leaves the service this way, also a failure of ours (500, with no stack trace: the
trace goes to the log under the request id the body names).
"""

from __future__ import annotations

import logging
import uuid
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException

log = logging.getLogger("audit_layer_api")
MEDIA_TYPE = "application/problem+json"
_TITLES = {400: "Bad request", 401: "Unauthorized", 403: "Forbidden", 404: "Not found", 405: "Method not allowed",
           406: "Not acceptable", 409: "Conflict", 413: "Request too large", 415: "Unsupported media type",
           422: "Invalid request", 429: "Too many requests", 500: "Internal error", 503: "Service unavailable",
           504: "Backend timeout"}


class ProblemModel(BaseModel):
    """The body of every error response."""

    type: str = "about:blank"
    title: str
    status: int
    detail: str
    instance: str | None = None
    errors: list[dict[str, Any]] | None = None


class Problem(Exception):
    def __init__(self, status: int, detail: str, *, headers: dict[str, str] | None = None,
                 errors: list[dict[str, Any]] | None = None) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.headers = headers or {}
        self.errors = errors


def problem_response(request: Request, status: int, detail: str, *, headers: dict[str, str] | None = None,
                     errors: list[dict[str, Any]] | None = None) -> JSONResponse:
    body = ProblemModel(title=_TITLES.get(status, "Error"), status=status, detail=detail,
                        instance=str(request.url.path), errors=errors)
    return JSONResponse(body.model_dump(exclude_none=True), status_code=status, headers=headers,
                        media_type=MEDIA_TYPE)


def _validation_errors(exc: RequestValidationError) -> list[dict[str, Any]]:
    # the input itself is left out: it may be large or hold the very content being audited
    return [{"loc": [str(p) for p in e.get("loc", ())], "msg": str(e.get("msg", "")), "type": str(e.get("type", ""))}
            for e in exc.errors()]


def install(app: FastAPI) -> None:
    async def on_problem(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, Problem)
        return problem_response(request, exc.status, exc.detail, headers=exc.headers, errors=exc.errors)

    async def on_http(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, StarletteHTTPException)
        detail = exc.detail if isinstance(exc.detail, str) else str(exc.detail)
        if detail == "There was an error parsing the body":
            detail = "the body is not JSON in UTF-8; send `Content-Type: application/json` with a UTF-8 body"
        if exc.status_code == 404 and detail == "Not Found":
            detail = f"no such endpoint {request.method} {request.url.path}; the API is described at /openapi.json"
        return problem_response(request, exc.status_code, detail, headers=dict(exc.headers or {}))

    async def on_invalid(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        errors = _validation_errors(exc)
        first = errors[0] if errors else {"loc": [], "msg": "invalid"}
        where, msg = ".".join(first["loc"]), str(first["msg"])
        return problem_response(request, 422, f"{where}: {msg}" if where else msg, errors=errors)

    async def on_error(request: Request, exc: Exception) -> JSONResponse:
        incident = uuid.uuid4().hex[:12]
        log.exception("request %s %s failed (incident %s)", request.method, request.url.path, incident)
        return problem_response(request, 500, f"the service failed on this request (incident {incident}); "
                                              "it is logged, please report the incident id")

    app.add_exception_handler(Problem, on_problem)
    app.add_exception_handler(StarletteHTTPException, on_http)
    app.add_exception_handler(RequestValidationError, on_invalid)
    app.add_exception_handler(Exception, on_error)
