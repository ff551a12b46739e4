"""The subcommands of `audit-layer`; each takes the parsed arguments and returns an exit code."""

from __future__ import annotations

import argparse
import base64
import os
import signal
import sys
from pathlib import Path
from typing import Any

from audit_layer_schemas import Topics
from audit_layer_schemas.kafka_clients import admin_settings
from rich.console import Console
from rich.table import Table

from audit_layer_cli.common import (
    UserError,
    check_kafka,
    console,
    open_store,
    require_tenant,
    topics_of,
    writable_out,
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

        return run_faust(args.bootstrap_servers, topics_of(args), group_id=args.group, dlq_policy=dlq,
                         policy=policy, loglevel=args.log_level)
    from audit_layer_processors.enricher_batch import BatchEnricherConfig
    from audit_layer_processors.enricher_batch import run as run_batch

    return run_batch(BatchEnricherConfig(args.bootstrap_servers, topics_of(args), group_id=args.group, dlq=dlq,
                                         metrics_port=args.metrics_port), policy)


def cmd_sequencer(args: argparse.Namespace) -> int:
    from audit_layer_processors.chain_state import CheckpointPolicy, DedupPolicy, Signer
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
                             restore_check_window=args.restore_tail, metrics_port=args.metrics_port)
    return run(config, Signer(key.key_id, key.sign, args.log_name, key.sign_note))


def cmd_keys(args: argparse.Namespace) -> int:
    if args.key_action in ("create", "list", "revoke"):
        return api_keys_command(args)
    return signing_keys_command(args)


def api_keys_command(args: argparse.Namespace) -> int:
    from audit_layer_api.api_keys import KeyFormatError, parse_scopes
    from audit_layer_api.key_store import KeyStore

    try:
        scopes = parse_scopes(args.scopes) if args.key_action == "create" else frozenset()
    except KeyFormatError as exc:  # checked before any connection is made
        raise UserError(str(exc)) from None
    if args.key_action != "list":
        check_kafka(args.bootstrap_servers)
    store = open_store(args, create=True)
    store.migrate()
    keys = KeyStore(store)
    if args.key_action == "list":
        table = Table(title="API keys")
        for column in ("key id", "organisation", "name", "scopes", "requests/s", "created", "by", "state"):
            table.add_column(column)
        for k in keys.list(args.tenant):
            table.add_row(k.key_id, k.tenant_id, k.name, ",".join(sorted(s.value for s in k.scopes)),
                          f"{k.rate_per_s:g}", k.created_at[:19], k.created_by,
                          "[red]revoked[/]" if k.revoked else "[green]active[/]")
        console.print(table)
        return 0
    try:
        if args.key_action == "create":
            made, key = keys.create(args.tenant, scopes, name=args.name, created_by=args.by,
                                    rate_per_s=args.rate_limit)
        else:
            key = keys.revoke(args.key_id)
    except KeyFormatError as exc:
        raise UserError(str(exc)) from None
    except KeyError:
        raise UserError(f"no API key {args.key_id}; `audit-layer keys list` shows them") from None
    scope_names = ",".join(sorted(s.value for s in key.scopes))
    recorded = publish_admin_event(
        args, f"API key {key.key_id} {args.key_action}d", tenant_id=key.tenant_id, by=args.by,
        operation="api_key", decision_type="api_key", outcome="created" if args.key_action == "create" else "revoked",
        reason=f"API key {key.key_id} ({key.name or 'unnamed'}) {args.key_action}d",
        reason_code=f"api_key_{args.key_action}",
        metadata={"api_key_id": key.key_id, "scopes": scope_names})
    if not recorded and args.key_action == "create":
        keys.revoke(key.key_id)  # no live key without its record
        raise UserError(f"API key {key.key_id} was revoked again: its creation could not be recorded. Check the "
                        "broker (`make kafka` starts the local one) and create the key again")
    if not recorded:
        raise UserError(f"API key {key.key_id} revoked, but its audit event was not acknowledged by Kafka; check "
                        "the broker and record it again")
    if args.key_action == "create":
        Console(stderr=True).print(f"API key {key.key_id} for {key.tenant_id} (scopes {scope_names}); the secret is "
                                   "shown once, store it now:")
        print(made.token)
    else:
        console.print(f"API key {key.key_id} of {key.tenant_id} revoked (API processes drop it within 5 s)")
    return 0


