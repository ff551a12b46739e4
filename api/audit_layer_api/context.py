"""What every route shares, handed to it through FastAPI's `Depends`: the backends, running blocking
calls off the event loop with a deadline, publishing to Kafka, recording each access, and API-key
authentication with its scopes.

No `from __future__ import annotations`: FastAPI reads the dependency signatures at run time."""


import asyncio
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Annotated, Any, TypeVar

from audit_layer_schemas import AUDIT_EVENT, AvroCodec
from fastapi import Depends, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from audit_layer_api import problems
from audit_layer_api.access_log import access_event
from audit_layer_api.api_keys import ApiKey, KeyFormatError, Scope, split_token
from audit_layer_api.kafka_acks import KafkaUnavailable
from audit_layer_api.metrics import ApiMetrics
from audit_layer_api.problems import Problem, ProblemModel
from audit_layer_api.service import ApiSettings, Backends

T = TypeVar("T")
CODEC = AvroCodec(AUDIT_EVENT)
ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": ProblemModel, "content": {problems.MEDIA_TYPE: {}}, "description": text}
    for code, text in ((400, "the body is not UTF-8 JSON, an unknown parameter, or a foreign cursor"),
                       (401, "no valid API key"), (413, "body over the size limit"),
                       (403, "the key lacks the scope"), (422, "invalid request"),
                       (429, "rate limit; see Retry-After"), (503, "a backend is unavailable"),
                       (504, "a backend did not answer in time"))
}
NOT_FOUND: dict[int | str, dict[str, Any]] = {404: {"model": ProblemModel, "content": {problems.MEDIA_TYPE: {}},
                                                    "description": "no such record in the key's organisation"}}
bearer = HTTPBearer(auto_error=False, description="an API key: `Authorization: Bearer al_sk_...`")


def client_address(request: Request) -> str | None:
    return request.client.host if request.client else None


class ApiContext:
    """One per app (app.state.context)."""

    def __init__(self, backends: Backends) -> None:
        self.backends = backends
        self.settings: ApiSettings = backends.settings
        self._lookups: dict[str, asyncio.Future[ApiKey | None]] = {}
        self.metrics = ApiMetrics()

    async def backend(self, call: Callable[..., T], *args: Any, timeout: float | None = None, **kwargs: Any) -> T:
        limit = timeout or self.settings.backend_timeout_s
        try:
            return await asyncio.wait_for(run_in_threadpool(call, *args, **kwargs), limit)
        except TimeoutError:
            raise Problem(504, f"the database did not answer within {limit:.0f} s; narrow the request or retry "
                               "later") from None

    async def publish(self, records: list[dict[str, Any]]) -> None:
        await self.send([(r["tenant_id"].encode(), CODEC.encode(r)) for r in records])

    async def send(self, messages: list[tuple[bytes, bytes]]) -> None:
        try:
            await self.backends.producer.send(self.backends.topics.events, messages)
        except KafkaUnavailable as exc:
            raise Problem(503, f"Kafka did not acknowledge ({exc}); nothing was recorded, retry with the same "
                               "event ids", headers={"Retry-After": "5"}) from None

    async def record_access(self, key: ApiKey, request: Request, outcome: str, params: dict[str, Any],
                            event_ids: Sequence[str] = ()) -> None:
        """The read is served only once its record is acknowledged: no unrecorded access."""
        route = request.scope.get("route")
        endpoint = f"{request.method} {getattr(route, 'path', request.url.path)}"
        await self.publish([access_event(key, endpoint, outcome=outcome, params=params, event_ids=list(event_ids),
                                         client=client_address(request)).to_avro()])

    async def lookup(self, key_id: str) -> ApiKey | None:
        """One database lookup per key id at a time: concurrent requests of a key share it."""
        running = self._lookups.get(key_id)
        if running is not None:
            return await asyncio.shield(running)
        future: asyncio.Future[ApiKey | None] = asyncio.get_running_loop().create_future()
        self._lookups[key_id] = future
        try:
            key = await self.backend(self.backends.keys.find, key_id)
            future.set_result(key)
            return key
        except BaseException as exc:
            future.set_exception(exc)
            future.exception()  # retrieved: no "never retrieved" warning when nobody else waited
            raise
        finally:
            del self._lookups[key_id]

    async def authenticate_token(self, request: Request, token: str) -> ApiKey:
        now = time.monotonic()
        unauthorized = {"WWW-Authenticate": "Bearer"}
        try:
            key_id, secret = split_token(token)
        except KeyFormatError as exc:
            raise Problem(401, str(exc), headers=unauthorized) from None
        key = self.backends.keys.cached(key_id)
        failures = f"auth-failures:{client_address(request)}"
        limiter = self.backends.limiter
        if key is None:
            # a client that keeps sending unknown keys is refused before it costs a lookup
            verdict = limiter.blocked(failures, self.settings.unknown_key_rate_per_s, now)
            if not verdict.allowed:
                raise Problem(429, "too many requests with unknown or wrong keys from this address", headers={
                    "Retry-After": str(verdict.retry_after_s)})
            key = await self.lookup(key_id)
        if key is None or not key.accepts(secret):
            limiter.take(failures, self.settings.unknown_key_rate_per_s, now)
            raise Problem(401, "the API key is unknown or revoked", headers=unauthorized)
        # each of the `workers` processes takes its share of the key's rate (connections spread evenly)
        verdict = limiter.take(key.key_id, key.rate_per_s / self.settings.workers, now)
        if not verdict.allowed:
            raise Problem(429, f"rate limit of {key.rate_per_s:g} requests/s for key {key.key_id}; retry after "
                               f"{verdict.retry_after_s} s", headers={"Retry-After": str(verdict.retry_after_s)})
        return key

    async def check_scope(self, key: ApiKey, scope: Scope, request: Request) -> None:
        if scope not in key.scopes:
            if scope in (Scope.READ, Scope.REPORTS, Scope.REVIEW):
                await self.record_access(key, request, "denied", {"missing_scope": scope.value})
            raise Problem(403, f"key {key.key_id} lacks the `{scope.value}` scope (it has "
                               f"{', '.join(sorted(s.value for s in key.scopes))})")


def get_context(request: Request) -> ApiContext:
    context: ApiContext = request.app.state.context
    return context


Context = Annotated[ApiContext, Depends(get_context)]


def require(scope: Scope) -> Callable[..., Awaitable[ApiKey]]:
    async def dependency(request: Request, context: Context, credentials: Annotated[
            HTTPAuthorizationCredentials | None, Depends(bearer)]) -> ApiKey:
        if credentials is None or credentials.scheme.lower() != "bearer":
            raise Problem(401, "send an API key: `Authorization: Bearer al_sk_...`",
                          headers={"WWW-Authenticate": "Bearer"})
        key = await context.authenticate_token(request, credentials.credentials)
        await context.check_scope(key, scope, request)
        return key

    return dependency


Ingester = Annotated[ApiKey, Depends(require(Scope.INGEST))]
Reader = Annotated[ApiKey, Depends(require(Scope.READ))]
Reporter = Annotated[ApiKey, Depends(require(Scope.REPORTS))]
Reviewer = Annotated[ApiKey, Depends(require(Scope.REVIEW))]
Admin = Annotated[ApiKey, Depends(require(Scope.ADMIN))]
