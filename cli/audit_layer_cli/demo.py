"""The demo: the whole pipeline on a real broker and the embedded ClickHouse engine.

Each run gets fresh topics (prefix `demo-<run>.`) and resets the events table of its
database, so the counts it checks are exactly the events it sent.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import httpx
from audit_layer_governance.verification import verify_all
from audit_layer_ledger.kafka_anchor import read_checkpoint_topic
from audit_layer_ledger.offline_proof import ProofInvalid
from audit_layer_ledger.offline_proof import verify as offline_verify
from audit_layer_ledger.proofs import build_proof, load_public_keys
from audit_layer_processors.signing import load_signer
from audit_layer_processors.topics_admin import delete_topics, ensure_topics, list_topics
from audit_layer_schemas import Topics
from audit_layer_sdk import AuditConfig, AuditOpenAI, AuditPublisher
from audit_layer_sinks.sink import ClickHouseSink, SinkConfig
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from audit_layer_cli.chain import print_verify
from audit_layer_cli.common import add_clickhouse, add_kafka, check_kafka, console, open_store, positive
from audit_layer_cli.workers import retention_of

log = logging.getLogger("audit_layer.demo")
KEY_DIR = Path("data/keys")
KEY_FILE = KEY_DIR / "checkpoint-ed25519.pem"

TENANTS = [
    ("acme-bank", "loan_underwriting", ["approved", "denied", "referred"]),
    ("northwind-health", "diagnosis_assist", ["suggested", "escalated"]),
    ("globex-hr", "hiring", ["advance", "declined"]),
    ("initech-support", "support_reply", ["answered"]),
    ("umbrella-insurance", "insurance_pricing", ["quoted", "refused"]),
]


def canned_completion(request: httpx.Request) -> httpx.Response:
    """The local stand-in for the provider's HTTP API: a chat completion for every request."""
    body = json.loads(request.content)
    n = int(body.get("seed") or 0)
    finish = "content_filter" if n % 23 == 0 else "length" if n % 17 == 0 else "stop"
    content = None if finish == "content_filter" else f"Assessment #{n}: within policy; see reasoning."
    return httpx.Response(200, json={
        "id": f"chatcmpl-demo-{n}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": body.get("model", "gpt-4o-mini") + "-2026-01-01",
        "choices": [{"index": 0, "finish_reason": finish,
                     "message": {"role": "assistant", "content": content}}],
        "usage": {"prompt_tokens": 40 + n % 50, "completion_tokens": 0 if content is None else 12 + n % 30,
                  "total_tokens": 52 + n % 50 + (0 if content is None else n % 30)},
    })


def _start_worker(name: str, args: argparse.Namespace, prefix: str, logs: Path) -> subprocess.Popen[bytes]:
    cmd = [sys.executable, "-m", "audit_layer_cli.main", "--log-level", "INFO", name,
           "--bootstrap-servers", args.bootstrap_servers, "--topic-prefix", prefix,
           "--group", f"{prefix}{name}"]
    if name == "sequencer":  # enriching too; a short checkpoint interval, so the last events get signed quickly
        cmd += ["--enrich", "--signing-key", str(KEY_FILE), "--checkpoint-seconds", "2"]
    out = open(logs / f"{name}.log", "wb")  # noqa: SIM115 - the child owns it
    return subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=os.environ.copy())


def _progress() -> Progress:
    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                    TimeElapsedColumn(), console=console, transient=False)


