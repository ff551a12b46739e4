"""`audit-layer status`: what the on-call engineer asks first. Lag per stage, dead letters by reason, each
tenant's last checkpoint and verification, the witnesses, the SDK spool on this machine; a table or JSON;
exit 1 when something needs a person, 0 when nothing does."""

from __future__ import annotations

import argparse
import datetime as dt
import json
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from audit_layer_cli.common import UserError, add_clickhouse, add_kafka, check_kafka, console, open_store, topics_of


@dataclass(frozen=True)
class Check:
    """One line of the status: what was looked at, what was seen, and whether a person must act."""

    area: str
    subject: str
    state: str
    detail: str
    attention: bool = False


@dataclass(frozen=True)
class Thresholds:
    max_lag: int = 10_000
    stale_after_s: float = 900.0  # unsigned links this long after the last checkpoint


# -- what is seen, turned into checks (pure) ---------------------------------------------------------------

def lag_checks(lags: dict[str, dict[str, int]], limits: Thresholds) -> list[Check]:
    """`lags`: stage -> topic -> messages behind its committed offsets."""
    checks = []
    for stage, topics in lags.items():
        for topic, behind in topics.items():
            over = behind > limits.max_lag
            checks.append(Check("lag", f"{stage} <- {topic}", "behind" if over else "ok", f"{behind:,} messages",
                                over))
    return checks


def dead_letter_checks(reasons: dict[str, int]) -> list[Check]:
    if not reasons:
        return [Check("dead letters", "audit.dlq", "empty", "0 waiting")]
    detail = ", ".join(f"{reason}: {count:,}" for reason, count in sorted(reasons.items()))
    return [Check("dead letters", "audit.dlq", "waiting", f"{sum(reasons.values()):,} ({detail}); "
                  "`audit-layer dlq list`, then `dlq replay` once fixed", True)]


def tenant_checks(tenants: dict[str, dict[str, Any]], limits: Thresholds, now: float) -> list[Check]:
    """`tenants`: tenant -> stored (max seq), signed (checkpoints' max last_seq), signed_at (Unix time or None),
    verified_ok (None: never), verified_at, witnesses (folder -> latest cosigned last_seq or None)."""
    checks = []
    for tenant, t in sorted(tenants.items()):
        unsigned = t["stored"] - t["signed"]
        age = now - t["signed_at"] if t["signed_at"] else None
        stale = unsigned > 0 and (age is None or age > limits.stale_after_s)
        when = "never" if age is None else f"{age:,.0f} s ago"
        checks.append(Check("checkpoint", tenant, "stale" if stale else "ok",
                            f"last signed {when} at seq {t['signed']:,}; {unsigned:,} links unsigned", stale))
        if t["verified_ok"] is None:
            checks.append(Check("verification", tenant, "never", "run `audit-layer verify`"))
        else:
            ago = now - t["verified_at"]
            checks.append(Check("verification", tenant, "passed" if t["verified_ok"] else "FAILED",
                                f"{ago:,.0f} s ago" + ("" if t["verified_ok"] else
                                                       f"; `audit-layer verify --tenant {tenant}` names the finding"),
                                not t["verified_ok"]))
        for folder, cosigned in sorted(t["witnesses"].items()):
            behind = t["signed"] - (cosigned or 0)
            late = behind > 0 and age is not None and age > limits.stale_after_s
            checks.append(Check("witness", f"{tenant} @ {folder}", "behind" if late else "ok",
                                f"cosigned up to seq {cosigned or 0:,} of {t['signed']:,}", late))
    return checks


def spool_checks(depths: dict[str, int]) -> list[Check]:
    return [Check("sdk spool", folder, "waiting" if n else "empty",
                  f"{n:,} events not yet delivered" if n else "0", n > 0) for folder, n in sorted(depths.items())]


# -- looking ------------------------------------------------------------------------------------------------

def kafka_lags(bootstrap: str, stages: dict[str, tuple[str, list[str]]],
               timeout: float = 10.0) -> dict[str, dict[str, int]]:
    """Each stage's group's committed offsets against the topics' ends (never joins a group)."""
    from audit_layer_schemas.kafka_clients import reader_settings
    from confluent_kafka import Consumer, TopicPartition

    lags: dict[str, dict[str, int]] = {}
    for stage, (group, topics) in stages.items():
        reader = Consumer(reader_settings(bootstrap, group))
        try:
            for topic in topics:
                info = reader.list_topics(topic, timeout=timeout).topics.get(topic)
                if info is None or info.error is not None:
                    raise UserError(f"topic {topic} does not exist; create the topics with `audit-layer topics`")
                parts = [TopicPartition(topic, p) for p in sorted(info.partitions)]
                committed = {tp.partition: tp.offset for tp in reader.committed(parts, timeout=timeout)}
                behind = 0
                for tp in parts:
                    low, high = reader.get_watermark_offsets(tp, timeout=timeout)
                    start = committed.get(tp.partition, -1)
                    behind += max(0, high - (start if start >= 0 else low))
                lags.setdefault(stage, {})[topic] = behind
        finally:
            reader.close()
    return lags


