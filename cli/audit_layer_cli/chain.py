"""The chain's evidence: verify, proofs, checkpoints, consistency proofs and witnesses."""

from __future__ import annotations

import argparse
import base64
import os
import signal
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from audit_layer_cli.common import (
    UserError,
    add_clickhouse,
    add_kafka,
    console,
    key_name,
    open_store,
    positive,
    require_tenant,
    seconds,
    topics_of,
    writable_out,
)
from audit_layer_cli.workers import retention_of


def cmd_proof(args: argparse.Namespace) -> int:
    from audit_layer_ledger.proofs import ProofError, build_proof, load_public_keys

    from audit_layer_cli.output import dumps

    writable_out(args.out)
    store = open_store(args)
    try:
        proof = build_proof(store, args.event_id, load_public_keys(args.public_keys))
    except ProofError as exc:
        raise UserError(str(exc)) from None
    text = dumps(proof)
    if args.out:
        args.out.write_text(text + "\n")
        console.print(f"wrote {args.out}")
    else:
        print(text)
    return 0


def print_verify(report: Any, as_json: bool) -> None:
    from audit_layer_cli.output import dumps

    anchors = report.anchors
    if as_json:
        print(dumps({
            "ok": report.ok,
            "links": report.links,
            "checkpoints": report.checkpoints,
            "anchors": {"unanchored": anchors.unanchored, "sources": list(anchors.sources),
                        "checkpoints": anchors.checkpoints},
            "identical_twins": report.identical_twins,
            "findings": [vars(f) for f in report.findings],
            "tenants": [{"tenant_id": t.tenant_id, "links": t.links, "last_seq": t.last_seq,
                         "checkpoints_verified": t.checkpoints_verified,
                         "head": t.head.hex(),
                         "finding": None if t.first_finding is None else vars(t.first_finding)}
                        for t in report.tenants.values()],
        }))
        return
    by_tenant: dict[str, list[Any]] = {}
    for f in report.findings:
        by_tenant.setdefault(f.tenant_id, []).append(f)
    table = Table(title="chain verification")
    for column in ("tenant", "links", "verified to seq", "signed checkpoints", "result"):
        table.add_column(column)
    for t in report.tenants.values():
        found = by_tenant.get(t.tenant_id, [])
        result = ("[green]ok[/]" if not found else f"[red]{found[0].problem} at seq {found[0].seq}[/]: "
                  f"{found[0].detail}" + (f" (+{len(found) - 1} more)" if len(found) > 1 else ""))
        table.add_row(t.tenant_id, str(t.links), str(t.last_seq), str(t.checkpoints_verified), result)
    console.print(table)
    if anchors.unanchored:
        console.print("[yellow]UNANCHORED[/]: no signed checkpoint from outside the database was read, so a "
                      "tenant, checkpoints or a chain's tail deleted from ClickHouse would go unseen")
    else:
        console.print(f"anchored by {'; '.join(anchors.sources)}: {anchors.checkpoints} signed checkpoints")
    if report.identical_twins:
        console.print(f"{report.identical_twins} rows are stored twice with the same content (benign)")
    if report.ok:
        console.print(f"[green]verified {report.links} links and {report.checkpoints} signed checkpoints "
                      f"in {len(report.tenants)} chains[/]")
    else:
        for f in report.findings:
            console.print(f"[red]FAILED[/] tenant {f.tenant_id} seq {f.seq}: {f.problem}")


def trusted_public_keys(path: Path) -> dict[str, bytes]:
    """Keys pinned by whoever verifies: a .pub file or folder, and $AUDIT_LAYER_TRUSTED_KEYS."""
    from audit_layer_ledger.proofs import load_public_keys
    from audit_layer_schemas.checkpoint import key_id

    keys = load_public_keys(path)
    for text in filter(None, (k.strip() for k in os.environ.get("AUDIT_LAYER_TRUSTED_KEYS", "").split(","))):
        try:
            raw = base64.b64decode(text, validate=True)
        except ValueError:
            raise UserError(f"AUDIT_LAYER_TRUSTED_KEYS: {text[:12]}... is not base64") from None
        if len(raw) != 32:
            raise UserError("AUDIT_LAYER_TRUSTED_KEYS holds a key that is not 32 bytes (raw Ed25519, base64)")
        keys[key_id(raw)] = raw
    return keys


def read_anchors(args: argparse.Namespace) -> list[Any]:
    from audit_layer_ledger.anchors import from_witness_state
    from audit_layer_ledger.kafka_anchor import AnchorUnavailable, read_checkpoint_topic

    anchors = []
    for folder in args.witness_state:
        try:
            anchors.append(from_witness_state(folder))
        except (OSError, ValueError, KeyError) as exc:
            raise UserError(f"cannot read witness state {folder}: {exc}") from None
    if args.kafka_anchor:
        try:
            anchors.append(read_checkpoint_topic(args.bootstrap_servers, topics_of(args).checkpoints,
                                                 args.sink_group, timeout=args.anchor_timeout))
        except AnchorUnavailable as exc:
            Console(stderr=True).print(f"[yellow]not anchored by Kafka[/]: {exc}")
    return anchors


