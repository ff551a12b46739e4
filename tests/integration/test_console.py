"""The auditors' web console in a real browser: Debian's headless Chromium driven by Playwright, against
the API over real HTTP with the whole pipeline behind it (Kafka, the workers, the embedded ClickHouse).

Screenshots of each page go to the test's output folder (and to $AUDIT_LAYER_SCREENSHOTS when set)."""

from __future__ import annotations

import json
import os
import re
import shutil
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import closing
from pathlib import Path
from typing import Any

import httpx
import pytest
from audit_layer_api.api_keys import Scope
from audit_layer_governance.reports.signature import key_id, verify_pdf
from audit_layer_schemas import Topics
from cryptography.hazmat.primitives import serialization
from playwright.sync_api import Browser, Page, Route, expect, sync_playwright

from tests.api_server import ApiServer, api_pipeline
from tests.conftest import wait_for_checkpoint, wait_for_rows

pytestmark = pytest.mark.integration
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
TEXT = "Łukasz asks: Καλημέρα, Привет, 你好, مرحبا, שלום — 120 €"
HOSTILE = "loan</script><!--<script>alert(1)</script>"


@pytest.fixture
def api(kafka_bootstrap: str, topics: Topics, store: Any, tmp_path: Path) -> Iterator[ApiServer]:
    with api_pipeline(kafka_bootstrap, topics, store, tmp_path, checkpoint_every=10) as server:
        yield server


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    assert Path(CHROMIUM).exists(), "Chromium is not installed: run `bash scripts/system_packages.sh --browser`"
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield launched
        launched.close()


def _event(i: int) -> dict[str, Any]:
    """Every third a denied loan naming the applicant's e-mail (HIGH); the others support answers (LOW)."""
    denied = i % 3 == 0
    asked = f"Application {i}: {TEXT}; mail jane{i}@example.com" if denied else f"Question {i}: {TEXT}"
    return {"event_id": str(uuid.uuid4()), "user_id": f"applicant-{i % 4}", "session_id": f"s-{i % 5}",
            "provider": "openai", "model": "gpt-4o-mini", "operation": "chat",
            "prompt": json.dumps([{"role": "system", "content": "You assess loan applications."},
                                  {"role": "user", "content": asked}], ensure_ascii=False),
            "response": "Denied: debt-to-income too high." if denied else "Answered.",
            "input_tokens": 40 + i, "output_tokens": 8, "duration_ms": 812.3456789, "action": "ALLOW",
            # the first names a decision type no page may take as markup
            "decision_type": HOSTILE if i == 0 else "loan_underwriting" if denied else "support_reply",
            "decision_outcome": "denied" if denied else "answered", "confidence": 0.8,
            "metadata": {"branch": "Warszawa"}}


def _shot(page: Page, folder: Path, name: str) -> None:
    page.screenshot(path=str(folder / f"{name}.png"), full_page=True)
    extra = os.environ.get("AUDIT_LAYER_SCREENSHOTS")
    if extra:
        Path(extra).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(extra) / f"{name}.png"), full_page=False)


