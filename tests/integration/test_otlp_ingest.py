"""POST /v1/traces and /v1/logs: an application traced by the official OpenTelemetry openai-v2 instrumentation,
exporting with the OTel SDK's own OTLP/HTTP exporters, has every GenAI call recorded as a chained, verified audit
event with no code of ours in it, and the content it sends as log records as a content event naming the call;
OTLP/JSON with gzip too; a span sent twice is one event; bad requests are answered as OTLP says."""

from __future__ import annotations

import gzip
import json
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from audit_layer_api.api_keys import Scope
from audit_layer_schemas import Topics

from tests.api_server import ApiServer, api_pipeline
from tests.conftest import REPO, verify, wait_for_rows

pytestmark = pytest.mark.integration
COLUMNS = ("provider", "operation", "model", "response_model", "input_tokens", "output_tokens", "finish_reason",
           "action", "error_type", "prompt", "response", "trace_id", "span_id", "sdk_name", "duration_ms")


@pytest.fixture
def api(kafka_bootstrap: str, topics: Topics, store: Any, tmp_path: Path) -> Iterator[ApiServer]:
    with api_pipeline(kafka_bootstrap, topics, store, tmp_path, checkpoint_every=5) as server:
        yield server


def _rows(store: Any, tenant: str) -> list[dict[str, Any]]:
    result = store.query(f"SELECT {', '.join(COLUMNS)}, metadata, model_parameters FROM {store.database}.events "
                         "WHERE tenant_id = {t:String} ORDER BY timestamp", parameters={"t": tenant})
    return [dict(zip((*COLUMNS, "metadata", "model_parameters"), row, strict=True)) for row in result.result_rows]


def _published(metrics: str) -> str:
    return "\n".join(line for line in metrics.splitlines()
                     if line.startswith(("audit_layer_events", "audit_layer_otlp")))


