"""The auditors' web console: server-rendered pages under /console (Jinja2), readable without
JavaScript; the one script checks a decision's inclusion proof in the browser.

Every page is served to a signed-in API key of the `read` scope, scoped to its organisation, and
recorded as an access event in the organisation's chain before it is answered, as API reads are.
Forms (sign-out, verify now, reviews) carry a CSRF token tied to the session.

No `from __future__ import annotations`: FastAPI reads the route signatures at run time."""


import base64
import datetime as dt
import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote, urlencode

from audit_layer_governance import explanations
from audit_layer_governance.reports import charts, compliance_summary
from audit_layer_governance.reports.conversation import prompt_messages, response_messages
from audit_layer_governance.reports.decision_audit import OFFLINE_CHECK, duration, metadata_value
from audit_layer_governance.reports.document import RISK_COLORS, BarChart, KeyValues, TableBlock, rfc3339
from audit_layer_governance.reviews import REVIEW_DECISION, VERDICTS, review_states, reviews_of, unreviewed
from audit_layer_ledger.offline_proof import PINNED_LINK_SCHEMAS, ProofInvalid
from audit_layer_ledger.offline_proof import verify as verify_offline
from audit_layer_schemas.pii import detect, mask
from audit_layer_store.lookup import EventNotFound
from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates

from audit_layer_api.access_log import ACCESS_DECISION
from audit_layer_api.api_keys import ApiKey, Scope
from audit_layer_api.console.session import COOKIE, PRE_COOKIE, Session, Sessions
from audit_layer_api.context import ApiContext, Context
from audit_layer_api.otlp_genai_content import CONTENT_DECISION, CONTENT_OF_KEY
from audit_layer_api.problems import Problem
from audit_layer_api.reads import latest_verification, load_record, search_page, verify_now
from audit_layer_api.routes.reports import report_response
from audit_layer_api.routes.reviews import record_review
from audit_layer_api.schemas import ReportFormat, ReportRequest, ReportType
from audit_layer_api.search import FilterError, Filters, decode_cursor, search_sql
from audit_layer_api.seed_body import event_id_for

HERE = Path(__file__).parent
PAGE_SIZE = 50
templates = Jinja2Templates(directory=str(HERE / "templates"))
templates.env.globals.update(risk_colors=RISK_COLORS)
templates.env.filters["rfc3339"] = lambda v: "-" if v is None else rfc3339(v)
router = APIRouter(prefix="/console", include_in_schema=False)


class SignInRequired(Exception):
    def __init__(self, next_url: str, note: str = "") -> None:
        self.next_url = next_url
        self.note = note


@dataclass(frozen=True)
class Viewer:
    key: ApiKey
    session: Session
    csrf: str
    read_only: bool

    @property
    def can_review(self) -> bool:
        return not self.read_only and Scope.REVIEW in self.key.scopes

    @property
    def sees_pii(self) -> bool:
        return Scope.PII in self.key.scopes


def sessions_of(request: Request) -> Sessions:
    sessions: Sessions = request.app.state.console_sessions
    return sessions


async def viewer(request: Request, context: Context) -> Viewer:
    sessions = sessions_of(request)
    here = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    session = sessions.read(request.cookies.get(COOKIE))
    if session is None:
        raise SignInRequired(here)
    key = context.backends.keys.cached(session.key_id) or await context.lookup(session.key_id)
    if key is None or key.revoked:
        raise SignInRequired(here, "the key of this session is revoked")
    if Scope.READ not in key.scopes:
        raise SignInRequired(here, "the key lacks the read scope")
    verdict = context.backends.limiter.take(key.key_id, key.rate_per_s / context.settings.workers, time.monotonic())
    if not verdict.allowed:
        raise Problem(429, f"rate limit of {key.rate_per_s:g} requests/s for key {key.key_id}",
                      headers={"Retry-After": str(verdict.retry_after_s)})
    return Viewer(key, session, session.csrf(sessions.secret), request.app.state.console_read_only)


