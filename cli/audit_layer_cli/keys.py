"""API keys and checkpoint signing keys."""

from __future__ import annotations

import argparse
import base64
import os
from pathlib import Path

from rich.console import Console
from rich.table import Table

from audit_layer_cli.admin_events import publish_admin_event
from audit_layer_cli.common import (
    UserError,
    add_clickhouse,
    add_kafka,
    check_kafka,
    console,
    open_store,
    seconds,
)


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


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
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


COMMANDS = {"keys": cmd_keys}
