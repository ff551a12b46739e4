"""POST /v1/traces: OTLP/HTTP trace export. Every GenAI span becomes an audit event of the API key's
organisation, answered once Kafka acknowledged them; other spans are ignored (and counted)."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from typing import Any

from fastapi import APIRouter, Request, Response
from pydantic import ValidationError

from audit_layer_api.context import CODEC, ERRORS, Context, Ingester
from audit_layer_api.otlp_genai import Span, genai_events
from audit_layer_api.otlp_request import (
    JSON,
    PROTOBUF,
    OtlpError,
    decompress,
    json_answer,
    protobuf_answer,
    spans_from_json,
    spans_from_protobuf,
)
from audit_layer_api.routes.ingest import RESERVED
from audit_layer_api.schemas import IngestEvent

router = APIRouter(tags=["otlp"])
ENCODINGS: dict[str, tuple[Callable[[bytes], Iterator[Span]], Callable[[int, str], bytes]]] = {
    PROTOBUF: (spans_from_protobuf, protobuf_answer), JSON: (spans_from_json, json_answer)}


def _status(media: str, code: int, message: str) -> Response:
    """An error answer as OTLP/HTTP writes one: a google.rpc.Status in the request's own encoding."""
    if media == PROTOBUF:
        from google.rpc.status_pb2 import Status

        return Response(Status(code=3, message=message).SerializeToString(), status_code=code, media_type=PROTOBUF)
    return Response(json.dumps({"code": 3, "message": message}), status_code=code, media_type=JSON)


_BINARY = {"schema": {"type": "string", "format": "binary"}}
_OBJECT = {"schema": {"type": "object"}}
RESPONSES: dict[int | str, dict[str, Any]] = {
    **{code: answer for code, answer in ERRORS.items() if code not in (400, 422)},
    200: {"description": "an ExportTraceServiceResponse in the request's encoding; `partialSuccess` counts and "
                         "names the GenAI spans that could not be events",
          "content": {PROTOBUF: _BINARY, JSON: _OBJECT}},
    400: {"description": "the body cannot be read as OTLP: a google.rpc.Status in the request's encoding",
          "content": {PROTOBUF: _BINARY, JSON: _OBJECT}},
    415: {"description": "a Content-Type other than OTLP's two",
          "content": {"text/plain": {"schema": {"type": "string"}}}},
}


@router.post("/v1/traces", summary="OTLP/HTTP trace export: GenAI spans become audit events",
             responses=RESPONSES, response_class=Response,
             openapi_extra={"requestBody": {"required": True, "content": {PROTOBUF: _BINARY, JSON: _OBJECT}}},
             description="Protobuf (`application/x-protobuf`) or JSON (`application/json`), optionally gzip. "
                         "Authenticate with an `ingest` API key (`Authorization: Bearer ...` as an exporter header). "
                         "Spans that are not GenAI operations are ignored; a GenAI span that cannot be an event is "
                         "counted in `partialSuccess.rejectedSpans` with the reason.")
async def traces(request: Request, key: Ingester, context: Context) -> Response:
    media = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media not in ENCODINGS:
        return Response(f"Content-Type {media or '(none)'} is not OTLP: send {PROTOBUF} or {JSON}\n",
                        status_code=415, media_type="text/plain")
    decode, answer = ENCODINGS[media]
    try:
        body = decompress(await request.body(), request.headers.get("content-encoding", "").strip().lower(),
                          context.settings.max_body_bytes)
        spans = list(decode(body))
    except OtlpError as exc:
        return _status(media, 400, str(exc))
    events, ignored = genai_events(spans)
    now_us = time.time_ns() // 1000
    messages, problems = [], []
    for event in events:
        try:
            if event.get("decision_type") in RESERVED:
                raise ValueError(f"decision_type {event['decision_type']!r} is recorded by the service itself")
            record = IngestEvent.model_validate(event).to_record(key.tenant_id, key.key_id, now_us)
            messages.append((record["tenant_id"].encode(), CODEC.encode(record)))
        except (ValidationError, ValueError, TypeError) as exc:
            first = exc.errors()[0]["msg"] if isinstance(exc, ValidationError) else str(exc)
            problems.append(f"span {event.get('span_id')}: {first}")
    context.metrics.otlp_spans.labels("genai").inc(len(events))
    context.metrics.otlp_spans.labels("ignored").inc(ignored)
    context.metrics.otlp_spans.labels("rejected").inc(len(problems))
    if messages:
        context.metrics.events_in.inc(len(messages))
        await context.send(messages)
        context.metrics.events_out.inc(len(messages))
    return Response(answer(len(problems), "; ".join(problems)[:2000]), status_code=200, media_type=media)
