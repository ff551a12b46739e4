"""The pipeline's processes and their topics: topics, enricher, sequencer, sink, migrate, and the API
and console servers."""

from __future__ import annotations

import argparse
import os
import signal
from collections.abc import Callable
from pathlib import Path
from typing import Any

from audit_layer_cli.common import (
    UserError,
    add_clickhouse,
    add_kafka,
    add_metrics_port,
    check_kafka,
    console,
    key_name,
    open_store,
    positive,
    seconds,
    topics_of,
)


def cmd_topics(args: argparse.Namespace) -> int:
    from audit_layer_processors.topics_admin import TopicMismatch, ensure_topics

    check_kafka(args.bootstrap_servers)
    try:
        created = ensure_topics(args.bootstrap_servers, topics_of(args), partitions=args.partitions,
                                replication_factor=args.replication_factor)
    except TopicMismatch as exc:
        raise UserError(str(exc)) from None
    for name in topics_of(args).all():
        console.print(f"{'created ' if name in created else 'exists  '} {name}")
    return 0


def needing_topics(start: Callable[[], int]) -> int:
    """Run a worker; topics that do not exist are the user's to create, said without a traceback."""
    from audit_layer_schemas.kafka_clients import TopicMissing

    try:
        return start()
    except TopicMissing as exc:
        raise UserError(str(exc)) from None


def policy_of(path: Any) -> Any:
    """The enrichment policy (default: the shipped one); a bad file is the user's to fix."""
    from audit_layer_processors.policy import PolicyError, load_policy

    try:
        return load_policy(path)
    except PolicyError as exc:
        raise UserError(str(exc)) from None


def cmd_enricher(args: argparse.Namespace) -> int:
    from audit_layer_processors.dlq import DlqPolicy

    policy = policy_of(args.policy)
    check_kafka(args.bootstrap_servers)
    dlq = DlqPolicy(args.dlq_max, args.dlq_window)
    if args.runtime == "faust":
        try:
            from audit_layer_processors.enricher_faust import run as run_faust
        except ImportError as exc:
            raise UserError(f"the faust runtime is an extra ({exc.name} is not installed): "
                            "pip install 'audit-layer[faust]', or use the default --runtime batch") from None

        return needing_topics(lambda: run_faust(args.bootstrap_servers, topics_of(args), group_id=args.group,
                                                dlq_policy=dlq, policy=policy, loglevel=args.log_level))
    from audit_layer_processors.enricher_batch import BatchEnricherConfig
    from audit_layer_processors.enricher_batch import run as run_batch

    return needing_topics(lambda: run_batch(BatchEnricherConfig(args.bootstrap_servers, topics_of(args),
                                                                group_id=args.group, dlq=dlq,
                                                                metrics_port=args.metrics_port), policy))


def cmd_sequencer(args: argparse.Namespace) -> int:
    from audit_layer_processors.chain_state import CheckpointPolicy, DedupPolicy, Signer
    from audit_layer_processors.dlq import DlqPolicy
    from audit_layer_processors.sequencer import SequencerConfig, run
    from audit_layer_processors.signing import SigningKeyError, load_signer

    check_kafka(args.bootstrap_servers)
    try:
        key = load_signer(args.signing_key, create=True)
    except SigningKeyError as exc:
        raise UserError(str(exc)) from None
    config = SequencerConfig(args.bootstrap_servers, topics_of(args), group_id=args.group,
                             instance_id=args.instance_id, dedup=DedupPolicy(args.dedup_window),
                             checkpoints=CheckpointPolicy(args.checkpoint_every, args.checkpoint_seconds),
                             restore_check_window=args.restore_tail, metrics_port=args.metrics_port,
                             dlq=DlqPolicy(args.dlq_max, args.dlq_window),
                             enrich=policy_of(args.policy) if args.enrich else None)
    return needing_topics(lambda: run(config, Signer(key.key_id, key.sign, args.log_name, key.sign_note)))


def retention_of(policy_path: Any) -> Any:
    """The sink keeps rows as long as the enrichment policy's retention classes say."""
    from audit_layer_governance.retention import policy_retention

    return policy_retention(policy_of(policy_path))


