"""`audit-layer`: one command for the pipeline's workers, its topics, the demo, verify and query."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Sequence

from audit_layer_cli import chain, demo, dlq, holds, keys, records, reports, status, workers
from audit_layer_cli.common import UserError, version_of_build

# each group defines its commands' parsers (register) beside their handlers (COMMANDS); `--help` lists
# the commands in this order
GROUPS = (workers, keys, chain, records, reports, dlq, holds, status, demo)

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

    for group in GROUPS:
        group.register(sub)
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
    handler = {name: run for group in GROUPS for name, run in group.COMMANDS.items()}[args.command]
    try:
        return int(handler(args))
    except KeyboardInterrupt:
        return 130
    except UserError as exc:
        print(f"audit-layer {args.command}: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
