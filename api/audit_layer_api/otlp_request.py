"""OTLP/HTTP trace and log requests read into spans and log records, and the answers written, in both
encodings the OTLP specification defines: binary protobuf (`application/x-protobuf`) and JSON
(`application/json`, ids as hex, keys in lowerCamelCase), either of them gzip-compressed."""

from __future__ import annotations

import json
import zlib
from collections.abc import Iterator, Mapping
from typing import Any

from audit_layer_api.otlp_genai import Span
from audit_layer_api.otlp_genai_content import LogRecord

PROTOBUF = "application/x-protobuf"
JSON = "application/json"


class OtlpError(ValueError):
    """The request cannot be read as OTLP; the message says what is wrong (a 400)."""


def decompress(body: bytes, encoding: str, limit: int) -> bytes:
    if encoding in ("", "identity"):
        return body
    if encoding != "gzip":
        raise OtlpError(f"Content-Encoding {encoding!r} is not supported: send gzip or none")
    try:
        return _bounded_gunzip(body, limit)
    except (OSError, EOFError, zlib.error) as exc:
        raise OtlpError(f"the body is not valid gzip: {exc}") from None


def _bounded_gunzip(body: bytes, limit: int) -> bytes:
    """Decompressed up to `limit` bytes: a small gzip body must not expand into memory without bound."""
    inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
    out = inflater.decompress(body, limit + 1)
    if len(out) > limit or inflater.unconsumed_tail:
        raise OtlpError(f"the decompressed body exceeds {limit:,} bytes")
    return out


# -- protobuf --------------------------------------------------------------------------------------------

def _any_value(value: Any) -> Any:
    kind = value.WhichOneof("value")
    if kind is None:
        return None
    if kind == "array_value":
        return [_any_value(v) for v in value.array_value.values]
    if kind == "kvlist_value":
        return {kv.key: _any_value(kv.value) for kv in value.kvlist_value.values}
    if kind == "bytes_value":
        return value.bytes_value.hex()
    return getattr(value, kind)


def _attrs(items: Any) -> dict[str, Any]:
    return {kv.key: _any_value(kv.value) for kv in items}


def _parsed(request: Any, body: bytes) -> Any:
    """The export request message read from the body, or an OtlpError naming it."""
    from google.protobuf.message import DecodeError

    try:
        request.ParseFromString(body)
    except DecodeError as exc:
        raise OtlpError(f"the body is not an OTLP {type(request).__name__} in protobuf: {exc}") from None
    return request


def spans_from_protobuf(body: bytes) -> Iterator[Span]:
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

    request = _parsed(ExportTraceServiceRequest(), body)
    for resource_spans in request.resource_spans:
        resource = _attrs(resource_spans.resource.attributes)
        for scope_spans in resource_spans.scope_spans:
            for s in scope_spans.spans:
                yield Span(s.trace_id.hex(), s.span_id.hex(), s.name, s.start_time_unix_nano, s.end_time_unix_nano,
                           s.status.code, s.status.message, _attrs(s.attributes),
                           tuple((e.name, e.time_unix_nano, _attrs(e.attributes)) for e in s.events), resource)


def log_records_from_protobuf(body: bytes) -> Iterator[LogRecord]:
    from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest

    request = _parsed(ExportLogsServiceRequest(), body)
    for resource_logs in request.resource_logs:
        resource = _attrs(resource_logs.resource.attributes)
        for scope_logs in resource_logs.scope_logs:
            for r in scope_logs.log_records:
                attributes = _attrs(r.attributes)
                # before the event_name field, the Events API put the name in an attribute
                name = r.event_name or str(attributes.get("event.name", ""))
                yield LogRecord(r.trace_id.hex(), r.span_id.hex(), name, r.time_unix_nano or r.observed_time_unix_nano,
                                attributes, _any_value(r.body) if r.HasField("body") else None, resource)


def protobuf_answer(rejected: int, message: str) -> bytes:
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse

    answer = ExportTraceServiceResponse()
    if rejected or message:
        answer.partial_success.rejected_spans = rejected
        answer.partial_success.error_message = message
    return bytes(answer.SerializeToString())


def protobuf_logs_answer(rejected: int, message: str) -> bytes:
    from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceResponse

    answer = ExportLogsServiceResponse()
    if rejected or message:
        answer.partial_success.rejected_log_records = rejected
        answer.partial_success.error_message = message
    return bytes(answer.SerializeToString())


# -- JSON ------------------------------------------------------------------------------------------------

