"""Tamper drill: random edits, deletions, insertions, swaps and truncations of stored rows and
checkpoints, and what a store consistent with itself hides (all checkpoints deleted, a tenant deleted,
both tables emptied, a suffix rewritten with valid links and its checkpoints dropped, a second signed
checkpoint of one size); every one must be detected by the verifier holding the store against the
signed checkpoints that left it (the anchor), and an untouched log raise no alarm. Beside the store:
offline proofs edited (a field of the shown record, the event id, the record removed, the audit path, a
checkpoint re-signed by a key the auditor does not trust) must be INVALID, and chain heads restored from
Kafka rolled back, deleted, from elsewhere or with another hash must stop the sequencer's restore.

    python benchmarks/tamper_drill.py --trials 10000      # prints a table, writes JSON

Rows are the verifier's own input (what `verify` reads from ClickHouse), built by the real
sequencer logic and signed with a real Ed25519 key, so the drill checks the verifier itself.
"""

from __future__ import annotations

import argparse
import base64
import copy
import json
import random
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

from audit_layer_ledger import offline_proof
from audit_layer_ledger.anchors import anchor_findings, checkpoint_forks
from audit_layer_ledger.proofs import proof_document
from audit_layer_ledger.verify import ChainVerifier, StoredCheckpoint
from audit_layer_processors.chain_state import ChainBatch, CheckpointPolicy, DedupPolicy, Head, Signer
from audit_layer_processors.head_restore import ChainedLink, Seen, restore_heads
from audit_layer_schemas.chain import LinkEncoder
from audit_layer_schemas.merkle import Frontier, inclusion_proof, leaf_hash
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from audit_layer_samples.factories import enriched_record, make_event

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


PROOF_KINDS = ["proof_record_edit", "proof_event_id_edit", "proof_record_removed", "proof_path_edit",
               "proof_foreign_key"]
HEAD_KINDS = ["head_rolled_back", "head_deleted", "head_from_elsewhere", "head_wrong_hash"]


def _flip(value: bytes) -> bytes:
    return bytes([value[0] ^ 1]) + value[1:]


def _proof(rows: list[Row], cps: list[StoredCheckpoint], i: int) -> dict[str, Any] | None:
    """The offline proof of row i against the first checkpoint covering it, as `audit-layer proof` writes it."""
    tenant, seq, prev, digest, schema, record = rows[i]
    covering = [c for c in cps if c.tenant_id == tenant and c.last_seq >= seq]
    if not covering:
        return None
    cp = min(covering, key=lambda c: c.last_seq)
    leaves = [leaf_hash(r[3]) for r in rows if r[0] == tenant and r[1] <= cp.last_seq]
    checkpoint = {"tenant_id": tenant, "first_seq": cp.first_seq, "last_seq": cp.last_seq,
                  "head_hash": cp.head_hash.hex(), "merkle_root": cp.merkle_root.hex(),
                  "created_at_us": cp.created_at_us, "key_id": cp.key_id,
                  "signature": base64.b64encode(cp.signature).decode(), "note": ""}
    return proof_document(record["event"]["event_id"], tenant, seq, prev, digest, schema, record,
                          inclusion_proof(seq - 1, leaves), checkpoint)


def _valid(proof: dict[str, Any], keys: dict[str, bytes]) -> bool:
    try:
        offline_proof.verify(proof, keys)
    except offline_proof.ProofInvalid:
        return False
    return True


def proof_trial(rows: list[Row], cps: list[StoredCheckpoint], keys: dict[str, bytes],
                rng: random.Random) -> tuple[str, bool]:
    """(kind, detected) for one edited offline proof."""
    proof = None
    while proof is None:
        proof = _proof(rows, cps, rng.randrange(len(rows)))
    kind = rng.choice(PROOF_KINDS)
    if kind == "proof_record_edit":
        field = rng.choice(EVENT_FIELDS + ENRICHED_FIELDS)
        target = proof["record"]["event"] if field in EVENT_FIELDS else proof["record"]
        target[field] = _edit_value(target[field])
        kind = f"proof_record_edit:{field}"
    elif kind == "proof_event_id_edit":
        proof["event_id"] = "00000000-0000-7000-8000-000000000000"
    elif kind == "proof_record_removed":
        del proof["record"]
    elif kind == "proof_path_edit":
        if not proof["audit_path"]:
            return proof_trial(rows, cps, keys, rng)
        k = rng.randrange(len(proof["audit_path"]))
        proof["audit_path"][k] = _flip(bytes.fromhex(proof["audit_path"][k])).hex()
    elif kind == "proof_foreign_key":
        # the whole proof re-signed by a key of the forger's own, named in the proof
        forger = Ed25519PrivateKey.generate()
        raw = forger.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        proof["checkpoint"]["key_id"] = offline_proof.key_id_of(raw)
        proof["checkpoint"]["signature"] = base64.b64encode(
            forger.sign(offline_proof.statement(proof["checkpoint"]))).decode()
    return kind, not _valid(proof, keys)


def _heads_of(rows: list[Row], cps: list[StoredCheckpoint], tenant: str
              ) -> tuple[list[Head], list[ChainedLink], Seen]:
    """The heads the sequencer wrote for `tenant` (one with each checkpoint, oldest first), its chained links,
    and its newest signed checkpoint."""
    mine = [r for r in rows if r[0] == tenant]
    links = [ChainedLink(tenant, s, p, h, r["event"]["event_id"]) for _, s, p, h, _, r in mine]
    signed = sorted(c.last_seq for c in cps if c.tenant_id == tenant)
    heads, frontier = [], Frontier()
    for _, s, _, h, _, _ in mine:
        frontier = frontier.append(leaf_hash(h))
        if s in signed:
            heads.append(Head(s, h, (), frontier.nodes, s, 1))
    return heads, links, Seen(signed[-1], mine[signed[-1] - 1][3])


