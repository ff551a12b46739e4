"""Reading and erasing records: named queries and SQL, a data subject's erasure."""

from __future__ import annotations

import argparse
import os
from typing import Any

from audit_layer_schemas import Topics
from audit_layer_schemas.kafka_clients import admin_settings
from rich.table import Table

from audit_layer_cli.admin_events import publish_admin_event, require_recorded
from audit_layer_cli.common import (
    UserError,
    add_clickhouse,
    add_kafka,
    check_kafka,
    console,
    open_store,
    topics_of,
)


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


def cmd_erase(args: argparse.Namespace) -> int:
    from audit_layer_governance.erasure import ErasureError, ErasureRequest, erase_content

    check_kafka(args.bootstrap_servers)
    try:
        request = ErasureRequest(args.tenant, args.user, args.session)
    except ErasureError as exc:
        raise UserError(str(exc)) from None
    store = open_store(args)
    erased = erase_content(store, request)
    require_recorded(publish_admin_event(
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


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
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


COMMANDS = {"query": cmd_query, "erase": cmd_erase}