def _json_value(value: Mapping[str, Any]) -> Any:
    for kind, item in value.items():
        if kind == "stringValue":
            return str(item)
        if kind == "boolValue":
            return bool(item)
        if kind == "intValue":
            return int(item)  # int64 arrives as a string or a number
        if kind == "doubleValue":
            return float(item)
        if kind == "bytesValue":
            return str(item)
        if kind == "arrayValue":
            return [_json_value(v) for v in (item or {}).get("values", [])]
        if kind == "kvlistValue":
            return {kv["key"]: _json_value(kv.get("value", {})) for kv in (item or {}).get("values", [])}
    return None


def _json_attrs(items: Any) -> dict[str, Any]:
    if not isinstance(items, list):
        raise OtlpError("attributes must be a list of {key, value}")
    return {str(kv["key"]): _json_value(kv.get("value") or {}) for kv in items}


def spans_from_json(body: bytes) -> Iterator[Span]:
    try:
        request = json.loads(body)
        resource_spans = request.get("resourceSpans", [])
    except (ValueError, AttributeError) as exc:
        raise OtlpError(f"the body is not an OTLP/JSON ExportTraceServiceRequest: {exc}") from None
    try:
        for rs in resource_spans:
            resource = _json_attrs((rs.get("resource") or {}).get("attributes", []))
            for ss in rs.get("scopeSpans", []):
                for s in ss.get("spans", []):
                    trace_id, span_id = str(s.get("traceId", "")), str(s.get("spanId", ""))
                    bytes.fromhex(trace_id), bytes.fromhex(span_id)  # hex, as OTLP/JSON writes them
                    if len(trace_id) != 32 or len(span_id) != 16:
                        raise OtlpError(f"span {s.get('name')!r}: traceId must be 32 and spanId 16 hex digits")
                    status = s.get("status") or {}
                    yield Span(trace_id.lower(), span_id.lower(), str(s.get("name", "")),
                               int(s.get("startTimeUnixNano", 0)), int(s.get("endTimeUnixNano", 0)),
                               int(status.get("code", 0)), str(status.get("message", "")),
                               _json_attrs(s.get("attributes", [])),
                               tuple((str(e.get("name", "")), int(e.get("timeUnixNano", 0)),
                                      _json_attrs(e.get("attributes", []))) for e in s.get("events", [])),
                               resource)
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        if isinstance(exc, OtlpError):
            raise
        raise OtlpError(f"the body is not an OTLP/JSON ExportTraceServiceRequest: {exc!r}") from None


def _hex_id(value: Any, digits: int, what: str) -> str:
    """A trace or span id as OTLP/JSON writes it (hex); absent is empty (a log record outside any span)."""
    text = str(value or "")
    bytes.fromhex(text)
    if text and len(text) != digits:
        raise OtlpError(f"{what} must be {digits} hex digits, not {text!r}")
    return text.lower()


def log_records_from_json(body: bytes) -> Iterator[LogRecord]:
    try:
        request = json.loads(body)
        resource_logs = request.get("resourceLogs", [])
    except (ValueError, AttributeError) as exc:
        raise OtlpError(f"the body is not an OTLP/JSON ExportLogsServiceRequest: {exc}") from None
    try:
        for rl in resource_logs:
            resource = _json_attrs((rl.get("resource") or {}).get("attributes", []))
            for sl in rl.get("scopeLogs", []):
                for r in sl.get("logRecords", []):
                    attributes = _json_attrs(r.get("attributes", []))
                    body_value = r.get("body")
                    yield LogRecord(_hex_id(r.get("traceId"), 32, "traceId"), _hex_id(r.get("spanId"), 16, "spanId"),
                                    str(r.get("eventName") or attributes.get("event.name", "")),
                                    int(r.get("timeUnixNano") or r.get("observedTimeUnixNano") or 0), attributes,
                                    _json_value(body_value) if isinstance(body_value, Mapping) else None, resource)
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        if isinstance(exc, OtlpError):
            raise
        raise OtlpError(f"the body is not an OTLP/JSON ExportLogsServiceRequest: {exc!r}") from None


def json_answer(rejected: int, message: str) -> bytes:
    answer: dict[str, Any] = {}
    if rejected or message:
        answer["partialSuccess"] = {"rejectedSpans": str(rejected), "errorMessage": message}
    return json.dumps(answer).encode()


def json_logs_answer(rejected: int, message: str) -> bytes:
    answer: dict[str, Any] = {}
    if rejected or message:
        answer["partialSuccess"] = {"rejectedLogRecords": str(rejected), "errorMessage": message}
    return json.dumps(answer).encode()