def signing_keys_command(args: argparse.Namespace) -> int:
    import base64

    from audit_layer_processors.signing import DEFAULT_KEY_FILE, SigningKeyError, generate_key_file, load_signer

    path = args.key or DEFAULT_KEY_FILE
    try:
        if args.key_action == "generate":
            if path.exists():
                raise UserError(f"{path} exists; choose another --key path to rotate (old public keys stay valid)")
            signer = generate_key_file(path)
            console.print(f"generated {path} (private, mode 600) and {path.with_suffix('.pub')}")
        else:
            signer = load_signer(path)
    except SigningKeyError as exc:
        raise UserError(str(exc)) from None
    console.print(f"key id {signer.key_id}  ed25519 public key {base64.b64encode(signer.public_raw).decode()}")
    return 0


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
    try:
        sink.run()
    finally:
        store.close()
    return 0


def cmd_migrate(args: argparse.Namespace) -> int:
    store = open_store(args, create=True)
    applied = store.migrate()
    console.print(f"applied: {', '.join(applied)}" if applied else "schema is up to date")
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


def print_rows(result: Any, as_json: bool) -> None:
    from audit_layer_cli.output import dumps

    if as_json:
        for row in result.result_rows:
            print(dumps(dict(zip(result.column_names, row, strict=True))))
        return
    table = Table()
    for name in result.column_names:
        table.add_column(name)
    for row in result.result_rows:
        table.add_row(*(v.hex() if isinstance(v, bytes) else str(v) for v in row))
    console.print(table)


def cmd_query(args: argparse.Namespace) -> int:
    from audit_layer_governance.named_queries import QueryError, load_queries, parse_params, run_named
    from audit_layer_store.sql_guard import ForbiddenSql, refuse_client_files

    queries = load_queries()
    if args.list or not args.query:
        table = Table(title="named queries")
        for column in ("name", "parameters", "what it answers"):
            table.add_column(column)
        for q in queries.values():
            table.add_row(q.name, ", ".join(f"{n} {t}" for n, t in q.params.items()), q.description)
        console.print(table)
        return 0
    named = queries.get(args.query)
    if named is None and args.param:
        raise UserError(f"no named query {args.query!r} (see `audit-layer query --list`); "
                        "--param only applies to named queries")
    if named is None and " " not in args.query.strip():
        raise UserError(f"no named query {args.query!r}; `audit-layer query --list` shows them")
    if named is None:
        try:
            refuse_client_files(args.query)
        except ForbiddenSql as exc:
            raise UserError(str(exc)) from None
    store = open_store(args)
    store.client.database = store.database
    try:
        result = run_named(store, named, parse_params(args.param)) if named else store.query(args.query)
    except QueryError as exc:
        raise UserError(str(exc)) from None
    except Exception as exc:
        raise UserError(f"query failed: {exc}") from None
    print_rows(result, args.json)
    return 0


def record_admin_event(publisher: Any, tenant_id: str, by: str, *, operation: str, decision_type: str,
                       outcome: str, reason: str, reason_code: str, metadata: dict[str, Any]) -> None:
    """An operator's action on a tenant's records (erasure, legal hold) is itself an audit event in
    the tenant's chain: who did what to whose records, and why."""
    from audit_layer_sdk import AuditCollector

    collector = AuditCollector(publisher, tenant_id=tenant_id, user_id=by, operation=operation,
                               sdk_name="audit-layer-cli")
    collector.set_decision(decision_type, outcome=outcome, reasoning=reason, metadata=metadata)
    collector.set_action("ALLOW", [reason_code])
    collector.emit()


def sdk_config(args: argparse.Namespace) -> Any:
    """The SDK's settings from the environment (its spool folder included), aimed at this command's broker."""
    import dataclasses

    from audit_layer_sdk import AuditConfig

    return dataclasses.replace(AuditConfig.from_env(), bootstrap_servers=args.bootstrap_servers,
                               topic=topics_of(args).events)


def _require(recorded: bool) -> None:
    if not recorded:
        raise UserError("check the broker (`make kafka` starts the local one) and record the action again")


def publish_admin_event(args: argparse.Namespace, what_happened: str, **event: Any) -> bool:
    """True when Kafka acknowledged the event; False (with the reason printed) when it did not."""
    from audit_layer_sdk import AuditPublisher

    publisher = AuditPublisher(sdk_config(args))
    record_admin_event(publisher, **event)
    if publisher.flush(30) != 0:
        Console(stderr=True).print(f"[red]{what_happened}, but its audit event was not acknowledged by Kafka[/]")
        return False
    return True