Signed = Annotated[Viewer, Depends(viewer)]


def _page(request: Request, name: str, who: Viewer | None, **values: Any) -> HTMLResponse:
    response = templates.TemplateResponse(request, name, {"viewer": who, **values})
    response.headers["Cache-Control"] = "no-store"  # records are not left in shared caches
    response.headers["Content-Security-Policy"] = ("default-src 'self'; img-src 'self' data:; style-src 'self'; "
                                                   "script-src 'self'; frame-ancestors 'none'; form-action 'self'")
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response


def _check_csrf(request: Request, who: Viewer, token: str) -> None:
    if not sessions_of(request).check_csrf(who.session, token):
        raise Problem(403, "the form's CSRF token is missing or wrong; reload the page and submit it again")


# -- signing in and out -----------------------------------------------------------------------------------

@router.get("")
async def home() -> RedirectResponse:
    return RedirectResponse("/console/decisions", status_code=303)


@router.get("/sign-in")
async def sign_in_form(request: Request, next: str = "/console/decisions", note: str = "") -> HTMLResponse:
    cookie, token = sessions_of(request).pre_session()
    response = _page(request, "sign_in.html", None, csrf=token, next=_safe_next(next), note=note)
    response.set_cookie(PRE_COOKIE, cookie, httponly=True, samesite="strict", path="/console",
                        secure=request.url.scheme == "https", max_age=3600)
    return response


def _safe_next(target: str) -> str:
    """Only a console page: never another site (no open redirect)."""
    return target if target.startswith("/console/") and not target.startswith("//") else "/console/decisions"


@router.post("/sign-in")
async def sign_in(request: Request, context: Context, api_key: Annotated[str, Form(max_length=200)] = "",
                  csrf: Annotated[str, Form(max_length=200)] = "",
                  next: Annotated[str, Form(max_length=2000)] = "/console/decisions") -> Response:
    sessions = sessions_of(request)
    if not sessions.check_pre_session(request.cookies.get(PRE_COOKIE), csrf):
        return _refused(request, "the sign-in form expired; it was shown again, sign in once more", next)
    try:
        key = await context.authenticate_token(request, api_key.strip())
    except Problem as exc:
        if exc.status == 429:
            raise
        return _refused(request, f"not signed in: {exc.detail}", next)
    if Scope.READ not in key.scopes:
        await context.record_access(key, request, "denied", {"missing_scope": Scope.READ.value})
        return _refused(request, f"key {key.key_id} lacks the read scope the console needs", next)
    _, cookie = sessions.open(key.key_id)
    await context.record_access(key, request, "console_signed_in", {})
    response = RedirectResponse(_safe_next(next), status_code=303)
    response.set_cookie(COOKIE, cookie, httponly=True, samesite="strict", path="/console",
                        secure=request.url.scheme == "https", max_age=sessions.lifetime_s)
    response.delete_cookie(PRE_COOKIE, path="/console")
    return response


def _refused(request: Request, note: str, next: str) -> Response:
    cookie, token = sessions_of(request).pre_session()
    response = _page(request, "sign_in.html", None, csrf=token, next=_safe_next(next), note=note)
    response.status_code = 401
    response.set_cookie(PRE_COOKIE, cookie, httponly=True, samesite="strict", path="/console",
                        secure=request.url.scheme == "https", max_age=3600)
    return response


@router.post("/sign-out")
async def sign_out(request: Request, who: Signed, context: Context,
                   csrf: Annotated[str, Form(max_length=200)] = "") -> RedirectResponse:
    _check_csrf(request, who, csrf)
    sessions_of(request).end(who.session)
    await context.record_access(who.key, request, "console_signed_out", {})
    response = RedirectResponse("/console/sign-in?note=" + quote("signed out"), status_code=303)
    response.delete_cookie(COOKIE, path="/console")
    return response


# -- decisions --------------------------------------------------------------------------------------------

FILTERS = ("start_date", "end_date", "decision_type", "decision_outcome", "model", "provider", "risk_level",
           "action", "user_id", "session_id", "compliance_tag")


