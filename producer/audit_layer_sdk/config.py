"""SDK settings: explicit arguments, or AUDIT_LAYER_* environment variables."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from audit_layer_sdk.usage import PriceTable, PriceTableError

DEFAULT_BOOTSTRAP = "127.0.0.1:9092"
CAPTURE_MODES = ("full", "hashes_only", "redacted")


class AuditConfigError(ValueError):
    """A setting is missing or wrong; raised at start-up, never from an audited call."""


def _positive_int(name: str, raw: str) -> int:
    try:
        value = int(raw)
    except ValueError:
        raise AuditConfigError(f"{name}={raw!r} is not an integer") from None
    if value <= 0:
        raise AuditConfigError(f"{name}={raw!r} must be positive")
    return value


@dataclass(frozen=True)
class AuditConfig:
    bootstrap_servers: str = DEFAULT_BOOTSTRAP
    topic: str = "audit.events"
    tenant_id: str | None = None
    linger_ms: int = 5
    compression: str = "lz4"
    queue_max_messages: int = 100_000
    kafka_overrides: dict[str, str] = field(default_factory=dict)
    # where events go while Kafka is unreachable; None disables the spool
    spool_dir: str | None = field(default_factory=lambda: str(Path.home() / ".cache" / "audit-layer" / "spool"))
    spool_max_records: int = 1_000_000
    spool_max_bytes: int = 1024 * 1024 * 1024
    # what leaves the process: full text, only its salted digests, or text with personal data masked
    capture: str = "full"
    # per-model prices; when set, each event carries its cost (see usage.py)
    prices: PriceTable | None = None

    def __post_init__(self) -> None:
        if self.capture not in CAPTURE_MODES:
            raise AuditConfigError(f"capture={self.capture!r}: use one of {', '.join(CAPTURE_MODES)}")

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None) -> AuditConfig:
        env = os.environ if environ is None else environ
        bootstrap = (
            env.get("AUDIT_LAYER_BOOTSTRAP_SERVERS") or env.get("KAFKA_BOOTSTRAP_SERVERS") or DEFAULT_BOOTSTRAP
        )
        prefix = env.get("AUDIT_LAYER_TOPIC_PREFIX", "")
        compression = env.get("AUDIT_LAYER_COMPRESSION", "lz4")
        capture = env.get("AUDIT_LAYER_CAPTURE", "full")
        if capture not in CAPTURE_MODES:
            raise AuditConfigError(f"AUDIT_LAYER_CAPTURE={capture!r}: use one of {', '.join(CAPTURE_MODES)}")
        if compression not in {"none", "gzip", "snappy", "lz4", "zstd"}:
            raise AuditConfigError(
                f"AUDIT_LAYER_COMPRESSION={compression!r}: use one of none, gzip, snappy, lz4, zstd"
            )
        prices = None
        if env.get("AUDIT_LAYER_PRICES"):
            try:
                prices = PriceTable.load(env["AUDIT_LAYER_PRICES"])
            except PriceTableError as exc:
                raise AuditConfigError(f"AUDIT_LAYER_PRICES: {exc}") from None
        return cls(
            prices=prices,
            bootstrap_servers=bootstrap,
            topic=f"{prefix}audit.events",
            tenant_id=env.get("AUDIT_LAYER_ORG_ID") or None,
            linger_ms=_positive_int("AUDIT_LAYER_LINGER_MS", env.get("AUDIT_LAYER_LINGER_MS", "5")),
            compression=compression,
            queue_max_messages=_positive_int(
                "AUDIT_LAYER_QUEUE_MAX_MESSAGES", env.get("AUDIT_LAYER_QUEUE_MAX_MESSAGES", "100000")
            ),
            spool_dir=env.get("AUDIT_LAYER_SPOOL_DIR") or cls().spool_dir,
            capture=capture,
            spool_max_records=_positive_int("AUDIT_LAYER_SPOOL_MAX_RECORDS",
                                            env.get("AUDIT_LAYER_SPOOL_MAX_RECORDS", "1000000")),
            spool_max_bytes=_positive_int("AUDIT_LAYER_SPOOL_MAX_BYTES",
                                          env.get("AUDIT_LAYER_SPOOL_MAX_BYTES", str(1024 ** 3))),
        )
