"""The dead-letter topic: list, show, replay."""

from __future__ import annotations

import argparse
import os

from rich.table import Table

from audit_layer_cli.admin_events import publish_admin_event, require_recorded
from audit_layer_cli.common import (
    UserError,
    add_kafka,
    check_kafka,
    console,
    topics_of,
)


def cmd_dlq(args: argparse.Namespace) -> int:
    from audit_layer_processors.dead_letters import DeadLetterError, Ref, read, replay
    from audit_layer_schemas.kafka_clients import TopicMissing
    from confluent_kafka import KafkaException

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
    except (DeadLetterError, TopicMissing) as exc:
        raise UserError(str(exc)) from None
    except KafkaException as exc:  # e.g. the topic has no leader while a broker restarts
        raise UserError(f"Kafka cannot serve {topics.dlq} now ({exc.args[0]}); try again once the brokers are "
                        "back") from None
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
    # the replay is itself an audit event, in the chain of the tenant each message was keyed by
    by_tenant: dict[str, list[str]] = {}
    for letter in letters:
        by_tenant.setdefault(tenant_of(letter.key, args.ops_tenant), []).append(str(letter.ref))
    for tenant, refs in sorted(by_tenant.items()):
        require_recorded(publish_admin_event(
            args, f"replayed {', '.join(refs)}", tenant_id=tenant, by=args.by, operation="dlq replay",
            decision_type="dlq_replay", outcome="replayed", reason_code="dlq_replay",
            reason=f"dead letters {', '.join(refs)} of {topics.dlq} replayed after a fix",
            metadata={"dlq_refs": ",".join(refs), "dlq_topic": topics.dlq}))
    return 0


def tenant_of(key: bytes | None, fallback: str) -> str:
    """The tenant a dead letter was keyed by, when its key is one; else the operators' own tenant."""
    try:
        text = (key or b"").decode("utf-8")
    except UnicodeDecodeError:
        return fallback
    return text if text and len(text) <= 128 and text.isprintable() and not text.isspace() else fallback


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
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
    d.add_argument("--by", default=os.environ.get("USER", "unknown"),
                   help="who replays (default: $USER); the replay is recorded as an audit event")
    d.add_argument("--ops-tenant", default="audit-layer-ops",
                   help="where a replay of messages without a tenant key is recorded (default: %(default)s)")
    for d in dlq.choices.values():
        add_kafka(d)


COMMANDS = {"dlq": cmd_dlq}
