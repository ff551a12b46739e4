"""Latency the SDK adds to a call: the bare OpenAI client and AuditOpenAI on the same local
transport, measured side by side (interleaved) in one run, for both of the SDK's transports, each with
its destination up and down: Kafka (the broker), and the REST API (a local stand-in that answers 200,
since what the caller pays does not depend on the server); and the memory of a 100,000-call burst with
the broker down.

    python benchmarks/sdk_latency.py --calls 5000 [--bootstrap 127.0.0.1:9092]
"""

from __future__ import annotations

import argparse
import gc
import json
import resource
import statistics
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import openai
from audit_layer_sdk import AuditConfig, AuditOpenAI, AuditPublisher, HttpPublisher

BODY = {"id": "c", "object": "chat.completion", "created": 1, "model": "gpt-4o-mini",
        "choices": [{"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": "Denied."}}],
        "usage": {"prompt_tokens": 8, "completion_tokens": 2, "total_tokens": 10}}
MESSAGES = [{"role": "user", "content": "Assess application 42."}]


def _transport() -> httpx.Client:
    return httpx.Client(transport=httpx.MockTransport(lambda request: httpx.Response(200, json=BODY)))


def _quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def ensure_topic(bootstrap: str, topic: str) -> None:
    """The local broker does not auto-create topics: without this, "broker up" would measure the spool."""
    from confluent_kafka.admin import AdminClient, NewTopic

    admin = AdminClient({"bootstrap.servers": bootstrap})
    if topic not in admin.list_topics(timeout=10).topics:
        admin.create_topics([NewTopic(topic, num_partitions=3, replication_factor=1)])[topic].result(30)


class _Ingest(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        self.rfile.read(int(self.headers["content-length"]))
        body = b'{"tenant_id":"bench","event_ids":[]}'
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


def measure(calls: int, publisher: Any) -> dict[str, float]:
    bare = openai.OpenAI(api_key="k", base_url="http://llm.local/v1", http_client=_transport())
    audited = AuditOpenAI(tenant_id="bench", publisher=publisher, api_key="k", base_url="http://llm.local/v1",
                          http_client=_transport())
    for _ in range(300):  # warm both paths
        bare.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
        audited.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES, decision_type="x")
    times_bare, times_audited = [], []
    for _ in range(calls):
        t0 = time.perf_counter_ns()
        bare.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
        t1 = time.perf_counter_ns()
        audited.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES, decision_type="loan_underwriting",
                                        decision_outcome="denied", metadata={"loan_amount": 50000})
        t2 = time.perf_counter_ns()
        times_bare.append((t1 - t0) / 1000)
        times_audited.append((t2 - t1) / 1000)
    publisher.flush(10)
    stats = publisher.snapshot()
    publisher.close(2)
    return {
        "events": stats.emitted, "delivered": stats.delivered, "spooled": stats.spooled, "dropped": stats.dropped,
        "bare_median_us": statistics.median(times_bare), "audited_median_us": statistics.median(times_audited),
        "added_median_us": statistics.median(times_audited) - statistics.median(times_bare),
        "bare_p99_us": _quantile(times_bare, 0.99), "audited_p99_us": _quantile(times_audited, 0.99),
        "added_p99_us": _quantile(times_audited, 0.99) - _quantile(times_bare, 0.99),
    }


def burst_memory(calls: int, spool: str) -> dict[str, float]:
    publisher = AuditPublisher(AuditConfig(bootstrap_servers="127.0.0.1:1", topic="bench.burst", spool_dir=spool))
    audited = AuditOpenAI(tenant_id="bench", publisher=publisher, api_key="k", base_url="http://llm.local/v1",
                          http_client=_transport())
    gc.collect()
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    started = time.perf_counter()
    for _ in range(calls):
        audited.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
    elapsed = time.perf_counter() - started
    deadline = time.monotonic() + 120
    while publisher.spooled_on_disk < calls and time.monotonic() < deadline:
        time.sleep(0.2)
    after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    stats = publisher.snapshot()
    publisher.close(1)
    assert stats.delivered == 0, "the burst must run with the broker unreachable"
    return {"burst_calls": calls, "burst_seconds": elapsed, "max_rss_growth_mib": (after - before) / 1024,
            "spooled": stats.spooled, "dropped": stats.dropped}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--calls", type=int, default=5000)
    parser.add_argument("--burst", type=int, default=100_000)
    parser.add_argument("--bootstrap", default="127.0.0.1:9092")
    parser.add_argument("--json", type=Path, default=Path("bench-results/sdk_latency.json"))
    args = parser.parse_args()
    ensure_topic(args.bootstrap, "bench.audit.events")
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Ingest)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    api_up = f"http://127.0.0.1:{server.server_address[1]}/v1"
    with tempfile.TemporaryDirectory() as spool:
        def kafka(bootstrap: str, folder: str) -> AuditPublisher:
            return AuditPublisher(AuditConfig(bootstrap_servers=bootstrap, topic="bench.audit.events",
                                              spool_dir=f"{spool}/{folder}"))

        def http(url: str, folder: str) -> HttpPublisher:
            return HttpPublisher(AuditConfig(api_key="al_sk_bench", org_id="bench", api_url=url, retry_count=1,
                                             timeout_seconds=1, spool_dir=f"{spool}/{folder}"))

        results = {"broker_up": measure(args.calls, kafka(args.bootstrap, "up")),
                   "broker_down": measure(args.calls, kafka("127.0.0.1:1", "down")),
                   "api_up": measure(args.calls, http(api_up, "api-up")),
                   "api_down": measure(args.calls, http("http://127.0.0.1:1/v1", "api-down")),
                   "burst": burst_memory(args.burst, spool + "/burst")}
    server.shutdown()
    print(f"{'':14} {'bare med':>9} {'audited med':>12} {'added med':>10} {'added p99':>10}  (microseconds)  "
          "events: delivered / spooled")
    for name in ("broker_up", "broker_down", "api_up", "api_down"):
        r = results[name]
        print(f"{name:14} {r['bare_median_us']:9.0f} {r['audited_median_us']:12.0f} {r['added_median_us']:10.0f} "
              f"{r['added_p99_us']:10.0f}                 {r['delivered']:,} / {r['spooled']:,}")
    b = results["burst"]
    print(f"burst of {b['burst_calls']:,} calls, broker down: {b['burst_seconds']:.1f} s, "
          f"max RSS +{b['max_rss_growth_mib']:.0f} MiB, spooled {b['spooled']:,}, dropped {b['dropped']:,}")
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
