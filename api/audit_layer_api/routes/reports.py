"""POST /v1/reports/generate: a decision audit or a compliance summary, in json, csv, html or pdf (signed)."""

from audit_layer_governance.reports import compliance_summary, decision_audit
from audit_layer_governance.reports.document import Report
from audit_layer_governance.reports.render import render
from audit_layer_store.lookup import EventNotFound
from fastapi import APIRouter, Request, Response
from fastapi.concurrency import run_in_threadpool

from audit_layer_api.api_keys import ApiKey
from audit_layer_api.context import ERRORS, NOT_FOUND, ApiContext, Context, Reporter
from audit_layer_api.problems import Problem
from audit_layer_api.schemas import ReportFormat, ReportRequest, ReportType
from audit_layer_api.seed_body import event_id_for

router = APIRouter(tags=["reports"])
MEDIA = {ReportFormat.JSON: "application/json", ReportFormat.CSV: "text/csv; charset=utf-8",
         ReportFormat.HTML: "text/html; charset=utf-8", ReportFormat.PDF: "application/pdf"}


async def build_report(context: ApiContext, request: Request, key: ApiKey, body: ReportRequest
                       ) -> tuple[Report, str, list[str]]:
    """(the report, its file name without extension, the ids of the records it shows)."""
    backends = context.backends
    if body.report_type is ReportType.DECISION_AUDIT:
        if body.audit_log_id is None:
            raise Problem(422, "decision_audit needs audit_log_id (the event id)")
        event_id = event_id_for(key.tenant_id, body.audit_log_id)
        try:
            report = await context.backend(decision_audit.build, backends.store, event_id, backends.public_keys(),
                                           key.tenant_id)
        except EventNotFound:
            await context.record_access(key, request, "not_found", body.model_dump(mode="json", exclude_none=True))
            raise Problem(404, f"no record {event_id} in organisation {key.tenant_id}") from None
        return report, f"decision-audit-{event_id}", [event_id]
    if body.start_date is None or body.end_date is None:
        raise Problem(422, "compliance_summary needs start_date and end_date (YYYY-MM-DD, inclusive)")
    if body.end_date < body.start_date:
        raise Problem(422, "end_date is before start_date")
    if body.start_date.year < 1970 or body.end_date.year > 2148:
        raise Problem(422, "the period must lie between 1970 and 2148")
    report = await context.backend(compliance_summary.build, backends.store, key.tenant_id, body.start_date,
                                   body.end_date, verify_now=body.verify, public_keys=backends.public_keys(),
                                   timeout=context.settings.verify_timeout_s if body.verify else None)
    return report, f"compliance-summary-{key.tenant_id}-{body.start_date}-{body.end_date}", []


async def report_response(context: ApiContext, request: Request, key: ApiKey, body: ReportRequest) -> Response:
    report, name, ids = await build_report(context, request, key, body)
    fmt = body.format.value
    signing = context.backends.report_key() if fmt == "pdf" else None
    content = await run_in_threadpool(render, report, fmt, signing_key=signing)
    await context.record_access(key, request, "served", body.model_dump(mode="json", exclude_none=True), ids)
    return Response(content, media_type=MEDIA[body.format], headers={
        "Content-Disposition": f'attachment; filename="{name}.{fmt}"'})


@router.post("/v1/reports/generate", summary="a decision audit or a compliance summary", response_class=Response,
             responses={200: {"description": "the report (a pdf is signed with the operator's report key)",
                              "content": {m: {} for m in MEDIA.values()}}, **ERRORS, **NOT_FOUND})
async def generate_report(request: Request, body: ReportRequest, key: Reporter, context: Context) -> Response:
    return await report_response(context, request, key, body)
