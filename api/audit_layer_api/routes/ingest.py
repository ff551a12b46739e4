"""POST /v1/audit/log: one event or a batch, answered once Kafka acknowledged them."""

import time
from typing import Any

from audit_layer_governance.reviews import REVIEW_DECISION
from fastapi import APIRouter, Request
from pydantic import TypeAdapter, ValidationError

from audit_layer_api import problems
from audit_layer_api.access_log import ACCESS_DECISION
from audit_layer_api.context import CODEC, ERRORS, Context, Ingester
from audit_layer_api.otlp_genai_content import CONTENT_DECISION
from audit_layer_api.problems import Problem, ProblemModel
from audit_layer_api.schemas import IngestBatch, IngestBody, IngestEvent, IngestResult

router = APIRouter(tags=["audit"])
RESERVED = {REVIEW_DECISION: "record a review with POST /v1/audit/logs/{id}/reviews (a key of the review scope)",
            ACCESS_DECISION: "every read through the API and the console is recorded as one",
            CONTENT_DECISION: "export the call's GenAI log records to /v1/logs, which records them as one"}
BODY: TypeAdapter[IngestEvent | IngestBatch] = TypeAdapter(IngestBody)
BODY_SCHEMA = {"oneOf": [{"$ref": "#/components/schemas/IngestEvent"},
                         {"$ref": "#/components/schemas/IngestBatch"}]}


def body_schemas() -> dict[str, Any]:
    """The models of the ingest body (validated by hand below), for the OpenAPI document."""
    defs: dict[str, Any] = BODY.json_schema(ref_template="#/components/schemas/{model}").get("$defs", {})
    return defs


@router.post("/v1/audit/log", status_code=200, response_model=IngestResult,
             summary="record one event or a batch (answers once Kafka acknowledged them)",
             responses={**ERRORS, 415: {"model": ProblemModel, "content": {problems.MEDIA_TYPE: {}},
                                        "description": "the body is not application/json"}},
             openapi_extra={"requestBody": {"required": True, "content": {"application/json": {
                 "schema": BODY_SCHEMA}}}})
async def ingest(request: Request, key: Ingester, context: Context) -> IngestResult:
    # the body is parsed and validated in one pass by pydantic-core (validate_json), not by
    # FastAPI's json.loads + validate_python: the hot path of every ingest
    media = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media != "application/json" and not media.endswith("+json"):
        raise Problem(415, "send the event as JSON: `Content-Type: application/json`")
    try:
        body = BODY.validate_json(await request.body())
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
        if item.decision_type in RESERVED:
            # else an `ingest` key (the application) could mark its own decisions reviewed, or forge reads
            raise Problem(422, f"{where}decision_type {item.decision_type!r} is recorded by the service itself: "
                               + RESERVED[item.decision_type])
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
        messages = [(r["tenant_id"].encode(), CODEC.encode(r)) for r in records]
    except (ValueError, TypeError, UnicodeEncodeError) as exc:  # e.g. text that is not valid Unicode
        raise Problem(422, f"an event cannot be encoded: {exc}") from None
    context.metrics.events_in.inc(len(messages))
    await context.send(messages)
    context.metrics.events_out.inc(len(messages))
    return IngestResult(tenant_id=key.tenant_id, event_ids=[r["event_id"] for r in records])