def cmd_verify(args: argparse.Namespace) -> int:
    from audit_layer_governance.reports.compliance_summary import record_verification
    from audit_layer_governance.verification import verify_all
    from rich.progress import Progress

    keys = trusted_public_keys(args.public_keys)
    anchors = read_anchors(args)
    store = open_store(args)
    if args.tenant:
        require_tenant(store, args.tenant)
    where = "WHERE tenant_id = {t:String}" if args.tenant else ""
    rows = int(store.query(f"SELECT count() FROM {store.database}.events {where}",
                           parameters={"t": args.tenant} if args.tenant else None).result_rows[0][0])
    with Progress(console=Console(stderr=True), transient=True, disable=args.json) as bar:
        task = bar.add_task("verifying links", total=rows)
        report = verify_all(store, args.tenant, public_keys=keys, anchors=anchors, retention=retention_of(args.policy),
                              progress=lambda n: bar.update(task, advance=n))
    record_verification(store, report)
    print_verify(report, args.json)
    if not report.tenants and not args.json:
        console.print("no events stored yet")
    if args.require_anchor and report.anchors.unanchored:
        Console(stderr=True).print("[red]--require-anchor[/]: no anchor could be read")
        return 1
    return 0 if report.ok else 1


def cmd_checkpoints(args: argparse.Namespace) -> int:
    from audit_layer_ledger.proofs import tenant_checkpoints

    from audit_layer_cli.output import dumps

    store = open_store(args)
    require_tenant(store, args.tenant)
    for checkpoint in tenant_checkpoints(store, args.tenant, args.after_seq):
        print(dumps(checkpoint))
    return 0


def cmd_consistency(args: argparse.Namespace) -> int:
    from audit_layer_ledger.proofs import ProofError, build_consistency

    from audit_layer_cli.output import dumps

    store = open_store(args)
    require_tenant(store, args.tenant)
    try:
        print(dumps(build_consistency(store, args.tenant, args.first, args.second)))
    except ProofError as exc:
        raise UserError(str(exc)) from None
    return 0


def open_witness(args: argparse.Namespace) -> Any:
    """The witness of `--key`, `--operator-keys`, `--state` and `--name`."""
    from audit_layer_ledger.proofs import load_public_keys
    from audit_layer_ledger.witness import Witness
    from audit_layer_processors.signing import SigningKeyError, load_signer

    try:
        key = load_signer(args.key)
    except SigningKeyError as exc:
        raise UserError(str(exc)) from None
    operator_keys = load_public_keys(args.operator_keys)
    if not operator_keys:
        raise UserError(f"no operator public keys in {args.operator_keys}")
    return Witness(args.state, key.private_key, operator_keys, args.name)


def cmd_witness(args: argparse.Namespace) -> int:
    from audit_layer_ledger.proofs import build_consistency, tenant_checkpoints
    from audit_layer_ledger.witness import WitnessAlarm

    witness = open_witness(args)
    store = open_store(args)
    checkpoints = tenant_checkpoints(store, args.tenant)  # all of them: what it remembers must still be there
    try:
        signed = witness.observe(args.tenant, checkpoints,
                                 lambda a, b: build_consistency(store, args.tenant, a, b)["proof"])
    except WitnessAlarm as alarm:
        path = witness.raise_alarm(args.tenant, alarm)
        console.print(f"[red]ALARM[/] tenant {args.tenant}: {alarm} (evidence: {path})")
        return 3
    now = witness.seen(args.tenant)
    console.print(f"witness {witness.key_id}: countersigned {signed} new checkpoints of {args.tenant}; "
                  f"log consistent up to size {now.size}")
    return 0


def cmd_witness_serve(args: argparse.Namespace) -> int:
    from audit_layer_ledger.witness_server import AddCheckpoint, serve

    witness = open_witness(args)
    server = serve(AddCheckpoint(witness, args.log_name), args.host, args.port)
    console.print(f"witness {witness.vkey()} serving c2sp.org/tlog-witness on http://{args.host}:{args.port} "
                  f"for {args.log_name}/*")

    def _stop(*_: Any) -> None:
        raise KeyboardInterrupt  # out of serve_forever, in this thread

    signal.signal(signal.SIGTERM, _stop)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        server.server_close()
    return 0


def cmd_witness_submit(args: argparse.Namespace) -> int:
    from audit_layer_ledger.proofs import build_consistency, tenant_checkpoints
    from audit_layer_ledger.tlog_witness import WitnessUnusable, submit
    from audit_layer_ledger.witness import WitnessAlarm

    store = open_store(args)
    checkpoints = tenant_checkpoints(store, args.tenant)
    try:
        cosignatures = submit(args.url, checkpoints,
                              lambda a, b: build_consistency(store, args.tenant, a, b)["proof"])
    except WitnessAlarm as alarm:
        console.print(f"[red]ALARM[/] tenant {args.tenant}: {alarm}")
        return 3
    except WitnessUnusable as exc:
        raise UserError(str(exc)) from None
    for line in cosignatures:
        print(line, end="")
    console.print(f"witness {args.url} cosigned {len(cosignatures)} checkpoints of {args.tenant}", style="dim")
    return 0


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
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


COMMANDS = {
    "verify": cmd_verify,
    "proof": cmd_proof,
    "checkpoints": cmd_checkpoints,
    "consistency": cmd_consistency,
    "witness": cmd_witness,
    "witness-serve": cmd_witness_serve,
    "witness-submit": cmd_witness_submit,
}