def cmd_sink(args: argparse.Namespace) -> int:
    from audit_layer_sinks.sink import BatchPolicy, ClickHouseSink, SinkConfig

    retention = retention_of(args.policy)
    check_kafka(args.bootstrap_servers)
    store = open_store(args, serve=True, create=True)
    sink = ClickHouseSink(SinkConfig(args.bootstrap_servers, topics_of(args), group_id=args.group,
                                     batch=BatchPolicy(args.batch_rows, args.batch_seconds),
                                     retention=retention, metrics_port=args.metrics_port), store)
    signal.signal(signal.SIGTERM, lambda *_: sink.stop())
    signal.signal(signal.SIGINT, lambda *_: sink.stop())
    def load() -> int:
        sink.run()
        return 0

    try:
        return needing_topics(load)
    finally:
        store.close()


def cmd_migrate(args: argparse.Namespace) -> int:
    store = open_store(args, create=True)
    applied = store.migrate()
    console.print(f"applied: {', '.join(applied)}" if applied else "schema is up to date")
    return 0


def _console_secret() -> bytes | None:
    """$AUDIT_LAYER_CONSOLE_SECRET (hex or text): console sessions survive a restart; else random."""
    value = os.environ.get("AUDIT_LAYER_CONSOLE_SECRET", "")
    return value.encode() if value else None


def cmd_api(args: argparse.Namespace) -> int:
    from audit_layer_api.server import serve
    from audit_layer_api.service import ApiSettings

    settings = ApiSettings(args.bootstrap_servers, topics_of(args), public_keys=args.public_keys,
                           report_key=args.report_key, max_body_bytes=args.max_body_bytes,
                           backend_timeout_s=args.backend_timeout, verify_timeout_s=args.verify_timeout,
                           workers=args.workers, read_only=args.command == "console",
                           console_secret=_console_secret(), witness_dirs=tuple(args.witness_dir))
    check_kafka(args.bootstrap_servers)
    store = open_store(args, serve=True, create=True)
    try:
        store.migrate()
        serve(settings, store, host=args.host, port=args.port, access_log=args.access_log,
              log_level=args.log_level)
    finally:
        store.close()
    return 0


cmd_console = cmd_api  # the same server, read-only (args.command == "console")


