"""Legal holds: set, lift, list."""

from __future__ import annotations

import argparse
import os

from rich.table import Table

from audit_layer_cli.admin_events import publish_admin_event, require_recorded
from audit_layer_cli.common import (
    UserError,
    add_clickhouse,
    add_kafka,
    check_kafka,
    console,
    open_store,
)


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
    require_recorded(publish_admin_event(
        args, f"legal hold {hold.hold_id} {args.hold_action}", tenant_id=hold.tenant_id, by=args.by,
        operation="legal_hold", decision_type="legal_hold", outcome="placed" if args.hold_action == "set" else "lifted",
        reason=hold.reason, reason_code=f"legal_hold_{args.hold_action}",
        metadata={"hold_id": hold.hold_id, "scope": hold.scope, "records": rows, **hold.subject()}))
    console.print(f"legal hold {hold.hold_id} ({hold.scope}): {rows} stored records {verb}; "
                  "recorded as an audit event")
    return 0


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
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


COMMANDS = {"hold": cmd_hold}
