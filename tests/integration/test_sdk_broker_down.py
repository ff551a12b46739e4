"""The broker stopped under SDK load: no exception, no stall, every event arrives once the broker
is back, also when the application was killed (kill -9) and restarted in between."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from audit_layer_processors.topics_admin import ensure_topics
from audit_layer_schemas import AUDIT_EVENT, AvroCodec, Topics
from confluent_kafka import Consumer

from tests.conftest import REPO

pytestmark = pytest.mark.integration
PORT = os.environ.get("AUDIT_LAYER_TEST_PRIVATE_KAFKA_PORT", "19192")
BOOTSTRAP = f"127.0.0.1:{PORT}"

APP = """
import json, os, signal, sys, time
from audit_layer_sdk import AuditCollector, AuditConfig, AuditPublisher
config = AuditConfig(bootstrap_servers=sys.argv[1], topic=sys.argv[2], spool_dir=sys.argv[3])
publisher = AuditPublisher(config)
mode, n = sys.argv[4], int(sys.argv[5])
latencies = []
for i in range(n):
    started = time.perf_counter()
    with AuditCollector(publisher, tenant_id=f"tenant-{i % 3}", user_id=f"u-{i}") as audit:
        audit.set_input(f"question {i}", model="m", provider="openai")
        audit.set_output(f"answer {i}", finish_reason="stop", input_tokens=3, output_tokens=4)
    latencies.append(time.perf_counter() - started)
if mode == "kill":
    deadline = time.monotonic() + 60
    while publisher.spooled_on_disk < n and time.monotonic() < deadline:
        time.sleep(0.1)
    latencies.sort()
    print(json.dumps({"spooled": publisher.spooled_on_disk, "p50_us": latencies[n // 2] * 1e6,
                      "p99_us": latencies[int(n * 0.99)] * 1e6, "max_ms": latencies[-1] * 1e3}), flush=True)
    os.kill(os.getpid(), signal.SIGKILL)
remaining = publisher.flush(120)
print(json.dumps({"remaining": remaining, **publisher.snapshot().__dict__}), flush=True)
"""


def _kafka(action: str) -> None:
    subprocess.run(["bash", str(REPO / "scripts/kafka/kafka.sh"), action], check=True,
                   env={**os.environ, "KAFKA_PORT": PORT})


@pytest.fixture(scope="module")
def private_broker() -> Iterator[str]:
    """A broker of this test's own, so stopping it does not disturb the other tests."""
    _kafka("start")
    yield BOOTSTRAP
    _kafka("stop")


def _run_app(topic: str, spool: Path, mode: str, n: int) -> tuple[int, dict[str, float]]:
    out = subprocess.run([sys.executable, "-c", APP, BOOTSTRAP, topic, str(spool), mode, str(n)],
                         capture_output=True, text=True, timeout=300)
    lines = [line for line in out.stdout.splitlines() if line.startswith("{")]
    assert lines, out.stderr[-3000:]
    return out.returncode, json.loads(lines[-1])


def test_broker_down_then_app_killed_then_everything_arrives(private_broker: str, tmp_path: Path) -> None:
    topics = Topics(f"down{int(time.time())}.")
    ensure_topics(private_broker, topics, partitions=3)
    spool = tmp_path / "spool"
    _kafka("stop")
    try:
        code, first = _run_app(topics.events, spool, "kill", 5000)
        assert code == -9, "the application was killed with events in its spool"
        assert first["spooled"] == 5000
        print(f"broker down: 5000 calls, p50 {first['p50_us']:.0f} us, p99 {first['p99_us']:.0f} us, "
              f"max {first['max_ms']:.1f} ms per audited call")
        assert first["max_ms"] < 1000, "no call stalls on the broker"
    finally:
        _kafka("start")
    code, second = _run_app(topics.events, spool, "normal", 0)
    assert code == 0 and second["remaining"] == 0 and second["replayed"] == 5000

    consumer = Consumer({"bootstrap.servers": private_broker, "group.id": f"{topics.prefix}check",
                         "auto.offset.reset": "earliest"})
    consumer.subscribe([topics.events])
    codec = AvroCodec(AUDIT_EVENT)
    users = []
    deadline = time.monotonic() + 60
    while len(users) < 5000 and time.monotonic() < deadline:
        users.extend(codec.decode(m.value())["user_id"] for m in consumer.consume(500, 0.5) if m.error() is None)
    time.sleep(1)
    users.extend(codec.decode(m.value())["user_id"] for m in consumer.consume(500, 1) if m.error() is None)
    consumer.close()
    assert len(users) == 5000 and len(set(users)) == 5000  # every event, none twice
    assert users[:3] == ["u-0", "u-1", "u-2"] or sorted(users) == sorted(f"u-{i}" for i in range(5000))
