"""SDK settings: explicit arguments, or AUDIT_LAYER_* environment variables."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from audit_layer_schemas.kafka_security import KafkaSecurity, KafkaSecurityError

from audit_layer_sdk.usage import PriceTable, PriceTableError

DEFAULT_BOOTSTRAP = "127.0.0.1:9092"
DEFAULT_API_URL = "http://127.0.0.1:8000/v1"  # `audit-layer api` on this machine
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
    """Where events go: Kafka (`bootstrap_servers`), or the REST API (`api_key`, `api_url`) when an API key is
    given and no Kafka bootstrap is. `org_id` is another name for `tenant_id`."""

    bootstrap_servers: str | None = None  # None: the local broker, unless the REST API is configured
    topic: str = "audit.events"
    tenant_id: str | None = None
    api_key: str | None = None
    org_id: str | None = None
    api_url: str = DEFAULT_API_URL
    async_logging: bool = True  # False: each event is sent before the call returns (still never raising)
    timeout_seconds: float = 5.0
    retry_count: int = 3
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
    # each audited call also as an OpenTelemetry span in the application's trace (otel_spans.py)
    otel_spans: bool = False

    def __post_init__(self) -> None:
        if self.capture not in CAPTURE_MODES:
            raise AuditConfigError(f"capture={self.capture!r}: use one of {', '.join(CAPTURE_MODES)}")
        if self.org_id and self.tenant_id and self.org_id != self.tenant_id:
            raise AuditConfigError(f"org_id={self.org_id!r} and tenant_id={self.tenant_id!r} name one thing: give one")
        object.__setattr__(self, "tenant_id", self.tenant_id or self.org_id or None)
        object.__setattr__(self, "org_id", self.tenant_id)
        if not self.api_url.startswith(("http://", "https://")):
            raise AuditConfigError(f"api_url={self.api_url!r}: give the API's base URL, e.g. {DEFAULT_API_URL}")
        if self.timeout_seconds <= 0 or self.retry_count < 0:
            raise AuditConfigError("timeout_seconds must be positive and retry_count zero or more")

    @property
    def transport(self) -> str:
        """`http` when an API key is set and no Kafka bootstrap is; else `kafka`."""
        return "http" if self.api_key and not self.bootstrap_servers else "kafka"

    @property
    def kafka_bootstrap(self) -> str:
        return self.bootstrap_servers or DEFAULT_BOOTSTRAP

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None) -> AuditConfig:
        env = os.environ if environ is None else environ
        bootstrap = env.get("AUDIT_LAYER_BOOTSTRAP_SERVERS") or env.get("KAFKA_BOOTSTRAP_SERVERS") or None
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
        try:
            security = KafkaSecurity.from_env(env)
        except KafkaSecurityError as exc:
            raise AuditConfigError(str(exc)) from None
        spans = env.get("AUDIT_LAYER_OTEL_SPANS", "0").strip().lower()
        if spans not in ("0", "1", "true", "false", ""):
            raise AuditConfigError(f"AUDIT_LAYER_OTEL_SPANS={spans!r}: use 1 (on) or 0 (off)")
        return cls(
            otel_spans=spans in ("1", "true"),
            prices=prices,
            kafka_overrides=security.librdkafka(),
            bootstrap_servers=bootstrap,
            topic=f"{prefix}audit.events",
            tenant_id=env.get("AUDIT_LAYER_ORG_ID") or None,
            linger_ms=_positive_int("AUDIT_LAYER_LINGER_MS", env.get("AUDIT_LAYER_LINGER_MS", "5")),
            compression=compression,
            queue_max_messages=_positive_int(
                "AUDIT_LAYER_QUEUE_MAX_MESSAGES", env.get("AUDIT_LAYER_QUEUE_MAX_MESSAGES", "100000")
            ),
            spool_dir=env.get("AUDIT_LAYER_SPOOL_DIR") or cls().spool_dir,
            api_key=env.get("AUDIT_LAYER_API_KEY") or None,
            api_url=env.get("AUDIT_LAYER_API_URL") or DEFAULT_API_URL,
            capture=capture,
            spool_max_records=_positive_int("AUDIT_LAYER_SPOOL_MAX_RECORDS",
                                            env.get("AUDIT_LAYER_SPOOL_MAX_RECORDS", "1000000")),
            spool_max_bytes=_positive_int("AUDIT_LAYER_SPOOL_MAX_BYTES",
                                          env.get("AUDIT_LAYER_SPOOL_MAX_BYTES", str(1024 ** 3))),
        )


_configured: AuditConfig | None = None


def init_audit_config(config: AuditConfig) -> None:
    """The process's settings, for every publisher, store or client made without its own (else the
    environment's, `AuditConfig.from_env()`)."""
    global _configured
    _configured = config


def configured() -> AuditConfig:
    """What `init_audit_config` set, else the environment's settings."""
    return _configured if _configured is not None else AuditConfig.from_env()
