"""Scale-out drill: several sequencer (enriching; `--topology staged`: enricher and sequencer) and sink
processes share the partitions; mid-stream one more of each joins and later one of each leaves (each a
group rebalance), while the SDK's events flow.
Then an exact count, a full verification, and what each process did.

    python faults/scale_drill.py --events 60000 --rate 1500 --start 2 --partitions 6 --bootstrap 127.0.0.1:9092

Passing means what it means in the kill drill: every event sent stored exactly once, every chain and
checkpoint verifies, each chain's last seq equals its row count; and no SDK exception.

Per process: the events it handled (the totals each worker logs when it stops gracefully; a sink's
count is its rows, events and checkpoints), how long it ran while the stream was being loaded, and the
two divided. On the embedded engine the first sink owns the engine and the others load through it
(ARCHITECTURE.md: one process per chDB path), so the sink that leaves is one that does not own it;
against a ClickHouse server every sink is alike.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from audit_layer_processors.signing import generate_key_file
from audit_layer_processors.topics_admin import ensure_topics
from audit_layer_schemas import Topics
from audit_layer_sdk import AuditConfig, AuditPublisher
from rich.console import Console
from rich.table import Table

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from faults.drill import (
    Load,
    StageSetup,
    Worker,
    add_topology,
    console,
    exact_count,
    exactly_once,
    finish,
    positive_int,
    print_table,
    stored,
    wait_until_loaded,
)

# the final line each worker logs on a graceful stop (enricher.py, sequencer.py, sink.py)
HANDLED = {
    "enricher": re.compile(r"stopped: enriched (\d+)"),
    "sequencer": re.compile(r"stopped: chained (\d+)"),
    "sink": re.compile(r"stopped: loaded (\d+) rows"),
}


def handled(worker: Worker) -> int | None:
    """Events this process handled, summed over its lives; None when a life ended without its total."""
    totals = [int(m.group(1)) for m in HANDLED[worker.name].finditer(worker.log.read_text(errors="replace"))]
    return sum(totals) if len(totals) == worker.exits + 1 else None


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bootstrap", default=os.environ.get("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:9092"))
    parser.add_argument("--events", type=positive_int, default=60_000)
    parser.add_argument("--rate", type=float, default=1500.0, help="events per second sent")
    parser.add_argument("--tenants", type=positive_int, default=24)
    parser.add_argument("--partitions", type=positive_int, default=6, help="partitions of every topic")
    parser.add_argument("--start", type=positive_int, default=2, help="processes per stage at the start")
    parser.add_argument("--timeout", type=float, default=900.0, help="seconds to wait for the load after sending")
    parser.add_argument("--json", type=Path, default=Path("bench-results/faults_scale.json"))
    add_topology(parser)
    args = parser.parse_args()
    seed = int(time.time())
    work = Path(tempfile.mkdtemp(prefix="audit-layer-scale-drill-"))
    topics = Topics(prefix=f"scale{seed}.")
    ensure_topics(args.bootstrap, topics, partitions=args.partitions)
    key = work / "checkpoint.pem"
    generate_key_file(key)
    setup = StageSetup(args.bootstrap, topics, key, f"chdb://{work / 'ch'}", "drill", topology=args.topology)
    stages = setup.stages
    workers: list[Worker] = []

    def add(stage: str) -> Worker:
        instance = str(sum(1 for w in workers if w.name == stage))
        worker = Worker(stage, setup.command(stage, instance), work / f"{stage}-{instance}.log")
        workers.append(worker)
        return worker

    started = time.monotonic()
    add("sink")
    while stored(setup.dsn, setup.database) < 0:  # the engine's owner first; the other sinks load through it
        time.sleep(0.5)
    for stage in stages:
        while sum(1 for w in workers if w.name == stage) < args.start:
            add(stage)
    publisher = AuditPublisher(AuditConfig(bootstrap_servers=args.bootstrap, topic=topics.events,
                                           spool_dir=str(work / "spool")))
    load = Load(publisher, args.events, args.rate, args.tenants)
    console.print(f"scale-out drill: {args.events:,} events at {args.rate:,.0f}/s, {args.tenants} tenants, "
                  f"{args.partitions} partitions, {args.start} processes per stage; logs in {work}")
    sender = load.start()
    changes: list[dict[str, Any]] = []

    def when(fraction: float) -> None:
        while sender.is_alive() and load.sent < args.events * fraction:
            for worker in workers:
                worker.revive()
            time.sleep(0.5)

    when(1 / 3)
    for stage in stages:
        added = add(stage)
        changes.append({"change": f"added {added.log.stem}",
                        "at_s": round(time.monotonic() - started, 1), "sent": load.sent})
    console.print(f"  added one of each stage at {changes[-1]['at_s']} s ({load.sent:,} sent)")
    when(2 / 3)
    leaving = [next(w for w in workers if w.name == stage and w.stopped_at is None
                    and not (stage == "sink" and w is workers[0])) for stage in stages]
    for worker in leaving:
        worker.stop()
        changes.append({"change": f"removed {worker.log.stem}", "at_s": round(time.monotonic() - started, 1),
                        "sent": load.sent})
    console.print(f"  removed {', '.join(w.log.stem for w in leaving)} at {changes[-1]['at_s']} s "
                  f"({load.sent:,} sent)")
    sender.join()
    unacked = load.drain()
    console.print(f"sent {load.sent:,} ({unacked} not acknowledged); waiting for the pipeline to catch up ...")
    wait_until_loaded(setup.dsn, setup.database, args.events, args.timeout, workers)
    loaded_at = time.monotonic()
    # non-owners first: the owner sink's engine serves them until they are gone
    for worker in sorted(workers, key=lambda w: w is workers[0]):
        worker.stop()

    results: dict[str, Any] = exact_count(setup, load.sent)
    processes = []
    for worker in workers:
        count = handled(worker)
        seconds = min(worker.stopped_at or loaded_at, loaded_at) - worker.started_at
        processes.append({"process": worker.log.stem, "events": count, "seconds": round(seconds, 1),
                          "events_per_s": round(count / seconds) if count is not None and seconds > 0 else None,
                          "exits_restarted": worker.exits})
    results.update({
        "unacknowledged_by_kafka": unacked, "sdk_exceptions": load.exceptions, "sdk_counts": load.sdk_counts,
        "sdk_call_ms": load.latency_ms(),
        "processes_per_stage": {s: sum(1 for w in workers if w.name == s) for s in stages},
        "handled_per_stage": {s: sum(p["events"] or 0 for p, w in zip(processes, workers, strict=True)
                                     if w.name == s) for s in stages},
        "seconds_to_all_loaded": round(loaded_at - started, 1), "changes": changes, "processes": processes,
    })
    ok = exactly_once(results, args.events) and unacked == 0 and load.exceptions == 0
    results["passed"] = ok
    print_table(f"scale-out drill: {'PASSED' if ok else 'FAILED'}", results,
                ["events_sent", "rows", "distinct_event_ids", "lost", "duplicate_rows", "processes_per_stage",
                 "handled_per_stage", "sdk_exceptions", "sdk_counts", "chains",
                 "chains_whose_last_seq_is_their_count",
                 "verified_links", "verified_checkpoints", "findings", "seconds_to_all_loaded"])
    table = Table(title="per process (events it handled while the stream was loaded)")
    for column in ("process", "events", "seconds", "events_per_s", "exits_restarted"):
        table.add_column(column, justify="left" if column == "process" else "right")
    for row in processes:
        table.add_row(*(str(row[c]) for c in ("process", "events", "seconds", "events_per_s", "exits_restarted")))
    Console().print(table)
    finish(results, args.json, args.bootstrap, topics)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
