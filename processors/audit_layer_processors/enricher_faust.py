"""The enricher on faust-streaming (`audit-layer enricher --runtime faust`): audit.events -> the
enrich step (enrich_step.py) -> audit.events.enriched or audit.dlq.

Stateless and at-least-once: outputs are attached to their source offset and published
before that offset is committed (faust's publish-on-commit), so a crash re-processes
rather than loses; the sequencer drops the duplicates. The default runtime is enricher_batch.py:
the same step, a fraction of the per-event cost (BENCHMARKS.md).
"""

from __future__ import annotations

import logging
import ssl
import tempfile
from pathlib import Path
from typing import Any

import faust
from audit_layer_schemas import Topics
from audit_layer_schemas.kafka_clients import admin_settings, partition_count
from audit_layer_schemas.kafka_security import KafkaSecurity, KafkaSecurityError
from confluent_kafka.admin import AdminClient

from audit_layer_processors.dlq import DlqLimitExceeded, DlqPolicy
from audit_layer_processors.enrich_step import EnrichStep
from audit_layer_processors.outage import OutagePolicy, OutageWait
from audit_layer_processors.policy import Policy

log = logging.getLogger("audit_layer.enricher")


def broker_credentials(security: KafkaSecurity) -> Any:
    """The deployment's AUDIT_LAYER_KAFKA_* settings in aiokafka's terms (faust's credentials)."""
    from faust.auth import SASLCredentials, SSLCredentials

    props = security.librdkafka()
    context = None
    if security.uses_tls:
        context = ssl.create_default_context(cafile=props.get("ssl.ca.location"))
        if "ssl.certificate.location" in props:
            context.load_cert_chain(props["ssl.certificate.location"], props.get("ssl.key.location"),
                                    props.get("ssl.key.password"))
    if security.uses_sasl:
        if security.mechanism == "OAUTHBEARER":
            raise KafkaSecurityError("the faust runtime takes no OAUTHBEARER settings; run the enricher's default "
                                     "runtime (--runtime batch), which does")
        return SASLCredentials(username=props["sasl.username"], password=props["sasl.password"],
                               ssl_context=context, mechanism=security.mechanism)
    return SSLCredentials(context) if context is not None else None


def _datadir(group_id: str) -> Path:
    # stateless: faust's data folder holds nothing we need, so it stays out of the working directory
    parent = Path(tempfile.gettempdir()) / "audit-layer-faust"
    parent.mkdir(parents=True, exist_ok=True)
    return parent / group_id


def build_app(
    bootstrap_servers: str,
    topics: Topics,
    *,
    group_id: str = "audit-enricher",
    dlq_policy: DlqPolicy | None = None,
    policy: Policy,
    commit_interval: float = 0.5,
    outage: OutagePolicy | None = None,
) -> faust.App:
    app = faust.App(
        group_id,
        broker=f"kafka://{bootstrap_servers}",
        value_serializer="raw",
        key_serializer="raw",
        web_enabled=False,
        topic_allow_declare=False,  # topics are created, with their settings, by `audit-layer topics`
        topic_disable_leader=True,
        store="memory://",
        datadir=str(_datadir(group_id)),
        processing_guarantee="at_least_once",
        stream_publish_on_commit=True,
        broker_commit_interval=commit_interval,
        broker_commit_every=1000,
        consumer_auto_offset_reset="earliest",
        producer_acks=-1,
        producer_max_request_size=8 * 1024 * 1024,
        broker_credentials=broker_credentials(KafkaSecurity.from_env()),
    )
    source = app.topic(topics.events, key_type=bytes, value_type=bytes)
    outputs = {name: app.topic(name, key_type=bytes, value_type=bytes) for name in (topics.enriched, topics.dlq)}
    admin = AdminClient(admin_settings(bootstrap_servers))
    # a broker away at start-up is waited out, as the batch runtime does, not an exit
    partitions = OutageWait(outage or OutagePolicy(), log).call(
        "finding the topics", lambda: partition_count(admin, topics.enriched))
    step = EnrichStep(topics, policy, partitions, dlq_policy or DlqPolicy(), link_bodies=False)

    @app.agent(source)
    async def enricher(stream: Any) -> None:
        async for event in stream.events():
            message = event.message
            try:
                out = step(message.key, message.value, message.topic, message.partition, message.offset)
            except DlqLimitExceeded as exc:
                log.critical("%s", exc)
                await app.crash(exc)  # type: ignore[arg-type]
                return
            await outputs[out.topic].send(key=out.key, value=out.value, partition=out.partition,
                                          headers=out.headers)  # type: ignore[arg-type]  # values are bytes

    @app.timer(interval=10.0)  # type: ignore[untyped-decorator]
    async def report() -> None:
        log.info("%s", step.counts.line())

    @app.on_before_shutdown.connect  # type: ignore[untyped-decorator, arg-type]
    async def final_report(app: faust.App, *_: Any, **__: Any) -> None:
        # the totals of this process's life, for scale-out figures and operators
        log.info("stopped: %s", step.counts.line())

    return app


def run(bootstrap_servers: str, topics: Topics, *, group_id: str, dlq_policy: DlqPolicy, policy: Policy,
        loglevel: str = "INFO") -> int:
    log.info("enrichment policy %s", policy.version)
    app = build_app(bootstrap_servers, topics, group_id=group_id, dlq_policy=dlq_policy, policy=policy)
    worker = faust.Worker(app, loglevel=loglevel, quiet=True)
    try:
        worker.execute_from_commandline()
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
        return code
    return 0
