"""The integration document's REST examples (tests/seed_snippets/rest_api.sh) run as written with curl
against the API, only its address and key changed; the record is checked in ClickHouse field by field."""

from __future__ import annotations

import hashlib
import json
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
from audit_layer_schemas import Topics

from tests.api_server import api_pipeline
from tests.conftest import REPO, wait_for_rows

pytestmark = pytest.mark.integration
SCRIPT = (REPO / "tests" / "seed_snippets" / "rest_api.sh").read_text()
CALLS = [c.strip() for c in re.split(r"\n\s*\n(?=#)", SCRIPT) if "curl" in c]


def _curl(call: str, url: str, token: str) -> tuple[int, bytes]:
    """One of the document's calls as written (its host and key swapped), with the status code appended."""
    command = call.replace("https://api.auditlayer.io", url).replace("al_sk_your_api_key", token)
    command = command.replace("curl ", "curl -sS -w '\\n%{http_code}' ", 1)
    out = subprocess.run(["bash", "-c", command], capture_output=True, timeout=60)
    assert out.returncode == 0, out.stderr
    body, _, status = out.stdout.rpartition(b"\n")
    return int(status), body


def test_the_documents_curl_calls_run_as_written(kafka_bootstrap: str, topics: Topics, store: Any,
                                                  tmp_path: Path) -> None:
    assert [c.splitlines()[0] for c in CALLS] == ["# Record an audit event", "# Query audit logs",
                                                  "# Get single audit log", "# Generate report"]
    record, query, get_one, report = CALLS
    with api_pipeline(kafka_bootstrap, topics, store, tmp_path, checkpoint_every=1) as api:
        token = api.key("org_456")
        status, body = _curl(record, api.url, token)
        assert status == 200, body  # 200 once Kafka acknowledged: what the document's client waits for
        [event_id] = json.loads(body)["event_ids"]
        status, again = _curl(record, api.url, token)  # the client's retry: the same request id
        assert status == 200 and json.loads(again)["event_ids"] == [event_id]
        assert wait_for_rows(store, 1, workers=api.workers, sink=api.sink) == 1
        import time

        time.sleep(3)  # a second record would have arrived by now
        rows = store.query(
            f"SELECT event_id, tenant_id, user_id, toString(timestamp), duration_ms, prompt, input_tokens, response, "
            f"output_tokens, provider, model, model_parameters, decision_type, decision_outcome, compliance_tags, "
            f"metadata FROM {store.database}.events").result_rows
        assert len(rows) == 1, rows
        (stored_id, tenant, user, when, duration, prompt, tokens_in, response, tokens_out, provider, model, params,
         decision, outcome, tags, metadata) = rows[0]
        assert (str(stored_id), tenant, user, when[:19], duration) == (event_id, "org_456", "user_123",
                                                                      "2025-02-01 10:30:00", 1523.0)
        assert (prompt, tokens_in, response, tokens_out) == ("Analyze this loan application...", 250,
                                                             "Based on the credit score...", 150)
        assert (provider, model, params) == ("openai", "gpt-4-turbo", {"temperature": "0.3"})
        assert (decision, outcome) == ("loan_underwriting", "denied") and {"SOC2", "FCRA"} <= set(tags)
        assert metadata["request_id"] == "req_abc123" and metadata["prompt_hash"] == "sha256:abc123..."

        status, body = _curl(query, api.url, token)
        assert status == 200 and [r["event_id"] for r in json.loads(body)["items"]] == [event_id], body
        status, body = _curl(get_one, api.url, token)  # the document's id names no record here
        assert status == 404 and b"log_abc123" in body
        status, body = _curl(get_one.replace("log_abc123", "req_abc123"), api.url, token)
        assert status == 200 and json.loads(body)["event"]["event_id"] == event_id
        status, body = _curl(report, api.url, token)
        assert status == 404, body
        status, body = _curl(report.replace("log_abc123", "req_abc123"), api.url, token)
        assert status == 200 and body.startswith(b"%PDF"), body[:200]


def test_the_documents_body_is_checked_as_the_apis_own(kafka_bootstrap: str, topics: Topics, store: Any,
                                                       tmp_path: Path) -> None:
    body: dict[str, Any] = {"request_id": "req-1", "prompt_content": "Approve loan 42?", "model_name": "m",
                            "decision_type": "loan_underwriting"}
    with api_pipeline(kafka_bootstrap, topics, store, tmp_path, checkpoint_every=50) as api:
        http = api.client(api.key("org_456"))
        right = "sha256:" + hashlib.sha256(b"Approve loan 42?").hexdigest()
        assert http.post("/v1/audit/log", json={**body, "prompt_hash": right}).status_code == 200
        wrong = "sha256:" + hashlib.sha256(b"Approve loan 43?").hexdigest()
        answer = http.post("/v1/audit/log", json={**body, "request_id": "req-2", "prompt_hash": wrong})
        assert answer.status_code == 422 and "prompt_hash" in answer.text
        answer = http.post("/v1/audit/log", json={**body, "request_id": "req-3", "prompt": "twice"})
        assert answer.status_code == 422 and "send one" in answer.text
        answer = http.post("/v1/audit/log", json={**body, "request_id": "req-4", "organization_id": "org_999"})
        assert answer.status_code == 403 and "org_999" in answer.text
        answer = http.post("/v1/audit/log", json={**body, "request_id": "req-5", "timestamp": "yesterday"})
        assert answer.status_code == 422 and "ISO-8601" in answer.text
        answer = http.post("/v1/audit/log", json={**body, "request_id": "req-6", "confidence_score": 0.8,
                                                   "risk_level": "high", "metadata": {"amount": 50000, "ok": True}})
        assert answer.status_code == 200, answer.text
        event_id = answer.json()["event_ids"][0]
        assert wait_for_rows(store, 2, workers=api.workers, sink=api.sink) == 2
        [(confidence, metadata)] = store.query(f"SELECT confidence, metadata FROM {store.database}.events "
                                               f"WHERE event_id = '{event_id}'").result_rows
        assert confidence == pytest.approx(0.8)
        assert (metadata["amount"], metadata["ok"], metadata["client_risk_level"]) == ("50000", "true", "high")
