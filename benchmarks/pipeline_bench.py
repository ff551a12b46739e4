"""The pipeline against its ceiling, in one run on this machine.

    python benchmarks/pipeline_bench.py --events 200000 --bootstrap 127.0.0.1:9092

1. The ceiling: the same Avro-encoded events produced and consumed once through Kafka with
   confluent-kafka (one hop, the partitions of `--partitions`, lz4, acks=all), messages/s; measured
   twice and the higher kept (a broker just started is slower in its first round).
2. Each stage alone, its input topic filled beforehand: the enricher, the sequencer, the sequencer
   that enriches (`--enrich`, reading the raw events), the sink, each as its own process
   (`audit-layer <stage>`). Events/s from the stage's first committed
   progress to its last; and a py-spy profile of the slowest stage (top functions by own time).
3. The whole pipeline: the SDK's events in `audit.events`, its workers started together (by default
   the sequencer enriching and the sink; `--topology staged`: enricher, sequencer and sink),
   events/s from the first event enriched to the last one queryable in ClickHouse; and its
   ratio to the ceiling.
4. Freshness: the running pipeline fed 1,000 events/s for `--fresh-seconds`; produce-to-queryable
   (the row's `loaded_at` minus the event's time) p50 and p99.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

from audit_layer_cli.common import positive, seconds
from audit_layer_processors.signing import generate_key_file
from audit_layer_processors.topics_admin import delete_topics, ensure_topics
from audit_layer_schemas import AUDIT_EVENT, AvroCodec, Topics
from audit_layer_store.store import ClickHouseStore
from confluent_kafka import Consumer, Producer, TopicPartition
from rich.console import Console

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from audit_layer_samples.factories import make_event

from benchmarks.figures import publish
from faults.drill import Worker, stored

console = Console(stderr=True)
# Partitions of every topic, and tenants: 6 partitions, as docker-compose.yml creates them. A tenant's chain is
# one partition, and two sequencers on 3 partitions always split them 2 to 1 (with these 12 tenants 86 % to 14 %
# of the events); 6 partitions let the assignor give each sequencer three (BENCHMARKS, eighth stop on issue 20).
PARTITIONS = 6
TENANTS = 12


def encoded_events(n: int, tenants: int = TENANTS) -> list[tuple[bytes, bytes]]:
    codec = AvroCodec(AUDIT_EVENT)
    out = []
    for i in range(n):
        event = make_event(f"bench-{i % tenants}", user_id=f"u-{i % 500}", session_id=f"s-{i % 900}")
        out.append((event.tenant_id.encode(), codec.encode(event.to_avro())))
    return out


def produce(bootstrap: str, topic: str, messages: list[tuple[bytes, bytes]]) -> float:
    producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 5, "compression.type": "lz4", "acks": "all",
                         "enable.idempotence": True, "partitioner": "murmur2_random",
                         "queue.buffering.max.messages": 1_000_000})
    started = time.perf_counter()
    for key, value in messages:
        while True:
            try:
                producer.produce(topic, value, key=key)
                break
            except BufferError:
                producer.poll(0.01)
    producer.flush(120)
    return time.perf_counter() - started


def ceiling(bootstrap: str, topic: str, messages: list[tuple[bytes, bytes]]) -> float:
    """Produce and consume the same bytes once (one hop), concurrently: messages/s end to end."""
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": f"{topic}-ceiling",
                         "auto.offset.reset": "earliest", "enable.auto.commit": False,
                         "isolation.level": "read_committed"})
    consumer.subscribe([topic])
    consumer.poll(1.0)  # join before the clock starts
    got = 0
    started = time.perf_counter()
    sender = threading.Thread(target=produce, args=(bootstrap, topic, messages))
    sender.start()
    while got < len(messages):
        for message in consumer.consume(10_000, 1.0):
            if message.error() is None:
                got += 1
    elapsed = time.perf_counter() - started
    sender.join()
    consumer.close()
    return len(messages) / elapsed


def partitions_of(consumer: Consumer, topic: str) -> range:
    return range(len(consumer.list_topics(topic, timeout=10).topics[topic].partitions))


def committed(bootstrap: str, group: str, topic: str) -> int:
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": group, "enable.auto.commit": False})
    try:
        parts = consumer.committed([TopicPartition(topic, p) for p in partitions_of(consumer, topic)], timeout=10)
        return sum(max(p.offset, 0) for p in parts)
    finally:
        consumer.close()


def end_offsets(bootstrap: str, topic: str) -> int:
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": "pipeline-bench-watermarks"})
    try:
        return sum(consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1]
                   for p in partitions_of(consumer, topic))
    finally:
        consumer.close()


class Stage:
    """One stage's worker process (`audit-layer <name>`), its consumer group named after `label`."""

    def __init__(self, name: str, args: argparse.Namespace, topics: Topics, work: Path, *extra: str,
                 label: str | None = None, group: str | None = None) -> None:
        label = label or name
        self.name, self.group = label, f"{topics.prefix}{group or label}"
        cmd = [sys.executable, "-m", "audit_layer_cli.main", "--log-level", "INFO", name, "--bootstrap-servers",
               args.bootstrap, "--topic-prefix", topics.prefix, "--group", self.group, *extra]
        self.worker = Worker(label, cmd, work / f"{topics.prefix}{label}.log")
        self.process = self.worker.process

    def stop(self) -> None:
        self.worker.stop()