@pytest.mark.parametrize("mode", ["latest", "default"])
def test_an_instrumented_application_is_audited_through_otlp(api: ApiServer, store: Any, provider_url: str,
                                                             mode: str, tmp_path: Path) -> None:
    tenant = f"otel-{mode}"
    done = subprocess.run([sys.executable, "-m", "tests.otlp_client", mode, api.url, api.key(tenant), provider_url],
                          cwd=REPO, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    # the default form: 3 calls (spans) and 3 content events (their log records: the failed call's prompt too)
    expected = 3 if mode == "latest" else 6
    assert wait_for_rows(store, expected, workers=api.workers, sink=api.sink) >= expected
    rows = _rows(store, tenant)
    assert len(rows) == expected, [(r["operation"], r["span_id"]) for r in rows]
    calls = [r for r in rows if r["operation"] == "chat"]
    plain, streamed, failed = calls

    assert plain["provider"] == "openai" and plain["operation"] == "chat"
    assert (plain["model"], plain["response_model"]) == ("gpt-4o-mini", "gpt-4o-mini")
    assert (plain["input_tokens"], plain["output_tokens"]) == (8, 2)
    assert (plain["finish_reason"], plain["action"], plain["error_type"]) == ("stop", "ALLOW", None)
    assert plain["model_parameters"]["temperature"] == "0.2" and plain["model_parameters"]["max_tokens"] == "50"
    assert len(plain["trace_id"]) == 32 and len(plain["span_id"]) == 16 and plain["sdk_name"] == "audit-layer-otlp"
    assert plain["duration_ms"] > 0
    assert plain["metadata"]["resource.service.name"] == "loan-desk"
    assert plain["metadata"]["gen_ai.response.id"] == "c"
    prompt = [{"role": "system", "content": "Decide loan applications."},
              {"role": "user", "content": "Applicant 12: income 40k, debt 35k. Approve?"}]
    if mode == "latest":  # content on the span: prompt and answer recorded with the call
        assert json.loads(plain["prompt"]) == prompt and plain["response"] == "Denied."
        assert streamed["response"] == "Case 7 summary."
        # the stream's finish reason is on its span in this form
        assert streamed["finish_reason"] == "stop"
    else:  # content in log records, exported to /v1/logs: a content event per call, naming the call's event
        assert plain["prompt"] is None and plain["response"] is None
        assert plain["metadata"]["otlp.messages"].startswith("absent")
        content = {r["span_id"]: r for r in rows if r["operation"] == "content"}
        assert set(content) == {plain["span_id"], streamed["span_id"], failed["span_id"]}
        event_of = dict(store.query(
            f"SELECT span_id, toString(event_id) FROM {store.database}.events WHERE tenant_id = {{t:String}} "
            "AND operation = 'chat'", parameters={"t": tenant}).result_rows)
        for call in calls:
            record = content[call["span_id"]]
            assert record["trace_id"] == call["trace_id"] and record["provider"] == "openai"
            assert record["metadata"]["content_of_event_id"] == event_of[call["span_id"]]
            assert record["metadata"]["resource.service.name"] == "loan-desk"
        assert json.loads(content[plain["span_id"]]["prompt"]) == prompt
        assert content[plain["span_id"]]["response"] == "Denied."
        assert (content[streamed["span_id"]]["response"], content[streamed["span_id"]]["finish_reason"]) == (
            "Case 7 summary.", "stop")
        assert json.loads(content[failed["span_id"]]["prompt"]) == [{"role": "user", "content": "Anyone?"}]
        assert content[failed["span_id"]]["response"] is None
        # the span of a stream carries no finish reason in this form: its content event does
        assert streamed["finish_reason"] is None
        _the_console_shows_the_content_with_the_call(api, tenant, event_of[plain["span_id"]], tmp_path)
    assert streamed["action"] == "ALLOW" and streamed["response_model"] == "gpt-4o-mini"
    assert failed["action"] == "FAIL_RETRY" and failed["error_type"] == "APIConnectionError"

    report = verify(store)
    assert report.ok, report.findings[:3]


def _the_console_shows_the_content_with_the_call(api: ApiServer, tenant: str, call: str, folder: Path) -> None:
    """In a real browser: the call's page shows the conversation its log records carried, and where from; the
    list of decisions shows the calls, not their content events."""
    from playwright.sync_api import expect, sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=shutil.which("chromium") or "/usr/bin/chromium",
                                             args=["--no-sandbox"])
        page = browser.new_page(base_url=api.url, viewport={"width": 1360, "height": 900})
        page.goto(f"/console/decisions/{call}")
        page.fill("#api_key", api.key(tenant, frozenset({Scope.READ})))
        page.click("#sign-in")
        expect(page).to_have_url(re.compile(f"/console/decisions/{call}$"))
        conversation = page.locator("section", has=page.get_by_role("heading", name="Conversation"))
        expect(conversation).to_contain_text("Applicant 12: income 40k, debt 35k. Approve?")
        expect(conversation).to_contain_text("Denied.")
        expect(conversation).to_contain_text("Sent by the application as OpenTelemetry log records")
        page.screenshot(path=str(folder / "otlp-call.png"), full_page=True)
        page.goto("/console/decisions")
        expect(page.locator("tbody tr")).to_have_count(3)
        browser.close()


