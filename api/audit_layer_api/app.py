"""The FastAPI application: routes, authentication, limits. Backends are handed in (service.py).

No `from __future__ import annotations` here: FastAPI reads the route signatures at run time, and
the dependency aliases below are local to create_app."""


import asyncio
import base64
import datetime as dt
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Annotated, Any, TypeVar

from audit_layer_governance.reports import compliance_summary, decision_audit
from audit_layer_governance.reports.compliance_summary import record_verification
from audit_layer_governance.reports.render import render
from audit_layer_governance.verification import verify_all
from audit_layer_ledger.proofs import ProofError, build_consistency, build_proof, tenant_checkpoints
from audit_layer_schemas import AUDIT_EVENT, AuditEvent, AvroCodec
from audit_layer_store.lookup import EventNotFound
from audit_layer_store.rows import SELECT_COLUMNS, chain_fields_from_row
from fastapi import Depends, FastAPI, Path, Query, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import TypeAdapter, ValidationError

from audit_layer_api import problems
from audit_layer_api.access_log import access_event
from audit_layer_api.api_keys import ApiKey, KeyFormatError, Scope, split_token
from audit_layer_api.kafka_acks import KafkaUnavailable
from audit_layer_api.limits import BodySizeLimit
from audit_layer_api.problems import Problem, ProblemModel
from audit_layer_api.schemas import (
    ChainPosition,
    CheckpointOut,
    ConsistencyProof,
    Enrichment,
    Finding,
    Health,
    IngestBatch,
    IngestBody,
    IngestEvent,
    IngestResult,
    KeyCreate,
    KeyCreated,
    KeyOut,
    LogPage,
    LogSummary,
    PublicKey,
    RecordResponse,
    ReportFormat,
    ReportRequest,
    ReportType,
    VerifyResult,
)
from audit_layer_api.search import (
    MAX_LIMIT,
    SUMMARY_NAMES,
    FilterError,
    Filters,
    decode_cursor,
    encode_cursor,
    search_sql,
    unique_by_seq,
)
from audit_layer_api.seed_body import event_id_for
from audit_layer_api.service import Backends

T = TypeVar("T")
_MEDIA = {ReportFormat.JSON: "application/json", ReportFormat.CSV: "text/csv; charset=utf-8",
          ReportFormat.HTML: "text/html; charset=utf-8", ReportFormat.PDF: "application/pdf"}
_ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": ProblemModel, "content": {problems.MEDIA_TYPE: {}}, "description": text}
    for code, text in ((400, "the body is not UTF-8 JSON, an unknown parameter, or a foreign cursor"),
                       (401, "no valid API key"), (413, "body over the size limit"),
                       (403, "the key lacks the scope"), (422, "invalid request"),
                       (429, "rate limit; see Retry-After"), (503, "a backend is unavailable"),
                       (504, "a backend did not answer in time"))
}
_NOT_FOUND: dict[int | str, dict[str, Any]] = {404: {"model": ProblemModel, "content": {problems.MEDIA_TYPE: {}},
                                                     "description": "no such record in the key's organisation"}}
_CODEC = AvroCodec(AUDIT_EVENT)
_INGEST: TypeAdapter[IngestEvent | IngestBatch] = TypeAdapter(IngestBody)
_INGEST_SCHEMA = {"oneOf": [{"$ref": "#/components/schemas/IngestEvent"},
                            {"$ref": "#/components/schemas/IngestBatch"}]}
_bearer = HTTPBearer(auto_error=False, description="an API key: `Authorization: Bearer al_sk_...`")


def _client(request: Request) -> str | None:
    return request.client.host if request.client else None