@router.get("/decisions")
async def decisions(request: Request, who: Signed, context: Context,
                    cursor: Annotated[str | None, Query(max_length=512)] = None) -> HTMLResponse:
    given = {name: (request.query_params.get(name) or "").strip()[:256] or None for name in FILTERS}
    filters = Filters(**given)
    store = context.backends.store
    error = ""
    items: list[Any] = []
    next_cursor = None
    try:
        before = decode_cursor(cursor, filters) if cursor else None
        # the application's decisions: the service's own records of reads and reviews, and the content
        # records shown with their calls, only when asked for
        query = search_sql(store.database, who.key.tenant_id, filters, PAGE_SIZE, before,
                           hidden_types=(ACCESS_DECISION, REVIEW_DECISION, CONTENT_DECISION))
        items, next_cursor = await context.backend(search_page, store, query, filters, PAGE_SIZE,
                                                   context.settings.query_settings)
    except FilterError as exc:
        error = str(exc)
    ids = [i.event_id for i in items]
    states = await context.backend(review_states, store, who.key.tenant_id, ids) if ids else {}
    await context.record_access(who.key, request, "served" if items else "empty",
                                {**{k: v for k, v in given.items() if v}, "cursor": cursor, "page": "decisions"}, ids)
    kept = {k: v for k, v in given.items() if v}
    return _page(request, "decisions.html", who, items=items, states=states, filters=given, error=error,
                 next_url=f"/console/decisions?{urlencode({**kept, 'cursor': next_cursor})}" if next_cursor else None,
                 first_url=f"/console/decisions?{urlencode(kept)}" if cursor else None)


def _script_json(value: object) -> str:
    """JSON to place inside <script>: every "<" escaped, so no text of a record (a "</script>", a "<!--")
    can end or change the element; JSON.parse reads it back unchanged."""
    return json.dumps(value).replace("<", "\\u003c")


def _masked(text: str | None, kinds: list[str], show: bool) -> str | None:
    if text is None or show or not kinds:
        return text
    return mask(text, detect(text, tuple(kinds)))


def _neighbours(context: ApiContext, tenant: str, seq: int) -> dict[int, dict[str, Any]]:
    store = context.backends.store
    rows = store.query(
        f"SELECT seq, toString(event_id), prev_hash, hash, decision_type FROM {store.database}.events "
        "WHERE tenant_id = {t:String} AND seq IN ({a:UInt64}, {b:UInt64}) ORDER BY seq LIMIT 1 BY seq",
        parameters={"t": tenant, "a": max(seq - 1, 0), "b": seq + 1}).result_rows
    return {int(s): {"event_id": i, "prev_hash": bytes(p).hex(), "hash": bytes(h).hex(), "decision_type": d}
            for s, i, p, h, d in rows}


def _contents(context: ApiContext, tenant: str, event_id: str) -> list[dict[str, Any]]:
    """The content events that name this call (its OTLP log records), oldest first."""
    store = context.backends.store
    rows = store.query(
        f"SELECT toString(event_id), seq, prompt, response, pii_found FROM {store.database}.events "
        f"WHERE tenant_id = {{t:String}} AND decision_type = '{CONTENT_DECISION}' "
        f"AND metadata['{CONTENT_OF_KEY}'] = {{e:String}} ORDER BY seq LIMIT 1 BY seq",
        parameters={"t": tenant, "e": event_id}).result_rows
    return [{"event_id": i, "seq": int(s), "prompt": p, "response": r, "pii": list(k)} for i, s, p, r, k in rows]


async def _record(context: ApiContext, request: Request, who: Viewer, event_id: str) -> Any:
    backends = context.backends
    try:
        event_id = event_id_for(who.key.tenant_id, event_id)
        return event_id, await context.backend(load_record, backends.store, backends.public_keys(),
                                               who.key.tenant_id, event_id)
    except (ValueError, EventNotFound):
        await context.record_access(who.key, request, "not_found", {"event_id": event_id, "page": "decision"})
        raise Problem(404, f"no record {event_id!r} in organisation {who.key.tenant_id}") from None


