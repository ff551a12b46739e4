"""Tamper drill: random edits, deletions, insertions, swaps and truncations of stored rows and
checkpoints, and what a store consistent with itself hides (all checkpoints deleted, a tenant deleted,
both tables emptied, a suffix rewritten with valid links and its checkpoints dropped, a second signed
checkpoint of one size); every one must be detected by the verifier holding the store against the
signed checkpoints that left it (the anchor), and an untouched log raise no alarm.

    python benchmarks/tamper_drill.py --trials 10000      # prints a table, writes JSON

Rows are the verifier's own input (what `verify` reads from ClickHouse), built by the real
sequencer logic and signed with a real Ed25519 key, so the drill checks the verifier itself.
"""

from __future__ import annotations

import argparse
import copy
import json
import random
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

from audit_layer_ledger.anchors import anchor_findings, checkpoint_forks
from audit_layer_ledger.verify import ChainVerifier, StoredCheckpoint
from audit_layer_processors.chain_state import ChainBatch, CheckpointPolicy, DedupPolicy, Signer
from audit_layer_schemas.chain import LinkEncoder
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests.factories import enriched_record, make_event

Row = tuple[str, int, bytes, bytes, str, dict[str, Any]]
SIGNER: list[Ed25519PrivateKey] = []  # the operator's key: a fork is signed with it
EVENT_FIELDS = ["decision_outcome", "model", "user_id", "input_tokens", "confidence", "finish_reason",
                "action", "timestamp_us", "prompt_sha256", "metadata", "prompt", "response"]
ENRICHED_FIELDS = ["risk_level", "compliance_tags", "ingested_at_us"]


def build_log(tenants: int, events: int, every: int) -> tuple[list[Row], list[StoredCheckpoint], dict[str, bytes]]:
    key = Ed25519PrivateKey.generate()
    public = key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    from audit_layer_schemas.checkpoint import key_id

    kid = key_id(public)
    SIGNER[:] = [key]
    encoder = LinkEncoder()
    batch = ChainBatch({}, encoder, DedupPolicy(), CheckpointPolicy(every_events=every),
                       Signer(kid, lambda s: key.sign(s.encode())), now_us=1_800_000_000_000_000)
    rows: list[Row] = []
    for i in range(tenants * events):
        tenant = f"tenant-{i % tenants}"
        record = enriched_record(make_event(tenant, decision_outcome=random.choice(["approved", "denied"])))
        link = batch.link(record)
        assert link is not None
        rows.append((tenant, link.seq, link.prev_hash, link.hash, encoder.schema_hex, record))
    rows.sort(key=lambda r: (r[0], r[1]))
    cps = [StoredCheckpoint(c["tenant_id"], c["first_seq"], c["last_seq"], c["head_hash"], c["merkle_root"],
                            c["created_at_us"], c["key_id"], c["signature"]) for c in batch.checkpoints]
    return rows, cps, {kid: public}


def verify(rows: list[Row], cps: list[StoredCheckpoint], keys: dict[str, bytes],
           anchored: list[StoredCheckpoint]) -> bool:
    """`verify` as the CLI runs it: the chain walk with the stored and the anchored checkpoints, forks of
    signed checkpoints, and what the anchor holds that the store lost."""
    verifier = ChainVerifier([*cps, *anchored], keys)
    for row in rows:
        verifier.add(*row)
    report = verifier.finish()
    report.other_findings.extend(checkpoint_forks([*cps, *anchored], keys))
    report.other_findings.extend(anchor_findings(report, cps, anchored))
    return report.ok


def _edit_value(value: Any) -> Any:
    if isinstance(value, bool) or value is None:
        return "x"
    if isinstance(value, int):
        return value + 1
    if isinstance(value, float):
        return value / 2 + 0.01
    enums = {"ALLOW": "REJECT", "REJECT": "ALLOW", "FAIL_RETRY": "ALLOW", "LOW": "HIGH", "MEDIUM": "LOW",
             "HIGH": "CRITICAL", "CRITICAL": "LOW"}
    if isinstance(value, str):
        return enums.get(value, value + "!")
    if isinstance(value, list):
        return [*value, "EXTRA"]
    if isinstance(value, dict):
        return {**value, "k": "v"}
    raise TypeError(type(value))


