"""How big the chain-heads topic grows next to the chained events it covers: many tenants, one sequencer.

    python benchmarks/heads_bench.py --tenants 2000 --events 600000 --bootstrap 127.0.0.1:9092

The enriched topic is filled beforehand (each tenant's events on its partition, one record template per
tenant with fresh event ids), `audit-layer sequencer` chains them, and both output topics are read back
(read_committed) to sum their bytes (key + value). Issue 15's target: heads at most 10 % of the chained
topic's bytes. A head is written with each signed checkpoint of its tenant (its seq, hash, Merkle frontier
and checkpoint position; no event ids), and a restart replays the chained tail over the heads: the bench
then starts a second sequencer on the same topics and reports how long its restore took.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

from audit_layer_processors.signing import generate_key_file
from audit_layer_processors.topics_admin import delete_topics, ensure_topics
from audit_layer_schemas import ENRICHED_EVENT, AvroCodec, Topics
from audit_layer_schemas.ids import uuid7
from audit_layer_schemas.partition import partition_for
from confluent_kafka import Consumer, KafkaError, Producer, TopicPartition
from rich.console import Console

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from audit_layer_samples.factories import enriched_record, make_event

from benchmarks.figures import publish

console = Console(stderr=True)


def fill(bootstrap: str, topic: str, tenants: int, events: int, partitions: int) -> None:
    codec = AvroCodec(ENRICHED_EVENT)
    templates = [enriched_record(make_event(f"tenant-{t:05d}")) for t in range(tenants)]
    producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 20, "compression.type": "lz4",
                         "queue.buffering.max.messages": 500_000})
    for i in range(events):
        record = templates[i % tenants]
        event = {**record["event"], "event_id": str(uuid7())}
        key = event["tenant_id"].encode()
        while True:
            try:
                producer.produce(topic, key=key, value=codec.encode({**record, "event": event}),
                                 partition=partition_for(key, partitions))
                break
            except BufferError:
                producer.poll(0.1)
        if i % 10_000 == 0:
            producer.poll(0)
    assert producer.flush(120) == 0


def topic_bytes(bootstrap: str, topic: str, partitions: int) -> tuple[int, int]:
    """(messages, key + value bytes) of a topic, read_committed from its start to its end."""
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": f"heads-bench-{uuid.uuid4().hex[:6]}",
                         "isolation.level": "read_committed", "enable.partition.eof": True,
                         "auto.offset.reset": "earliest"})
    consumer.assign([TopicPartition(topic, p, 0) for p in range(partitions)])
    pending, count, size = set(range(partitions)), 0, 0
    try:
        while pending:
            for msg in consumer.consume(10_000, 2.0):
                err = msg.error()
                if err is not None:
                    if err.code() == KafkaError._PARTITION_EOF:
                        pending.discard(msg.partition())
                    continue
                count += 1
                size += len(msg.key() or b"") + len(msg.value() or b"")
    finally:
        consumer.close()
    return count, size


def sequencer_command(bootstrap: str, topics: Topics, key: Path) -> list[str]:
    return [sys.executable, "-m", "audit_layer_cli.main", "sequencer", "--bootstrap-servers", bootstrap,
            "--topic-prefix", topics.prefix, "--group", f"{topics.prefix}sequencer", "--signing-key", str(key)]


def time_restore(bootstrap: str, topics: Topics, key: Path, work: Path) -> float:
    """Seconds from a second sequencer's start to its restored heads (read, replayed and checked)."""
    log_path = work / "restore.log"
    started = time.monotonic()
    process = subprocess.Popen(sequencer_command(bootstrap, topics, key), stdout=log_path.open("wb"),
                               stderr=subprocess.STDOUT)
    try:
        while time.monotonic() - started < 600:
            text = log_path.read_text(errors="replace")
            if "restored" in text:
                return time.monotonic() - started
            if process.poll() is not None:
                raise SystemExit(f"the restarted sequencer stopped:\n{text[-3000:]}")
            time.sleep(0.2)
        raise SystemExit(f"the restarted sequencer did not restore within 600 s; log: {log_path}")
    finally:
        process.terminate()
        process.wait(30)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tenants", type=int, default=2000)
    parser.add_argument("--events", type=int, default=600_000)
    parser.add_argument("--partitions", type=int, default=3)
    parser.add_argument("--bootstrap", default="127.0.0.1:9092")
    parser.add_argument("--json", type=Path, default=Path("bench-results/heads.json"))
    args = parser.parse_args()
    topics = Topics(f"heads-bench-{uuid.uuid4().hex[:8]}.")
    ensure_topics(args.bootstrap, topics, partitions=args.partitions)
    work = Path(tempfile.mkdtemp(prefix="audit-layer-heads-bench-"))
    key = work / "signing.pem"
    generate_key_file(key)
    try:
        console.print(f"filling {topics.enriched} with {args.events:,} events of {args.tenants:,} tenants ...")
        fill(args.bootstrap, topics.enriched, args.tenants, args.events, args.partitions)
        sequencer = subprocess.Popen(sequencer_command(args.bootstrap, topics, key),
                                     stdout=(work / "sequencer.log").open("wb"), stderr=subprocess.STDOUT)
        started = time.monotonic()
        try:
            while True:
                time.sleep(2)
                chained, _ = topic_bytes(args.bootstrap, topics.chained, args.partitions)
                console.print(f"  chained {chained:,} of {args.events:,}")
                if chained >= args.events:
                    break
                if sequencer.poll() is not None or time.monotonic() - started > 1800:
                    console.print(f"[red]the sequencer stopped or took too long; log: {work / 'sequencer.log'}[/]")
                    return 1
        finally:
            sequencer.terminate()
            sequencer.wait(30)
        restore_seconds = time_restore(args.bootstrap, topics, key, work)
        chained_n, chained_b = topic_bytes(args.bootstrap, topics.chained, args.partitions)
        heads_n, heads_b = topic_bytes(args.bootstrap, topics.chain_heads, args.partitions)
        _, cps_b = topic_bytes(args.bootstrap, topics.checkpoints, args.partitions)
        results = {"tenants": args.tenants, "events": chained_n, "chained_mb": chained_b / 1e6,
                   "heads_messages": heads_n, "heads_mb": heads_b / 1e6, "checkpoints_mb": cps_b / 1e6,
                   "heads_per_event": heads_n / max(chained_n, 1),
                   "heads_share_of_chained": heads_b / max(chained_b, 1), "restore_seconds": restore_seconds}
        publish(f"chain heads beside chained events ({args.tenants:,} tenants, before compaction)", results,
                {"heads_share_of_chained": "<= 0.10"}, args.json, console)
        return 0 if results["heads_share_of_chained"] <= 0.10 else 1
    finally:
        delete_topics(args.bootstrap, topics.all())


if __name__ == "__main__":
    sys.exit(main())