@router.get("/decisions/{event_id}")
async def decision(request: Request, event_id: str, who: Signed, context: Context) -> HTMLResponse:
    event_id, record = await _record(context, request, who, event_id)
    tenant = who.key.tenant_id
    event, enrichment = record.event, record.enrichment
    store = context.backends.store
    neighbours = await context.backend(_neighbours, context, tenant, record.chain.seq)
    reviews = await context.backend(reviews_of, store, tenant, event_id)
    keys = context.backends.public_keys()
    if record.proof is None:
        server_check = {"ok": False, "pending": True, "detail": record.proof_status}
    else:
        try:
            verify_offline(record.proof, keys)
            server_check = {"ok": True, "detail": f"leaf {record.chain.seq} of the tree of "
                                                  f"{record.proof['checkpoint']['last_seq']:,} signed by key "
                                                  f"{record.proof['checkpoint']['key_id']}"}
        except ProofInvalid as exc:
            server_check = {"ok": False, "detail": str(exc)}
    kinds = list(enrichment.pii_found)
    show = who.sees_pii
    messages = (prompt_messages(_masked(event.prompt, kinds, show))
                + response_messages(_masked(event.response, kinds, show)))
    contents = await context.backend(_contents, context, tenant, event_id)
    for content in contents:  # the call's content, recorded apart from its span: shown with where it is from
        content["messages"] = (prompt_messages(_masked(content["prompt"], content["pii"], show))
                               + response_messages(_masked(content["response"], content["pii"], show)))
    findings = []
    for field, text in (("prompt", event.prompt), ("response", event.response)):
        for found in detect(text, tuple(kinds)) if text and kinds else []:
            value = text[found.start:found.end]
            findings.append({"field": field, "kind": found.kind,
                             "value": value if show else mask(value, [type(found)(found.kind, 0, len(value))])})
    browser = {"proof_url": f"/console/decisions/{event_id}/proof.json",
               "keys": {k: base64.b64encode(v).decode() for k, v in keys.items()},
               "pinned": PINNED_LINK_SCHEMAS,
               "shown": {"event_id": event.event_id, "tenant_id": event.tenant_id, "seq": record.chain.seq,
                         "hash": record.chain.hash, "decision_type": event.decision_type,
                         "decision_outcome": event.decision_outcome, "model": event.model,
                         "action": str(event.action.value), "risk_level": str(enrichment.risk_level.value)}}
    metadata = {k: metadata_value(v) for k, v in sorted(event.metadata.items())}
    await context.record_access(who.key, request, "served", {"event_id": event_id, "page": "decision"},
                                [event_id, *(c["event_id"] for c in contents)])
    return _page(request, "decision.html", who, record=record, event=event, enrichment=enrichment,
                 messages=messages, contents=contents, metadata=metadata, neighbours=neighbours, reviews=reviews,
                 findings=findings,
                 server_check=server_check, browser_json=_script_json(browser), verdicts=VERDICTS,
                 offline=OFFLINE_CHECK.format(event_id=event_id), duration=duration(event.duration_ms),
                 time=rfc3339(event.timestamp_us / 1e6), signals=[(r, explanations.signal(r))
                                                                  for r in enrichment.risk_reasons],
                 tags=[(t, explanations.tag(t)) for t in enrichment.compliance_tags],
                 at_the_time=metadata.get("human_reviewed_by"))


@router.get("/decisions/{event_id}/proof.json")
async def proof_download(request: Request, event_id: str, who: Signed, context: Context) -> JSONResponse:
    event_id, record = await _record(context, request, who, event_id)
    if record.proof is None:
        raise Problem(404, f"no inclusion proof yet: {record.proof_status}")
    await context.record_access(who.key, request, "served", {"event_id": event_id, "page": "proof"}, [event_id])
    return JSONResponse(record.proof, headers={
        "Content-Disposition": f'attachment; filename="proof-{event_id}.json"', "Cache-Control": "no-store"})