def test_an_auditor_signs_in_filters_checks_a_proof_reviews_downloads_and_signs_out(
        api: ApiServer, store: Any, browser: Browser, tmp_path: Path) -> None:
    shots = tmp_path / "screenshots"
    shots.mkdir()
    events = [_event(i) for i in range(24)]
    with api.client(api.key("org-a", frozenset({Scope.INGEST}))) as http:
        assert http.post("/v1/audit/log", json={"events": events}).status_code == 200
    wait_for_rows(store, 24, workers=api.workers, sink=api.sink)
    wait_for_checkpoint(store, "org-a", 20)
    reviewer = api.key("org-a", frozenset({Scope.READ, Scope.REPORTS, Scope.REVIEW}), name="officer-kowalska")
    ingest_only = api.key("org-a", frozenset({Scope.INGEST}))

    context = browser.new_context(base_url=api.url, viewport={"width": 1360, "height": 900},
                                  accept_downloads=True)
    page = context.new_page()

    # not signed in: every page sends you to the sign-in form; a key without `read` is refused
    page.goto("/console/decisions?risk_level=HIGH")
    expect(page).to_have_url(re.compile(r"/console/sign-in\?next="))
    page.fill("#api_key", ingest_only)
    page.click("#sign-in")
    expect(page.get_by_role("alert")).to_contain_text("lacks the read scope")
    page.fill("#api_key", "al_sk_000000000000_" + "x" * 43)
    page.click("#sign-in")
    expect(page.get_by_role("alert")).to_contain_text("unknown or revoked")
    _shot(page, shots, "sign-in")
    page.fill("#api_key", reviewer)
    page.click("#sign-in")
    expect(page).to_have_url(re.compile(r"/console/decisions\?risk_level=HIGH$"))
    session = next(c for c in context.cookies() if c["name"] == "al_console")
    assert session["httpOnly"] and session["sameSite"] == "Strict"

    # decisions: the filter came through the sign-in; then filter by outcome
    rows = page.locator("#decisions tbody tr")
    expect(rows).to_have_count(8)
    assert set(page.locator("#decisions tbody .risk").all_inner_texts()) == {"HIGH"}
    page.select_option("#risk_level", "")
    page.fill("input[name=decision_outcome]", "answered")
    page.click("#apply-filters")
    expect(rows).to_have_count(16)
    assert "decision_outcome=answered" in page.url
    page.goto("/console/decisions")
    expect(rows).to_have_count(24)
    _shot(page, shots, "decisions")

    # a decision: the conversation as messages, and its proof checked in this browser
    denied = events[3]
    page.goto(f"/console/decisions/{denied['event_id']}")
    check = page.locator("#browser-check[data-done=true]")
    expect(check).to_contain_text("proof verified: leaf", timeout=20_000)
    expect(page.locator("#server-check")).to_have_text("verified")
    expect(page.locator(".msg.user pre")).to_contain_text(TEXT)
    expect(page.locator(".msg.assistant pre")).to_have_text("Denied: debt-to-income too high.")
    expect(page.locator("#pii")).to_contain_text("email")
    assert "jane3@example.com" not in page.content()  # masked without the pii scope
    expect(page.get_by_text("812.3 ms")).to_be_visible()
    _shot(page, shots, "decision")

    # a doctored proof fails in the browser: one byte of the audit path, then the record's hash
    def doctor(field: str) -> Any:
        def handler(route: Route) -> None:
            proof = route.fetch().json()
            if field == "audit_path":
                first = proof["audit_path"][0]
                proof["audit_path"][0] = ("0" if first[0] != "0" else "1") + first[1:]
            else:
                proof["link_bytes"] = proof["link_bytes"][:-2] + ("00" if proof["link_bytes"][-2:] != "00" else "01")
            route.fulfill(json=proof)
        return handler

    for field, reason in (("audit_path", "FAILED: the audit path does not lead to the checkpoint's Merkle root"),
                          ("link_bytes", "FAILED: the record does not hash to its chain hash")):
        page.route("**/proof.json", doctor(field))
        page.reload()
        expect(page.locator("#browser-check[data-done=true]")).to_have_text(reason)
        page.unroute("**/proof.json")

    # a record's text cannot end or change the page's script: the proof still checks, the text shows as text
    dialogs: list[str] = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    page.goto(f"/console/decisions/{events[0]['event_id']}")
    expect(page.locator("#browser-check[data-done=true]")).to_contain_text("proof verified: leaf", timeout=20_000)
    expect(page.locator("h1")).to_contain_text(HOSTILE)
    assert dialogs == []

    # the review queue: review one decision and see the queue shrink once its review event is chained
    page.goto("/console/reviews")
    before = int(page.locator("#queue-count").inner_text())
    assert before == 8
    _shot(page, shots, "review-queue")
    first_row = page.locator("#queue tbody tr").first
    reviewed_id = first_row.locator("a").first.get_attribute("href").rsplit("/", 1)[-1]
    first_row.locator("select[name=verdict]").select_option("overridden")
    first_row.locator("input[name=note]").fill("Income was misread; approved on appeal — Łukasz")
    first_row.locator("button").click()
    expect(page.get_by_role("status")).to_contain_text("recorded")
    deadline = time.monotonic() + 60
    while int(page.locator("#queue-count").inner_text()) != before - 1:
        assert time.monotonic() < deadline, "the review did not leave the queue"
        time.sleep(0.5)
        page.reload()
    page.goto(f"/console/decisions/{reviewed_id}")
    expect(page.locator("#reviews")).to_contain_text("overridden")
    expect(page.locator("#reviews")).to_contain_text("Income was misread; approved on appeal — Łukasz")

    # the same over the API: a key with the review scope records one; others are refused, bad input named
    second_id = events[6]["event_id"]
    with api.client(reviewer) as http:
        made = http.post(f"/v1/audit/logs/{second_id}/reviews", json={"verdict": "confirmed", "note": "Checked."})
        assert made.status_code == 201, made.text
        assert made.json()["event_id"] == second_id and made.json()["verdict"] == "confirmed"
        assert made.json()["reviewer"].startswith("api-key:")
        assert http.post(f"/v1/audit/logs/{second_id}/reviews", json={"verdict": "maybe", "note": "x"}
                         ).status_code == 422
        assert http.post(f"/v1/audit/logs/{second_id}/reviews", json={"verdict": "confirmed", "note": ""}
                         ).status_code == 422
        assert http.post(f"/v1/audit/logs/{uuid.uuid4()}/reviews", json={"verdict": "confirmed", "note": "x"}
                         ).status_code == 404
    with api.client(api.key("org-a", frozenset({Scope.READ}))) as http:
        assert http.post(f"/v1/audit/logs/{second_id}/reviews", json={"verdict": "confirmed", "note": "x"}
                         ).status_code == 403
        deadline = time.monotonic() + 60
        while not http.get(f"/v1/audit/logs/{second_id}/reviews").json():
            assert time.monotonic() < deadline, "the API review was not chained"
            time.sleep(0.5)
        assert [r["note"] for r in http.get(f"/v1/audit/logs/{second_id}/reviews").json()] == ["Checked."]
    with api.client(api.key("org-a", frozenset({Scope.INGEST}))) as http:  # the application cannot review itself
        forged = http.post("/v1/audit/log", json={"action": "ALLOW", "decision_type": "decision_review",
                                                  "decision_outcome": "confirmed",
                                                  "metadata": {"reviews_event_id": events[9]["event_id"]}})
        assert forged.status_code == 422 and "review scope" in forged.json()["detail"]
    with api.client(api.key("org-b", frozenset({Scope.REVIEW}))) as http:  # another organisation's decision
        assert http.post(f"/v1/audit/logs/{second_id}/reviews", json={"verdict": "confirmed", "note": "x"}
                         ).status_code == 404

    # chain status: verify now
    page.goto("/console/chain")
    page.click("#verify-now")
    expect(page.locator("#verification")).to_have_text("verified")
    expect(page.locator("#checkpoint-age")).to_contain_text("ago")
    _shot(page, shots, "chain")

    # the compliance summary, and its pdf, signed with the operator's report key
    page.goto("/console/summary")
    expect(page.locator("svg.chart").first).to_be_visible()
    _shot(page, shots, "summary")
    with page.expect_download() as download:
        page.click("#download-pdf")
    pdf = Path(download.value.path()).read_bytes()
    assert pdf.startswith(b"%PDF-1.7")
    public = api.backends.report_key().public_key().public_bytes(serialization.Encoding.Raw,
                                                                 serialization.PublicFormat.Raw)
    with ThreadPoolExecutor(1) as thread:  # pyHanko runs its own event loop; Playwright's holds this thread
        assert thread.submit(verify_pdf, pdf, {key_id(public): public}).result().covers_whole_file

    # forms need their CSRF token: the same session cookie without it is refused
    cookie = {"al_console": session["value"]}
    with httpx.Client(base_url=api.url, cookies=cookie) as raw:
        assert raw.post("/console/chain/verify").status_code == 403
        # readable without JavaScript: the page itself carries the record
        plain = raw.get(f"/console/decisions/{denied['event_id']}")
        assert plain.status_code == 200 and TEXT in plain.text and "Content-Security-Policy" in plain.headers

    # sign out: the browser is refused, and so is the old cookie replayed
    page.goto("/console/decisions")
    page.click("#sign-out")
    expect(page).to_have_url(re.compile(r"/console/sign-in"))
    page.goto("/console/reviews")
    expect(page).to_have_url(re.compile(r"/console/sign-in\?next=/console/reviews$"))
    with httpx.Client(base_url=api.url, cookies=cookie, follow_redirects=False) as raw:
        assert raw.get("/console/decisions").status_code == 303
    context.close()

    # every page view is an access record in the organisation's chain
    deadline = time.monotonic() + 60
    while True:
        endpoints = {e for (e,) in store.query(
            f"SELECT metadata['endpoint'] FROM {store.database}.events WHERE tenant_id = 'org-a' AND "
            "decision_type = 'record_access'").result_rows}
        wanted = {"GET /console/decisions", "GET /console/decisions/{event_id}", "GET /console/reviews",
                  "GET /console/chain", "GET /console/summary", "POST /console/sign-in",
                  "POST /console/sign-out", "GET /console/decisions/{event_id}/proof.json"}
        if wanted <= endpoints or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    assert wanted <= endpoints, wanted - endpoints