def store_tenants(store: Any, witness_dirs: list[Path]) -> dict[str, dict[str, Any]]:
    db = store.database
    stored = dict(store.query(f"SELECT tenant_id, max(seq) FROM {db}.events GROUP BY tenant_id").result_rows)
    signed = {t: (int(s), at / 1000) for t, s, at in store.query(
        f"SELECT tenant_id, max(last_seq), toUnixTimestamp64Milli(max(created_at)) FROM {db}.checkpoints "
        "GROUP BY tenant_id").result_rows}
    verified = {t: (bool(ok), at / 1000) for t, ok, at in store.query(
        f"SELECT tenant_id, argMax(ok, verified_at), toUnixTimestamp64Milli(max(verified_at)) "
        f"FROM {db}.verifications GROUP BY tenant_id").result_rows}
    tenants: dict[str, dict[str, Any]] = {}
    for tenant, top in stored.items():
        last, at = signed.get(tenant, (0, None))
        ok, when = verified.get(tenant, (None, None))
        tenants[tenant] = {"stored": int(top), "signed": last, "signed_at": at, "verified_ok": ok,
                           "verified_at": when, "witnesses": {str(f): _cosigned(f, tenant) for f in witness_dirs}}
    return tenants


def _cosigned(folder: Path, tenant: str) -> int | None:
    path = folder / f"cosigned-{tenant}.jsonl"
    if not path.is_file():
        return None
    entries = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    return max((int(e.get("last_seq", e.get("size", 0))) for e in entries), default=None)


def spool_depths(root: Path) -> dict[str, int]:
    """Records in the SDK spool folders under `root` (one per destination), read without taking them."""
    from audit_layer_sdk.spool import read_segment

    depths: dict[str, int] = {}
    if not root.is_dir():
        return depths
    for segment in sorted(root.rglob("segment-*.log")):
        folder = str(segment.parent)
        depths[folder] = depths.get(folder, 0) + len(read_segment(segment))
    return depths


# -- the command --------------------------------------------------------------------------------------------

def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("status", help="lag, dead letters, checkpoints, verification, witnesses, SDK spool; "
                                      "exit 1 when something needs a person",
                       description="What needs a person now. Exit 0: nothing; 1: something (marked !); 2: status "
                                   "could not be read.")
    add_kafka(p)
    add_clickhouse(p)
    p.add_argument("--enricher-group", default="audit-enricher")
    p.add_argument("--sequencer-group", default="audit-sequencer")
    p.add_argument("--sink-group", default="audit-sink")
    p.add_argument("--witness-dir", type=Path, action="append", default=[],
                   help="a witness's state folder (cosigned-<tenant>.jsonl); repeatable")
    p.add_argument("--spool-dir", type=Path, default=Path.home() / ".cache" / "audit-layer" / "spool",
                   help="the SDK spool on this machine (default: %(default)s)")
    p.add_argument("--max-lag", type=int, default=Thresholds.max_lag,
                   help="messages behind per stage and topic before it needs a person (default: %(default)s)")
    p.add_argument("--stale-after", type=float, default=Thresholds.stale_after_s,
                   help="seconds links may wait for a checkpoint, or a witness for one (default: %(default)s)")
    p.add_argument("--json", action="store_true", help="one JSON object instead of the table")


def cmd_status(args: argparse.Namespace) -> int:
    from audit_layer_processors.dead_letters import read

    limits = Thresholds(args.max_lag, args.stale_after)
    for folder in args.witness_dir:
        if not folder.is_dir():
            raise UserError(f"--witness-dir {folder} is not a folder")
    check_kafka(args.bootstrap_servers)
    topics = topics_of(args)
    stages = {"enricher": (args.enricher_group, [topics.events]),
              "sequencer": (args.sequencer_group, [topics.enriched]),
              "sink": (args.sink_group, [topics.chained, topics.checkpoints])}
    checks = lag_checks(kafka_lags(args.bootstrap_servers, stages), limits)
    reasons: dict[str, int] = {}
    for letter in read(args.bootstrap_servers, topics.dlq):
        reasons[letter.reason] = reasons.get(letter.reason, 0) + 1
    checks += dead_letter_checks(reasons)
    store = open_store(args)
    checks += tenant_checks(store_tenants(store, args.witness_dir), limits, time.time())
    checks += spool_checks(spool_depths(args.spool_dir))
    attention = sum(c.attention for c in checks)
    if args.json:
        print(json.dumps({"at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"), "attention": attention,
                          "checks": [asdict(c) for c in checks]}))
    else:
        from rich.table import Table

        table = Table(title=f"audit-layer status: {attention} need{'s' if attention == 1 else ''} a person"
                      if attention else "audit-layer status: nothing needs a person")
        for column in ("", "area", "subject", "state", "detail"):
            table.add_column(column)
        for c in checks:
            table.add_row("!" if c.attention else "", c.area, c.subject, c.state, c.detail,
                          style="bold red" if c.attention else None)
        console.print(table)
    return 1 if attention else 0


COMMANDS = {"status": cmd_status}