@router.post("/decisions/{event_id}/reviews")
async def review(request: Request, event_id: str, who: Signed, context: Context,
                 verdict: Annotated[str, Form(max_length=20)] = "", note: Annotated[str, Form(max_length=10_000)] = "",
                 csrf: Annotated[str, Form(max_length=200)] = "",
                 back: Annotated[str, Form(max_length=2000)] = "") -> RedirectResponse:
    _check_csrf(request, who, csrf)
    if not who.can_review:
        await context.record_access(who.key, request, "denied", {"missing_scope": Scope.REVIEW.value})
        raise Problem(403, f"key {who.key.key_id} lacks the `review` scope" +
                      (" (this console is read-only)" if who.read_only else ""))
    try:
        event_id = event_id_for(who.key.tenant_id, event_id)
    except ValueError:
        raise Problem(404, f"no record {event_id!r}") from None
    await record_review(context, request, who.key.tenant_id, f"api-key:{who.key.key_id}", who.key.name, event_id,
                        verdict, note)
    target = back if back.startswith("/console/") else f"/console/decisions/{event_id}"
    sep = "&" if "?" in target else "?"
    return RedirectResponse(f"{target}{sep}reviewed={event_id}", status_code=303)


# -- the review queue ---------------------------------------------------------------------------------------

@router.get("/reviews")
async def queue(request: Request, who: Signed, context: Context,
                page: Annotated[int, Query(ge=1, le=100_000)] = 1, reviewed: str = "") -> HTMLResponse:
    count, items = await context.backend(unreviewed, context.backends.store, who.key.tenant_id, limit=PAGE_SIZE,
                                         offset=(page - 1) * PAGE_SIZE, exact=False)
    ids = [i["event_id"] for i in items]
    await context.record_access(who.key, request, "served" if items else "empty", {"page": "review queue",
                                                                                   "number": page}, ids)
    return _page(request, "queue.html", who, count=count, items=items, page=page, verdicts=VERDICTS,
                 reviewed=reviewed, more=page * PAGE_SIZE < count)


# -- the chain ------------------------------------------------------------------------------------------------

def _chain_status(context: ApiContext, tenant: str) -> dict[str, Any]:
    store = context.backends.store
    rows = store.query(
        f"SELECT last_seq, created_at, key_id, note FROM {store.database}.checkpoints WHERE tenant_id = {{t:String}} "
        "ORDER BY last_seq DESC LIMIT 1", parameters={"t": tenant}).result_rows
    [(count,)] = store.query(f"SELECT uniqExact(last_seq) FROM {store.database}.checkpoints "
                             "WHERE tenant_id = {t:String}", parameters={"t": tenant}).result_rows
    latest = None
    if rows:
        last_seq, created, key_id, note = rows[0]
        created = created.replace(tzinfo=dt.UTC) if created.tzinfo is None else created
        latest = {"last_seq": int(last_seq), "created_at": rfc3339(created), "key_id": key_id,
                  "age": _age(dt.datetime.now(dt.UTC) - created), "note": note}
    witnesses = []
    for folder in context.settings.witness_dirs:
        path = folder / f"cosigned-{tenant}.jsonl"
        entries = [json.loads(line) for line in path.read_text().splitlines() if line.strip()] \
            if path.is_file() else []
        witnesses.append({"folder": str(folder), "cosigned": len(entries),
                          "latest": max((int(e.get("last_seq", e.get("size", 0))) for e in entries), default=None)})
    return {"latest": latest, "checkpoints": int(count), "stored": context.backends.stored_size(tenant),
            "verification": latest_verification(store, tenant), "witnesses": witnesses}


def _age(delta: dt.timedelta) -> str:
    seconds = int(delta.total_seconds())
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds >= size:
            n = seconds // size
            return f"{n} {unit}{'' if n == 1 else 's'} ago"
    return f"{seconds} seconds ago"


