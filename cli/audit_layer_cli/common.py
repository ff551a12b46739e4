"""What every `audit-layer` command shares: the errors it prints without a traceback, the Kafka and
ClickHouse options and their checks, argument types, the console it prints tables on."""

from __future__ import annotations

import argparse
import datetime
import os
import sys
from pathlib import Path
from typing import Any

from audit_layer_schemas import Topics
from audit_layer_schemas.kafka_security import KafkaSecurityError
from rich.console import Console

# piped output (CI, logs) gets a wide table instead of 80 columns of wrapped cells
console = Console(width=None if sys.stdout.isatty() else 160)


class UserError(RuntimeError):
    """A problem the user can fix; printed without a traceback."""


def topics_of(args: argparse.Namespace) -> Topics:
    return Topics(prefix=args.topic_prefix)


def check_kafka(bootstrap_servers: str, timeout: float = 10.0) -> None:
    """A broker answers with these settings; a refused credential, a failed TLS handshake or a listener of
    another protocol is said as such within seconds."""
    from audit_layer_schemas.kafka_clients import KafkaUnreachable, check_connection

    try:
        check_connection(bootstrap_servers, timeout)
    except KafkaSecurityError as exc:
        raise UserError(str(exc)) from None
    except KafkaUnreachable as exc:
        if str(exc).startswith("no Kafka broker answers"):
            raise UserError(f"{exc}. Start the local one with `make kafka` (scripts/kafka/kafka.sh start) or set "
                            "KAFKA_BOOTSTRAP_SERVERS") from None
        raise UserError(str(exc)) from None


def open_store(args: argparse.Namespace, *, serve: bool = False, create: bool = False) -> Any:
    """`serve`: a long-running owner of an embedded engine serves it to the other commands. `create`: the
    commands that make a store (sink, migrate, api, keys, demo); the others need one that exists."""
    from audit_layer_store.store import ClickHouseStore, StoreError

    try:
        return ClickHouseStore(args.dsn, args.database, serve=serve, create=create)
    except StoreError as exc:
        raise UserError(str(exc)) from None


def require_tenant(store: Any, tenant: str) -> None:
    """A tenant with no record is a mistake to name, not a clean bill of health."""
    db = store.database
    try:
        found = store.query(f"SELECT 1 FROM {db}.events WHERE tenant_id = {{t:String}} LIMIT 1",
                            parameters={"t": tenant}).result_rows
    except Exception as exc:  # no events table: the database was never migrated
        raise UserError(f"database {db} holds no audit events ({str(exc)[:120]}); check --dsn and --database"
                        ) from None
    if found:
        return
    known = [t for (t,) in store.query(f"SELECT DISTINCT tenant_id FROM {db}.events ORDER BY tenant_id LIMIT 21"
                                       ).result_rows]
    listed = ", ".join(known[:20]) + (", ..." if len(known) > 20 else "") if known else "none"
    raise UserError(f"no records of tenant {tenant!r} in database {db} (tenants stored: {listed})")


def writable_out(path: Path | None) -> None:
    if path is not None and not path.parent.is_dir():
        raise UserError(f"cannot write {path}: folder {path.parent} does not exist; create it or choose another "
                        "--out")



def bootstrap_default() -> str:
    from audit_layer_processors.settings import bootstrap_from_env

    return bootstrap_from_env()


def add_kafka(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--bootstrap-servers", default=bootstrap_default(),
                        help="Kafka brokers, host:port[,host:port] (default: %(default)s)")
    parser.add_argument("--topic-prefix", default=os.environ.get("AUDIT_LAYER_TOPIC_PREFIX", ""),
                        help="prefix of every topic name, to run several pipelines on one cluster")


def add_clickhouse(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--dsn", default=None,
                        help="ClickHouse: chdb:///path (embedded) or http://host:8123 "
                             "(default: $AUDIT_LAYER_CLICKHOUSE_DSN or chdb://./data/clickhouse)")
    parser.add_argument("--database", default="audit", help="ClickHouse database (default: %(default)s)")


def key_name(text: str) -> str:
    from audit_layer_schemas.signed_note import valid_key_name

    if not valid_key_name(text):
        raise argparse.ArgumentTypeError(f"{text!r} is not a key name: no spaces, no '+', not empty")
    return text


def positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"{text} must be positive")
    return value


def seconds(text: str) -> float:
    """A positive number (of seconds, or per second)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"{text} must be a positive number")
    return value


def port(text: str) -> int:
    if not text.isdigit() or not 0 <= int(text) <= 65535:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port (0-65535; 0 picks a free one)")
    return int(text)


def metrics_port_default() -> int | None:
    value = os.environ.get("AUDIT_LAYER_METRICS_PORT", "")
    return int(value) if value.isdigit() else None


def add_metrics_port(parser: argparse.ArgumentParser) -> None:
    """A worker's --metrics-port (every worker serves the same endpoints)."""
    parser.add_argument("--metrics-port", type=port, default=metrics_port_default(),
                        help="serve Prometheus /metrics, /healthz and /readyz on this port (default: "
                             "$AUDIT_LAYER_METRICS_PORT, else none)")


def date(text: str) -> datetime.date:
    try:
        return datetime.date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date; write YYYY-MM-DD") from None


def version_of_build() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("audit-layer")
    except PackageNotFoundError:  # run from a source tree that was not installed
        return "unknown (not installed)"


