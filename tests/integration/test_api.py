"""The REST API end to end over real HTTP: ingest -> Kafka -> enricher -> sequencer -> sink ->
ClickHouse -> search, fetch, proof, report, verify; and every way a key could reach another
organisation's records."""

from __future__ import annotations

import itertools
import json
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest
from audit_layer_api.api_keys import Scope
from audit_layer_schemas import Topics

from tests.api_server import ApiServer, api_pipeline
from tests.conftest import KEY_DIR, wait_for_checkpoint, wait_for_rows

pytestmark = pytest.mark.integration
PROBLEM = "application/problem+json"


@pytest.fixture
def api(kafka_bootstrap: str, topics: Topics, store: Any, tmp_path: Path) -> Iterator[ApiServer]:
    with api_pipeline(kafka_bootstrap, topics, store, tmp_path, checkpoint_every=20) as server:
        yield server


def _event(i: int, **overrides: Any) -> dict[str, Any]:
    event = {"event_id": str(uuid.uuid4()), "user_id": f"user-{i % 3}", "session_id": f"session-{i % 5}",
             "provider": "openai", "model": "gpt-4o-mini", "operation": "chat",
             "prompt": f"Approve loan application {i}? Applicant jane{i}@example.com",
             "response": "Denied: debt-to-income too high." if i % 4 == 0 else "Approved.",
             "input_tokens": 10 + i, "output_tokens": 5, "action": "ALLOW",
             "decision_type": "credit_decision", "decision_outcome": "denied" if i % 4 == 0 else "approved",
             "confidence": 0.9}
    event.update(overrides)
    return event


