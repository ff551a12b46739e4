"""The ASGI middleware for FastAPI and Starlette: one receipt per request under `path_prefix`."""

from audit_layer_sdk.fastapi_middleware import AuditMiddleware

__all__ = ["AuditMiddleware"]
