"""ClickHouse at scale on the embedded engine: the sink, then 10,000,000 events for the
compliance summary and single-decision lookups.

    python benchmarks/clickhouse_bench.py --events 10000000 --sink-events 200000 --bootstrap 127.0.0.1:9092

1. A generator makes `--sink-events` distinct events, enriched and chained by the real code and
   Avro-encoded as the sequencer writes them, and produces them to a fresh chained topic. The
   real sink (ClickHouseSink: consume read_committed, batch, commit the intent, insert with its
   dedup token, commit) loads them twice, side by side: the engine staging the batch itself (the
   default on the embedded engine: a Native block the compiled codec makes, or with
   AUDIT_LAYER_AVRO_NATIVE=off the Avro container the engine reads) and decoding in Python (the
   server path). Rows/s each.
2. Those rows are copied inside ClickHouse (new event ids and seqs, days shifted back) until the
   table holds `--events`; the materialized views fill the daily aggregates as they would.
3. The compliance summary over all of them (its figures; the chain's verification, which the copies
   would fail, is timed by verify_bench.py), and `--lookups` decisions fetched by event id.
"""

from __future__ import annotations

import argparse
import datetime as dt
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

from audit_layer_governance.reports import compliance_summary, decision_audit
from audit_layer_governance.retention import RetentionPolicy
from audit_layer_processors.topics_admin import delete_topics, ensure_topics
from audit_layer_schemas import CHAINED_EVENT, AvroCodec, Topics
from audit_layer_sinks.sink import ClickHouseSink, SinkConfig
from audit_layer_store.store import ClickHouseStore
from confluent_kafka import Producer
from rich.console import Console
from rich.progress import Progress

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from audit_layer_samples.datasets import chain, varied_events

from benchmarks.figures import percentile, publish