def test_docs_work_offline(api: ApiServer, browser: Browser) -> None:
    """/docs and /redoc load their assets from the API itself: a browser that may reach nothing else renders
    them."""
    context = browser.new_context(base_url=api.url)
    outside: list[str] = []

    def only_local(route: Route) -> None:
        if route.request.url.startswith(api.url):
            route.continue_()
        else:
            outside.append(route.request.url)
            route.abort()

    context.route("**/*", only_local)
    page = context.new_page()
    page.goto("/docs")
    expect(page.locator(".swagger-ui .title")).to_contain_text("Audit Layer API", timeout=20_000)
    page.wait_for_load_state("networkidle")
    page.goto("/redoc")
    expect(page.locator("h1").first).to_contain_text("Audit Layer API", timeout=20_000)
    page.wait_for_load_state("networkidle")  # late requests (ReDoc's logo) have been made by now
    assert outside == []
    context.close()


def _sign_in(base: str, token: str) -> httpx.Client:
    """A console session over plain HTTP, as a browser without JavaScript has it."""
    client = httpx.Client(base_url=base, timeout=60, follow_redirects=False)
    form = client.get("/console/sign-in").text
    csrf = re.search(r'name="csrf" value="([^"]+)"', form)
    assert csrf, form
    answer = client.post("/console/sign-in", data={"api_key": token, "csrf": csrf.group(1),
                                                   "next": "/console/decisions"})
    assert answer.status_code == 303, answer.text
    return client