def head_trial(rows: list[Row], cps: list[StoredCheckpoint], rng: random.Random) -> tuple[str, bool]:
    """(kind, detected) for one chain head tampered in audit.chain-heads before a restore."""
    tenant = rng.choice(sorted({r[0] for r in rows}))
    heads, links, signed = _heads_of(rows, cps, tenant)
    kind = rng.choice(HEAD_KINDS)
    head = heads[-1]
    if kind == "head_rolled_back":
        if len(heads) < 2:
            return head_trial(rows, cps, rng)
        restored = {tenant: heads[rng.randrange(len(heads) - 1)]}
    elif kind == "head_deleted":
        restored = {}
    elif kind == "head_from_elsewhere":
        restored = {tenant: Head(links[-1].seq + rng.randint(1, 50), bytes(32), (), (), signed.seq, 1)}
    else:
        restored = {tenant: Head(head.seq, _flip(head.hash), (), head.frontier, head.last_checkpoint_seq, 1)}
    problems = restore_heads(restored, links, {tenant: signed}, DedupPolicy(), 1).problems
    return kind, bool(problems)


def clean_side_checks(rows: list[Row], cps: list[StoredCheckpoint], keys: dict[str, bytes]) -> int:
    """Alarms on untouched proofs and heads (each must be 0)."""
    alarms = sum(not _valid(p, keys) for p in (_proof(rows, cps, i) for i in range(0, len(rows), 7)) if p)
    for tenant in sorted({r[0] for r in rows}):
        heads, links, signed = _heads_of(rows, cps, tenant)
        restored = restore_heads({tenant: heads[-1]}, links, {tenant: signed}, DedupPolicy(), 1)
        alarms += bool(restored.problems) or restored.heads[tenant].seq != links[-1].seq
    return alarms


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--trials", type=int, default=10_000)
    parser.add_argument("--tenants", type=int, default=3)
    parser.add_argument("--events", type=int, default=40, help="events per tenant")
    parser.add_argument("--checkpoint-every", type=int, default=10)
    parser.add_argument("--store-trials", type=int, default=70,
                        help="attacks on a copy of the log in the embedded ClickHouse engine (about 1 s each)")
    parser.add_argument("--seed", type=int, default=6962)
    parser.add_argument("--json", type=Path, default=Path("bench-results/tamper_drill.json"))
    args = parser.parse_args()
    rng = random.Random(args.seed)
    random.seed(args.seed)
    rows, cps, keys = build_log(args.tenants, args.events, args.checkpoint_every)
    started = time.perf_counter()
    anchored = list(cps)  # what the audit.checkpoints topic holds: the store's attacker cannot reach it
    clean_alarms = sum(not verify(rows, cps, keys, anchored) for _ in range(10))
    clean_alarms += clean_side_checks(rows, cps, keys)
    tried: Counter[str] = Counter()
    caught: Counter[str] = Counter()
    store_share = 14 / (14 + len(PROOF_KINDS) + len(HEAD_KINDS))  # each kind about as often as another
    for _ in range(args.trials):
        draw = rng.random()
        if draw < store_share:
            kind, bad_rows, bad_cps = tamper(rows, cps, rng)
            detected = not verify(bad_rows, bad_cps, keys, anchored)
        elif draw < store_share + len(PROOF_KINDS) / (14 + len(PROOF_KINDS) + len(HEAD_KINDS)):
            kind, detected = proof_trial(rows, cps, keys, rng)
        else:
            kind, detected = head_trial(rows, cps, rng)
        family = kind.split(":")[0]
        tried[family] += 1
        if detected:
            caught[family] += 1
        else:
            print(f"MISSED: {kind}", file=sys.stderr)
    if args.store_trials:
        from benchmarks.store_tamper import StoreDrill

        drill = StoreDrill(rows, cps, keys)
        try:
            clean_alarms += drill.clean_alarms()
            for n in range(args.store_trials):
                kind, detected = drill.trial(rng)
                tried[kind] += 1
                caught[kind] += detected
                if not detected:
                    print(f"MISSED: {kind}", file=sys.stderr)
                print(f"  store attacks {n + 1}/{args.store_trials}", end="\r", file=sys.stderr)
            print(file=sys.stderr)
        finally:
            drill.close()
    elapsed = time.perf_counter() - started
    print(f"{'tampering':38} {'tried':>7} {'detected':>9}")
    for family in sorted(tried):
        print(f"{family:38} {tried[family]:7d} {caught[family]:9d}")
    total, detected = sum(tried.values()), sum(caught.values())
    print(f"{'all':38} {total:7d} {detected:9d}  ({100 * detected / total:.2f}%)")
    print(f"alarms on the untouched log (10 verify runs, its proofs, its heads; in the engine: untouched, and with "
          f"an identical twin): {clean_alarms}; {elapsed:.1f}s")
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps({"trials": total, "detected": detected, "clean_alarms": clean_alarms,
                                     "by_kind": {k: [tried[k], caught[k]] for k in tried}, "seconds": elapsed}))
    return 0 if detected == total and clean_alarms == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
