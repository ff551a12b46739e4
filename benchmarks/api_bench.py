"""The REST API under load on loopback: ingest requests/s and latency (single events and batches of
100, acknowledged by Kafka), and search and console page latency over a 10,000,000-event organisation.

    python benchmarks/api_bench.py --bootstrap 127.0.0.1:9092 --workers 2 --search-events 10000000

The API runs as `audit-layer api` (its own processes, as deployed); this process owns the embedded
engine and serves it to them. The load tool is `hey` (Go), installed into .bench-tools/ with
`go install` when it is not on the PATH. Search: 100,000 distinct events built by the real
enricher and chain code, copied inside ClickHouse (new ids and seqs, days shifted back) up to
`--search-events`, then sequential HTTP requests over a mix of filters and pages.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
from audit_layer_api.api_keys import Scope
from audit_layer_api.key_store import KeyStore
from audit_layer_processors.topics_admin import ensure_topics
from audit_layer_schemas import Topics
from audit_layer_store.store import ClickHouseStore
from rich.console import Console
from rich.progress import Progress

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from audit_layer_samples.datasets import chain, load, varied_events

from benchmarks.figures import percentile, publish

REPO = Path(__file__).resolve().parents[1]
TOOLS = REPO / ".bench-tools"
TENANT = "bench-org"
console = Console(stderr=True)


def hey_binary() -> str:
    found = shutil.which("hey") or (str(TOOLS / "hey") if (TOOLS / "hey").exists() else None)
    if found:
        return found
    console.print("installing the load tool: go install github.com/rakyll/hey@v0.1.5 ...")
    subprocess.run(["go", "install", "github.com/rakyll/hey@v0.1.5"], check=True,
                   env={**os.environ, "GOBIN": str(TOOLS)})
    return str(TOOLS / "hey")


def hey(url: str, token: str, body: Path, seconds: int, concurrency: int,
        content_type: str = "application/json") -> dict[str, float]:
    out = subprocess.run([hey_binary(), "-z", f"{seconds}s", "-c", str(concurrency), "-m", "POST",
                          "-H", f"Authorization: Bearer {token}", "-T", content_type, "-D", str(body), url],
                         capture_output=True, text=True, check=True).stdout
    statuses = {int(code): int(n) for code, n in re.findall(r"\[(\d{3})\]\s+(\d+) responses", out)}
    if set(statuses) != {200}:
        raise SystemExit(f"not every request was accepted: {statuses}\n{out}")

    def latency(q: str) -> float:
        match = re.search(rf"{q}%+ in ([\d.]+) secs", out)
        return float(match.group(1)) * 1000 if match else float("nan")

    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    return {"requests_per_s": rate, "p50_ms": latency("50"), "p99_ms": latency("99"),
            "requests": sum(statuses.values())}


def event(i: int) -> dict[str, Any]:
    return {"action": "ALLOW", "user_id": f"user-{i % 50}", "session_id": f"s-{i % 200}", "provider": "openai",
            "model": "gpt-4o-mini", "decision_type": "credit_decision", "decision_outcome": "approved",
            "prompt": f"Applicant {i}: income 52,000, debt 9,000. Approve a loan of 12,000?",
            "response": "Approved: debt-to-income 17%.", "input_tokens": 42, "output_tokens": 9, "confidence": 0.93}


def otlp_batch(spans: int) -> bytes:
    """An OTLP ExportTraceServiceRequest of `spans` GenAI chat spans, as the openai-v2 instrumentation writes
    them with content on the span, in protobuf (what the OTel SDK's exporter sends)."""
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
    from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue

    def kv(key: str, value: Any) -> KeyValue:
        if isinstance(value, int):
            return KeyValue(key=key, value=AnyValue(int_value=value))
        if isinstance(value, float):
            return KeyValue(key=key, value=AnyValue(double_value=value))
        return KeyValue(key=key, value=AnyValue(string_value=str(value)))

    request = ExportTraceServiceRequest()
    resource_spans = request.resource_spans.add()
    resource_spans.resource.attributes.append(kv("service.name", "loan-desk"))
    scope = resource_spans.scope_spans.add()
    now = time.time_ns()
    for i in range(spans):
        span = scope.spans.add(trace_id=os.urandom(16), span_id=os.urandom(8), name="chat gpt-4o-mini", kind=3,
                               start_time_unix_nano=now - 900_000_000, end_time_unix_nano=now)
        span.attributes.extend([
            kv("gen_ai.operation.name", "chat"), kv("gen_ai.provider.name", "openai"),
            kv("gen_ai.request.model", "gpt-4o-mini"), kv("gen_ai.response.model", "gpt-4o-mini-2024-07-18"),
            kv("gen_ai.request.temperature", 0.2), kv("gen_ai.usage.input_tokens", 120 + i % 50),
            kv("gen_ai.usage.output_tokens", 40), kv("gen_ai.response.id", f"chatcmpl-{i}"),
            kv("gen_ai.input.messages", json.dumps([{"role": "user", "parts": [
                {"type": "text", "content": f"Applicant {i}: income 52k, debt 9k. Approve the loan?"}]}])),
            kv("gen_ai.output.messages", json.dumps([{"role": "assistant", "finish_reason": "stop", "parts": [
                {"type": "text", "content": "Approve: debt-to-income 17%."}]}]))])
        span.attributes.append(KeyValue(key="gen_ai.response.finish_reasons", value=AnyValue(
            array_value={"values": [AnyValue(string_value="stop")]})))
    return bytes(request.SerializeToString())


def start_api(args: argparse.Namespace, dsn: str, topics: Topics, port: int, log: Path) -> subprocess.Popen[bytes]:
    cmd = [sys.executable, "-m", "audit_layer_cli.main", "--log-level", "WARNING", "api", "--port", str(port),
           "--bootstrap-servers", args.bootstrap, "--topic-prefix", topics.prefix, "--dsn", dsn,
           "--database", "bench", "--workers", str(args.workers)]
    process = subprocess.Popen(cmd, stdout=log.open("wb"), stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=2).status_code == 200:
                return process
        except httpx.HTTPError:
            pass
        if process.poll() is not None:
            raise SystemExit(f"the API exited:\n{log.read_text()}")
        time.sleep(0.3)
    raise SystemExit(f"the API did not become ready:\n{log.read_text()}")


def fill(store: ClickHouseStore, total: int, base: int) -> None:
    with Progress(console=console) as bar:
        task = bar.add_task("building the search data set", total=total)
        start_us = int((time.time() - 86_400) * 1e6)
        events = []
        for k in range(0, base, 10_000):
            events.extend(varied_events(TENANT, 10_000, seed=k, start_us=start_us + k * 1000, users=500))
        chained = chain(events)  # one chain: seqs 1..base
        for k in range(0, base, 10_000):
            load(store, chained[k:k + 10_000])
            bar.update(task, completed=k + 10_000)
        db = store.database
        for k in range(1, max(total // base, 1)):
            store.command(
                f"INSERT INTO {db}.events SELECT * REPLACE (seq + {k * base} AS seq, generateUUIDv7() AS event_id, "
                f"timestamp - toIntervalDay({k % 90}) AS timestamp) "
                f"FROM (SELECT * FROM {db}.events WHERE seq <= {base})")
            bar.update(task, completed=(k + 1) * base)


def settle(store: ClickHouseStore, limit_s: float = 300.0) -> float:
    """Wait for the background merges of the fill to finish: searches are timed in steady state,
    not against a table that is still merging 100 parts on the same two cores."""
    started = time.monotonic()
    while time.monotonic() - started < limit_s:
        [(merging,)] = store.query("SELECT count() FROM system.merges WHERE database = 'bench'").result_rows
        if not merging:
            break
        time.sleep(1.0)
    return time.monotonic() - started


def search_latencies(url: str, token: str, rounds: int) -> dict[str, float]:
    today = time.strftime("%Y-%m-%d", time.gmtime())
    month_ago = time.strftime("%Y-%m-%d", time.gmtime(time.time() - 30 * 86_400))
    mixes = [{}, {"user_id": "u-17"}, {"decision_type": "triage"}, {"risk_level": "HIGH"},
             {"compliance_tag": "FCRA"}, {"action": "REJECT", "model": "gpt-4.1"},
             {"start_date": month_ago, "end_date": today, "decision_outcome": "denied"},
             {"session_id": "s-3", "provider": "anthropic"}]
    timings: list[float] = []
    with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=60) as http:
        for mix in mixes:  # warm-up: one of each
            http.get("/v1/audit/logs", params=mix).raise_for_status()
        with Progress(console=console) as bar:
            task = bar.add_task("search requests", total=rounds * len(mixes))
            for _ in range(rounds):
                for mix in mixes:
                    started = time.perf_counter()
                    page = http.get("/v1/audit/logs", params={**mix, "limit": 100})
                    page.raise_for_status()
                    cursor = page.json()["next_cursor"]
                    timings.append((time.perf_counter() - started) * 1000)
                    if cursor:  # and the next page of the same filters
                        started = time.perf_counter()
                        http.get("/v1/audit/logs", params={**mix, "limit": 100, "cursor": cursor}).raise_for_status()
                        timings.append((time.perf_counter() - started) * 1000)
                    bar.update(task, advance=1)
    return {"search_requests": len(timings), "search_p50_ms": percentile(timings, 0.50),
            "search_p99_ms": percentile(timings, 0.99)}


def console_latencies(url: str, token: str, rounds: int) -> dict[str, float]:
    """The console's pages as a signed-in browser asks for them (sessions, CSRF, the access record each view
    publishes): the decisions list under the search mixes, a decision, the review queue, the chain status."""
    pages: dict[str, list[float]] = {"decisions": [], "decision": [], "review_queue": [], "chain": []}
    with httpx.Client(base_url=url, timeout=60, follow_redirects=False) as browser:
        form = browser.get("/console/sign-in").text
        csrf = re.search(r'name="csrf" value="([^"]+)"', form).group(1)  # type: ignore[union-attr]
        signed = browser.post("/console/sign-in", data={"api_key": token, "csrf": csrf,
                                                        "next": "/console/decisions"})
        if signed.status_code != 303:
            raise SystemExit(f"console sign-in failed: {signed.status_code} {signed.text[:300]}")
        listed = browser.get("/console/decisions").text
        ids = re.findall(r'href="/console/decisions/([0-9a-f-]{36})"', listed)
        mixes = [{}, {"user_id": "u-17"}, {"risk_level": "HIGH"}, {"compliance_tag": "FCRA"},
                 {"decision_type": "triage", "action": "REJECT"}]

        def timed(name: str, path: str, params: dict[str, str] | None = None) -> None:
            started = time.perf_counter()
            answer = browser.get(path, params=params)
            if answer.status_code != 200:
                raise SystemExit(f"console {path} answered {answer.status_code}: {answer.text[:300]}")
            pages[name].append((time.perf_counter() - started) * 1000)

        for path in ("/console/decisions", "/console/reviews", "/console/chain"):
            browser.get(path)  # warm-up
        with Progress(console=console) as bar:
            task = bar.add_task("console pages", total=rounds)
            for i in range(rounds):
                timed("decisions", "/console/decisions", mixes[i % len(mixes)])
                timed("decision", f"/console/decisions/{ids[i % len(ids)]}")
                timed("review_queue", "/console/reviews")
                timed("chain", "/console/chain")
                bar.update(task, advance=1)
        every = [t for values in pages.values() for t in values]
        # the compliance summary of the last 30 days computes its figures over the period's events (and holds
        # the aggregates against them): a report, timed apart from the pages an auditor clicks through
        summary: list[float] = []
        for _ in range(max(rounds // 5, 3)):
            started = time.perf_counter()
            browser.get("/console/summary").raise_for_status()
            summary.append((time.perf_counter() - started) * 1000)
    out = {f"console_{name}_p95_ms": percentile(values, 0.95) for name, values in pages.items()}
    out.update(console_requests=len(every), console_p50_ms=percentile(every, 0.50),
               console_p95_ms=percentile(every, 0.95), console_summary_30_days_p50_ms=percentile(summary, 0.5),
               console_summary_30_days_max_ms=max(summary))
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bootstrap", default="127.0.0.1:9092", help="Kafka brokers")
    parser.add_argument("--workers", type=int, default=2, help="API processes (default: 2, one per core)")
    parser.add_argument("--seconds", type=int, default=15, help="length of each ingest run")
    parser.add_argument("--search-events", type=int, default=10_000_000, help="rows the search runs over")
    parser.add_argument("--search-rounds", type=int, default=40, help="rounds of the 8 search mixes")
    parser.add_argument("--console-rounds", type=int, default=50, help="rounds of the console's 4 pages")
    parser.add_argument("--port", type=int, default=18_900)
    parser.add_argument("--json", type=Path, default=Path("bench-results/api.json"))
    args = parser.parse_args()
    if args.seconds:
        hey_binary()
    results: dict[str, float] = {"api_workers": args.workers}
    topics = Topics(prefix=f"apibench-{int(time.time())}-")
    ensure_topics(args.bootstrap, topics, partitions=3)
    with tempfile.TemporaryDirectory(prefix="audit-layer-apibench-") as path:
        dsn = f"chdb://{path}/ch"
        store = ClickHouseStore(dsn, "bench", serve=True)
        store.migrate()
        token = KeyStore(store).create(TENANT, frozenset(Scope), name="bench", rate_per_s=1e7)[0].token
        api = start_api(args, dsn, topics, args.port, Path(path) / "api.log")
        try:
            url = f"http://127.0.0.1:{args.port}"
            bodies = Path(path)
            (bodies / "one.json").write_text(json.dumps(event(1)))
            (bodies / "batch.json").write_text(json.dumps({"events": [event(i) for i in range(100)]}))
            if args.seconds:  # --seconds 0: search and console only
                console.print(f"ingest: single events, 32 connections, {args.seconds} s ...")
                single = hey(f"{url}/v1/audit/log", token, bodies / "one.json", args.seconds, 32)
                console.print(f"ingest: batches of 100, 8 connections, {args.seconds} s ...")
                batch = hey(f"{url}/v1/audit/log", token, bodies / "batch.json", args.seconds, 8)
                (bodies / "otlp.pb").write_bytes(otlp_batch(512))
                console.print(f"OTLP ingest: batches of 512 spans (the OTel SDK's default), 8 connections, "
                              f"{args.seconds} s ...")
                otlp = hey(f"{url}/v1/traces", token, bodies / "otlp.pb", args.seconds, 8, "application/x-protobuf")
                results.update(otlp_spans_per_s=otlp["requests_per_s"] * 512, otlp_batch_p50_ms=otlp["p50_ms"],
                               otlp_batch_p99_ms=otlp["p99_ms"])
                results.update(ingest_single_requests_per_s=single["requests_per_s"],
                               ingest_single_p50_ms=single["p50_ms"], ingest_single_p99_ms=single["p99_ms"],
                               ingest_batch_events_per_s=batch["requests_per_s"] * 100,
                               ingest_batch_p50_ms=batch["p50_ms"], ingest_batch_p99_ms=batch["p99_ms"])
            fill(store, args.search_events, min(100_000, args.search_events))
            results["search_merge_wait_s"] = settle(store)
            rows = int(store.query("SELECT count() FROM bench.events WHERE tenant_id = {t:String}",
                                   parameters={"t": TENANT}).result_rows[0][0])
            results["search_rows_of_the_organisation"] = rows
            results.update(search_latencies(url, token, args.search_rounds))
            results.update(console_latencies(url, token, args.console_rounds))
        finally:
            api.terminate()
            api.wait(30)
            store.close()
    publish("REST API on loopback", results, {
        "ingest_single_requests_per_s": ">= 2,000", "ingest_batch_events_per_s": ">= 50,000",
        "otlp_spans_per_s": ">= 10,000",
        "search_p99_ms": "<= 100", "console_p95_ms": "<= 200"}, args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