def test_the_console_alone_is_read_only_and_the_pii_scope_unmasks(kafka_bootstrap: str, topics: Topics,
                                                                   store: Any, tmp_path: Path) -> None:
    """`audit-layer console` as deployed (its own process, its own engine): reading works, writing routes do
    not exist; a key with the pii scope sees the personal data the enricher masked for others."""
    import socket
    import subprocess
    import sys

    from audit_layer_api.key_store import KeyStore
    from audit_layer_samples.datasets import chain, load
    from audit_layer_samples.factories import make_event
    from audit_layer_store.store import ClickHouseStore

    served = ClickHouseStore(store.dsn, store.database, serve=True)  # the console process reaches it through us
    keys = KeyStore(store)
    reader = keys.create("acme", frozenset({Scope.READ, Scope.REVIEW}), name="reader", created_by="tests")[0].token
    pii = keys.create("acme", frozenset({Scope.READ, Scope.PII}), name="dpo", created_by="tests")[0].token
    event = make_event("acme", prompt="Reach me at jane.doe@example.com", decision_type="loan_underwriting",
                       decision_outcome="denied")
    load(store, chain([event]))
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = int(probe.getsockname()[1])
    process = subprocess.Popen(
        [sys.executable, "-m", "audit_layer_cli.main", "console", "--port", str(port), "--dsn", store.dsn,
         "--database", store.database, "--bootstrap-servers", kafka_bootstrap, "--topic-prefix", topics.prefix,
         "--public-keys", str(tmp_path / "keys"), "--report-key", str(tmp_path / "report/k.pem")],
        stdout=(tmp_path / "console.log").open("wb"), stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{base}/healthz", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert process.poll() is None and time.monotonic() < deadline, (tmp_path / "console.log").read_text()
            time.sleep(0.3)
        with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {reader}"}) as api:
            assert api.get("/v1/audit/logs").status_code == 200
            assert api.post("/v1/audit/log", json={"action": "ALLOW"}).status_code in (404, 405)
            assert api.post(f"/v1/audit/logs/{event.event_id}/reviews",
                            json={"verdict": "confirmed", "note": "x"}).status_code in (404, 405)
            assert api.get("/v1/keys").status_code == 404
        with closing(_sign_in(base, reader)) as console:
            page = console.get(f"/console/decisions/{event.event_id}")
            assert page.status_code == 200 and "read-only" in page.text
            assert "jane.doe@example.com" not in page.text and "[EMAIL]" in page.text
            assert "Record review" not in page.text  # no review form in a read-only console
        with closing(_sign_in(base, pii)) as console:
            assert "jane.doe@example.com" in console.get(f"/console/decisions/{event.event_id}").text
    finally:
        process.terminate()
        process.wait(30)
        served.close()
