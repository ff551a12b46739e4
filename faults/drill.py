"""What every fault drill shares: the workers as processes, the SDK load, the broker switch, and the
final exact count and verification that decides pass or fail.

The drills (kill_drill.py, scale_drill.py) and the pipeline benchmark import this module; it runs
nothing itself.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from audit_layer_ledger.proofs import load_public_keys
from audit_layer_ledger.verify import verify_store
from audit_layer_processors.topics_admin import delete_topics
from audit_layer_schemas import Topics
from audit_layer_sdk import AuditCollector, AuditPublisher
from audit_layer_store.store import ClickHouseStore, open_if_served
from rich.console import Console
from rich.table import Table

REPO = Path(__file__).resolve().parents[1]
# the processes of each topology: sequencers that enrich (`sequencer --enrich`), or enrichers then sequencers
TOPOLOGIES = {"fused": ("sequencer", "sink"), "staged": ("enricher", "sequencer", "sink")}
console = Console(stderr=True)


@dataclass(frozen=True)
class StageSetup:
    """How this drill's workers are started: the topics, the signing key and the embedded engine."""

    bootstrap: str
    topics: Topics
    key: Path
    dsn: str
    database: str
    log_level: str = "INFO"
    checkpoint_every: int = 500
    topology: str = "fused"

    @property
    def stages(self) -> tuple[str, ...]:
        return TOPOLOGIES[self.topology]

    def command(self, stage: str, instance: str = "0") -> list[str]:
        base = [sys.executable, "-m", "audit_layer_cli.main", "--log-level", self.log_level, stage,
                "--bootstrap-servers", self.bootstrap, "--topic-prefix", self.topics.prefix,
                "--group", f"{self.topics.prefix}{stage}"]
        if stage == "sequencer":
            return [*base, "--instance-id", instance, "--signing-key", str(self.key),
                    "--checkpoint-every", str(self.checkpoint_every), "--checkpoint-seconds", "2",
                    *(("--enrich",) if self.topology == "fused" else ())]
        if stage == "sink":
            return [*base, "--dsn", self.dsn, "--database", self.database]
        return base


class Worker:
    """One worker process, as a supervisor runs it: started, restarted after it exits, killed, stopped."""

    def __init__(self, name: str, cmd: list[str], log: Path) -> None:
        self.name, self.cmd, self.log = name, cmd, log
        self.kills = 0
        self.exits = 0  # exits on its own (e.g. the broker gone), restarted like a supervisor would
        self.started_at = time.monotonic()
        self.stopped_at: float | None = None
        self.process = self._start()

    def _start(self) -> subprocess.Popen[bytes]:
        return subprocess.Popen(self.cmd, stdout=self.log.open("ab"), stderr=subprocess.STDOUT)

    def revive(self) -> bool:
        """What a supervisor (docker-compose `restart: on-failure`) does: start it again if it exited."""
        if self.stopped_at is not None or self.process.poll() is None:
            return False
        console.print(f"  {self.name} exited ({self.process.returncode}); restarted as a supervisor would")
        self.exits += 1
        self.process = self._start()
        return True

    def kill_and_restart(self, pause: float) -> None:
        self.process.send_signal(signal.SIGKILL)
        self.process.wait()
        self.kills += 1
        time.sleep(pause)
        self.process = self._start()

    def stop(self, timeout: float = 60.0) -> None:
        """SIGTERM (a graceful leave: the worker finishes its batch and leaves the group), then SIGKILL."""
        self.stopped_at = self.stopped_at or time.monotonic()
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


@dataclass
class Load:
    """The application's side: events emitted through the SDK at a steady rate, each call timed."""

    publisher: AuditPublisher
    events: int
    rate: float
    tenants: int
    sent: int = 0
    exceptions: int = 0
    call_seconds: list[float] = field(default_factory=list)
    sdk_counts: dict[str, int] = field(default_factory=dict)  # the publisher's own counts, after drain()

    def run(self) -> None:
        started = time.monotonic()
        for n in range(self.events):
            begun = time.perf_counter()
            try:
                collector = AuditCollector(self.publisher, tenant_id=f"drill-{n % self.tenants}",
                                           user_id=f"user-{n % 113}", provider="openai", operation="chat")
                collector.set_input(f"case {n}: assess", model="gpt-4o-mini")
                collector.set_output(f"assessment {n}", finish_reason="stop")
                collector.set_decision("loan_underwriting", outcome="approved" if n % 3 else "denied")
                collector.emit()
            except Exception as exc:  # the application must never see one: counted, and the drill fails
                self.exceptions += 1
                console.print(f"  the SDK raised into the application: {exc!r}")
            self.call_seconds.append(time.perf_counter() - begun)
            self.sent = n + 1
            ahead = (n + 1) / self.rate - (time.monotonic() - started)
            if ahead > 0:
                time.sleep(ahead)

    def start(self) -> threading.Thread:
        thread = threading.Thread(target=self.run, daemon=True)
        thread.start()
        return thread

    def drain(self, spool_timeout: float = 300.0) -> int:
        """Flush, wait for spooled events to be replayed; the number Kafka never acknowledged."""
        unacked = self.publisher.flush(120)
        deadline = time.monotonic() + spool_timeout
        while self.publisher.spooled_now and time.monotonic() < deadline:
            time.sleep(0.5)  # events spooled while the broker was down are replayed in the background
        unacked += self.publisher.spooled_now
        self.publisher.close()
        self.sdk_counts = asdict(self.publisher.stats.snapshot())
        return unacked

    def latency_ms(self) -> dict[str, float]:
        ordered = sorted(self.call_seconds) or [0.0]

        def pick(q: float) -> float:
            return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000, 3)

        return {"p50": pick(0.50), "p99": pick(0.99), "p999": pick(0.999), "max": round(ordered[-1] * 1000, 3)}


