"""kill -9 drill: the workers (the sequencer that enriches and the sink; with `--topology staged` the
enricher, the sequencer and the sink) killed at random moments while a stream of audit events flows,
each restarted at once; then an exact count and a full verification.

    python faults/kill_drill.py --events 100000 --rate 1500 --min-kills 20 --bootstrap 127.0.0.1:9092
    python faults/kill_drill.py --events 30000 --rate 1000 --min-kills 0 --broker-restarts 2
    python faults/kill_drill.py --events 100000 --rate 1000 --min-kills 0 --broker-restarts 1 --broker-down 60

With `--broker-restarts N` the local broker (scripts/kafka/kafka.sh, the port of --bootstrap) is
also stopped N times mid-stream for `--broker-down` seconds and started again: the SDK spools,
the workers wait and reconnect. The application's side is measured too: every SDK call is timed,
and an exception raised into the application or a call slower than `--stall-ms` fails the drill.

Every worker is its own process (`audit-layer sequencer|sink`, and `enricher`), as deployed; the sink owns
the embedded engine, so killing it kills the engine too. Passing means: every event sent is stored
exactly once (count and distinct event ids equal the number sent, no duplicate (tenant, seq) rows),
every chain verifies (no gap, fork or bad link) and each chain's last seq equals its row count.
Prints a table, writes JSON, exits 1 on any failure.
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from audit_layer_processors.signing import generate_key_file
from audit_layer_processors.topics_admin import ensure_topics
from audit_layer_schemas import Topics
from audit_layer_sdk import AuditConfig, AuditPublisher

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from faults.drill import (
    Load,
    StageSetup,
    Worker,
    add_topology,
    broker,
    console,
    exact_count,
    exactly_once,
    finish,
    positive_int,
    print_table,
    wait_until_loaded,
)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bootstrap", default=os.environ.get("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:9092"))
    parser.add_argument("--events", type=positive_int, default=100_000)
    parser.add_argument("--rate", type=float, default=1500.0, help="events per second sent")
    parser.add_argument("--tenants", type=positive_int, default=8)
    parser.add_argument("--min-kills", type=int, default=20, help="kill -9 at least this many times in all")
    parser.add_argument("--broker-restarts", type=int, default=0,
                        help="also stop and restart the local broker this many times mid-stream")
    parser.add_argument("--broker-down", type=float, default=15.0, help="seconds the broker stays down")
    parser.add_argument("--stall-ms", type=float, default=250.0,
                        help="an SDK call slower than this is a stall of the application (the drill fails)")
    parser.add_argument("--max-worker-exits", type=int, default=0,
                        help="exits of a worker on its own (not a kill) the drill tolerates; the workers wait out "
                             "a broker outage, so none is expected")
    parser.add_argument("--seed", type=int, default=None, help="random seed (default: time)")
    parser.add_argument("--timeout", type=float, default=900.0, help="seconds to wait for the load after sending")
    parser.add_argument("--json", type=Path, default=Path("bench-results/faults_kill.json"))
    add_topology(parser)
    args = parser.parse_args()
    seed = args.seed if args.seed is not None else int(time.time())
    rng = random.Random(seed)
    work = Path(tempfile.mkdtemp(prefix="audit-layer-kill-drill-"))
    topics = Topics(prefix=f"drill{seed}.")
    ensure_topics(args.bootstrap, topics, partitions=3)
    key = work / "checkpoint.pem"
    generate_key_file(key)
    setup = StageSetup(args.bootstrap, topics, key, f"chdb://{work / 'ch'}", "drill", topology=args.topology)
    stages = setup.stages
    workers = {name: Worker(name, setup.command(name), work / f"{name}.log") for name in stages}
    publisher = AuditPublisher(AuditConfig(bootstrap_servers=args.bootstrap, topic=topics.events,
                                           spool_dir=str(work / "spool")))
    load = Load(publisher, args.events, args.rate, args.tenants)
    console.print(f"kill -9 drill: {args.events:,} events at {args.rate:,.0f}/s over {args.tenants} tenants, "
                  f"seed {seed}, logs in {work}")
    started = time.monotonic()
    sender = load.start()
    kills: list[dict[str, Any]] = []
    turns: list[str] = []
    restarts: list[dict[str, Any]] = []
    port = args.bootstrap.rsplit(":", 1)[-1]
    while len(restarts) < args.broker_restarts:
        time.sleep(rng.uniform(3.0, 8.0))
        stopped_at = time.monotonic()
        restarts.append({"at_s": round(stopped_at - started, 1), "sent": load.sent})
        console.print(f"  broker stop at {restarts[-1]['at_s']:6.1f} s ({load.sent:,} sent), "
                      f"down {args.broker_down:.0f} s")
        broker("stop", port)
        time.sleep(args.broker_down)
        broker("start", port)  # returns once the broker serves clients again
        restarts[-1]["down_s"] = round(time.monotonic() - stopped_at, 1)
        for worker in workers.values():
            worker.revive()
    while args.min_kills and (sender.is_alive() or len(kills) < args.min_kills):
        time.sleep(rng.uniform(1.0, 3.5))
        if not turns:  # every worker once per round, in a random order
            turns = rng.sample(stages, len(stages))
        victim = workers[turns.pop()]
        pause = rng.uniform(0.0, 1.0)
        kills.append({"worker": victim.name, "at_s": round(time.monotonic() - started, 1), "sent": load.sent})
        console.print(f"  kill -9 {victim.name:9s} at {kills[-1]['at_s']:6.1f} s ({load.sent:,} sent)")
        victim.kill_and_restart(pause)
        for worker in workers.values():
            worker.revive()
    sender.join()
    unacked = load.drain()
    console.print(f"sent {load.sent:,} ({unacked} not acknowledged); waiting for the pipeline to catch up ...")
    wait_until_loaded(setup.dsn, setup.database, args.events, args.timeout, list(workers.values()))
    recovery_s = time.monotonic() - started
    for worker in workers.values():
        worker.stop()

    results: dict[str, Any] = exact_count(setup, load.sent)
    latency = load.latency_ms()
    results.update({
        "unacknowledged_by_kafka": unacked, "kills": len(kills), "broker_restarts": len(restarts),
        "broker_down_s": [r["down_s"] for r in restarts],
        "worker_exits_restarted": {w.name: w.exits for w in workers.values()},
        "topology": args.topology,
        "kills_by_worker": {w: sum(1 for k in kills if k["worker"] == w) for w in stages},
        "sdk_exceptions": load.exceptions, "sdk_counts": load.sdk_counts, "sdk_call_ms": latency,
        "seconds_to_all_loaded": round(recovery_s, 1), "seed": seed, "kill_log": kills,
        "broker_restart_log": restarts,
    })
    ok = (exactly_once(results, args.events) and len(kills) >= args.min_kills and unacked == 0
          and load.exceptions == 0 and latency["max"] <= args.stall_ms
          and sum(w.exits for w in workers.values()) <= args.max_worker_exits)
    results["passed"] = ok
    print_table(f"fault drill: {'PASSED' if ok else 'FAILED'}", results,
                ["events_sent", "rows", "distinct_event_ids", "lost", "duplicate_rows", "kills", "kills_by_worker",
                 "broker_restarts", "broker_down_s", "worker_exits_restarted", "sdk_exceptions", "sdk_counts",
                 "sdk_call_ms",
                 "chains", "chains_whose_last_seq_is_their_count", "verified_links", "verified_checkpoints",
                 "findings", "seconds_to_all_loaded", "seed"])
    finish(results, args.json, args.bootstrap, topics)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
