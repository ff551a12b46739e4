"""The enricher worker (faust-streaming): audit.events -> validate -> enrich -> audit.events.enriched.

Stateless and at-least-once: outputs are attached to their source offset and published
before that offset is committed (faust's publish-on-commit), so a crash re-processes
rather than loses; the sequencer drops the duplicates. Bad input goes to audit.dlq with the
reason in headers, bounded by a DlqPolicy.
"""

from __future__ import annotations

import logging
import tempfile
import time
from pathlib import Path
from typing import Any

import faust
from audit_layer_schemas import ENRICHED_EVENT, AvroCodec, Topics

from audit_layer_processors.dlq import DeadLetter, DlqLimiter, DlqLimitExceeded, DlqPolicy
from audit_layer_processors.enrichment import enrich
from audit_layer_processors.policy import Policy
from audit_layer_processors.validation import EventValidator, Rejection

log = logging.getLogger("audit_layer.enricher")


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
    )
    source = app.topic(topics.events, key_type=bytes, value_type=bytes)
    enriched_topic = app.topic(topics.enriched, key_type=bytes, value_type=bytes)
    dlq_topic = app.topic(topics.dlq, key_type=bytes, value_type=bytes)
    validator = EventValidator()
    codec = AvroCodec(ENRICHED_EVENT)
    limiter = DlqLimiter(dlq_policy or DlqPolicy())
    counts = {"enriched": 0, "dead_lettered": 0}

    @app.agent(source)
    async def enricher(stream: Any) -> None:
        async for event in stream.events():
            message = event.message
            result = validator.validate(message.key, message.value)
            if isinstance(result, Rejection):
                letter = DeadLetter(result.reason, result.detail, message.topic, message.partition,
                                    message.offset)
                log.warning("dead-lettered %s:%d:%d: %s: %s", message.topic, message.partition,
                            message.offset, result.reason, result.detail)
                await dlq_topic.send(key=message.key, value=message.value,
                                     partition=message.partition, headers=letter.headers())
                counts["dead_lettered"] += 1
                try:
                    limiter.record()
                except DlqLimitExceeded as exc:
                    log.critical("%s", exc)
                    await app.crash(exc)  # type: ignore[arg-type]
                    return
                continue
            record = enrich(result, time.time_ns() // 1000, policy)
            await enriched_topic.send(key=message.key, value=codec.encode(record),
                                      partition=message.partition)
            counts["enriched"] += 1

    @app.timer(interval=10.0)  # type: ignore[untyped-decorator]
    async def report() -> None:
        log.info("enriched %(enriched)d, dead-lettered %(dead_lettered)d", counts)

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