def _problem(response: Any, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith(PROBLEM)
    body = response.json()
    assert body["status"] == status and body["detail"]
    assert "Traceback" not in response.text
    return dict(body)


def _wait_rows(api: ApiServer, store: Any, n: int) -> None:
    assert wait_for_rows(store, n, workers=api.workers, sink=api.sink) >= n


def test_ingest_search_fetch_report_verify(api: ApiServer, store: Any, tmp_path: Path) -> None:
    token = api.key("org-a")
    with api.client(token) as http:
        first = _event(0)
        one = http.post("/v1/audit/log", json=first)
        assert one.status_code == 200, one.text
        assert one.json()["tenant_id"] == "org-a" and len(one.json()["event_ids"]) == 1
        # no event id sent: the service makes one
        made = http.post("/v1/audit/log", json={"action": "REJECT", "decision_type": "credit_decision",
                                                "reason_codes": ["policy_violation"]})
        assert made.status_code == 200, made.text
        batch = [_event(i) for i in range(1, 50)]
        answer = http.post("/v1/audit/log", json={"events": batch})
        assert answer.status_code == 200, answer.text
        assert answer.json()["event_ids"] == [e["event_id"] for e in batch]
        _wait_rows(api, store, 51)

        # search: every record once, newest first, across pages of 7
        seen: list[dict[str, Any]] = []
        cursor = None
        while True:
            page = http.get("/v1/audit/logs", params={"limit": 7, "decision_type": "credit_decision",
                                                     **({"cursor": cursor} if cursor else {})})
            assert page.status_code == 200, page.text
            seen += page.json()["items"]
            cursor = page.json()["next_cursor"]
            if cursor is None:
                break
        assert len(seen) == 51 and len({s["event_id"] for s in seen}) == 51
        assert [s["seq"] for s in seen] == sorted((s["seq"] for s in seen), reverse=True)
        # filters
        denied = http.get("/v1/audit/logs", params={"decision_outcome": "denied", "user_id": "user-0"}).json()
        expected = {e["event_id"] for e in [first, *batch]
                    if e["decision_outcome"] == "denied" and e["user_id"] == "user-0"}
        assert {i["event_id"] for i in denied["items"]} == expected
        fcra = http.get("/v1/audit/logs", params={"compliance_tag": "FCRA", "limit": 1000}).json()["items"]
        assert len(fcra) == 51  # the default policy tags credit decisions FCRA
        rejected = http.get("/v1/audit/logs", params={"action": "REJECT"}).json()["items"]
        assert [i["event_id"] for i in rejected] == made.json()["event_ids"]
        risk = rejected[0]["risk_level"]
        assert made.json()["event_ids"][0] in {
            i["event_id"] for i in http.get("/v1/audit/logs", params={"risk_level": risk}).json()["items"]}
        today = time.strftime("%Y-%m-%d", time.gmtime())
        dated = http.get("/v1/audit/logs", params={"start_date": today, "end_date": today, "limit": 1000}).json()
        assert len(dated["items"]) >= 51
        assert http.get("/v1/audit/logs", params={"end_date": "2001-01-01"}).json()["items"] == []
        foreign = http.get("/v1/audit/logs", params={"cursor": cursor or "eyJzZXEiOjEsImYiOiJ4In0",
                                                     "user_id": "x"})
        _problem(foreign, 400)

        # one record, its proof checked offline in another process
        target = batch[10]["event_id"]
        [(seq,)] = store.query(f"SELECT seq FROM {store.database}.events WHERE event_id = toUUID({{i:String}})",
                               parameters={"i": target}).result_rows
        wait_for_checkpoint(store, "org-a", seq)
        record = http.get(f"/v1/audit/logs/{target}")
        assert record.status_code == 200, record.text
        body = record.json()
        assert body["event"]["event_id"] == target and body["event"]["tenant_id"] == "org-a"
        assert body["chain"]["seq"] == seq and body["proof_status"] == "included"
        assert "FCRA" in body["enrichment"]["compliance_tags"] and body["enrichment"]["risk_reasons"]
        proof_file = tmp_path / "proof.json"
        proof_file.write_text(json.dumps(body["proof"]))
        keys = [a for key in sorted(KEY_DIR.glob("*.pub")) for a in ("--trusted-key", str(key))]
        checked = subprocess.run([sys.executable, "-m", "audit_layer_ledger.offline_proof", str(proof_file), *keys],
                                 capture_output=True, text=True, timeout=60)
        assert checked.returncode == 0, checked.stdout + checked.stderr

        # reports
        report = http.post("/v1/reports/generate", json={"report_type": "decision_audit", "audit_log_id": target,
                                                         "format": "json"})
        assert report.status_code == 200, report.text
        assert target in report.text and "VERIFIED" in report.text
        pdf = http.post("/v1/reports/generate", json={"report_type": "decision_audit", "audit_log_id": target,
                                                      "format": "pdf"})
        assert pdf.status_code == 200 and pdf.headers["content-type"] == "application/pdf"
        assert pdf.content.startswith(b"%PDF")
        summary = http.post("/v1/reports/generate", json={"report_type": "compliance_summary", "format": "csv",
                                                          "start_date": today, "end_date": today})
        assert summary.status_code == 200 and summary.headers["content-type"].startswith("text/csv")
        assert "org-a" in summary.text

        # the chain
        verified = http.get("/v1/chain/verify")
        assert verified.status_code == 200, verified.text
        assert verified.json()["status"] == "verified" and verified.json()["links"] >= 51, verified.json()["finding"]
        assert http.get("/v1/chain/verify", params={"mode": "latest"}).json()["status"] == "verified"
        checkpoints = http.get("/v1/chain/checkpoints").json()
        assert checkpoints and all(c["tenant_id"] == "org-a" for c in checkpoints)
        size = checkpoints[-1]["last_seq"]
        proof = http.get("/v1/chain/consistency", params={"first": checkpoints[0]["last_seq"], "second": size})
        assert proof.status_code == 200, proof.text
        assert proof.json()["second_root"] == checkpoints[-1]["merkle_root"]
        assert http.get("/v1/chain/public-keys").json()[0]["key_id"] == checkpoints[0]["key_id"]

    # /metrics, as Prometheus's own parser reads it: requests by route template (never by id), events in and out
    from prometheus_client.parser import text_string_to_metric_families

    scraped = httpx.get(f"{api.url}/metrics", timeout=10)
    assert scraped.status_code == 200 and scraped.headers["content-type"].startswith("text/plain; version=0.0.4")
    samples = {(s.name, tuple(sorted(s.labels.items()))): s.value
               for family in text_string_to_metric_families(scraped.text) for s in family.samples}
    requests = {dict(k[1])["route"]: v for k, v in samples.items() if k[0] == "audit_layer_api_requests_total"
                and dict(k[1])["method"] == "POST" and dict(k[1])["status"] == "200"}
    assert requests["/v1/audit/log"] == 3
    assert samples[("audit_layer_events_in_total", (("worker", "api"),))] == 51
    assert samples[("audit_layer_events_out_total", (("worker", "api"),))] == 51
    routes = {dict(k[1])["route"] for k in samples if k[0] == "audit_layer_api_requests_total"}
    assert "/v1/audit/logs/{event_id}" in routes and not any(target in r for r in routes)

    # every read above is itself an audit event in org-a's chain, naming the key and what it read
    key_id = token.split("_")[2]
    deadline = time.monotonic() + 60
    reads: list[tuple[Any, ...]] = []
    while time.monotonic() < deadline:
        reads = store.query(
            f"SELECT operation, decision_outcome, metadata['api_key_id'], metadata['event_ids'] FROM "
            f"{store.database}.events WHERE tenant_id = 'org-a' AND decision_type = 'record_access'").result_rows
        if len({r[0] for r in reads}) >= 6:
            break
        time.sleep(0.5)
    operations = {r[0] for r in reads}
    assert {"GET /v1/audit/logs", "GET /v1/audit/logs/{event_id}", "POST /v1/reports/generate",
            "GET /v1/chain/verify", "GET /v1/chain/checkpoints", "GET /v1/chain/consistency"} <= operations
    assert all(r[2] == key_id for r in reads)
    assert any(r[0] == "GET /v1/audit/logs/{event_id}" and r[3] == target for r in reads)


def test_tenant_isolation(api: ApiServer, store: Any) -> None:
    token_a, token_b = api.key("org-a"), api.key("org-b")
    b_events = [_event(i, user_id="bob", session_id="bob-session", model="claude-b", provider="anthropic",
                       decision_type="hiring", decision_outcome="rejected", action="REJECT",
                       compliance_tags=["B-ONLY"]) for i in range(20)]
    a_events = [_event(i) for i in range(20)]
    # org-a reuses one of org-b's event ids: still two records, each visible to its own organisation only
    a_events.append(_event(99, event_id=b_events[0]["event_id"], prompt="org-a's own text"))
    with api.client(token_a) as a, api.client(token_b) as b:
        assert b.post("/v1/audit/log", json={"events": b_events}).status_code == 200
        assert a.post("/v1/audit/log", json={"events": a_events}).status_code == 200
        # writing for the other organisation is refused, for a whole batch
        _problem(a.post("/v1/audit/log", json=_event(1, tenant_id="org-b")), 403)
        _problem(a.post("/v1/audit/log", json={"events": [_event(2), _event(3, tenant_id="org-b")]}), 403)
        _wait_rows(api, store, 41)
        a_ids = {e["event_id"] for e in a_events}

        # every single filter and every pair of filters, set to org-b's values: never a record of org-b
        b_values = {"user_id": "bob", "session_id": "bob-session", "model": "claude-b", "provider": "anthropic",
                    "decision_type": "hiring", "decision_outcome": "rejected", "action": "REJECT",
                    "risk_level": "HIGH", "compliance_tag": "B-ONLY", "start_date": "2020-01-01",
                    "end_date": "2100-01-01"}
        combos = [dict(c) for n in range(1, len(b_values) + 1) for c in itertools.combinations(b_values.items(), n)]
        assert len(combos) == 2 ** len(b_values) - 1  # every combination: 2,047 searches

        def search(params: dict[str, str]) -> None:
            page = a.get("/v1/audit/logs", params={**params, "limit": 1000})
            assert page.status_code == 200, (params, page.text)
            items = page.json()["items"]
            assert {i["event_id"] for i in items} <= a_ids | _access_ids(items), params
            assert all(i["user_id"] != "bob" and "B-ONLY" not in i["compliance_tags"] for i in items), params

        with ThreadPoolExecutor(8) as pool:
            list(pool.map(search, combos))
        _problem(a.get("/v1/audit/logs", params={"tenant_id": "org-b"}), 400)
        header = a.get("/v1/audit/logs", params={"user_id": "bob"}, headers={"X-Tenant-Id": "org-b"})
        assert header.status_code == 200 and header.json()["items"] == []

        # a record of org-b by id: 404, in records, proofs and reports
        only_b = b_events[5]["event_id"]
        _problem(a.get(f"/v1/audit/logs/{only_b}"), 404)
        _problem(a.post("/v1/reports/generate", json={"report_type": "decision_audit", "audit_log_id": only_b}), 404)
        shared = a.get(f"/v1/audit/logs/{b_events[0]['event_id']}")
        assert shared.status_code == 200, shared.text
        assert shared.json()["event"]["tenant_id"] == "org-a" and shared.json()["event"]["prompt"] == "org-a's own text"
        report = a.post("/v1/reports/generate", json={"report_type": "decision_audit",
                                                      "audit_log_id": b_events[0]["event_id"]})
        assert report.status_code == 200 and "org-b" not in report.text and "bob" not in report.text
        own = b.get(f"/v1/audit/logs/{b_events[0]['event_id']}")
        assert own.status_code == 200 and own.json()["event"]["user_id"] == "bob", own.text

        # summaries, chain, checkpoints, keys: the key's organisation only
        today = time.strftime("%Y-%m-%d", time.gmtime())
        summary = a.post("/v1/reports/generate", json={"report_type": "compliance_summary", "start_date": today,
                                                       "end_date": today}).text
        assert "org-b" not in summary and "hiring" not in summary and "claude-b" not in summary
        verified = a.get("/v1/chain/verify").json()
        assert verified["tenant_id"] == "org-a"
        assert all(c["tenant_id"] == "org-a" for c in a.get("/v1/chain/checkpoints").json())
        b_size = len(b_events) + 5
        a_size = int(store.query(f"SELECT max(seq) FROM {store.database}.events WHERE tenant_id = 'org-a'"
                                 ).result_rows[0][0])
        if b_size > a_size:
            _problem(a.get("/v1/chain/consistency", params={"first": 1, "second": b_size}), 422)
        b_key_id = token_b.split("_")[2]
        assert b_key_id not in {k["key_id"] for k in a.get("/v1/keys").json()}
        _problem(a.delete(f"/v1/keys/{b_key_id}"), 404)
        assert b.get("/v1/keys").status_code == 200  # org-b's key still works

    # no key, a malformed key, a made-up key, a revoked key
    with api.client() as anonymous:
        for path in ("/v1/audit/logs", f"/v1/audit/logs/{only_b}", "/v1/chain/verify", "/v1/keys"):
            assert _problem(anonymous.get(path), 401)
        assert "WWW-Authenticate" in anonymous.get("/v1/audit/logs").headers
    with api.client("al_sk_000000000000_" + "A" * 43) as guess:
        _problem(guess.get("/v1/audit/logs"), 401)
    with api.client(token_a.replace(token_a[-5:], "AAAAA")) as wrong_secret:
        _problem(wrong_secret.get("/v1/audit/logs"), 401)
    with api.client(token_b) as b:
        assert b.delete(f"/v1/keys/{b_key_id}").status_code == 200
        _problem(b.get("/v1/audit/logs"), 401)


def _access_ids(items: list[dict[str, Any]]) -> set[str]:
    """Org-a's own access records (its reads are audit events in its chain)."""
    return {i["event_id"] for i in items if i["decision_type"] == "record_access"}


def test_scopes_limits_and_bad_input(api: ApiServer, store: Any) -> None:
    ingest_only = api.key("org-c", frozenset({Scope.INGEST}))
    slow = api.key("org-c", frozenset({Scope.READ}), rate_per_s=1.0)
    with api.client(ingest_only) as http:
        denied = _problem(http.get("/v1/audit/logs"), 403)
        assert "read" in denied["detail"]
        _problem(http.post("/v1/reports/generate", json={"report_type": "compliance_summary"}), 403)
        # malformed bodies: clear 4xx, never 5xx
        _problem(http.post("/v1/audit/log", content=b"{not json", headers={"content-type": "application/json"}), 400)
        _problem(http.post("/v1/audit/log", content=b"action=ALLOW",
                           headers={"content-type": "application/x-www-form-urlencoded"}), 415)
        bad = _problem(http.post("/v1/audit/log", json={"action": "MAYBE"}), 422)
        assert "action" in bad["detail"]
        _problem(http.post("/v1/audit/log", json={"action": "ALLOW", "input_tokens": -1}), 422)
        _problem(http.post("/v1/audit/log", json={"action": "ALLOW", "surprise": 1}), 422)
        _problem(http.post("/v1/audit/log", json={"events": []}), 422)
        _problem(http.post("/v1/audit/log", json={"action": "ALLOW", "prompt": "hi", "prompt_sha256": "0" * 64}), 422)
        json_type = {"content-type": "application/json"}
        # a lone surrogate is not Unicode: refused as JSON (it could never be encoded as UTF-8)
        _problem(http.post("/v1/audit/log", content=b'{"action": "ALLOW", "prompt": "\\ud800"}', headers=json_type),
                 400)
        not_utf8 = _problem(http.post("/v1/audit/log", content=b'{"action": "ALLOW", "prompt": "\xff"}',
                                      headers=json_type), 400)
        assert "UTF-8" in not_utf8["detail"]
        _problem(http.post("/v1/audit/log", json=[1, 2]), 422)
        big = {"action": "ALLOW", "prompt": "x" * (9 * 1024 * 1024)}
        too_large = _problem(http.post("/v1/audit/log", json=big), 413)
        assert "limit" in too_large["detail"]

        def chunks() -> Iterator[bytes]:
            yield b'{"action": "ALLOW", "prompt": "'
            for _ in range(10):
                yield b"y" * (1024 * 1024)
            yield b'"}'

        _problem(http.post("/v1/audit/log", content=chunks(), headers={"content-type": "application/json"}), 413)
        _problem(http.get("/v1/no-such-thing"), 404)
        _problem(http.put("/v1/audit/log", json={}), 405)
        assert http.post("/v1/audit/log", json=_event(1)).status_code == 200  # and it still works
    with api.client(slow) as http:
        statuses = [http.get("/v1/audit/logs", params={"limit": 1}).status_code for _ in range(4)]
        assert statuses[:2] == [200, 200] and statuses[-1] == 429, statuses
        limited = http.get("/v1/audit/logs")
        _problem(limited, 429)
        assert int(limited.headers["Retry-After"]) >= 1
    with api.client(api.key("org-c", frozenset({Scope.READ}))) as http:
        _problem(http.get("/v1/audit/logs/not-a-uuid"), 404)  # read as a request id that names no record
        for params in ({"limit": 0}, {"limit": 1001}, {"risk_level": "SEVERE"}, {"start_date": "yesterday"},
                       {"start_date": "0001-01-01"}, {"start_date": "2026-02-01", "end_date": "2026-01-01"},
                       {"cursor": "!!!"}, {"end_date": "9999-12-31T23:59:59+14:00"}):
            response = http.get("/v1/audit/logs", params=params)
            assert 400 <= response.status_code < 500, (params, response.text)
            assert response.headers["content-type"].startswith(PROBLEM)
    # the refused read is on record too
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        rows = store.query(f"SELECT count() FROM {store.database}.events WHERE tenant_id = 'org-c' AND "
                           "decision_type = 'record_access' AND decision_outcome = 'denied'").result_rows
        if rows[0][0] >= 2:
            break
        time.sleep(0.5)
    assert rows[0][0] >= 2


def test_health_and_readiness(api: ApiServer) -> None:
    with api.client() as http:
        assert http.get("/healthz").json() == {"status": "ok", "checks": {}}
        ready = http.get("/readyz")
        assert ready.status_code == 200 and ready.json()["checks"] == {"kafka": "ok", "clickhouse": "ok"}
        spec = http.get("/openapi.json").json()
        assert {"/v1/audit/log", "/v1/audit/logs", "/v1/audit/logs/{event_id}", "/v1/reports/generate",
                "/v1/chain/verify"} <= set(spec["paths"])
        assert spec["components"]["securitySchemes"]["HTTPBearer"]["scheme"] == "bearer"


def test_not_ready_while_its_topics_do_not_exist(kafka_bootstrap: str, store: Any) -> None:
    server = ApiServer(kafka_bootstrap, Topics(f"missing-{uuid.uuid4().hex[:8]}."), store, KEY_DIR)
    try:
        with server.client() as http:
            ready = http.get("/readyz")
            assert ready.status_code == 503, ready.text
            assert "does not exist" in ready.json()["checks"]["kafka"]
            assert ready.json()["checks"]["clickhouse"] == "ok"
    finally:
        server.stop()
