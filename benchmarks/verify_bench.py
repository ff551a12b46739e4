"""Links verified per second: the pure verifier, and `verify` reading from the embedded ClickHouse,
with the link hashes recomputed in Python (the reference) and by ClickHouse (the default), side
by side in one run.

    python benchmarks/verify_bench.py --links 1000000
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

from audit_layer_ledger.verify import ChainVerifier, verify_store
from audit_layer_processors.chain_state import ChainBatch, DedupPolicy
from audit_layer_schemas.chain import LinkEncoder
from audit_layer_store.rows import INSERT_COLUMNS, row_from_chained
from audit_layer_store.store import ClickHouseStore

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from audit_layer_samples.factories import enriched_record, make_event


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--links", type=int, default=200_000)
    parser.add_argument("--tenants", type=int, default=10)
    parser.add_argument("--json", type=Path, default=Path("bench-results/verify.json"))
    args = parser.parse_args()

    encoder = LinkEncoder()
    batch = ChainBatch({}, encoder, DedupPolicy(window=1))
    template = [enriched_record(make_event(f"tenant-{t}")) for t in range(args.tenants)]
    chained = []
    started = time.perf_counter()
    for i in range(args.links):
        record = template[i % args.tenants]
        record = {**record, "event": {**record["event"], "event_id": f"{i:08x}-0000-7000-8000-000000000000"}}
        link = batch.link(record)
        assert link is not None
        chained.append({"event": record, "seq": link.seq, "prev_hash": link.prev_hash, "hash": link.hash,
                        "link_schema": encoder.schema_hex})
    chain_seconds = time.perf_counter() - started

    verifier = ChainVerifier()
    started = time.perf_counter()
    for c in sorted(chained, key=lambda c: (c["event"]["event"]["tenant_id"], c["seq"])):
        verifier.add(c["event"]["event"]["tenant_id"], c["seq"], c["prev_hash"], c["hash"], c["link_schema"],
                     c["event"])
    pure_seconds = time.perf_counter() - started
    assert verifier.finish().ok

    with tempfile.TemporaryDirectory() as path:
        store = ClickHouseStore(f"chdb://{path}", "bench")
        store.migrate()
        rows = [row_from_chained(c, 0, i) for i, c in enumerate(chained)]
        started = time.perf_counter()
        for k in range(0, len(rows), 50_000):
            store.insert("events", rows[k:k + 50_000], INSERT_COLUMNS)
        del rows
        insert_seconds = time.perf_counter() - started
        started = time.perf_counter()
        report = verify_store(store, hash_in_database=False)
        store_seconds = time.perf_counter() - started
        assert report.ok and report.links == args.links
        started = time.perf_counter()
        report = verify_store(store)
        database_seconds = time.perf_counter() - started
        assert report.ok and report.links == args.links

    results = {
        "links": args.links,
        "sequencer_links_per_s": args.links / chain_seconds,
        "verify_pure_links_per_s": args.links / pure_seconds,
        "insert_rows_per_s": args.links / insert_seconds,
        "verify_from_clickhouse_python_hashing_links_per_s": args.links / store_seconds,
        "verify_from_clickhouse_links_per_s": args.links / database_seconds,
        "seconds_for_1m_links_from_clickhouse": 1_000_000 / (args.links / database_seconds),
    }
    for name, value in results.items():
        print(f"{name:40} {value:14,.0f}" if value > 100 else f"{name:40} {value:14.2f}")
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