def _send(args: argparse.Namespace, topics: Topics) -> AuditPublisher:
    publisher = AuditPublisher(dataclasses.replace(AuditConfig.from_env(), bootstrap_servers=args.bootstrap_servers,
                                                   topic=topics.events))
    http = httpx.Client(transport=httpx.MockTransport(canned_completion))
    tenants = (TENANTS * (args.tenants // len(TENANTS) + 1))[: args.tenants]
    clients = [(AuditOpenAI(tenant_id=f"{t}" if i < len(TENANTS) else f"{t}-{i}", publisher=publisher,
                            api_key="demo-key", base_url="http://llm.local/v1", http_client=http),
                decision, outcomes) for i, (t, decision, outcomes) in enumerate(tenants)]
    with _progress() as progress:
        task = progress.add_task("audited OpenAI calls", total=args.events)
        for n in range(args.events):
            client, decision, outcomes = clients[n % len(clients)]
            client.chat.completions.create(
                model="gpt-4o-mini",
                messages=[{"role": "system", "content": "You assist a regulated decision."},
                          {"role": "user", "content": f"Case {n}: please assess."
                           + (f" Contact: applicant{n}@example.com, +1 415-555-{n % 10000:04d}."
                              if n % 25 == 0 else "")}],
                temperature=0.2, seed=n,
                user_id=f"user-{n % 97}", session_id=f"case-{n // 10}",
                decision_type=decision, decision_outcome=outcomes[(n // len(clients)) % len(outcomes)],
                confidence=round(0.35 + (n % 60) / 100, 2),
                compliance_tags=["SOC2"], metadata={"case": n, "channel": "demo"},
            )
            if n % 100 == 0:
                progress.update(task, completed=n + 1)
        progress.update(task, completed=args.events)
    remaining = publisher.flush(60)
    if remaining:
        console.print(f"[red]{remaining} events not acknowledged by Kafka[/]")
    return publisher


def _summary(store: Any) -> None:
    db = store.database
    rows = store.query(
        f"SELECT tenant_id, count(), countIf(action='ALLOW'), countIf(action='REJECT'), "
        f"countIf(action='FAIL_RETRY'), countIf(risk_level='LOW'), countIf(risk_level='MEDIUM'), "
        f"countIf(risk_level='HIGH'), countIf(risk_level='CRITICAL'), "
        f"arrayStringConcat(arraySort(groupUniqArrayArray(compliance_tags)), ', ') "
        f"FROM {db}.events FINAL GROUP BY tenant_id ORDER BY tenant_id").result_rows
    table = Table(title="events in ClickHouse")
    for column in ("tenant", "events", "ALLOW", "REJECT", "FAIL_RETRY", "LOW", "MEDIUM", "HIGH",
                   "CRITICAL", "compliance tags"):
        table.add_column(column)
    for row in rows:
        table.add_row(*(str(v) for v in row))
    console.print(table)


def cmd_demo(args: argparse.Namespace) -> int:
    check_kafka(args.bootstrap_servers)
    return run_demo(args)


def run_demo(args: argparse.Namespace) -> int:
    run_id = time.strftime("%Y%m%d%H%M%S")
    prefix = f"demo-{run_id}."
    topics = Topics(prefix)
    logs = Path("data") / "demo-logs" / run_id
    # only the topics of this data folder's earlier demo runs (each left its log folder): never another
    # user's demo-* topics on a shared broker
    earlier = {f"demo-{d.name}." for d in logs.parent.iterdir() if d.is_dir()} if logs.parent.is_dir() else set()
    logs.mkdir(parents=True, exist_ok=True)
    old = [t for t in list_topics(args.bootstrap_servers) if any(t.startswith(p) for p in earlier)]
    if old:
        delete_topics(args.bootstrap_servers, old)
    ensure_topics(args.bootstrap_servers, topics, partitions=args.partitions)
    console.print(f"topics: {prefix}* ({args.partitions} partitions); worker logs: {logs}")

    store = open_store(args, serve=True, create=True)
    store.command(f"DROP DATABASE IF EXISTS {store.database}")
    store.migrate()
    console.print(f"ClickHouse: {store.dsn} database {store.database} (reset for this run)")

    signer = load_signer(KEY_FILE if KEY_FILE.exists() else None, create=True)
    console.print(f"checkpoint signing key {signer.key_id} ({KEY_FILE}; public key beside it)")
    # the sequencer enriches in its own transaction (`sequencer --enrich`): no enricher process
    workers = [_start_worker("sequencer", args, prefix, logs)]
    sink = ClickHouseSink(SinkConfig(args.bootstrap_servers, topics, group_id=f"{prefix}sink",
                                     retention=retention_of(None)), store)
    sink_error: list[BaseException] = []

    def _sink() -> None:
        try:
            sink.run()
        except BaseException as exc:
            sink_error.append(exc)
            log.exception("sink stopped")

    sink_thread = threading.Thread(target=_sink, name="sink", daemon=True)
    sink_thread.start()
    try:
        publisher = _send(args, topics)
        stats = publisher.snapshot()
        console.print(f"SDK: emitted {stats.emitted}, delivered {stats.delivered}, failed {stats.failed}, "
                      f"dropped {stats.dropped}")
        loaded = _wait_loaded(args, store, workers, sink_error)
        _wait_signed(store, loaded)
        _summary(store)
        # anchored to the signed checkpoints the sequencer published, up to what the sink loaded
        anchor = read_checkpoint_topic(args.bootstrap_servers, topics.checkpoints, f"{prefix}sink")
        report = verify_all(store, public_keys=load_public_keys(KEY_DIR), anchors=[anchor])
        print_verify(report, as_json=False)
        proof_ok = _show_proof(store)
        distinct = store.query(f"SELECT uniqExact(event_id) FROM {store.database}.events FINAL").result_rows[0][0]
        if loaded != args.events or distinct != args.events:
            console.print(f"[red]FAILED: sent {args.events}, stored {loaded} rows, {distinct} distinct events[/]")
            return 1
        if not report.ok or not proof_ok:
            return 1
        console.print(f"[green]demo OK: {args.events} events from {args.tenants} tenants are in ClickHouse "
                      "and every chain verifies[/]")
        today = time.strftime("%Y-%m-%d", time.gmtime())
        console.print("try:\n  .venv/bin/audit-layer verify\n  .venv/bin/audit-layer query --list\n"
                      "  .venv/bin/audit-layer query \"SELECT risk_level, count() FROM events GROUP BY 1\"\n"
                      f"  .venv/bin/audit-layer report compliance-summary --tenant acme-bank --from {today} "
                      f"--to {today} --format pdf\n"
                      "  .venv/bin/audit-layer report decision-audit EVENT_ID --format html --out decision.html\n"
                      "  .venv/bin/audit-layer report verify compliance-summary-acme-bank-*.pdf\n"
                      "  .venv/bin/audit-layer proof EVENT_ID --out proof.json\n"
                      f"the auditors' console on this run's data (its topics are {prefix}*; the key is printed once):\n"
                      "  .venv/bin/audit-layer keys create --tenant acme-bank --scopes read,reports,review "
                      f"--name auditor --topic-prefix {prefix}\n"
                      f"  .venv/bin/audit-layer api --topic-prefix {prefix}    # then open "
                      "http://127.0.0.1:8000/console")
        return 0
    finally:
        sink.stop()
        sink_thread.join(30)
        for worker in workers:
            worker.terminate()
        for worker in workers:
            try:
                worker.wait(30)
            except subprocess.TimeoutExpired:
                worker.kill()
        store.close()


def _wait_signed(store: Any, loaded: int, timeout: float = 30.0) -> None:
    """Until the last checkpoint of every tenant covers its last event (the sequencer signs every 2 s)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        covered = store.query(f"SELECT sum(m) FROM (SELECT max(last_seq) AS m FROM {store.database}.checkpoints "
                              "FINAL GROUP BY tenant_id)").result_rows[0][0]
        if int(covered or 0) >= loaded:
            return
        time.sleep(0.5)
    console.print("[yellow]not every event is covered by a signed checkpoint yet[/]")


def _show_proof(store: Any) -> bool:
    """One record's inclusion proof, checked the way an auditor would: offline, from the JSON alone."""
    event_id = store.query(f"SELECT toString(event_id) FROM {store.database}.events FINAL "
                           "WHERE tenant_id = 'acme-bank' AND seq = 42").result_rows
    if not event_id:
        return True
    trusted = load_public_keys(KEY_DIR)
    proof = build_proof(store, event_id[0][0], trusted)
    try:
        offline_verify(json.loads(json.dumps(proof)), trusted)
    except ProofInvalid as exc:
        console.print(f"[red]inclusion proof of {event_id[0][0]} failed: {exc}[/]")
        return False
    console.print(f"inclusion proof of acme-bank seq 42 ({event_id[0][0]}): {len(proof['audit_path'])} hashes "
                  f"to the Merkle root signed at seq {proof['checkpoint']['last_seq']} by key "
                  f"{proof['checkpoint']['key_id']}: [green]valid offline[/]")
    return True


def _wait_loaded(args: argparse.Namespace, store: Any, workers: list[subprocess.Popen[bytes]],
                 sink_error: list[BaseException]) -> int:
    deadline = time.monotonic() + args.timeout
    count = 0
    with _progress() as progress:
        task = progress.add_task("events in ClickHouse", total=args.events)
        while time.monotonic() < deadline:
            count = int(store.query(f"SELECT count() FROM {store.database}.events FINAL").result_rows[0][0])
            progress.update(task, completed=count)
            if count >= args.events:
                break
            dead = [w for w in workers if w.poll() is not None]
            if dead or sink_error:
                console.print("[red]a worker stopped; see its log[/]")
                break
            time.sleep(0.5)
    return count


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("demo", help="run the whole pipeline on the embedded defaults",
                       description="Start the workers, send audited OpenAI calls for several tenants "
                                   "through the real openai client (answered locally), wait until every "
                                   "event is in ClickHouse, print a summary and verify every chain.")
    add_kafka(p)
    add_clickhouse(p)
    p.add_argument("--events", type=positive, default=10_000, help="audited calls to send (default: 10000)")
    p.add_argument("--tenants", type=positive, default=3, help="tenants (default: 3)")
    p.add_argument("--partitions", type=positive, default=3, help="partitions per topic (default: 3)")
    p.add_argument("--timeout", type=float, default=300.0, help="seconds to wait for the load (default: 300)")


COMMANDS = {"demo": cmd_demo}