def chained_by(stage: Stage) -> int:
    """What a stopped sequencer says it chained (the freshness phase's events included)."""
    counts = re.findall(r"stopped: chained (\d+)", stage.worker.log.read_text(errors="replace"))
    return int(counts[-1]) if counts else 0


def cpu_seconds(pid: int) -> float:
    """User and system CPU of a process and all its threads (librdkafka's, the embedded engine's) so far."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def broker_pid() -> int | None:
    """The local Kafka broker's process, when it runs on this machine (its CPU is part of the pipeline's)."""
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                argv = (proc / "cmdline").read_bytes().split(b"\0")
            except OSError:
                continue
            if argv[0].endswith(b"java") and b"kafka.Kafka" in argv:
                return int(proc.name)
    return None


def rows_loaded(dsn: str) -> int:
    return max(stored(dsn, "bench"), 0)


def timed(progress: Any, total: int, label: str, timeout: float = 1800.0,
          on_first: Callable[[], object] | None = None) -> tuple[float, float]:
    """(first progress, all done) times, polling `progress()` until it reaches `total`; `on_first()` is called at
    the first progress."""
    first, deadline = None, time.monotonic() + timeout
    start_value = progress()
    while time.monotonic() < deadline:
        value = progress()
        if first is None and value > start_value:
            first = time.monotonic()
            if on_first is not None:
                on_first()
        if value >= total:
            return first or time.monotonic(), time.monotonic()
        time.sleep(0.25)
    raise SystemExit(f"{label}: reached {progress()} of {total} in {timeout:.0f} s")


def profile(pid: int, seconds: int, out: Path) -> list[str]:
    spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    if not Path(spy).exists():
        return ["py-spy not installed (pip install py-spy)"]
    subprocess.run([spy, "record", "-p", str(pid), "-d", str(seconds), "-f", "raw", "-o", str(out), "--nonblocking"],
                   capture_output=True, timeout=seconds + 30)
    own: Counter[str] = Counter()
    total = 0
    for line in out.read_text().splitlines() if out.exists() else []:
        stack, _, n = line.rpartition(" ")
        total += int(n)
        own[stack.split(";")[-1]] += int(n)
    return [f"{n / total:5.1%} {frame}" for frame, n in own.most_common(8)] if total else ["no samples"]


def print_profile(label: str, lines: list[str]) -> None:
    console.print(f"profile of {label}, own time, from its first committed progress:")
    for line in lines:
        console.print(f"  {line}")


def stages_alone(args: argparse.Namespace, messages: list[tuple[bytes, bytes]], work: Path, key: Path, stamp: int,
                 results: dict[str, Any]) -> dict[str, list[str]]:
    """Each stage alone, on a filled input topic (the enricher in both runtimes, side by side): events/s into
    `results`; the py-spy profiles of the stages, by label."""
    alone = Topics(prefix=f"alone{stamp}.")
    alone_faust = Topics(prefix=f"alonefaust{stamp}.")
    alone_fused = Topics(prefix=f"alonefused{stamp}.")
    for topics in (alone, alone_faust, alone_fused):
        ensure_topics(args.bootstrap, topics, partitions=args.partitions)
        produce(args.bootstrap, topics.events, messages)
    dsn = f"chdb://{work / 'ch-alone'}"
    sink_batch = ("--batch-seconds", str(args.sink_batch_seconds))
    runs = [  # label, stage, its topics, its input, extra arguments
        ("enricher", "enricher", alone, alone.events, ()),
        ("enricher_faust", "enricher", alone_faust, alone_faust.events, ("--runtime", "faust")),
        ("sequencer", "sequencer", alone, alone.enriched, ("--signing-key", str(key))),
        ("sequencer_enriching", "sequencer", alone_fused, alone_fused.events, ("--signing-key", str(key), "--enrich")),
        ("sink", "sink", alone, alone.chained, ("--dsn", dsn, "--database", "bench", *sink_batch)),
    ]
    profiles: dict[str, list[str]] = {}
    for label, name, topics, source, extra in runs:
        console.print(f"{label} alone ...")
        stage = Stage(name, args, topics, work, *extra, label=label)
        end = end_offsets(args.bootstrap, source)  # transaction markers included: reached at the end
        if name == "sink":
            first, done = timed(lambda: rows_loaded(dsn), len(messages), name)
        else:
            # sampled from the stage's first committed progress: from its start, the samples were a fifth imports
            profiler = threading.Thread(target=lambda s=stage: profiles.__setitem__(
                s.name, profile(s.process.pid, 10, work / f"{s.name}.spy")), daemon=True)
            first, done = timed(lambda s=stage, t=source: committed(args.bootstrap, s.group, t), end, label,
                                on_first=profiler.start)
            if profiler.ident is not None:  # started
                profiler.join(40)
        results[f"{label}_alone_events_per_s"] = len(messages) / max(done - first, 1e-9)
        stage.stop()
    delete_topics(args.bootstrap, alone_faust.all())
    delete_topics(args.bootstrap, alone_fused.all())
    delete_topics(args.bootstrap, alone.all())
    return profiles


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bootstrap", default=os.environ.get("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:9092"))
    parser.add_argument("--events", type=positive, default=200_000)
    parser.add_argument("--fresh-seconds", type=positive, default=30)
    parser.add_argument("--partitions", type=positive, default=PARTITIONS,
                        help=f"partitions of every topic, the ceiling's too (default {PARTITIONS})")
    parser.add_argument("--tenants", type=positive, default=TENANTS,
                        help=f"tenants the events are spread over, round robin (default {TENANTS})")
    parser.add_argument("--topology", choices=("fused", "staged"), default="fused",
                        help="the whole pipeline: fused (sequencers that enrich, `sequencer --enrich`, the default) "
                             "or staged (enrichers, then sequencers)")
    parser.add_argument("--enrichers", type=positive, default=1, help="enricher processes in a staged pipeline")
    parser.add_argument("--sequencers", type=positive, default=2,
                        help="sequencer processes in the whole pipeline (default 2: one per core of this machine)")
    parser.add_argument("--sink-batch-seconds", type=seconds, default=0.1,
                        help="the sinks' batch age (`audit-layer sink --batch-seconds`): freshness against inserts")
    parser.add_argument("--skip-stages", action="store_true",
                        help="not the stages alone: the ceiling, the pipeline and freshness (for tuning freshness)")
    parser.add_argument("--stages-only", action="store_true",
                        help="only the stages alone (no ceiling, pipeline or freshness): for tuning a stage")
    parser.add_argument("--json", type=Path, default=Path("bench-results/pipeline.json"))
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="audit-layer-pipeline-bench-"))
    key = work / "checkpoint.pem"
    generate_key_file(key)
    n = args.events
    console.print(f"encoding {n:,} events ...")
    messages = encoded_events(n, args.tenants)
    results: dict[str, Any] = {"events": n, "partitions": args.partitions, "tenants": args.tenants}
    stamp = int(time.time())

    if not args.stages_only:
        # twice, the higher kept: a broker just started (its JIT cold) gave a first ceiling of under half its
        # second, and the pipeline's share of a ceiling understated that way is not a share of what Kafka can do
        rounds = []
        for attempt in range(2):
            ceiling_topics = Topics(prefix=f"ceiling{stamp}-{attempt}.")
            ensure_topics(args.bootstrap, ceiling_topics, partitions=args.partitions)
            console.print(f"ceiling: raw produce + consume, one hop (round {attempt + 1} of 2) ...")
            rounds.append(ceiling(args.bootstrap, ceiling_topics.events, messages))
            delete_topics(args.bootstrap, ceiling_topics.all())
        results.update(ceiling_round1_msgs_per_s=rounds[0], ceiling_round2_msgs_per_s=rounds[1],
                       ceiling_msgs_per_s=max(rounds))

    sink_batch = ("--batch-seconds", str(args.sink_batch_seconds))
    results["sink_batch_seconds"] = args.sink_batch_seconds
    profiles = {} if args.skip_stages else stages_alone(args, messages, work, key, stamp, results)
    chain = ("sequencer_enriching",) if args.topology == "fused" else ("enricher", "sequencer")
    slowest = "(not measured: --skip-stages)" if args.skip_stages else \
        min((*chain, "sink"), key=lambda s: results[f"{s}_alone_events_per_s"])
    results["slowest_stage"] = slowest
    if args.stages_only:
        console.print(results)
        for label, lines in profiles.items():
            print_profile(label, lines)
        return 0

    # the whole pipeline, started together on a filled input topic
    whole = Topics(prefix=f"whole{stamp}.")
    ensure_topics(args.bootstrap, whole, partitions=args.partitions)
    produce(args.bootstrap, whole.events, messages)
    dsn = f"chdb://{work / 'ch-whole'}"
    console.print("the whole pipeline ...")
    stages = [Stage("sink", args, whole, work, "--dsn", dsn, "--database", "bench", *sink_batch)]
    while stored(dsn, "bench") < 0:  # the sink owns the embedded engine before anything else starts
        time.sleep(0.2)
    fused = args.topology == "fused"
    stages += [Stage("enricher", args, whole, work, label=f"enricher{i}", group="enricher")
               for i in range(0 if fused else args.enrichers)]
    stages += [Stage("sequencer", args, whole, work, "--signing-key", str(key), "--instance-id", str(i),
                     *(("--enrich",) if fused else ()), label=f"sequencer{i}", group="sequencer")
               for i in range(args.sequencers)]
    results["topology"] = args.topology
    reader_group = stages[1].group  # the first to read audit.events: the clock starts at its first commit
    try:
        first, _ = timed(lambda: committed(args.bootstrap, reader_group, whole.events), 1, "pipeline start")
        # where the machine's CPU went while the pipeline ran, per event: what a capacity model divides by
        processes = {stage.name: stage.process.pid for stage in stages}
        if (broker := broker_pid()) is not None:
            processes["broker"] = broker
        cpu_before = {name: cpu_seconds(pid) for name, pid in processes.items()}
        _, done = timed(lambda: rows_loaded(dsn), n, "pipeline")
        cpu = {name: cpu_seconds(pid) - cpu_before[name] for name, pid in processes.items()}
        results["pipeline_events_per_s"] = n / (done - first)
        results.update({f"cpu_us_per_event_{name}": seconds * 1e6 / n for name, seconds in cpu.items()})
        results["cpu_us_per_event_all"] = sum(cpu.values()) * 1e6 / n
        results["cpu_cores_busy"] = sum(cpu.values()) / (done - first)
        results["pipeline_share_of_ceiling"] = results["pipeline_events_per_s"] / results["ceiling_msgs_per_s"]

        console.print(f"freshness at 1,000 events/s for {args.fresh_seconds} s ...")
        producer = Producer({"bootstrap.servers": args.bootstrap, "linger.ms": 5, "compression.type": "lz4",
                             "acks": "all", "enable.idempotence": True, "partitioner": "murmur2_random"})
        codec = AvroCodec(AUDIT_EVENT)
        started = time.monotonic()
        for i in range(args.fresh_seconds * 1000):
            event = make_event(f"fresh-{i % args.tenants}", timestamp_us=time.time_ns() // 1000)
            producer.produce(whole.events, codec.encode(event.to_avro()), key=event.tenant_id.encode())
            producer.poll(0)
            ahead = (i + 1) / 1000 - (time.monotonic() - started)
            if ahead > 0:
                time.sleep(ahead)
        producer.flush(60)
        total = n + args.fresh_seconds * 1000
        timed(lambda: rows_loaded(dsn), total, "freshness")
        store = ClickHouseStore(dsn, "bench")
        # the whole, and its two parts: to the enrichment (Kafka, the chain stage's batch) and from it to
        # queryable (the transaction, the sink's batch and load)
        [(p50, p99, count, in_p50, in_p99, out_p50, out_p99)] = store.query(
            "SELECT quantileExact(0.5)(ms), quantileExact(0.99)(ms), count(), quantileExact(0.5)(enriched), "
            "quantileExact(0.99)(enriched), quantileExact(0.5)(ms - enriched), quantileExact(0.99)(ms - enriched) "
            "FROM (SELECT toUnixTimestamp64Milli(loaded_at) - toUnixTimestamp64Milli(timestamp) AS ms, "
            "toUnixTimestamp64Milli(ingested_at) - toUnixTimestamp64Milli(timestamp) AS enriched FROM bench.events "
            "WHERE startsWith(tenant_id, 'fresh-'))").result_rows
        store.close()
        results.update(freshness_events=int(count), freshness_p50_ms=float(p50), freshness_p99_ms=float(p99),
                       to_enriched_p50_ms=float(in_p50), to_enriched_p99_ms=float(in_p99),
                       enriched_to_queryable_p50_ms=float(out_p50), enriched_to_queryable_p99_ms=float(out_p99))
    finally:
        for stage in stages:
            stage.stop()
        delete_topics(args.bootstrap, whole.all())
    # a tenant's chain is one partition: how the assignor spread the partitions decides each sequencer's share
    chained = [chained_by(stage) for stage in stages if stage.name.startswith("sequencer")]
    if sum(chained):
        results["busiest_sequencer_share"] = max(chained) / sum(chained)
    print_profile(f"the slowest stage ({slowest})",
                  profiles.get(slowest, ["(the sink runs ClickHouse in-process; see its stage timers)"]))
    results["slowest_stage_profile"] = profiles.get(slowest, [])
    figures = {k: float(v) for k, v in results.items() if isinstance(v, int | float)}
    # the targets of the throughput issue (20): a fifth of the ceiling, 12,000 events/s, p99 within a second
    publish("pipeline vs ceiling", figures, {
        "pipeline_events_per_s": ">= 12,000", "pipeline_share_of_ceiling": ">= 0.20",
        "freshness_p99_ms": "<= 1,000"}, args.json)
    args.json.write_text(__import__("json").dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