@pytest.mark.parametrize("mode", ["openllmetry", "openinference", "langchain"])
def test_openllmetry_openinference_and_langchain_instrumented_calls_are_audited(api: ApiServer, store: Any,
                                                                      provider_url: str, mode: str) -> None:
    tenant = f"otel-{mode}"
    done = subprocess.run([sys.executable, "-m", "tests.otlp_client", mode, api.url, api.key(tenant), provider_url],
                          cwd=REPO, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    calls = 3 if mode == "openllmetry" else 2
    assert wait_for_rows(store, calls, workers=api.workers, sink=api.sink) >= calls
    time.sleep(3)  # a second event for one call (the anthropic SDK's own span beside OpenLLMetry's) lands now
    rows = _rows(store, tenant)
    assert len(rows) == calls, [(r["provider"], r["span_id"]) for r in rows]
    if mode == "openllmetry":
        claude = rows[0]
        assert (claude["provider"], claude["model"], claude["input_tokens"], claude["output_tokens"]) == (
            "anthropic", "claude-sonnet-4", 10, 5)
        assert json.loads(claude["prompt"]) == [{"role": "system", "content": "Triage nurse."},
                                                {"role": "user", "content": "Chest pain, 54."}]
        assert claude["response"] == "See a doctor today." and claude["action"] == "ALLOW"
    chat = rows[-2]
    assert (chat["provider"], chat["model"], chat["input_tokens"], chat["output_tokens"]) == (
        "openai", "gpt-4o-mini", 8, 2)
    asked = [{"role": "user", "content": "Hello?"}]
    if mode == "langchain":  # the chain's prompt template adds a system message; its own spans are not calls
        asked.insert(0, {"role": "system", "content": "Triage nurse."})
        assert 'audit_layer_otlp_spans_total{outcome="ignored"} 2.0' in httpx.get(f"{api.url}/metrics").text
    assert json.loads(chat["prompt"]) == asked and chat["response"] == "Denied."
    assert rows[-1]["response"] == "Case 7 summary."
    assert all(r["metadata"]["resource.service.name"] == "triage-desk" for r in rows)
    report = verify(store)
    assert report.ok, report.findings[:3]


def _json_span(span_id: str, **attributes: Any) -> dict[str, Any]:
    def value(v: Any) -> dict[str, Any]:
        if isinstance(v, bool):
            return {"boolValue": v}
        if isinstance(v, int):
            return {"intValue": str(v)}
        if isinstance(v, float):
            return {"doubleValue": v}
        if isinstance(v, list):
            return {"arrayValue": {"values": [value(x) for x in v]}}
        return {"stringValue": str(v)}
    now = time.time_ns()
    return {"traceId": "5b8efff798038103d269b633813fc60c", "spanId": span_id, "name": "chat claude", "kind": 3,
            "startTimeUnixNano": str(now - 1_500_000_000), "endTimeUnixNano": str(now),
            "attributes": [{"key": k.replace("__", "."), "value": value(v)} for k, v in attributes.items()],
            "status": {"code": 1}}


def test_otlp_json_gzip_openllmetry_attributes_idempotent_and_bad_requests(api: ApiServer, store: Any) -> None:
    key = api.key("otel-json")
    genai = _json_span("eee19b7ec3c1b174", **{
        "gen_ai.system": "Anthropic", "gen_ai.request.model": "claude-sonnet-4", "gen_ai.operation.name": "chat",
        "gen_ai.prompt.0.role": "user", "gen_ai.prompt.0.content": "Triage: chest pain, 54.",
        "gen_ai.completion.0.role": "assistant", "gen_ai.completion.0.content": "Urgent: cardiology now.",
        "gen_ai.completion.0.finish_reason": "end_turn", "gen_ai.usage.input_tokens": 12,
        "gen_ai.usage.output_tokens": 6, "audit_layer.user_id": "nurse-4", "audit_layer.decision_type": "triage",
        "audit_layer.decision_outcome": "urgent", "audit_layer.compliance_tags": ["HIPAA"]})
    other = _json_span("00f067aa0ba902b7", **{"http.request.method": "GET"})
    body = {"resourceSpans": [{"resource": {"attributes": [{"key": "service.name",
                                                            "value": {"stringValue": "triage-bot"}}]},
                               "scopeSpans": [{"spans": [genai, other]}]}]}
    headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json", "Content-Encoding": "gzip"}
    for _ in range(2):  # an exporter's retry: the same span twice is one event
        sent = httpx.post(f"{api.url}/v1/traces", content=gzip.compress(json.dumps(body).encode()), headers=headers)
        assert sent.status_code == 200 and sent.json() == {}, sent.text
    assert wait_for_rows(store, 1, workers=api.workers, sink=api.sink) >= 1
    time.sleep(3)
    [row] = _rows(store, "otel-json")
    assert (row["provider"], row["model"], row["input_tokens"], row["output_tokens"]) == (
        "Anthropic", "claude-sonnet-4", 12, 6)
    assert json.loads(row["prompt"]) == [{"role": "user", "content": "Triage: chest pain, 54."}]
    assert row["response"] == "Urgent: cardiology now." and row["metadata"]["resource.service.name"] == "triage-bot"
    [(user, decision, outcome, tags)] = store.query(
        f"SELECT user_id, decision_type, decision_outcome, compliance_tags FROM {store.database}.events "
        "WHERE tenant_id = 'otel-json'").result_rows
    assert (user, decision, outcome) == ("nurse-4", "triage", "urgent") and "HIPAA" in tags

    # a GenAI span that cannot be an event: partial success, with the reason
    bad = _json_span("1111111111111111", **{"gen_ai.operation.name": "chat",
                                             "audit_layer.decision_type": "decision_review"})
    partial = httpx.post(f"{api.url}/v1/traces", json={"resourceSpans": [{"scopeSpans": [{"spans": [bad]}]}]},
                         headers={"Authorization": f"Bearer {key}"})
    assert partial.status_code == 200
    assert partial.json()["partialSuccess"]["rejectedSpans"] == "1"
    assert "recorded by the service itself" in partial.json()["partialSuccess"]["errorMessage"]

    # bad requests
    auth = {"Authorization": f"Bearer {key}"}
    garbage = httpx.post(f"{api.url}/v1/traces", content=b"\xff\x00not protobuf",
                         headers={**auth, "Content-Type": "application/x-protobuf"})
    assert garbage.status_code == 400 and garbage.headers["content-type"] == "application/x-protobuf"
    from google.rpc.status_pb2 import Status

    assert "protobuf" in Status.FromString(garbage.content).message
    assert httpx.post(f"{api.url}/v1/traces", content=b"{", headers={**auth, "Content-Type": "application/json"}
                      ).status_code == 400
    assert httpx.post(f"{api.url}/v1/traces", content=b"x", headers={**auth, "Content-Type": "text/plain"}
                      ).status_code == 415
    assert httpx.post(f"{api.url}/v1/traces", json=body).status_code == 401
    not_gzip = httpx.post(f"{api.url}/v1/traces", content=b"plain", headers={
        **auth, "Content-Type": "application/json", "Content-Encoding": "gzip"})
    assert not_gzip.status_code == 400 and "gzip" in not_gzip.json()["message"]
    bomb = gzip.compress(b"0" * (9 * 1024 * 1024))  # 9 KiB that expand past the 8 MiB body limit
    expanded = httpx.post(f"{api.url}/v1/traces", content=bomb, headers={
        **auth, "Content-Type": "application/json", "Content-Encoding": "gzip"})
    assert expanded.status_code == 400 and "exceeds" in expanded.json()["message"]
    metrics = httpx.get(f"{api.url}/metrics").text
    assert 'audit_layer_otlp_spans_total{outcome="ignored"} 2.0' in metrics


def test_otlp_logs_json_resent_once_oversized_content_kept_in_part_and_reserved_type(api: ApiServer,
                                                                                    store: Any) -> None:
    key = api.key("otel-logs")
    auth = {"Authorization": f"Bearer {key}"}
    huge = "x" * (600 * 1024)  # past the event's 512 KiB of content: cut, flagged, its digest kept

    def record(name: str, body: dict[str, str], span_id: str) -> dict[str, Any]:
        return {"traceId": "5b8efff798038103d269b633813fc60c", "spanId": span_id, "eventName": name,
                "timeUnixNano": str(time.time_ns()),
                "attributes": [{"key": "gen_ai.system", "value": {"stringValue": "openai"}}],
                "body": {"kvlistValue": {"values": [{"key": k, "value": {"stringValue": v}} for k, v in body.items()]}}}
    body = {"resourceLogs": [{"scopeLogs": [{"logRecords": [
        record("gen_ai.user.message", {"content": "Approve 12?"}, "1111111111111111"),
        record("gen_ai.user.message", {"content": huge}, "2222222222222222"),
        {"body": {"stringValue": "GET /health 200"}}]}]}]}
    for _ in range(2):  # an exporter's retry: one content event per span
        sent = httpx.post(f"{api.url}/v1/logs", content=gzip.compress(json.dumps(body).encode()),
                          headers={**auth, "Content-Type": "application/json", "Content-Encoding": "gzip"})
        assert sent.status_code == 200 and sent.json() == {}, sent.text
    assert wait_for_rows(store, 2, workers=api.workers, sink=api.sink) >= 2
    time.sleep(3)
    rows = {r["span_id"]: r for r in _rows(store, "otel-logs")}
    assert len(rows) == 2
    assert json.loads(rows["1111111111111111"]["prompt"]) == [{"role": "user", "content": "Approve 12?"}]
    cut = rows["2222222222222222"]
    assert len(cut["prompt"]) == 512 * 1024 and cut["metadata"]["audit_layer.prompt_chars"] == str(
        len(json.dumps([{"role": "user", "content": huge}])))
    [(codes,)] = store.query(f"SELECT reason_codes FROM {store.database}.events WHERE tenant_id = 'otel-logs' "
                             "AND span_id = '2222222222222222'").result_rows
    assert "content_truncated" in codes
    assert verify(store).ok

    # only the service records content events: not the REST ingest, not a span's own attribute
    refused = httpx.post(f"{api.url}/v1/audit/log", headers=auth, json={
        "action": "ALLOW", "decision_type": "call_content", "prompt": "forged"})
    assert refused.status_code == 422 and "/v1/logs" in refused.text
    span = _json_span("3333333333333333", **{"gen_ai.operation.name": "chat",
                                             "audit_layer.decision_type": "call_content"})
    partial = httpx.post(f"{api.url}/v1/traces", json={"resourceSpans": [{"scopeSpans": [{"spans": [span]}]}]},
                         headers=auth)
    assert partial.json()["partialSuccess"]["rejectedSpans"] == "1"
    bad = httpx.post(f"{api.url}/v1/logs", content=b"\xff\x00", headers={
        **auth, "Content-Type": "application/x-protobuf"})
    assert bad.status_code == 400
    assert httpx.post(f"{api.url}/v1/logs", json=body).status_code == 401
    metrics = httpx.get(f"{api.url}/metrics").text
    assert 'audit_layer_otlp_log_records_total{outcome="genai"} 4.0' in metrics
    assert 'audit_layer_otlp_log_records_total{outcome="ignored"} 2.0' in metrics


def test_a_node_application_traced_by_opentelemetry_js_is_audited(api: ApiServer, store: Any,
                                                                  provider_url: str) -> None:
    """OpenTelemetry JS: the Node tracer and logger providers with their OTLP/HTTP protobuf exporters and the
    openai instrumentation (content as log records, named the older way, in an `event.name` attribute)."""
    node = shutil.which("node")
    assert node is not None, "Node.js 20+ is needed (the TypeScript SDK's toolchain)"
    tenant = "otel-node"
    done = subprocess.run([node, "scripts/otlp-app.cjs", api.url, api.key(tenant), provider_url],
                          cwd=REPO / "producer" / "typescript", capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    # every export answered: the API took the six events and Kafka acknowledged them, so any shortfall below is
    # the pipeline's
    metrics = httpx.get(f"{api.url}/metrics").text
    assert 'audit_layer_events_out_total{worker="api"} 6.0' in metrics, _published(metrics)
    stored = wait_for_rows(store, 6, workers=api.workers, sink=api.sink)
    assert stored >= 6, (stored, [(r["operation"], r["span_id"]) for r in _rows(store, tenant)],
                         *(f"{w.name}:\n{w.log_tail()}" for w in api.workers))
    time.sleep(2)
    rows = _rows(store, tenant)
    assert len(rows) == 6, [(r["operation"], r["span_id"]) for r in rows]
    plain, streamed, failed = (r for r in rows if r["operation"] == "chat")
    content = {r["span_id"]: r for r in rows if r["operation"] == "content"}
    assert (plain["provider"], plain["model"], plain["input_tokens"], plain["output_tokens"]) == (
        "openai", "gpt-4o-mini", 8, 2)
    assert (plain["finish_reason"], plain["action"], plain["model_parameters"]["temperature"]) == (
        "stop", "ALLOW", "0.2")
    assert plain["metadata"]["resource.service.name"] == "claims-desk"
    assert json.loads(content[plain["span_id"]]["prompt"]) == [
        {"role": "user", "content": "Claim 88: water damage, 2,400 EUR. Pay?"}]
    assert content[plain["span_id"]]["response"] == "Denied."
    assert content[streamed["span_id"]]["response"] == "Case 7 summary."
    assert (failed["action"], failed["error_type"]) == ("FAIL_RETRY", "APIConnectionError")
    assert json.loads(content[failed["span_id"]]["prompt"]) == [{"role": "user", "content": "Anyone?"}]
    report = verify(store)
    assert report.ok, report.findings[:3]