@router.get("/chain")
async def chain(request: Request, who: Signed, context: Context) -> HTMLResponse:
    status = await context.backend(_chain_status, context, who.key.tenant_id)
    await context.record_access(who.key, request, "served", {"page": "chain"})
    return _page(request, "chain.html", who, **status)


@router.post("/chain/verify")
async def chain_verify(request: Request, who: Signed, context: Context,
                       csrf: Annotated[str, Form(max_length=200)] = "") -> RedirectResponse:
    _check_csrf(request, who, csrf)
    await context.backend(verify_now, context.backends.store, context.backends.public_keys(), who.key.tenant_id,
                          timeout=context.settings.verify_timeout_s)
    await context.record_access(who.key, request, "served", {"page": "chain", "mode": "now"})
    return RedirectResponse("/console/chain", status_code=303)


# -- the compliance summary and the reports ---------------------------------------------------------------

def _period(start: str | None, end: str | None) -> tuple[dt.date, dt.date]:
    today = dt.datetime.now(dt.UTC).date()
    try:
        last = dt.date.fromisoformat(end) if end else today
        first = dt.date.fromisoformat(start) if start else last - dt.timedelta(days=29)
    except ValueError:
        raise Problem(422, "from and to are dates, YYYY-MM-DD") from None
    if last < first:
        raise Problem(422, "the period ends before it starts")
    return first, last


@router.get("/summary")
async def summary(request: Request, who: Signed, context: Context,
                  start: Annotated[str | None, Query(alias="from", max_length=10)] = None,
                  end: Annotated[str | None, Query(alias="to", max_length=10)] = None) -> HTMLResponse:
    first, last = _period(start, end)
    report = await context.backend(compliance_summary.build, context.backends.store, who.key.tenant_id, first, last,
                                   verify_now=False, public_keys=context.backends.public_keys(),
                                   for_display=True)
    await context.record_access(who.key, request, "served", {"page": "summary", "from": str(first), "to": str(last)})
    blocks: list[tuple[str, str, Any]] = []
    for block in report.blocks:
        if isinstance(block, BarChart):
            blocks.append(("chart", block.title, charts.to_svg(block)))
        elif isinstance(block, KeyValues):
            blocks.append(("pairs", block.title, block.items))
        elif isinstance(block, TableBlock):
            blocks.append(("table", block.title, (block.columns, block.rows)))
    query = urlencode({"from": str(first), "to": str(last)})
    return _page(request, "summary.html", who, report=report, blocks=blocks, first=first, last=last, query=query,
                 formats=[f.value for f in ReportFormat])


@router.get("/reports/compliance-summary.{fmt}")
async def summary_report(request: Request, fmt: ReportFormat, who: Signed, context: Context,
                         start: Annotated[str | None, Query(alias="from", max_length=10)] = None,
                         end: Annotated[str | None, Query(alias="to", max_length=10)] = None) -> Response:
    first, last = _period(start, end)
    if Scope.REPORTS not in who.key.scopes:
        await context.record_access(who.key, request, "denied", {"missing_scope": Scope.REPORTS.value})
        raise Problem(403, f"key {who.key.key_id} lacks the `reports` scope")
    body = ReportRequest(report_type=ReportType.COMPLIANCE_SUMMARY, start_date=first, end_date=last, format=fmt)
    return await report_response(context, request, who.key, body)


@router.get("/reports/decision-audit/{event_id}.{fmt}")
async def decision_report(request: Request, event_id: str, fmt: ReportFormat, who: Signed,
                          context: Context) -> Response:
    if Scope.REPORTS not in who.key.scopes:
        await context.record_access(who.key, request, "denied", {"missing_scope": Scope.REPORTS.value})
        raise Problem(403, f"key {who.key.key_id} lacks the `reports` scope")
    body = ReportRequest(report_type=ReportType.DECISION_AUDIT, audit_log_id=event_id, format=fmt)
    return await report_response(context, request, who.key, body)