def create_app(backends: Backends) -> FastAPI:
    settings = backends.settings
    app = FastAPI(
        title="Audit Layer API",
        version="1.0.0",
        description="A tamper-evident audit trail for AI decisions. Every record belongs to the organisation of "
                    "the API key that wrote it; every read is scoped to the key's organisation and is itself "
                    "recorded as an audit event. Errors are `application/problem+json`.",
    )
    problems.install(app)
    app.add_middleware(BodySizeLimit, max_bytes=settings.max_body_bytes)
    generate_openapi = app.openapi

    def openapi() -> dict[str, Any]:
        """FastAPI's document, plus the models of the ingest body (validated by hand, see ingest)."""
        if app.openapi_schema is None:
            document = generate_openapi()
            body = _INGEST.json_schema(ref_template="#/components/schemas/{model}")
            document["components"]["schemas"].update(body.get("$defs", {}))
            app.openapi_schema = document
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]

    async def backend(call: Callable[..., T], *args: Any, timeout: float | None = None, **kwargs: Any) -> T:
        limit = timeout or settings.backend_timeout_s
        try:
            return await asyncio.wait_for(run_in_threadpool(call, *args, **kwargs), limit)
        except TimeoutError:
            raise Problem(504, f"the database did not answer within {limit:.0f} s; narrow the request or retry "
                               "later") from None

    async def publish(records: list[dict[str, Any]]) -> None:
        await send([(r["tenant_id"].encode(), _CODEC.encode(r)) for r in records])

    async def send(messages: list[tuple[bytes, bytes]]) -> None:
        try:
            await backends.producer.send(backends.topics.events, messages)
        except KafkaUnavailable as exc:
            raise Problem(503, f"Kafka did not acknowledge ({exc}); nothing was recorded, retry with the same "
                               "event ids", headers={"Retry-After": "5"}) from None

    async def record_access(key: ApiKey, request: Request, outcome: str, params: dict[str, Any],
                            event_ids: Sequence[str] = ()) -> None:
        """The read is served only once its record is acknowledged: no unrecorded access."""
        route = request.scope.get("route")
        endpoint = f"{request.method} {getattr(route, 'path', request.url.path)}"
        await publish([access_event(key, endpoint, outcome=outcome, params=params, event_ids=list(event_ids),
                                    client=_client(request)).to_avro()])

    lookups: dict[str, asyncio.Future[ApiKey | None]] = {}

    async def lookup(key_id: str) -> ApiKey | None:
        """One database lookup per key id at a time: concurrent requests of a key share it."""
        running = lookups.get(key_id)
        if running is not None:
            return await asyncio.shield(running)
        future: asyncio.Future[ApiKey | None] = asyncio.get_running_loop().create_future()
        lookups[key_id] = future
        try:
            key = await backend(backends.keys.find, key_id)
            future.set_result(key)
            return key
        except BaseException as exc:
            future.set_exception(exc)
            future.exception()  # retrieved: no "never retrieved" warning when nobody else waited
            raise
        finally:
            del lookups[key_id]

    async def authenticate(request: Request, credentials: HTTPAuthorizationCredentials | None) -> ApiKey:
        now = time.monotonic()
        unauthorized = {"WWW-Authenticate": "Bearer"}
        if credentials is None or credentials.scheme.lower() != "bearer":
            raise Problem(401, "send an API key: `Authorization: Bearer al_sk_...`", headers=unauthorized)
        try:
            key_id, secret = split_token(credentials.credentials)
        except KeyFormatError as exc:
            raise Problem(401, str(exc), headers=unauthorized) from None
        key = backends.keys.cached(key_id)
        failures = f"auth-failures:{_client(request)}"
        if key is None:
            # a client that keeps sending unknown keys is refused before it costs a lookup
            verdict = backends.limiter.blocked(failures, settings.unknown_key_rate_per_s, now)
            if not verdict.allowed:
                raise Problem(429, "too many requests with unknown or wrong keys from this address", headers={
                    "Retry-After": str(verdict.retry_after_s)})
            key = await lookup(key_id)
        if key is None or not key.accepts(secret):
            backends.limiter.take(failures, settings.unknown_key_rate_per_s, now)
            raise Problem(401, "the API key is unknown or revoked", headers=unauthorized)
        # each of the `workers` processes takes its share of the key's rate (connections spread evenly)
        verdict = backends.limiter.take(key.key_id, key.rate_per_s / settings.workers, now)
        if not verdict.allowed:
            raise Problem(429, f"rate limit of {key.rate_per_s:g} requests/s for key {key.key_id}; retry after "
                               f"{verdict.retry_after_s} s", headers={"Retry-After": str(verdict.retry_after_s)})
        return key

    def require(scope: Scope) -> Callable[..., Awaitable[ApiKey]]:
        async def dependency(request: Request, credentials: Annotated[
                HTTPAuthorizationCredentials | None, Depends(_bearer)]) -> ApiKey:
            key = await authenticate(request, credentials)
            if scope not in key.scopes:
                if scope in (Scope.READ, Scope.REPORTS):
                    await record_access(key, request, "denied", {"missing_scope": scope.value})
                raise Problem(403, f"key {key.key_id} lacks the `{scope.value}` scope (it has "
                                   f"{', '.join(sorted(s.value for s in key.scopes))})")
            return key

        return dependency

    Ingester = Annotated[ApiKey, Depends(require(Scope.INGEST))]
    Reader = Annotated[ApiKey, Depends(require(Scope.READ))]
    Reporter = Annotated[ApiKey, Depends(require(Scope.REPORTS))]
    Admin = Annotated[ApiKey, Depends(require(Scope.ADMIN))]

    # -- health --------------------------------------------------------------------------------

    @app.get("/healthz", response_model=Health, tags=["health"], summary="liveness: the process answers")
    async def healthz() -> Health:
        return Health(status="ok")

    @app.get("/readyz", response_model=Health, tags=["health"], summary="readiness: Kafka and ClickHouse answer",
             responses={503: {"model": Health, "description": "a backend does not answer"}})
    async def readyz(response: Response) -> Health:
        checks: dict[str, str] = {}
        kafka = await run_in_threadpool(backends.producer.ready, 2.0)
        checks["kafka"] = "ok" if kafka is None else f"unavailable: {kafka}"
        try:
            await backend(backends.store.query, "SELECT 1", timeout=2.0)
            checks["clickhouse"] = "ok"
        except Exception as exc:
            checks["clickhouse"] = f"unavailable: {getattr(exc, 'detail', exc)}"
        ok = all(v == "ok" for v in checks.values())
        response.status_code = 200 if ok else 503
        return Health(status="ok" if ok else "unavailable", checks=checks)

    # -- ingest ----------------------------------------------------------------------------------

    @app.post("/v1/audit/log", status_code=200, response_model=IngestResult, tags=["audit"],
              summary="record one event or a batch (answers once Kafka acknowledged them)",
              responses={**_ERRORS, 415: {"model": ProblemModel, "content": {problems.MEDIA_TYPE: {}},
                                          "description": "the body is not application/json"}},
              openapi_extra={"requestBody": {"required": True, "content": {"application/json": {
                  "schema": _INGEST_SCHEMA}}}})
    async def ingest(request: Request, key: Ingester) -> IngestResult:
        # the body is parsed and validated in one pass by pydantic-core (validate_json), not by
        # FastAPI's json.loads + validate_python: the hot path of every ingest
        media = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if media != "application/json" and not media.endswith("+json"):
            raise Problem(415, "send the event as JSON: `Content-Type: application/json`")
        try:
            body = _INGEST.validate_json(await request.body())
        except ValidationError as exc:
            errors = [{"loc": ["body", *map(str, e["loc"])], "msg": e["msg"], "type": e["type"]}
                      for e in exc.errors(include_url=False, include_input=False)]
            if errors[0]["type"] == "json_invalid":
                raise Problem(400, f"the body is not JSON in UTF-8: {errors[0]['msg']}") from None
            where = ".".join(errors[0]["loc"])
            raise Problem(422, f"{where}: {errors[0]['msg']}", errors=errors) from None
        sent = [body] if isinstance(body, IngestEvent) else body.events
        now_us = time.time_ns() // 1000
        records = []
        for i, item in enumerate(sent):
            where = f"events[{i}]: " if isinstance(body, IngestBatch) else ""
            if item.tenant_id is not None and item.tenant_id != key.tenant_id:
                raise Problem(403, f"{where}tenant_id {item.tenant_id!r} is not this key's organisation "
                                   f"({key.tenant_id}); leave tenant_id out")
            try:
                records.append(item.to_record(key.tenant_id, key.key_id, now_us))
            except ValidationError as exc:
                first = exc.errors()[0]
                raise Problem(422, f"{where}{'.'.join(map(str, first['loc']))}: {first['msg']}") from None
            except ValueError as exc:
                raise Problem(422, f"{where}{exc}") from None
        try:
            messages = [(r["tenant_id"].encode(), _CODEC.encode(r)) for r in records]
        except (ValueError, TypeError, UnicodeEncodeError) as exc:  # e.g. text that is not valid Unicode
            raise Problem(422, f"an event cannot be encoded: {exc}") from None
        await send(messages)
        return IngestResult(tenant_id=key.tenant_id, event_ids=[r["event_id"] for r in records])

    # -- search and records ------------------------------------------------------------------------

    allowed_filters = set(Filters.__dataclass_fields__) | {"limit", "cursor"}

    @app.get("/v1/audit/logs", response_model=LogPage, tags=["audit"],
             summary="search the organisation's records, newest first, with cursor pagination",
             responses=_ERRORS)
    async def search(
        request: Request, key: Reader,
        start_date: Annotated[str | None, Query(description="from this date (YYYY-MM-DD, UTC) or RFC 3339 instant, "
                                                            "inclusive", max_length=40)] = None,
        end_date: Annotated[str | None, Query(description="to this date (inclusive: the whole day) or RFC 3339 "
                                                          "instant (exclusive)", max_length=40)] = None,
        decision_type: Annotated[str | None, Query(max_length=256)] = None,
        decision_outcome: Annotated[str | None, Query(max_length=256)] = None,
        model: Annotated[str | None, Query(max_length=256)] = None,
        provider: Annotated[str | None, Query(max_length=256)] = None,
        risk_level: Annotated[str | None, Query(pattern="^(LOW|MEDIUM|HIGH|CRITICAL)$")] = None,
        action: Annotated[str | None, Query(pattern="^(ALLOW|REJECT|FAIL_RETRY)$")] = None,
        user_id: Annotated[str | None, Query(max_length=256)] = None,
        session_id: Annotated[str | None, Query(max_length=256)] = None,
        compliance_tag: Annotated[str | None, Query(max_length=256)] = None,
        limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = 100,
        cursor: Annotated[str | None, Query(max_length=512, description="next_cursor of the previous page")] = None,
    ) -> LogPage:
        unknown = sorted(set(request.query_params) - allowed_filters)
        if unknown:
            raise Problem(400, f"unknown parameter {', '.join(unknown)}; filters are "
                               f"{', '.join(sorted(allowed_filters))} (the organisation comes from the API key)")
        filters = Filters(start_date, end_date, decision_type, decision_outcome, model, provider, risk_level,
                          action, user_id, session_id, compliance_tag)
        try:
            before = decode_cursor(cursor, filters) if cursor else None
            sql, params = search_sql(backends.store.database, key.tenant_id, filters, limit, before)
        except FilterError as exc:
            raise Problem(400 if "cursor" in str(exc) else 422, str(exc)) from None
        result = await backend(backends.store.query, sql, params, settings.query_settings)
        rows = [dict(zip(SUMMARY_NAMES, r, strict=True)) for r in result.result_rows]
        page, more = unique_by_seq(rows)[:limit], len(rows) > limit
        items = [LogSummary(**r) for r in page]
        await record_access(key, request, "served" if items else "empty",
                            {**vars(filters), "limit": limit, "cursor": cursor}, [i.event_id for i in items])
        return LogPage(items=items, next_cursor=encode_cursor(page[-1]["seq"], filters) if more else None)

    def load_record(tenant: str, event_id: str) -> RecordResponse:
        row = decision_audit.lookup(backends.store, event_id, tenant)
        _, seq, prev_hash, digest, link_schema, enriched = chain_fields_from_row(row["_row"][:len(SELECT_COLUMNS)])
        try:
            proof: dict[str, Any] | None = build_proof(backends.store, event_id, backends.public_keys(), tenant)
            status = "included"
        except ProofError as exc:
            proof, status = None, str(exc)
        return RecordResponse(
            event=AuditEvent(**enriched["event"]),
            enrichment=Enrichment(**{k: enriched[k] for k in Enrichment.model_fields if k in enriched},
                                  retention_days=int(row["retention_days"]), legal_hold=bool(row["legal_hold"])),
            chain=ChainPosition(seq=seq, prev_hash=prev_hash.hex(), hash=digest.hex(), link_schema=link_schema),
            proof=proof, proof_status=status)

    @app.get("/v1/audit/logs/{event_id}", response_model=RecordResponse, tags=["audit"],
             summary="one full record, its chain position and its inclusion proof",
             responses={**_ERRORS, **_NOT_FOUND})
    async def get_log(request: Request, key: Reader,
                      event_id: Annotated[str, Path(min_length=1, max_length=256,
                                                    description="the event id (UUID), or the request_id it was "
                                                                "sent with")]
                      ) -> RecordResponse:
        given = event_id
        try:
            event_id = event_id_for(key.tenant_id, given)
            record = await backend(load_record, key.tenant_id, event_id)
        except (ValueError, EventNotFound):
            await record_access(key, request, "not_found", {"event_id": event_id, "given_id": given})
            raise Problem(404, f"no record with event id or request id {given!r} in organisation "
                               f"{key.tenant_id}") from None
        await record_access(key, request, "served", {"event_id": event_id}, [event_id])
        return record

    # -- reports -----------------------------------------------------------------------------------

    @app.post("/v1/reports/generate", tags=["reports"], summary="a decision audit or a compliance summary",
              response_class=Response,
              responses={200: {"description": "the report", "content": {m: {} for m in _MEDIA.values()}},
                         **_ERRORS, **_NOT_FOUND})
    async def generate_report(request: Request, body: ReportRequest, key: Reporter) -> Response:
        params = body.model_dump(mode="json", exclude_none=True)
        if body.report_type is ReportType.DECISION_AUDIT:
            if body.audit_log_id is None:
                raise Problem(422, "decision_audit needs audit_log_id (the event id)")
            event_id = event_id_for(key.tenant_id, body.audit_log_id)
            try:
                report = await backend(decision_audit.build, backends.store, event_id, backends.public_keys(),
                                       key.tenant_id)
            except EventNotFound:
                await record_access(key, request, "not_found", params)
                raise Problem(404, f"no record {event_id} in organisation {key.tenant_id}") from None
            name, ids = f"decision-audit-{event_id}", [event_id]
        else:
            if body.start_date is None or body.end_date is None:
                raise Problem(422, "compliance_summary needs start_date and end_date (YYYY-MM-DD, inclusive)")
            if body.end_date < body.start_date:
                raise Problem(422, "end_date is before start_date")
            if body.start_date.year < 1970 or body.end_date.year > 2148:
                raise Problem(422, "the period must lie between 1970 and 2148")
            report = await backend(compliance_summary.build, backends.store, key.tenant_id, body.start_date,
                                   body.end_date, verify_now=body.verify, public_keys=backends.public_keys(),
                                   timeout=settings.verify_timeout_s if body.verify else None)
            name, ids = f"compliance-summary-{key.tenant_id}-{body.start_date}-{body.end_date}", []
        content = await run_in_threadpool(render, report, body.format.value)
        await record_access(key, request, "served", params, ids)
        return Response(content, media_type=_MEDIA[body.format], headers={
            "Content-Disposition": f'attachment; filename="{name}.{body.format.value}"'})

    # -- the chain ---------------------------------------------------------------------------------

    def latest_verification(tenant: str) -> VerifyResult:
        rows = backends.store.query(
            f"SELECT verified_at, ok, links, last_seq, checkpoints_verified, head_hash, finding FROM "
            f"{backends.store.database}.verifications WHERE tenant_id = {{t:String}} ORDER BY verified_at DESC "
            "LIMIT 1", parameters={"t": tenant}).result_rows
        if not rows:
            return VerifyResult(tenant_id=tenant, status="never_verified", verified_at=None, links=0, last_seq=0,
                                checkpoints_verified=0, head_hash=None, finding=None)
        at, ok, links, last, cps, head, finding = rows[0]
        return VerifyResult(tenant_id=tenant, status="verified" if ok else "failed", verified_at=at, links=links,
                            last_seq=last, checkpoints_verified=cps, head_hash=bytes(head).hex(), finding=finding)

    def verify_now(tenant: str) -> VerifyResult:
        report = verify_all(backends.store, tenant, public_keys=backends.public_keys())
        record_verification(backends.store, report)
        result = report.tenants.get(tenant)
        if result is None:
            return VerifyResult(tenant_id=tenant, status="empty", verified_at=dt.datetime.now(dt.UTC), links=0,
                                last_seq=0, checkpoints_verified=0, head_hash=None, finding=None)
        found = report.findings  # the chain walk's and every other check's
        f = found[0] if found else None
        return VerifyResult(tenant_id=tenant, status="verified" if f is None else "failed",
                            verified_at=dt.datetime.now(dt.UTC), links=result.links, last_seq=result.last_seq,
                            checkpoints_verified=result.checkpoints_verified, head_hash=result.head.hex(),
                            finding=None if f is None else Finding(seq=f.seq, problem=f.problem, detail=f.detail))

    @app.get("/v1/chain/verify", response_model=VerifyResult, tags=["chain"],
             summary="verify the organisation's hash chain and signed checkpoints",
             responses=_ERRORS)
    async def chain_verify(
        request: Request, key: Reader,
        mode: Annotated[str, Query(pattern="^(now|latest)$", description="`now`: recompute the chain from storage "
                                   "(takes ~1 s per 100,000 records); `latest`: the last recorded verification")]
        = "now",
    ) -> VerifyResult:
        if mode == "latest":
            result = await backend(latest_verification, key.tenant_id)
        else:
            result = await backend(verify_now, key.tenant_id, timeout=settings.verify_timeout_s)
        await record_access(key, request, "served", {"mode": mode})
        return result

    @app.get("/v1/chain/checkpoints", response_model=list[CheckpointOut], tags=["chain"],
             summary="the organisation's signed checkpoints, oldest first (hand them to a witness)",
             responses=_ERRORS)
    async def checkpoints(request: Request, key: Reader,
                          after_seq: Annotated[int, Query(ge=0, le=2**63 - 1)] = 0,
                          limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = 100) -> list[CheckpointOut]:
        rows = await backend(tenant_checkpoints, backends.store, key.tenant_id, after_seq)
        await record_access(key, request, "served", {"after_seq": after_seq, "limit": limit})
        return [CheckpointOut(**r) for r in rows[:limit]]

    @app.get("/v1/chain/consistency", response_model=ConsistencyProof, tags=["chain"],
             summary="RFC 6962 proof that the log at size `first` is a prefix of the log at size `second`",
             responses=_ERRORS)
    async def consistency(request: Request, key: Reader, first: Annotated[int, Query(ge=0, le=2**63 - 1)],
                          second: Annotated[int, Query(ge=0, le=2**63 - 1)]) -> ConsistencyProof:
        if first > second:
            raise Problem(422, "first must not exceed second")
        stored = await backend(backends.stored_size, key.tenant_id)
        if second > stored:
            raise Problem(422, f"the log holds {stored} records; second must not exceed that")
        try:
            proof = await backend(build_consistency, backends.store, key.tenant_id, first, second)
        except ProofError as exc:
            raise Problem(422, str(exc)) from None
        await record_access(key, request, "served", {"first": first, "second": second})
        return ConsistencyProof(**proof)

    @app.get("/v1/chain/public-keys", response_model=list[PublicKey], tags=["chain"],
             summary="the public keys that sign checkpoints", responses=_ERRORS)
    async def public_keys(key: Reader) -> list[PublicKey]:
        return [PublicKey(key_id=k, ed25519_public_key=base64.b64encode(v).decode())
                for k, v in sorted(backends.public_keys().items())]

    # -- the organisation's own API keys -------------------------------------------------------------

    def key_out(k: ApiKey) -> dict[str, Any]:
        return {"key_id": k.key_id, "name": k.name, "scopes": sorted(s.value for s in k.scopes),
                "rate_per_s": k.rate_per_s, "created_by": k.created_by, "created_at": k.created_at,
                "revoked": k.revoked}

    @app.get("/v1/keys", response_model=list[KeyOut], tags=["keys"], summary="the organisation's API keys",
             responses=_ERRORS)
    async def list_keys(key: Admin) -> list[KeyOut]:
        return [KeyOut(**key_out(k)) for k in await backend(backends.keys.list, key.tenant_id)]

    @app.post("/v1/keys", status_code=201, response_model=KeyCreated, tags=["keys"],
              summary="a new API key for the organisation (the secret is in this answer only)", responses=_ERRORS)
    async def create_key(request: Request, body: KeyCreate, key: Admin) -> KeyCreated:
        made, stored = await backend(backends.keys.create, key.tenant_id, frozenset(Scope(s) for s in body.scopes),
                                     name=body.name, created_by=f"api-key:{key.key_id}", rate_per_s=body.rate_per_s)
        await record_access(key, request, "key_created", {"new_key_id": made.key_id, "scopes": body.scopes})
        return KeyCreated(**key_out(stored), api_key=made.token)

    @app.delete("/v1/keys/{key_id}", response_model=KeyOut, tags=["keys"], summary="revoke one of the keys",
                responses={**_ERRORS, **_NOT_FOUND})
    async def revoke_key(request: Request, key: Admin,
                         key_id: Annotated[str, Path(pattern="^[0-9a-f]{12}$")]) -> KeyOut:
        try:
            revoked = await backend(backends.keys.revoke, key_id, key.tenant_id)
        except KeyError:
            raise Problem(404, f"no key {key_id} in organisation {key.tenant_id}") from None
        await record_access(key, request, "key_revoked", {"revoked_key_id": key_id})
        return KeyOut(**key_out(revoked))

    return app
