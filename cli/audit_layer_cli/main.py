"""`audit-layer`: one command for the pipeline's workers, its topics, the demo, verify and query."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from audit_layer_cli import status
from audit_layer_cli.common import (
    UserError,
    add_clickhouse,
    add_kafka,
    date,
    key_name,
    metrics_port_default,
    port,
    positive,
    seconds,
    version_of_build,
)

EPILOG = """environment:
  KAFKA_BOOTSTRAP_SERVERS      Kafka brokers (default 127.0.0.1:9092)
  AUDIT_LAYER_TOPIC_PREFIX     prefix of every topic name (default none)
  AUDIT_LAYER_CLICKHOUSE_DSN   chdb:///path (embedded engine) or http://host:8123 (default chdb://./data/clickhouse)
  AUDIT_LAYER_CLICKHOUSE_CLUSTER  a ClickHouse cluster to replicate the schema over (default: one server)
"""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="audit-layer",
        description="Audit Layer: a tamper-evident audit trail for AI decisions "
                    "(SDK -> Kafka -> enricher -> sequencer -> ClickHouse).",
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"audit-layer {version_of_build()}")
    parser.add_argument("--log-format", default=os.environ.get("AUDIT_LAYER_LOG_FORMAT", "text"),
                        choices=["text", "json"], help="log lines as text, or one JSON object per line "
                                                       "(default: $AUDIT_LAYER_LOG_FORMAT or text)")
    parser.add_argument("--log-level", default=os.environ.get("AUDIT_LAYER_LOG_LEVEL", "INFO"),
                        choices=["DEBUG", "INFO", "WARNING", "ERROR"], help="log verbosity (default: INFO)")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("topics", help="create the pipeline's topics with their settings",
                       description="Create every pipeline topic (audit.chain-heads compacted); "
                                   "existing topics are checked for the same partition count.")
    add_kafka(p)
    p.add_argument("--partitions", type=positive, default=3, help="partitions per topic (default: 3)")
    p.add_argument("--replication-factor", type=positive, default=1, help="(default: 1)")

    p = sub.add_parser("enricher", help="run the enricher worker",
                       description="Validate, enrich and forward raw audit events; bad input goes to the DLQ.")
    add_kafka(p)
    p.add_argument("--metrics-port", type=port, default=metrics_port_default(),
                   help="serve Prometheus /metrics and /healthz on this port (default: $AUDIT_LAYER_METRICS_PORT, "
                        "else none)")
    p.add_argument("--group", default="audit-enricher", help="consumer group (the faust app id with --runtime faust)")
    p.add_argument("--runtime", choices=("batch", "faust"), default="batch",
                   help="batch: confluent-kafka in batches (default, several times faster per event); "
                        "faust: faust-streaming. The same step and guarantees (at-least-once)")
    p.add_argument("--dlq-max", type=positive, default=1000,
                   help="stop when more than this many messages are dead-lettered in the window (default: 1000)")
    p.add_argument("--dlq-window", type=float, default=60.0, help="DLQ limit window in seconds (default: 60)")
    p.add_argument("--policy", type=Path, default=None,
                   help="enrichment policy YAML (default: the shipped default_policy.yaml; see processors/README.md)")

    p = sub.add_parser("sequencer", help="run the sequencer worker (Kafka transactions)",
                       description="Chain enriched events per tenant, exactly once.")
    add_kafka(p)
    p.add_argument("--metrics-port", type=port, default=metrics_port_default(),
                   help="serve Prometheus /metrics and /healthz on this port (default: $AUDIT_LAYER_METRICS_PORT, "
                        "else none)")
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

    p = sub.add_parser("keys", help="API keys (create, list, revoke) and checkpoint signing keys (generate, show)",
                       description="API keys authenticate REST API callers: each belongs to one organisation "
                                   "(tenant) and has scopes; only a hash of the secret is stored. Checkpoint signing "
                                   "keys are Ed25519; their key id is the first 8 bytes of SHA-256 of the raw public "
                                   "key; hand the public keys to auditors and witnesses.",
                       epilog="examples:\n  audit-layer keys create --tenant acme --scopes ingest,read --name billing\n"
                              "  audit-layer keys list --tenant acme\n  audit-layer keys revoke 3f9a0c12d4e5\n"
                              "  audit-layer keys show\n  audit-layer keys generate --key witness.pem",
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    keys = p.add_subparsers(dest="key_action", required=True, metavar="ACTION")
    k = keys.add_parser("create", help="a new API key (the secret is printed once)")
    add_clickhouse(k)
    add_kafka(k)
    k.add_argument("--tenant", required=True, help="the organisation the key belongs to")
    k.add_argument("--scopes", required=True, help="comma-separated: ingest, read, reports, review, pii, admin")
    k.add_argument("--name", default="", help="what the key is for (shown in listings and access records)")
    k.add_argument("--rate-limit", type=seconds, default=50.0, help="requests per second (default: 50; bursts of 2 s)")
    k.add_argument("--by", default=os.environ.get("USER", "unknown"), help="who creates it (default: $USER)")
    k = keys.add_parser("list", help="list API keys (never their secrets)")
    add_clickhouse(k)
    k.add_argument("--tenant", help="one organisation only")
    k = keys.add_parser("revoke", help="revoke an API key (effective within 5 s)")
    add_clickhouse(k)
    add_kafka(k)
    k.add_argument("key_id", help="the 12-hex key id (from `keys list`)")
    k.add_argument("--by", default=os.environ.get("USER", "unknown"), help="who revokes it (default: $USER)")
    for action, text in (("generate", "generate a new checkpoint signing key"),
                         ("show", "show a checkpoint signing key's id and public key")):
        k = keys.add_parser(action, help=text)
        k.add_argument("--key", type=Path, default=None,
                       help="private key file (default: data/keys/checkpoint-ed25519.pem)")

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
    p.add_argument("--metrics-port", type=port, default=metrics_port_default(),
                   help="serve Prometheus /metrics and /healthz on this port (default: $AUDIT_LAYER_METRICS_PORT, "
                        "else none)")
    add_clickhouse(p)
    p.add_argument("--group", default="audit-sink", help="consumer group")
    p.add_argument("--batch-rows", type=positive, default=20_000, help="rows per insert (default: 20000)")
    p.add_argument("--batch-seconds", type=float, default=1.0, help="max batch age (default: 1.0)")
    p.add_argument("--policy", type=Path, default=None,
                   help="the enrichment policy YAML whose retention classes set how long rows are kept "
                        "(default: the shipped default policy)")

    p = sub.add_parser("migrate", help="create or upgrade the ClickHouse schema")
    add_clickhouse(p)

    p = sub.add_parser("verify", help="recompute every tenant's hash chain from ClickHouse, against anchors outside it",
                       description="Recompute every chain, find rows stored twice or read two ways, and hold the "
                                   "store against signed checkpoints kept outside it: the audit.checkpoints topic "
                                   "(up to what the sink has loaded) and witnesses' state folders. Trust comes "
                                   "only from the public keys given here. Exit 0 when everything verifies; 1 with "
                                   "each finding (tenant, seq, problem).",
                       epilog="A store that lost a tenant, its checkpoints or the tail of a chain is consistent "
                              "with itself: only an anchor shows it. Without any, the result says UNANCHORED; "
                              "--require-anchor makes that a failure.")
    add_clickhouse(p)
    add_kafka(p)
    p.add_argument("--tenant", help="verify one tenant only")
    p.add_argument("--public-keys", type=Path, default=Path("data/keys"),
                   help="trusted checkpoint public keys: a .pub file or a folder of them, out of the engine's "
                        "reach (default: data/keys); $AUDIT_LAYER_TRUSTED_KEYS adds base64 keys, comma-separated")
    p.add_argument("--witness-state", type=Path, action="append", default=[], metavar="DIR",
                   help="a witness's state folder to anchor to (repeatable)")
    p.add_argument("--no-kafka-anchor", dest="kafka_anchor", action="store_false",
                   help="do not read the audit.checkpoints topic")
    p.add_argument("--sink-group", default="audit-sink",
                   help="consumer group of the sink, whose committed offsets say which checkpoints are loaded "
                        "(default: %(default)s)")
    p.add_argument("--anchor-timeout", type=seconds, default=15.0,
                   help="seconds to read the checkpoints topic (default: 15)")
    p.add_argument("--require-anchor", action="store_true", help="fail when no anchor could be read")
    p.add_argument("--policy", type=Path, default=None,
                   help="the enrichment policy the sink runs with, whose retention classes each row's retention_days "
                        "must match (default: the shipped default policy)")
    p.add_argument("--json", action="store_true", help="print the result as JSON")

    p = sub.add_parser("proof", help="write a self-contained inclusion proof for one event",
                       description="The record's link bytes and the record they decode to, its Merkle audit path "
                                   "and the signed checkpoint that covers it. Check it offline with the operator's "
                                   "published key (never one inside the proof): `python -m "
                                   "audit_layer_ledger.offline_proof FILE --trusted-key data/keys/KEY.pub`.")
    add_clickhouse(p)
    p.add_argument("event_id", help="the event's id (UUID)")
    p.add_argument("--public-keys", type=Path, default=Path("data/keys"),
                   help="where the checkpoint public keys are (default: data/keys)")
    p.add_argument("--out", type=Path, default=None, help="write the proof here (default: stdout)")

    p = sub.add_parser("erase", help="erase a data subject's prompts and responses (chains stay valid)",
                       description="Removes the prompt, response and content salt of every record of a user or "
                                   "a session of one tenant, and records the erasure itself as an audit event. "
                                   "Chains, checkpoints and proofs still verify. Content in Kafka topics is "
                                   "gone when their retention passes (7 days by default).")
    add_kafka(p)
    add_clickhouse(p)
    p.add_argument("--tenant", required=True, help="the tenant (organization) id")
    who = p.add_mutually_exclusive_group(required=True)
    who.add_argument("--user", help="the data subject's user id")
    who.add_argument("--session", help="a session id")
    p.add_argument("--requested-by", default=os.environ.get("USER", "unknown"),
                   help="who asked for the erasure, recorded in its audit event (default: $USER)")
    p.add_argument("--reason", default="data subject request", help="recorded in the audit event")

    p = sub.add_parser("checkpoints", help="hand a tenant its signed checkpoints (JSON lines)",
                       description="Every signed checkpoint of one tenant, newest last, as JSON lines; give them "
                                   "to the tenant or a witness so they leave the operator's hands.")
    add_clickhouse(p)
    p.add_argument("--tenant", required=True)
    p.add_argument("--after-seq", type=int, default=0, help="only checkpoints beyond this seq")

    p = sub.add_parser("consistency", help="RFC 6962 consistency proof between two tree sizes of a tenant",
                       description="Proves the tenant's log at size FIRST is a prefix of the log at size SECOND.")
    add_clickhouse(p)
    p.add_argument("--tenant", required=True)
    p.add_argument("first", type=int)
    p.add_argument("second", type=int)

    p = sub.add_parser("witness", help="check, countersign and keep a tenant's new checkpoints; alarm on a fork",
                       description="Run by a tenant or a third party with its own key: checks that what it "
                                   "countersigned before is still in the log (no rollback, no deleted or second "
                                   "checkpoint of a size it saw), then that each new checkpoint extends the last "
                                   "one (consistency proof), countersigns it and keeps it in --state, a folder of "
                                   "its own outside the log's data. Exit 3 and ALARM-<tenant>.json on any failure. "
                                   "`audit-layer verify --witness-state DIR` anchors to that folder.")
    add_clickhouse(p)
    p.add_argument("--tenant", required=True)
    p.add_argument("--key", type=Path, required=True, help="the witness's own Ed25519 private key (PEM); "
                   "make one with `audit-layer keys generate --key FILE`")
    p.add_argument("--operator-keys", type=Path, default=Path("data/keys"),
                   help="the operator's checkpoint public keys (.pub file or folder; default: data/keys)")
    p.add_argument("--name", type=key_name, default="witness.audit-layer.local",
                   help="the witness's key name in its C2SP cosignatures (default: %(default)s)")
    p.add_argument("--state", type=Path, default=Path.home() / ".local/state/audit-layer/witness",
                   help="the witness's own store, outside the log's data folder (default: %(default)s)")

    p = sub.add_parser("witness-serve", help="run the witness as a C2SP tlog-witness HTTP service",
                       description="Serve POST /add-checkpoint (c2sp.org/tlog-witness) for the logs "
                                   "<log name>/<tenant> signed by the operator's keys: check each checkpoint's "
                                   "signature and its consistency with what this witness cosigned, cosign it "
                                   "(tlog-cosignature/v1) and "
                                   "keep it in --state. Any operator, or `audit-layer witness-submit`, can feed it.")
    p.add_argument("--key", type=Path, required=True, help="the witness's own Ed25519 private key (PEM)")
    p.add_argument("--name", type=key_name, default="witness.audit-layer.local",
                   help="the witness's key name in its cosignatures (default: %(default)s)")
    p.add_argument("--operator-keys", type=Path, default=Path("data/keys"),
                   help="the operator's checkpoint public keys (.pub file or folder; default: data/keys)")
    p.add_argument("--log-name", type=key_name, default=os.environ.get("AUDIT_LAYER_LOG_NAME", "audit-layer.local"),
                   help="the operator's log name: origins <name>/<tenant> are witnessed (default: %(default)s)")
    p.add_argument("--state", type=Path, default=Path.home() / ".local/state/audit-layer/witness",
                   help="the witness's own store, outside the log's data folder (default: %(default)s)")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default: %(default)s)")
    p.add_argument("--port", type=positive, default=7380, help="port (default: %(default)s)")

    p = sub.add_parser("witness-submit", help="feed a tenant's checkpoints to a C2SP tlog-witness (e.g. litewitness)",
                       description="Send the tenant's signed checkpoints, oldest first, each with the consistency "
                                   "proof from the size the witness last cosigned, to a witness speaking "
                                   "c2sp.org/tlog-witness (add-checkpoint), and print its cosignature lines. Exit 3 "
                                   "when the witness holds a larger tree than the log (rollback) or refuses a "
                                   "checkpoint that does not extend what it cosigned (fork).")
    add_clickhouse(p)
    p.add_argument("--tenant", required=True)
    p.add_argument("--url", required=True, help="the witness's base URL (its /add-checkpoint is called)")

    p = sub.add_parser("query", help="run a named query (or any SQL) and print a table",
                       description="Run one of the documented named queries "
                                   "(governance/audit_layer_governance/queries/*.sql) "
                                   "with typed parameters, or any SQL. Works while the pipeline runs, also on the "
                                   "embedded engine (through the process that owns it).",
                       epilog="examples:\n  audit-layer query --list\n"
                              "  audit-layer query decisions_by_outcome --param tenant=acme "
                              "--param from_date=2026-11-01 --param to_date=2026-11-30\n"
                              "  audit-layer query \"SELECT tenant_id, count() FROM events GROUP BY 1\"",
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    add_clickhouse(p)
    p.add_argument("query", nargs="?", help="a named query, or SQL (tables of the --database)")
    p.add_argument("--param", action="append", default=[], metavar="NAME=VALUE",
                   help="a parameter of the named query (repeat for each)")
    p.add_argument("--list", action="store_true", help="list the named queries and their parameters")
    p.add_argument("--json", action="store_true", help="print rows as JSON lines")

    p = sub.add_parser("report", help="report jobs: decision-audit, compliance-summary (json, csv, html, pdf)",
                       description="Reports an auditor signs. html and pdf carry the same charts; json and csv the "
                                   "same figures. Works while the pipeline runs.")
    reports = p.add_subparsers(dest="report_type", required=True, metavar="REPORT")
    r = reports.add_parser("decision-audit", help="one decision: record, enrichment reasons, chain position, proof")
    r.add_argument("event_id", help="the event's id (UUID)")
    r.add_argument("--public-keys", type=Path, default=Path("data/keys"),
                   help="trusted checkpoint public keys for the inclusion proof (default: data/keys)")
    r = reports.add_parser("compliance-summary", help="one tenant over a period, with charts")
    r.add_argument("--tenant", required=True)
    r.add_argument("--from", dest="start", required=True, type=date, help="first day, YYYY-MM-DD (UTC)")
    r.add_argument("--to", dest="end", required=True, type=date, help="last day, YYYY-MM-DD (UTC), inclusive")
    r.add_argument("--verify", action=argparse.BooleanOptionalAction, default=True,
                   help="verify the tenant's chain for this report (default); --no-verify cites the last recorded "
                        "verification, marked as not re-checked")
    r.add_argument("--public-keys", type=Path, default=Path("data/keys"),
                   help="trusted checkpoint public keys, for the verification (default: data/keys)")
    for r in reports.choices.values():
        add_clickhouse(r)
        r.add_argument("--format", choices=["json", "csv", "html", "pdf"], default="json",
                       help="output format (default: json)")
        r.add_argument("--out", type=Path, default=None,
                       help="write here (default: stdout; a pdf goes to a file named after the report)")
        r.add_argument("--report-key", type=Path, default=None,
                       help="the Ed25519 key that signs pdf reports (default: $AUDIT_LAYER_REPORT_KEY, else "
                            "data/report-keys/report-ed25519.pem, made on first use with its .pub beside it)")
    r = reports.add_parser("verify", help="check a pdf report's signature against the published report keys",
                           description="A pdf report is PAdES-signed with the operator's report key. This checks "
                                       "that the signature is intact, covers every byte of the file, and was made "
                                       "by a published key. Exit 0 when it holds, 1 when it does not.")
    r.add_argument("file", type=Path, help="the pdf report")
    r.add_argument("--keys", type=Path, default=Path("data/report-keys"),
                   help="the published report public keys: a .pub file or a folder of them "
                        "(default: data/report-keys)")

    p = sub.add_parser("dlq", help="the dead-letter topic: list, show and replay what the enricher refused",
                       description="What the enricher could not take (undecodable bytes, invalid events, "
                                   "oversized payloads) waits on the dead-letter topic with its reason. List it, "
                                   "look at one message, and replay chosen ones to the topic they came from once "
                                   "the cause is fixed (a new policy, a fixed producer). Reading changes nothing; "
                                   "a replayed event already chained is dropped by the sequencer.")
    dlq = p.add_subparsers(dest="dlq_action", required=True, metavar="ACTION")
    d = dlq.add_parser("list", help="every dead letter: where, why, when")
    d.add_argument("--reason", help="only this reason (e.g. invalid_event)")
    d.add_argument("--json", action="store_true", help="JSON lines")
    d = dlq.add_parser("show", help="one dead letter in full (its bytes as base64)")
    d.add_argument("ref", help="PARTITION:OFFSET, as `dlq list` shows it")
    d = dlq.add_parser("replay", help="send dead letters back to the topic they came from")
    d.add_argument("refs", nargs="*", metavar="PARTITION:OFFSET", help="the dead letters to replay")
    d.add_argument("--reason", help="every dead letter of this reason")
    d.add_argument("--dry-run", action="store_true", help="say what would be replayed, send nothing")
    for d in dlq.choices.values():
        add_kafka(d)

    p = sub.add_parser("hold", help="legal holds: keep records past their retention until lifted",
                       description="A legal hold keeps every record of a tenant, a user or a session whatever its "
                                   "retention. Setting and lifting are themselves recorded as audit events.")
    hold = p.add_subparsers(dest="hold_action", required=True, metavar="ACTION")
    h = hold.add_parser("set", help="place a hold")
    add_kafka(h)
    add_clickhouse(h)
    h.add_argument("--tenant", required=True)
    who = h.add_mutually_exclusive_group()
    who.add_argument("--user", help="hold one user's records (default: the whole tenant)")
    who.add_argument("--session", help="hold one session's records")
    h.add_argument("--reason", required=True, help="e.g. the matter or case number; recorded")
    h.add_argument("--by", default=os.environ.get("USER", "unknown"), help="who places it (default: $USER)")
    h = hold.add_parser("lift", help="lift a hold by its id")
    add_kafka(h)
    add_clickhouse(h)
    h.add_argument("hold_id")
    h.add_argument("--by", default=os.environ.get("USER", "unknown"), help="who lifts it (default: $USER)")
    h = hold.add_parser("list", help="list the active holds")
    add_clickhouse(h)
    h.add_argument("--tenant", help="one tenant only")

    status.register(sub)

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
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from audit_layer_cli.logs import configure

    configure(args.log_level, args.log_format)
    logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per request drowns the output
    # a refused ClickHouse connection is said once, in the error below, not as retry warnings first
    for noisy in ("urllib3.connectionpool", "clickhouse_connect.driver._backend.http_sync"):
        logging.getLogger(noisy).setLevel(logging.ERROR)
    # fpdf2's font subsetting logs a line per table of every embedded font (250 for one report)
    logging.getLogger("fontTools").setLevel(logging.WARNING)
    from audit_layer_cli import commands

    name = f"cmd_{args.command.replace('-', '_')}"
    if hasattr(args, "handler"):  # a command group that registers its own parser and handler
        handler = args.handler
    elif args.command == "demo":  # the demo builds on the commands: it is not one of them
        from audit_layer_cli import demo

        handler = demo.cmd_demo
    else:
        handler = getattr(commands, name)
    try:
        return int(handler(args))
    except KeyboardInterrupt:
        return 130
    except UserError as exc:
        print(f"audit-layer {args.command}: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