def add_enrichment(p: argparse.ArgumentParser) -> None:
    """The enrichment's settings: the enricher's, and the sequencer's with --enrich."""
    p.add_argument("--dlq-max", type=positive, default=1000,
                   help="stop when more than this many messages are dead-lettered in the window (default: 1000)")
    p.add_argument("--dlq-window", type=float, default=60.0, help="DLQ limit window in seconds (default: 60)")
    p.add_argument("--policy", type=Path, default=None,
                   help="enrichment policy YAML (default: the shipped default_policy.yaml; see processors/README.md)")


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("topics", help="create the pipeline's topics with their settings",
                       description="Create every pipeline topic (audit.chain-heads compacted); "
                                   "existing topics are checked for the same partition count.")
    add_kafka(p)
    p.add_argument("--partitions", type=positive, default=3, help="partitions per topic (default: 3)")
    p.add_argument("--replication-factor", type=positive, default=1, help="(default: 1)")

    p = sub.add_parser("enricher", help="run the enricher worker",
                       description="Validate, enrich and forward raw audit events; bad input goes to the DLQ.")
    add_kafka(p)
    add_metrics_port(p)
    p.add_argument("--group", default="audit-enricher", help="consumer group (the faust app id with --runtime faust)")
    p.add_argument("--runtime", choices=("batch", "faust"), default="batch",
                   help="batch: confluent-kafka in batches (default, several times faster per event); "
                        "faust: faust-streaming. The same step and guarantees (at-least-once)")
    add_enrichment(p)

    p = sub.add_parser("sequencer", help="run the sequencer worker (Kafka transactions)",
                       description="Chain enriched events per tenant, exactly once. With --enrich it reads the "
                                   "raw events and enriches them in the same transaction, and no enricher runs.")
    add_kafka(p)
    add_metrics_port(p)
    p.add_argument("--enrich", action="store_true",
                   help="read audit.events and enrich in the sequencer's transaction (one Kafka crossing fewer "
                        "than enricher + sequencer; bad input to the DLQ as the enricher does). Run no enricher "
                        "with it; every sequencer of a deployment either enriches or does not")
    add_enrichment(p)
    p.add_argument("--group", default="audit-sequencer", help="consumer group")
    p.add_argument("--instance-id", default=os.environ.get("AUDIT_LAYER_INSTANCE_ID", "0"),
                   help="stable id of this process; part of its transactional.id (default: 0)")
    p.add_argument("--dedup-window", type=positive, default=2000,
                   help="recent event ids remembered per tenant to drop duplicates (default: 2000); after a "
                        "restart, those among the chained events the restore replays")
    p.add_argument("--restore-tail", type=positive, default=10_000,
                   help="on taking a partition, replay at least its last N chained events over the chain heads "
                        "(further back when a tenant's links since its last checkpoint begin earlier) and check "
                        "its last N checkpoints (default: 10000)")
    p.add_argument("--signing-key", type=Path, default=None,
                   help="Ed25519 private key (PEM) that signs checkpoints (default: $AUDIT_LAYER_SIGNING_KEY, "
                        "else data/keys/checkpoint-ed25519.pem, generated on first use)")
    p.add_argument("--log-name", type=key_name, default=os.environ.get("AUDIT_LAYER_LOG_NAME", "audit-layer.local"),
                   help="the signed-note key name of the checkpoints and the prefix of each tenant's log origin "
                        "(<name>/<tenant>), e.g. your domain (default: $AUDIT_LAYER_LOG_NAME or %(default)s)")
    p.add_argument("--checkpoint-every", type=positive, default=1000,
                   help="signed checkpoint per tenant every N events (default: 1000)")
    p.add_argument("--checkpoint-seconds", type=float, default=10.0,
                   help="... or every T seconds when events are pending (default: 10)")

    for name in ("api", "console"):
        if name == "api":
            p = sub.add_parser("api", help="run the REST API (FastAPI) and the auditors' web console on HTTP",
                               description="Serve ingest, search, records, reviews, reports and chain verification "
                                           "under /v1, authenticated by API keys (`audit-layer keys create`), and the "
                                           "web console under /console (sign in with a key of the `read` scope). "
                                           "OpenAPI at /openapi.json, interactive docs at /docs (served offline).")
        else:
            p = sub.add_parser("console", help="run the auditors' web console alone, read-only",
                               description="The web console (/console) and the read routes of the API, for a "
                                           "read-only deployment: no ingest, no reviews, no key administration. "
                                           "Every page view is still recorded in the reader's chain, so Kafka is "
                                           "needed.")
        add_kafka(p)
        add_clickhouse(p)
        p.add_argument("--host", default="127.0.0.1", help="address to listen on (default: %(default)s)")
        p.add_argument("--port", type=positive, default=8000 if name == "api" else 8080,
                       help="port (default: %(default)s)")
        p.add_argument("--public-keys", type=Path, default=Path("data/keys"),
                       help="trusted checkpoint public keys, for proofs and verification (default: data/keys)")
        p.add_argument("--report-key", type=Path, default=None,
                       help="the Ed25519 key that signs pdf reports (default: $AUDIT_LAYER_REPORT_KEY, else "
                            "data/report-keys/report-ed25519.pem, made on first use)")
        p.add_argument("--max-body-bytes", type=positive, default=8 * 1024 * 1024,
                       help="largest request body accepted (default: 8 MiB)")
        p.add_argument("--backend-timeout", type=seconds, default=10.0,
                       help="seconds a request waits for ClickHouse or Kafka (default: 10)")
        p.add_argument("--verify-timeout", type=seconds, default=120.0,
                       help="seconds GET /v1/chain/verify may take (default: 120)")
        p.add_argument("--workers", type=positive, default=1,
                       help="processes serving the port (default: 1); on the embedded engine they reach it "
                            "through this process, which owns it")
        p.add_argument("--access-log", action="store_true", help="log one line per request")
        p.add_argument("--witness-dir", type=Path, action="append", default=[],
                       help="a witness's state folder (`audit-layer witness --state`); the console shows its "
                            "cosignatures (repeat for each witness)")

    p = sub.add_parser("sink", help="run the ClickHouse sink",
                       description="Load chained events into ClickHouse exactly once.")
    add_kafka(p)
    add_metrics_port(p)
    add_clickhouse(p)
    p.add_argument("--group", default="audit-sink", help="consumer group")
    p.add_argument("--batch-rows", type=positive, default=20_000, help="rows per insert (default: 20000)")
    p.add_argument("--batch-seconds", type=seconds, default=0.1,
                   help="max batch age: how long a row may wait for its insert (default: 0.1; more: fewer, "
                        "larger inserts)")
    p.add_argument("--policy", type=Path, default=None,
                   help="the enrichment policy YAML whose retention classes set how long rows are kept "
                        "(default: the shipped default policy)")

    p = sub.add_parser("migrate", help="create or upgrade the ClickHouse schema")
    add_clickhouse(p)


COMMANDS = {
    "topics": cmd_topics,
    "enricher": cmd_enricher,
    "sequencer": cmd_sequencer,
    "api": cmd_api,
    "console": cmd_console,
    "sink": cmd_sink,
    "migrate": cmd_migrate,
}