def cmd_dlq(args: argparse.Namespace) -> int:
    from audit_layer_processors.dead_letters import DeadLetterError, Ref, read, replay
    from rich.table import Table

    from audit_layer_cli.output import dumps

    check_kafka(args.bootstrap_servers)
    topics = topics_of(args)
    try:
        wanted = [Ref.parse(r) for r in getattr(args, "refs", [])] if args.dlq_action == "replay" else []
        if args.dlq_action == "replay" and not wanted and not args.reason:
            raise UserError("name the dead letters to replay (PARTITION:OFFSET ...) or give --reason")
        chosen = Ref.parse(args.ref) if args.dlq_action == "show" else None
        letters = [m for m in read(args.bootstrap_servers, topics.dlq)
                   if (args.dlq_action == "show" and m.ref == chosen)
                   or (args.dlq_action != "show" and (not getattr(args, "reason", None) or m.reason == args.reason)
                       and (not wanted or m.ref in wanted))]
    except DeadLetterError as exc:
        raise UserError(str(exc)) from None
    if args.dlq_action == "list":
        if args.json:
            for letter in letters:
                print(dumps(letter.as_dict()))
            return 0
        table = Table(title=f"{topics.dlq}: {len(letters)} dead letter(s)")
        for column in ("ref", "when (UTC)", "reason", "detail", "from", "bytes"):
            table.add_column(column)
        for letter in letters:
            row = letter.as_dict()
            table.add_row(str(row["ref"]), str(row["dead_lettered_at"]), letter.reason, letter.detail[:80],
                          str(row["source"] or "-"), f"{row['bytes']:,}")
        console.print(table)
        return 0
    if args.dlq_action == "show":
        if not letters:
            raise UserError(f"no dead letter {chosen} on {topics.dlq}; `audit-layer dlq list` shows them")
        print(dumps(letters[0].as_dict(payload=True)))
        return 0
    missing = sorted(set(map(str, wanted)) - {str(m.ref) for m in letters})
    if missing:
        raise UserError(f"no dead letter {', '.join(missing)} on {topics.dlq}; `audit-layer dlq list` shows them")
    if not letters:
        raise UserError(f"no dead letter of reason {args.reason!r} on {topics.dlq}")
    if args.dry_run:
        for letter in letters:
            console.print(f"would replay {letter.ref} ({letter.reason}) to "
                          f"{letter.source[0] if letter.source else topics.events}")
        return 0
    try:
        sent = replay(args.bootstrap_servers, letters, topics.events)
    except DeadLetterError as exc:
        raise UserError(str(exc)) from None
    for ref, topic in sent:
        console.print(f"replayed {ref} to {topic}")
    return 0


def cmd_hold(args: argparse.Namespace) -> int:
    from audit_layer_governance.legal_hold import HoldError, active_holds, lift_hold, place_hold

    store = open_store(args)
    try:
        if args.hold_action == "list":
            holds = active_holds(store, args.tenant)
            table = Table(title="active legal holds")
            for column in ("hold id", "scope", "reason", "set by"):
                table.add_column(column)
            for h in holds:
                table.add_row(h.hold_id, h.scope, h.reason, h.set_by)
            console.print(table)
            return 0
        check_kafka(args.bootstrap_servers)
        if args.hold_action == "set":
            hold, rows = place_hold(store, args.tenant, user_id=args.user, session_id=args.session,
                                    reason=args.reason, set_by=args.by)
            verb = "held"
        else:
            hold, rows = lift_hold(store, args.hold_id, args.by)
            verb = "released"
    except HoldError as exc:
        raise UserError(str(exc)) from None
    _require(publish_admin_event(
        args, f"legal hold {hold.hold_id} {args.hold_action}", tenant_id=hold.tenant_id, by=args.by,
        operation="legal_hold", decision_type="legal_hold", outcome="placed" if args.hold_action == "set" else "lifted",
        reason=hold.reason, reason_code=f"legal_hold_{args.hold_action}",
        metadata={"hold_id": hold.hold_id, "scope": hold.scope, "records": rows, **hold.subject()}))
    console.print(f"legal hold {hold.hold_id} ({hold.scope}): {rows} stored records {verb}; "
                  "recorded as an audit event")
    return 0


