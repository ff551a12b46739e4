"""Inclusion proofs at scale: one tenant with 10,000,000 links in the embedded ClickHouse.

    python benchmarks/proof_bench.py --links 10000000 --proofs 200

The links are generated inside ClickHouse (hash = SHA-256(prev_hash || link bytes) with
synthetic link bytes), so each proof is a complete offline-proof document: the benchmark signs
a checkpoint over the tree's root with a fresh Ed25519 key. Figures: building the stored
Merkle index (what the sink does as checkpoints arrive), generating an audit path from the
stored nodes, and checking the proof offline with `offline_proof.verify`.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import random
import sys
import tempfile
import time
from pathlib import Path

from audit_layer_ledger import offline_proof
from audit_layer_ledger.merkle_index import StoredSubtrees
from audit_layer_ledger.proofs import build_proof
from audit_layer_schemas.chain import LinkEncoder
from audit_layer_schemas.merkle import inclusion_needs, inclusion_path, range_root
from audit_layer_store.store import ClickHouseStore
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from rich.console import Console

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from audit_layer_samples.factories import enriched_record, make_event

from benchmarks.figures import percentile, publish

TENANT = "bench-bank"
# every link is one real record's bytes (schema fingerprint + Avro body) behind its own seq, so the proof the
# offline checker reads decodes like a real one
SUFFIX = LinkEncoder().link_bytes(enriched_record(make_event(TENANT)), 0)[8:]
RECORD = offline_proof.decode_link(bytes(8) + SUFFIX, LinkEncoder().canonical_form)[1]
console = Console()



def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--links", type=int, default=10_000_000)
    parser.add_argument("--proofs", type=int, default=200)
    parser.add_argument("--json", type=Path, default=Path("bench-results/proofs.json"))
    args = parser.parse_args()
    n = args.links
    results: dict[str, float] = {"links": n}

    with tempfile.TemporaryDirectory(prefix="audit-layer-proofs-") as path:
        store = ClickHouseStore(f"chdb://{path}", "bench")
        store.migrate()
        console.print(f"generating {n:,} links in ClickHouse ...")
        store.command(
            "INSERT INTO bench.events (tenant_id, seq, event_id, timestamp, ingested_at, action, risk_level, "
            "prev_hash, hash, link_schema, sdk_name, sdk_version) "
            f"SELECT '{TENANT}', number + 1, generateUUIDv7(), now64(6), now64(6), 'ALLOW', 'LOW', "
            "unhex(repeat('00', 32)), SHA256(concat(unhex(repeat('00', 32)), "
            f"reverse(reinterpretAsFixedString(toUInt64(number + 1))), unhex('{SUFFIX.hex()}'))), "
            f"'{LinkEncoder().schema_hex}', 'bench', '0' "
            f"FROM numbers({n})")

        started = time.perf_counter()
        StoredSubtrees(store, TENANT).extend(n)
        index_s = time.perf_counter() - started
        results.update(index_build_s=index_s, index_build_links_per_s=n / index_s)
        tree_root = range_root(StoredSubtrees(store, TENANT), 0, n)

        key = Ed25519PrivateKey.generate()
        public = key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
        checkpoint = {"tenant_id": TENANT, "first_seq": 1, "last_seq": n, "head_hash": "00" * 32,
                      "merkle_root": tree_root.hex(), "created_at_us": int(time.time() * 1e6),
                      "key_id": hashlib.sha256(public).digest()[:8].hex()}
        checkpoint["signature"] = base64.b64encode(key.sign(offline_proof.statement(checkpoint))).decode()

        rng = random.Random(11)
        generate_ms, verify_ms, path_lengths = [], [], []
        for _ in range(args.proofs):
            seq = rng.randrange(1, n + 1)
            started = time.perf_counter()
            subtrees = StoredSubtrees(store, TENANT)  # fresh: nothing cached
            subtrees.prefetch(inclusion_needs(seq - 1, n))  # as build_proof does
            audit_path = inclusion_path(seq - 1, n, subtrees)
            generate_ms.append((time.perf_counter() - started) * 1000)
            link = seq.to_bytes(8, "big") + SUFFIX
            proof = {"format": offline_proof.FORMAT, "tenant_id": TENANT, "seq": seq, "prev_hash": "00" * 32,
                     "hash": hashlib.sha256(bytes(32) + link).hexdigest(), "link_bytes": link.hex(),
                     "link_schema": LinkEncoder().canonical_form,
                     "audit_path": [p.hex() for p in audit_path], "checkpoint": checkpoint,
                     "record": RECORD, "event_id": RECORD["event"]["event_id"]}
            document = json.dumps(proof)
            started = time.perf_counter()
            offline_proof.verify(json.loads(document), {checkpoint["key_id"]: public})
            verify_ms.append((time.perf_counter() - started) * 1000)
            path_lengths.append(len(audit_path))
        # the whole `audit-layer proof`: find the row by id, read it, the covering checkpoint, the path
        # (the synthetic rows' fields do not hash to their synthetic links, so these documents are
        # timed, not verified; the ones above are verified)
        store.insert("checkpoints", [[TENANT, 1, n, bytes(32), tree_root, checkpoint["created_at_us"],
                                      checkpoint["key_id"], base64.b64decode(checkpoint["signature"]), 0, 0]],
                     ["tenant_id", "first_seq", "last_seq", "head_hash", "merkle_root", "created_at", "key_id",
                      "signature", "kafka_partition", "kafka_offset"])
        ids = [r[0] for r in store.query(f"SELECT toString(event_id) FROM bench.events WHERE "
                                         f"cityHash64(event_id) % {max(n // (args.proofs * 4), 1)} = 0 "
                                         f"LIMIT {args.proofs}").result_rows]
        whole_ms = []
        for event_id in ids:
            started = time.perf_counter()
            built = build_proof(store, event_id, {checkpoint["key_id"]: public})
            whole_ms.append((time.perf_counter() - started) * 1000)
            assert built["checkpoint"]["last_seq"] == n
        results.update(whole_proof_ms_p50=percentile(whole_ms, 0.5), whole_proof_ms_p99=percentile(whole_ms, 0.99))
        results.update(proofs=args.proofs, audit_path_length=max(path_lengths),
                       proof_path_ms_p50=percentile(generate_ms, 0.5),
                       proof_path_ms_p99=percentile(generate_ms, 0.99),
                       offline_verify_ms_p50=percentile(verify_ms, 0.5),
                       offline_verify_ms_p99=percentile(verify_ms, 0.99))
        store.close()

    publish(f"inclusion proofs, one tenant of {n:,} links (embedded chDB)", results,
            {"proof_path_ms_p99": "<= 50 ms (generation)", "whole_proof_ms_p99": "<= 50 ms (generation)",
             "offline_verify_ms_p99": "<= 1 ms"}, args.json, console)
    return 0


if __name__ == "__main__":
    sys.exit(main())