TENANT = "bench-bank"
console = Console()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=10_000_000, help="rows in the table at the end")
    parser.add_argument("--sink-events", type=int, default=200_000, help="distinct events through the sink path")
    parser.add_argument("--lookups", type=int, default=200, help="decisions fetched by id")
    parser.add_argument("--bootstrap", default="127.0.0.1:9092", help="Kafka brokers (the sink consumes)")
    parser.add_argument("--json", type=Path, default=Path("bench-results/clickhouse.json"))
    args = parser.parse_args()
    results: dict[str, float] = {}

    with Progress(console=console) as bar:
        task = bar.add_task("generating events", total=args.sink_events)
        events = []
        start_us = int((time.time() - 86_400) * 1e6)
        for k in range(0, args.sink_events, 10_000):
            size = min(10_000, args.sink_events - k)
            events.extend(varied_events(TENANT, size, seed=k, start_us=start_us + k * 1000))
            bar.update(task, completed=len(events))
    console.print("enriching and chaining them ...")
    chained = chain(events)
    del events
    codec = AvroCodec(CHAINED_EVENT)
    messages = [codec.encode(c) for c in chained]
    del chained
    retention = RetentionPolicy({"standard": 180, "financial": 2555, "health": 2190, "employment": 1095})

    topics = Topics(prefix=f"bench-{int(time.time())}-")
    ensure_topics(args.bootstrap, topics, partitions=1)  # the local broker does not auto-create
    producer = Producer({"bootstrap.servers": args.bootstrap, "linger.ms": 20, "compression.type": "lz4",
                         "partitioner": "murmur2_random"})
    for message in messages:
        while True:
            try:
                producer.produce(topics.chained, message, key=TENANT.encode())
                break
            except BufferError:
                producer.poll(0.05)
    producer.flush(60)
    n = len(messages)

    with tempfile.TemporaryDirectory(prefix="audit-layer-bench-") as path:
        for database, passthrough in (("bench", True), ("bench_python", False)):
            store = ClickHouseStore(f"chdb://{path}", database)
            store.migrate()
            config = SinkConfig(args.bootstrap, topics, group_id=f"{topics.prefix}{database}",
                                retention=retention, avro_passthrough=passthrough)
            sink = ClickHouseSink(config, store)
            thread = threading.Thread(target=sink.run, daemon=True)
            with Progress(console=console) as bar:
                staged = "Native block" if sink._avro.load.native_layout is not None else "Avro container"
                task = bar.add_task(f"sink ({f'staged as a {staged}' if passthrough else 'Python decode'})",
                                    total=n)
                launched = time.perf_counter()
                thread.start()
                while sink.rows_loaded == 0 and thread.is_alive():  # group join and assignment
                    time.sleep(0.005)
                started, first = time.perf_counter(), sink.rows_loaded
                if first >= n:  # one batch held everything: no sustained stretch to time, so time it all
                    started, first = launched, 0
                while sink.rows_loaded < n and thread.is_alive():
                    bar.update(task, completed=sink.rows_loaded)
                    time.sleep(0.005)
                elapsed = time.perf_counter() - started
            sink.stop()
            thread.join(60)
            loaded = int(store.query(f"SELECT count() FROM {database}.events").result_rows[0][0])
            assert loaded == n, f"the sink loaded {loaded} of {n} rows"
            key = "sink_rows_per_s" if passthrough else "sink_rows_per_s_python_decode"
            results[key] = (n - first) / elapsed  # sustained: from the first batch loaded to the last
            if not passthrough:
                store.command(f"DROP DATABASE {database}")
        store = ClickHouseStore(f"chdb://{path}", "bench")
        results["sink_speedup_vs_python_decode"] = results["sink_rows_per_s"] / results["sink_rows_per_s_python_decode"]
        delete_topics(args.bootstrap, topics.all())

        copies = max(args.events // n - 1, 0)
        started = time.perf_counter()
        with Progress(console=console) as bar:
            task = bar.add_task("copying rows inside ClickHouse", total=copies)
            for k in range(1, copies + 1):
                store.command(
                    f"INSERT INTO bench.events SELECT * REPLACE (seq + {k * n} AS seq, generateUUIDv7() AS event_id, "
                    f"timestamp - toIntervalDay({k % 90}) AS timestamp) "
                    f"FROM (SELECT * FROM bench.events WHERE seq <= {n})")  # outside: REPLACE's seq would shadow
                bar.update(task, advance=1)
        copy_s = time.perf_counter() - started
        total = int(store.query("SELECT count() FROM bench.events").result_rows[0][0])
        results.update(rows_in_table=total, in_engine_copy_rows_per_s=(total - n) / copy_s if copy_s else 0.0)

        today = dt.datetime.now(dt.UTC).date()
        timings = []
        for _ in range(5):
            started = time.perf_counter()
            # the copies above are not a chain (their prev_hash links point at the originals), so the report cites
            # the last recorded verification instead of running one: verify is timed by verify_bench.py
            report = compliance_summary.build(store, TENANT, today - dt.timedelta(days=400), today, verify_now=False)
            timings.append(time.perf_counter() - started)
        assert report.data["events"] == total, (report.data["events"], total)
        results.update(compliance_summary_s_median=statistics.median(timings), compliance_summary_s_max=max(timings))

        ids = [r[0] for r in store.query(f"SELECT toString(event_id) FROM bench.events "
                                         f"WHERE cityHash64(event_id) % {max(total // (args.lookups * 4), 1)} = 0 "
                                         f"LIMIT {args.lookups}").result_rows]
        lookup_ms = []
        for event_id in ids:
            started = time.perf_counter()
            row = decision_audit.lookup(store, event_id)
            lookup_ms.append((time.perf_counter() - started) * 1000)
            assert str(row["event_id"]) == event_id
        results.update(lookups=len(lookup_ms), lookup_ms_p50=percentile(lookup_ms, 0.5),
                       lookup_ms_p99=percentile(lookup_ms, 0.99))
        store.close()

    publish(f"ClickHouse (embedded chDB), {results['rows_in_table']:,.0f} events", results,
            {"sink_rows_per_s": ">= 100,000", "compliance_summary_s_median": "<= 2 s", "lookup_ms_p99": "<= 50 ms"},
            args.json, console)
    return 0


if __name__ == "__main__":
    sys.exit(main())
