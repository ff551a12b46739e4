"""POST /v1/traces and /v1/logs: OTLP/HTTP export. Every GenAI span becomes an audit event of the API key's
organisation, and the GenAI content an instrumentation sends as log records a content event beside it
(otlp_genai_content); answered once Kafka acknowledged them. Other spans and records are ignored (and
counted). What the event schema cannot hold whole (content past its limit, odd ids) is recorded in part and
flagged, as the SDK does, not refused: an exporter does not resend what an answer rejects."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Iterator, Mapping
from typing import Any, TypeVar

from audit_layer_sdk.salvage import Flags, cut_text, fit_ids, fit_map
from fastapi import APIRouter, Request, Response
from prometheus_client import Counter
from pydantic import ValidationError

from audit_layer_api.api_keys import ApiKey
from audit_layer_api.context import CODEC, ERRORS, ApiContext, Context, Ingester
from audit_layer_api.otlp_genai import Span, genai_events
from audit_layer_api.otlp_genai_content import CONTENT_DECISION, LogRecord, content_events
from audit_layer_api.otlp_request import (
    JSON,
    PROTOBUF,
    OtlpError,
    decompress,
    json_answer,
    json_logs_answer,
    log_records_from_json,
    log_records_from_protobuf,
    protobuf_answer,
    protobuf_logs_answer,
    spans_from_json,
    spans_from_protobuf,
)
from audit_layer_api.routes.ingest import RESERVED
from audit_layer_api.schemas import IngestEvent

router = APIRouter(tags=["otlp"])
Answer = Callable[[int, str], bytes]
Item = TypeVar("Item", Span, LogRecord)
SPANS: dict[str, tuple[Callable[[bytes], Iterator[Span]], Answer]] = {
    PROTOBUF: (spans_from_protobuf, protobuf_answer), JSON: (spans_from_json, json_answer)}
LOGS: dict[str, tuple[Callable[[bytes], Iterator[LogRecord]], Answer]] = {
    PROTOBUF: (log_records_from_protobuf, protobuf_logs_answer), JSON: (log_records_from_json, json_logs_answer)}


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
    200: {"description": "an Export(Trace|Logs)ServiceResponse in the request's encoding; `partialSuccess` "
                         "counts and names the GenAI spans or records that could not be events",
          "content": {PROTOBUF: _BINARY, JSON: _OBJECT}},
    400: {"description": "the body cannot be read as OTLP: a google.rpc.Status in the request's encoding",
          "content": {PROTOBUF: _BINARY, JSON: _OBJECT}},
    415: {"description": "a Content-Type other than OTLP's two",
          "content": {"text/plain": {"schema": {"type": "string"}}}},
}


def _media(request: Request) -> str:
    return request.headers.get("content-type", "").split(";")[0].strip().lower()


def _unsupported(media: str) -> Response:
    return Response(f"Content-Type {media or '(none)'} is not OTLP: send {PROTOBUF} or {JSON}\n",
                    status_code=415, media_type="text/plain")


async def _body(request: Request, context: ApiContext) -> bytes:
    return decompress(await request.body(), request.headers.get("content-encoding", "").strip().lower(),
                      context.settings.max_body_bytes)


def _fitted(event: dict[str, Any]) -> dict[str, Any]:
    """The event made to fit the schema, flagged where it had to be (the SDK's salvage rules)."""
    values = dict(event)
    flags = Flags()
    if values.get("prompt") is not None or values.get("response") is not None:
        values["content_salt"] = os.urandom(16).hex()
    cut_text(values, values.get("content_salt") or "", flags)
    fit_ids(values, flags)
    values["metadata"] = fit_map(values.get("metadata"), flags)
    values["model_parameters"] = fit_map(values.get("model_parameters"), flags)
    if flags.reasons:
        values["reason_codes"] = [*values.get("reason_codes", []), *flags.reasons]
        values["metadata"].update(flags.metadata)
    return values


async def _publish(events: list[dict[str, Any]], key: ApiKey, context: ApiContext,
                   made_here: str | None = None) -> list[str]:
    """The events sent to Kafka (after its acknowledgement); the problems of those that could not be events.
    `made_here`: the one reserved decision type these events may carry, because this service set it."""
    now_us = time.time_ns() // 1000
    messages, problems = [], []
    for event in events:
        try:
            if event.get("decision_type") in RESERVED and event.get("decision_type") != made_here:
                raise ValueError(f"decision_type {event['decision_type']!r} is recorded by the service itself")
            record = IngestEvent.model_validate(_fitted(event)).to_record(key.tenant_id, key.key_id, now_us)
            messages.append((record["tenant_id"].encode(), CODEC.encode(record)))
        except (ValidationError, ValueError, TypeError) as exc:
            first = exc.errors()[0]["msg"] if isinstance(exc, ValidationError) else str(exc)
            problems.append(f"span {event.get('span_id')}: {first}")
    if messages:
        context.metrics.events_in.inc(len(messages))
        await context.send(messages)
        context.metrics.events_out.inc(len(messages))
    return problems


async def _export(request: Request, key: ApiKey, context: ApiContext,
                  encodings: Mapping[str, tuple[Callable[[bytes], Iterator[Item]], Answer]],
                  to_events: Callable[[list[Item]], tuple[list[dict[str, Any]], int]], counted: Counter,
                  made_here: str | None = None) -> Response:
    """One OTLP export: read in the request's encoding, its GenAI items made events and published, counted,
    and answered in that encoding (partialSuccess naming what could not be an event)."""
    media = _media(request)
    if media not in encodings:
        return _unsupported(media)
    decode, answer = encodings[media]
    try:
        items = list(decode(await _body(request, context)))
    except OtlpError as exc:
        return _status(media, 400, str(exc))
    events, ignored = to_events(items)
    problems = await _publish(events, key, context, made_here)
    counted.labels("genai").inc(len(items) - ignored)
    counted.labels("ignored").inc(ignored)
    counted.labels("rejected").inc(len(problems))
    return Response(answer(len(problems), "; ".join(problems)[:2000]), status_code=200, media_type=media)


@router.post("/v1/traces", summary="OTLP/HTTP trace export: GenAI spans become audit events",
             responses=RESPONSES, response_class=Response,
             openapi_extra={"requestBody": {"required": True, "content": {PROTOBUF: _BINARY, JSON: _OBJECT}}},
             description="Protobuf (`application/x-protobuf`) or JSON (`application/json`), optionally gzip. "
                         "Authenticate with an `ingest` API key (`Authorization: Bearer ...` as an exporter header). "
                         "Spans that are not GenAI operations are ignored; a GenAI span that cannot be an event is "
                         "counted in `partialSuccess.rejectedSpans` with the reason.")
async def traces(request: Request, key: Ingester, context: Context) -> Response:
    return await _export(request, key, context, SPANS, genai_events, context.metrics.otlp_spans)


@router.post("/v1/logs", summary="OTLP/HTTP log export: GenAI content records become content events",
             responses=RESPONSES, response_class=Response,
             openapi_extra={"requestBody": {"required": True, "content": {PROTOBUF: _BINARY, JSON: _OBJECT}}},
             description="For instrumentations that send the prompt and answer as log records (e.g. the official "
                         "openai-v2 one by default): the GenAI content records of each span (`gen_ai.user.message`, "
                         "`gen_ai.choice`, `gen_ai.client.inference.operation.details`, ...) become one event, "
                         "`decision_type = call_content`, whose metadata `content_of_event_id` names the event "
                         "of the call's span. Other log records are ignored. Encodings and authentication as "
                         "/v1/traces; a record that cannot be an event is counted in "
                         "`partialSuccess.rejectedLogRecords`.")
async def logs(request: Request, key: Ingester, context: Context) -> Response:
    return await _export(request, key, context, LOGS, content_events, context.metrics.otlp_log_records,
                         made_here=CONTENT_DECISION)