def tamper(rows: list[Row], cps: list[StoredCheckpoint], rng: random.Random) -> tuple[str, list[Row], list[Any]]:
    rows = list(rows)
    cps = list(cps)
    kind = rng.choice(["edit_field", "edit_hash", "delete", "insert", "swap", "truncate", "edit_checkpoint",
                       "delete_checkpoint_and_rows", "duplicate", "delete_all_checkpoints", "delete_tenant",
                       "empty_both_tables", "rewrite_suffix_drop_checkpoints", "second_signed_checkpoint"])
    i = rng.randrange(len(rows))
    tenant, seq, prev, digest, schema, record = rows[i]
    if kind == "edit_field":
        record = copy.deepcopy(record)
        field = rng.choice(EVENT_FIELDS + ENRICHED_FIELDS)
        target = record["event"] if field in EVENT_FIELDS else record
        target[field] = _edit_value(target[field])
        rows[i] = (tenant, seq, prev, digest, schema, record)
        kind = f"edit_field:{field}"
    elif kind == "edit_hash":
        which = rng.choice(["prev", "hash"])
        flipped = bytes([(prev if which == "prev" else digest)[0] ^ 1]) + (prev if which == "prev" else digest)[1:]
        rows[i] = (tenant, seq, flipped, digest, schema, record) if which == "prev" else \
            (tenant, seq, prev, flipped, schema, record)
    elif kind == "delete":
        del rows[i]
    elif kind == "insert":
        forged = copy.deepcopy(record)
        forged["event"]["event_id"] = "00000000-0000-7000-8000-000000000000"
        rows.insert(i + 1, (tenant, seq + 1, digest, digest, schema, forged))
        rows = [(t, s + 1 if t == tenant and k > i + 1 else s, p, h, sc, r)
                for k, (t, s, p, h, sc, r) in enumerate(rows)]
    elif kind == "swap":
        j = next((k for k in (i + 1, i - 1) if 0 <= k < len(rows) and rows[k][0] == tenant), None)
        if j is None:
            return tamper(rows, cps, rng)
        a, b = rows[i], rows[j]
        rows[i], rows[j] = (a[0], a[1], a[2], a[3], a[4], b[5]), (b[0], b[1], b[2], b[3], b[4], a[5])
    elif kind == "truncate":
        last_signed = max(c.last_seq for c in cps if c.tenant_id == tenant)
        cut = rng.randint(1, last_signed)
        rows = [r for r in rows if r[0] != tenant or r[1] < cut]
        kind = "truncate_before_last_checkpoint"
    elif kind == "edit_checkpoint":
        k = rng.randrange(len(cps))
        cp = cps[k]
        field = rng.choice(["merkle_root", "head_hash", "created_at_us", "last_seq", "signature"])
        value = getattr(cp, field)
        new = bytes([value[0] ^ 1]) + value[1:] if isinstance(value, bytes) else value + 1
        cps[k] = StoredCheckpoint(**{**cp.__dict__, field: new})
        kind = f"edit_checkpoint:{field}"
    elif kind == "delete_checkpoint_and_rows":
        # remove the tail of a chain and the checkpoints over it: an earlier checkpoint must still catch it
        mine = sorted((c for c in cps if c.tenant_id == tenant), key=lambda c: c.last_seq)
        if len(mine) < 2:
            return tamper(rows, cps, rng)
        keep = mine[-2].last_seq
        cps = [c for c in cps if not (c.tenant_id == tenant and c.last_seq > keep)]
        cut = rng.randint(1, keep)
        rows = [r for r in rows if r[0] != tenant or r[1] < cut]
    elif kind == "duplicate":
        rows.insert(i + 1, rows[i])
    elif kind == "delete_all_checkpoints":
        cps = []
    elif kind == "delete_tenant":
        rows = [r for r in rows if r[0] != tenant]
        cps = [c for c in cps if c.tenant_id != tenant]
    elif kind == "empty_both_tables":
        rows, cps = [], []
    elif kind == "rewrite_suffix_drop_checkpoints":
        # every link after seq K recomputed valid over an altered record; the checkpoints after K dropped
        last = max(r[1] for r in rows if r[0] == tenant)
        keep = rng.randint(1, last - 1)  # at least one link rewritten
        encoder = LinkEncoder()
        rewritten, head = [], next((r[3] for r in rows if r[0] == tenant and r[1] == keep), b"")
        for t, s, p, h, sc, r in rows:
            if t == tenant and s > keep:
                r = copy.deepcopy(r)
                r["event"]["decision_outcome"] = "approved-by-forger"
                p, h = head, encoder.link_hash(head, r, s)
                head = h
            rewritten.append((t, s, p, h, sc, r))
        rows = rewritten
        cps = [c for c in cps if not (c.tenant_id == tenant and c.last_seq > keep)]
    elif kind == "second_signed_checkpoint":
        cp = rng.choice(cps)
        forged = StoredCheckpoint(**{**cp.__dict__, "merkle_root": bytes(32), "signature": b""})
        cps.append(StoredCheckpoint(**{**forged.__dict__, "signature": SIGNER[0].sign(forged.encode())}))
    return kind, rows, cps


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--trials", type=int, default=10_000)
    parser.add_argument("--tenants", type=int, default=3)
    parser.add_argument("--events", type=int, default=40, help="events per tenant")
    parser.add_argument("--checkpoint-every", type=int, default=10)
    parser.add_argument("--seed", type=int, default=6962)
    parser.add_argument("--json", type=Path, default=Path("bench-results/tamper_drill.json"))
    args = parser.parse_args()
    rng = random.Random(args.seed)
    random.seed(args.seed)
    rows, cps, keys = build_log(args.tenants, args.events, args.checkpoint_every)
    started = time.perf_counter()
    anchored = list(cps)  # what the audit.checkpoints topic holds: the store's attacker cannot reach it
    clean_alarms = sum(not verify(rows, cps, keys, anchored) for _ in range(10))
    tried: Counter[str] = Counter()
    caught: Counter[str] = Counter()
    for n in range(args.trials):
        kind, bad_rows, bad_cps = tamper(rows, cps, rng)
        family = kind.split(":")[0]
        tried[family] += 1
        if not verify(bad_rows, bad_cps, keys, anchored):
            caught[family] += 1
        elif n < 10_000_000:
            print(f"MISSED: {kind}", file=sys.stderr)
    elapsed = time.perf_counter() - started
    print(f"{'tampering':38} {'tried':>7} {'detected':>9}")
    for family in sorted(tried):
        print(f"{family:38} {tried[family]:7d} {caught[family]:9d}")
    total, detected = sum(tried.values()), sum(caught.values())
    print(f"{'all':38} {total:7d} {detected:9d}  ({100 * detected / total:.2f}%)")
    print(f"alarms on the untouched log: {clean_alarms} of 10 runs; {elapsed:.1f}s")
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps({"trials": total, "detected": detected, "clean_alarms": clean_alarms,
                                     "by_kind": {k: [tried[k], caught[k]] for k in tried}, "seconds": elapsed}))
    return 0 if detected == total and clean_alarms == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