def add_topology(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--topology", choices=tuple(TOPOLOGIES), default="fused",
                        help="fused: sequencers that enrich (`sequencer --enrich`) and sinks (default); "
                             "staged: enrichers, sequencers and sinks")


def positive_int(text: str) -> int:
    """An argparse type: a whole number above zero, or a message that says so."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive whole number, got {text}")
    return value


def broker(action: str, port: str) -> None:
    subprocess.run(["bash", str(REPO / "scripts/kafka/kafka.sh"), action], check=True,
                   env={**os.environ, "KAFKA_PORT": port}, stdout=subprocess.DEVNULL)


def stored(dsn: str, database: str) -> int:
    """Rows loaded so far, read through the sink's engine (-1 while nobody serves it)."""
    try:
        store = open_if_served(dsn, database)
        if store is None:
            return -1
        try:
            return int(store.query(f"SELECT count() FROM {database}.events").result_rows[0][0])
        finally:
            store.close()
    except Exception:
        return -1


def wait_until_loaded(dsn: str, database: str, expected: int, timeout: float, workers: list[Worker]) -> None:
    """Until `expected` rows are stored and the count holds still, reviving workers that exit."""
    deadline = time.monotonic() + timeout
    last, still = -1, 0
    while time.monotonic() < deadline:
        count = stored(dsn, database)
        still = still + 1 if count == last else 0
        last = count
        if count >= expected and still >= 3:
            return
        for worker in workers:
            worker.revive()
        time.sleep(2.0)


def exact_count(setup: StageSetup, sent: int) -> dict[str, Any]:
    """Stored rows against what was sent, and a full verification of every chain and checkpoint."""
    store = ClickHouseStore(setup.dsn, setup.database)
    db = setup.database
    try:
        [(rows, distinct_keys, distinct_ids)] = store.query(
            f"SELECT count(), uniqExact(tenant_id, seq), uniqExact(event_id) FROM {db}.events").result_rows
        chains = store.query(
            f"SELECT tenant_id, count(), max(seq) FROM {db}.events FINAL GROUP BY tenant_id").result_rows
        report = verify_store(store, public_keys=load_public_keys(setup.key.with_suffix(".pub")))
    finally:
        store.close()
    return {
        "events_sent": sent, "rows": int(rows), "duplicate_rows": int(rows) - int(distinct_keys),
        "distinct_event_ids": int(distinct_ids), "lost": sent - int(distinct_ids), "chains": len(chains),
        "chains_whose_last_seq_is_their_count": sum(1 for _, n, top in chains if n == top),
        "verified_links": report.links, "verified_checkpoints": report.checkpoints,
        "findings": [vars(f) for f in report.findings],
    }


def exactly_once(results: dict[str, Any], expected: int) -> bool:
    return bool(results["lost"] == 0 and results["duplicate_rows"] == 0
                and results["rows"] == results["events_sent"] == expected and not results["findings"]
                and results["chains_whose_last_seq_is_their_count"] == results["chains"])


def print_table(title: str, results: dict[str, Any], names: list[str]) -> None:
    table = Table(title=title)
    table.add_column("figure")
    table.add_column("value", justify="right")
    for name in names:
        table.add_row(name, str(results[name]))
    Console().print(table)


def finish(results: dict[str, Any], json_path: Path, bootstrap: str, topics: Topics) -> None:
    """Write the results' JSON and delete the drill's topics."""
    json_path.parent.mkdir(parents=True, exist_ok=True)
    json_path.write_text(json.dumps(results, indent=2, default=str))
    delete_topics(bootstrap, topics.all())