def cmd_report_verify(args: argparse.Namespace) -> int:
    from audit_layer_governance.reports.signature import SignatureInvalid, published_keys, verify_pdf

    if not args.file.is_file():
        raise UserError(f"{args.file} is not a file")
    trusted = published_keys(args.keys)
    if not trusted:
        raise UserError(f"no published report keys (*.pub) at {args.keys}; give --keys")
    try:
        check = verify_pdf(args.file.read_bytes(), trusted)
    except SignatureInvalid as exc:
        Console(stderr=True).print(f"[red]NOT VERIFIED[/red] {args.file}: {exc}")
        return 1
    Console().print(f"[green]VERIFIED[/green] {args.file}: signed {check.signed_at} by report key {check.key_id}; "
                    "the signature covers the whole file")
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    from audit_layer_governance.reports import compliance_summary, decision_audit
    from audit_layer_governance.reports.fonts import FontsMissing
    from audit_layer_governance.reports.render import render
    from audit_layer_governance.reports.signature import load_report_key
    from audit_layer_ledger.proofs import load_public_keys
    from rich.progress import Progress

    if args.report_type == "verify":
        return cmd_report_verify(args)
    writable_out(args.out)
    store = open_store(args)
    if args.report_type == "compliance-summary":
        require_tenant(store, args.tenant)
    keys = load_public_keys(args.public_keys)
    try:
        if args.report_type == "decision-audit":
            report = decision_audit.build(store, args.event_id, keys)
            name = f"decision-audit-{args.event_id}"
        else:
            with Progress(console=Console(stderr=True), transient=True) as bar:
                task = bar.add_task("compliance summary", total=len(compliance_summary.STEPS))
                report = compliance_summary.build(
                    store, args.tenant, args.start, args.end, verify_now=args.verify, public_keys=keys,
                    progress=lambda step: bar.update(task, advance=1, description=f"compliance summary: {step}"))
            name = f"compliance-summary-{args.tenant}-{args.start}-{args.end}"
    except (decision_audit.DecisionNotFound, ValueError) as exc:
        raise UserError(str(exc)) from None
    try:
        body = render(report, args.format,
                      signing_key=load_report_key(args.report_key) if args.format == "pdf" else None)
    except (FontsMissing, FileNotFoundError) as exc:
        raise UserError(str(exc)) from None
    out = args.out or (Path(f"{name}.pdf") if args.format == "pdf" else None)
    if out is None:
        sys.stdout.buffer.write(body)
        sys.stdout.flush()
    else:
        out.write_bytes(body)
        Console(stderr=True).print(f"wrote {out} ({len(body):,} bytes)")
    return 0


def cmd_erase(args: argparse.Namespace) -> int:
    from audit_layer_governance.erasure import ErasureError, ErasureRequest, erase_content

    check_kafka(args.bootstrap_servers)
    try:
        request = ErasureRequest(args.tenant, args.user, args.session)
    except ErasureError as exc:
        raise UserError(str(exc)) from None
    store = open_store(args)
    erased = erase_content(store, request)
    _require(publish_admin_event(
        args, "content erased", tenant_id=request.tenant_id, by=args.requested_by, operation="erasure",
        decision_type="data_erasure", outcome="erased", reason=args.reason, reason_code="gdpr_erasure",
        metadata={"subject_user_id": request.user_id, "subject_session_id": request.session_id,
                  "records_erased": erased}))
    console.print(f"erased the content of {erased} records of {request.subject} (tenant {request.tenant_id}) from "
                  "ClickHouse, superseded parts included; the erasure is recorded as an audit event")
    console.print(kafka_retention_note(args.bootstrap_servers, topics_of(args)))
    return 0


def kafka_retention_note(bootstrap: str, topics: Topics) -> str:
    """How long the erased content still lives in Kafka: each content-carrying topic's retention."""
    from confluent_kafka.admin import AdminClient, ConfigResource, ResourceType  # type: ignore[attr-defined]

    admin = AdminClient(admin_settings(bootstrap))
    names = [topics.events, topics.enriched, topics.chained, topics.dlq]
    parts = []
    for name in names:
        try:
            [future] = admin.describe_configs([ConfigResource(ResourceType.TOPIC, name)]).values()
            ms = int(future.result(10)["retention.ms"].value)
        except Exception as exc:  # the note must not fail an erasure that is done
            parts.append(f"{name}: retention unknown ({type(exc).__name__})")
            continue
        parts.append(f"{name}: {'forever' if ms < 0 else f'{ms / 86_400_000:g} days'}")
    return ("the content stays in Kafka until each topic's retention removes it: " + "; ".join(parts))


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

__all__ = ["UserError", "sys"]
