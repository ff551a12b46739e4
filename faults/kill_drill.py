"""kill -9 drill: the enricher, the sequencer and the sink killed at random moments while a stream
of audit events flows, each restarted at once; then an exact count and a full verification.

    python faults/kill_drill.py --events 100000 --rate 1500 --min-kills 20 --bootstrap 127.0.0.1:9092
    python faults/kill_drill.py --events 30000 --rate 1000 --min-kills 0 --broker-restarts 2

With `--broker-restarts N` the local broker (scripts/kafka/kafka.sh, the port of --bootstrap) is
also stopped N times mid-stream for `--broker-down` seconds and started again: the SDK spools,
the workers wait and reconnect.

Every worker is its own process (`audit-layer enricher|sequencer|sink`), as deployed; the sink owns
the embedded engine, so killing it kills the engine too. Passing means: every event sent is stored
exactly once (count and distinct event ids equal the number sent, no duplicate (tenant, seq) rows),
every chain verifies (no gap, fork or bad link) and each chain's last seq equals its row count.
Prints a table, writes JSON, exits 1 on any failure.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from audit_layer_processors.signing import generate_key_file
from audit_layer_processors.topics_admin import delete_topics, ensure_topics
from audit_layer_schemas import Topics
from audit_layer_sdk import AuditCollector, AuditConfig, AuditPublisher
from audit_layer_sinks.proofs import load_public_keys
from audit_layer_sinks.store import ClickHouseStore, open_if_served
from audit_layer_sinks.verify import verify_store
from rich.console import Console
from rich.table import Table

console = Console(stderr=True)
WORKERS = ("enricher", "sequencer", "sink")


class Worker:
    def __init__(self, name: str, cmd: list[str], log: Path) -> None:
        self.name, self.cmd, self.log = name, cmd, log
        self.kills = 0
        self.exits = 0  # exits on its own (e.g. the broker gone), restarted like a supervisor would
        self.process = self._start()

    def _start(self) -> subprocess.Popen[bytes]:
        return subprocess.Popen(self.cmd, stdout=self.log.open("ab"), stderr=subprocess.STDOUT)

    def revive(self) -> bool:
        """What a supervisor (docker-compose `restart: on-failure`) does: start it again if it exited."""
        if self.process.poll() is None:
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

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(60)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def send(publisher: AuditPublisher, events: int, rate: float, tenants: int, sent: list[int]) -> None:
    started = time.monotonic()
    for n in range(events):
        collector = AuditCollector(publisher, tenant_id=f"drill-{n % tenants}", user_id=f"user-{n % 113}",
                                   provider="openai", operation="chat")
        collector.set_input(f"case {n}: assess", model="gpt-4o-mini")
        collector.set_output(f"assessment {n}", finish_reason="stop")
        collector.set_decision("loan_underwriting", outcome="approved" if n % 3 else "denied")
        collector.emit()
        sent[0] = n + 1
        ahead = (n + 1) / rate - (time.monotonic() - started)
        if ahead > 0:
            time.sleep(ahead)


def broker(action: str, port: str) -> None:
    script = Path(__file__).resolve().parents[1] / "scripts/kafka/kafka.sh"
    subprocess.run(["bash", str(script), action], check=True, env={**os.environ, "KAFKA_PORT": port},
                   stdout=subprocess.DEVNULL)


def stored(dsn: str, database: str) -> int:
    """Rows loaded so far, read through the sink's engine (None while it restarts)."""
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


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bootstrap", default=os.environ.get("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:9092"))
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--rate", type=float, default=1500.0, help="events per second sent")
    parser.add_argument("--tenants", type=int, default=8)
    parser.add_argument("--min-kills", type=int, default=20, help="kill -9 at least this many times in all")
    parser.add_argument("--broker-restarts", type=int, default=0,
                        help="also stop and restart the local broker this many times mid-stream")
    parser.add_argument("--broker-down", type=float, default=15.0, help="seconds the broker stays down")
    parser.add_argument("--seed", type=int, default=None, help="random seed (default: time)")
    parser.add_argument("--timeout", type=float, default=900.0, help="seconds to wait for the load after sending")
    parser.add_argument("--json", type=Path, default=Path("bench-results/faults_kill.json"))
    args = parser.parse_args()
    seed = args.seed if args.seed is not None else int(time.time())
    rng = random.Random(seed)
    work = Path(tempfile.mkdtemp(prefix="audit-layer-kill-drill-"))
    topics = Topics(prefix=f"drill{seed}.")
    ensure_topics(args.bootstrap, topics, partitions=3)
    key = work / "checkpoint.pem"
    generate_key_file(key)
    dsn, database = f"chdb://{work / 'ch'}", "drill"
    base = [sys.executable, "-m", "audit_layer_cli.main", "--log-level", "INFO"]
    common = ["--bootstrap-servers", args.bootstrap, "--topic-prefix", topics.prefix]
    commands = {
        "enricher": [*base, "enricher", *common, "--group", f"{topics.prefix}enricher"],
        "sequencer": [*base, "sequencer", *common, "--group", f"{topics.prefix}sequencer", "--instance-id", "0",
                      "--signing-key", str(key), "--checkpoint-every", "500", "--checkpoint-seconds", "2"],
        "sink": [*base, "sink", *common, "--group", f"{topics.prefix}sink", "--dsn", dsn, "--database", database],
    }
    workers = {name: Worker(name, cmd, work / f"{name}.log") for name, cmd in commands.items()}
    publisher = AuditPublisher(AuditConfig(bootstrap_servers=args.bootstrap, topic=topics.events,
                                           spool_dir=str(work / "spool")))
    sent = [0]
    sender = threading.Thread(target=send, args=(publisher, args.events, args.rate, args.tenants, sent), daemon=True)
    console.print(f"kill -9 drill: {args.events:,} events at {args.rate:,.0f}/s over {args.tenants} tenants, "
                  f"seed {seed}, logs in {work}")
    started = time.monotonic()
    sender.start()
    kills: list[dict[str, Any]] = []
    turns: list[str] = []
    restarts: list[dict[str, Any]] = []
    port = args.bootstrap.rsplit(":", 1)[-1]
    while len(restarts) < args.broker_restarts:
        time.sleep(rng.uniform(3.0, 8.0))
        restarts.append({"at_s": round(time.monotonic() - started, 1), "sent": sent[0]})
        console.print(f"  broker stop at {restarts[-1]['at_s']:6.1f} s ({sent[0]:,} sent), "
                      f"down {args.broker_down:.0f} s")
        broker("stop", port)
        time.sleep(args.broker_down)
        broker("start", port)
        for worker in workers.values():
            worker.revive()
    while args.min_kills and (sender.is_alive() or len(kills) < args.min_kills):
        time.sleep(rng.uniform(1.0, 3.5))
        if not turns:  # every worker once per round, in a random order
            turns = rng.sample(WORKERS, len(WORKERS))
        victim = workers[turns.pop()]
        pause = rng.uniform(0.0, 1.0)
        kills.append({"worker": victim.name, "at_s": round(time.monotonic() - started, 1), "sent": sent[0]})
        console.print(f"  kill -9 {victim.name:9s} at {kills[-1]['at_s']:6.1f} s ({sent[0]:,} sent)")
        victim.kill_and_restart(pause)
        for worker in workers.values():
            worker.revive()
    sender.join()
    unacked = publisher.flush(120)
    spool_deadline = time.monotonic() + 300
    while publisher.spooled_now and time.monotonic() < spool_deadline:
        time.sleep(0.5)  # events spooled while the broker was down are replayed in the background
    unacked += publisher.spooled_now
    publisher.close()
    console.print(f"sent {sent[0]:,} ({unacked} not acknowledged); waiting for the pipeline to catch up ...")
    deadline = time.monotonic() + args.timeout
    last, still = -1, 0
    while time.monotonic() < deadline:
        count = stored(dsn, database)
        still = still + 1 if count == last else 0
        last = count
        if count >= args.events and still >= 3:
            break
        for worker in workers.values():
            worker.revive()
        time.sleep(2.0)
    recovery_s = time.monotonic() - started
    for worker in workers.values():
        worker.stop()

    store = ClickHouseStore(dsn, database)
    db = database
    [(rows, distinct_keys, distinct_ids)] = store.query(
        f"SELECT count(), uniqExact(tenant_id, seq), uniqExact(event_id) FROM {db}.events").result_rows
    chains = store.query(f"SELECT tenant_id, count(), max(seq) FROM {db}.events FINAL GROUP BY tenant_id").result_rows
    report = verify_store(store, public_keys=load_public_keys(key.with_suffix(".pub")))
    results: dict[str, Any] = {
        "events_sent": sent[0], "unacknowledged_by_kafka": unacked, "rows": int(rows),
        "duplicate_rows": int(rows) - int(distinct_keys), "distinct_event_ids": int(distinct_ids),
        "lost": sent[0] - int(distinct_ids), "kills": len(kills), "broker_restarts": len(restarts),
        "worker_exits_restarted": {w.name: w.exits for w in workers.values()},
        "kills_by_worker": {w: sum(1 for k in kills if k["worker"] == w) for w in WORKERS},
        "chains": len(chains), "chains_whose_last_seq_is_their_count": sum(1 for _, n, top in chains if n == top),
        "verified_links": report.links, "verified_checkpoints": report.checkpoints,
        "findings": [vars(f) for f in report.findings], "seconds_to_all_loaded": round(recovery_s, 1),
        "seed": seed, "kill_log": kills, "broker_restart_log": restarts,
    }
    ok = (results["lost"] == 0 and results["duplicate_rows"] == 0 and int(rows) == sent[0] == args.events
          and not report.findings and results["chains_whose_last_seq_is_their_count"] == len(chains)
          and len(kills) >= args.min_kills and unacked == 0)
    results["passed"] = ok
    table = Table(title=f"fault drill: {'PASSED' if ok else 'FAILED'}")
    table.add_column("figure")
    table.add_column("value", justify="right")
    for name in ("events_sent", "rows", "distinct_event_ids", "lost", "duplicate_rows", "kills", "kills_by_worker",
                 "broker_restarts", "worker_exits_restarted",
                 "chains", "chains_whose_last_seq_is_their_count", "verified_links", "verified_checkpoints",
                 "findings", "seconds_to_all_loaded", "seed"):
        table.add_row(name, str(results[name]))
    Console().print(table)
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(results, indent=2, default=str))
    store.close()
    delete_topics(args.bootstrap, topics.all())
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
