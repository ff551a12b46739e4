"""The enricher's one step, shared by both runtimes: a raw message in, the message to produce out
(the enriched event on its tenant's partition, or the original bytes to audit.dlq with the reason).

The tenant's partition is the one Kafka's canonical partitioner (murmur2 of tenant_id, as the Java
client) gives on the enriched topic, whatever partition the event came in on: a producer we do not
control (librdkafka's default partitioner, no key, another language) must not split a tenant across
partitions, or two sequencers would each build a chain for it.

Pure apart from the clock: no Kafka here, so the step is tested without a broker and the two
runtimes (enricher_batch.py, enricher_faust.py) and the sequencer that enriches in its own
transaction (`audit-layer sequencer --enrich`) cannot drift apart.
"""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from audit_layer_schemas import Topics
from audit_layer_schemas.chain import LinkEncoder
from audit_layer_schemas.partition import partition_for

from audit_layer_processors.dlq import DeadLetter, DlqLimiter, DlqPolicy
from audit_layer_processors.enrichment import enrich
from audit_layer_processors.policy import Policy
from audit_layer_processors.validation import EventValidator, Rejection

log = logging.getLogger("audit_layer.enricher")


@dataclass(frozen=True)
class Outgoing:
    topic: str
    key: bytes | None
    value: bytes | None
    partition: int
    headers: list[tuple[str, str | bytes | None]] | None = None


@dataclass(frozen=True)
class Enriched:
    """An event enriched: its EnrichedEvent record, that record's message bytes and link body (chain.py), and
    the partition of its tenant's chain."""

    record: dict[str, Any]
    key: bytes
    value: bytes
    link_body: bytes | None  # None: the step was made without link bodies (EnrichStep.link_bodies)
    partition: int


@dataclass
class EnrichCounts:
    enriched: int = 0
    dead_lettered: int = 0
    reasons: dict[str, int] = field(default_factory=dict)  # dead letters by reason

    def tallies(self) -> dict[str, int]:
        return {"enriched": self.enriched, "dead_lettered": self.dead_lettered}

    def line(self) -> str:
        return f"enriched {self.enriched}, dead-lettered {self.dead_lettered}"


@dataclass
class EnrichStep:
    topics: Topics
    policy: Policy
    enriched_partitions: int  # of the enriched topic: where each tenant's chain is built
    dlq_policy: DlqPolicy = field(default_factory=DlqPolicy)
    clock_us: Callable[[], int] = field(default=lambda: time.time_ns() // 1000)
    # the link body beside the message, in the same pass: for a sequencer that chains what it enriches;
    # an enricher of the two-stage form produces the message only
    link_bodies: bool = True

    def __post_init__(self) -> None:
        self.counts = EnrichCounts()
        self._validator = EventValidator()
        self._links = LinkEncoder()
        self._limiter = DlqLimiter(self.dlq_policy)
        # murmur2 in Python, per event, was 3 % of the sequencer's time; bounded, as tenant ids come from input
        self._home = functools.lru_cache(maxsize=4096)(
            functools.partial(partition_for, partitions=self.enriched_partitions))

    def __call__(self, key: bytes | None, value: bytes | None, topic: str, partition: int,
                 offset: int) -> Outgoing:
        """The message to produce for this input; raises DlqLimitExceeded when dead letters pass
        the policy's limit (the runtime stops: a bad deploy must not dead-letter everything)."""
        done = self.process(key, value, topic, partition, offset)
        if isinstance(done, Outgoing):
            return done
        return Outgoing(self.topics.enriched, done.key, done.value, done.partition)

    def process(self, key: bytes | None, value: bytes | None, topic: str, partition: int,
                offset: int) -> Enriched | Outgoing:
        """The enriched event, or the dead letter (an Outgoing to audit.dlq) for bad input."""
        result = self._validator.validate(key, value)
        if isinstance(result, Rejection):
            log.warning("dead-lettered %s:%d:%d: %s: %s", topic, partition, offset, result.reason, result.detail)
            self._limiter.record()
            self.counts.dead_lettered += 1
            self.counts.reasons[result.reason] = self.counts.reasons.get(result.reason, 0) + 1
            letter = DeadLetter(result.reason, result.detail, topic, partition, offset)
            headers: list[tuple[str, str | bytes | None]] = list(letter.headers())
            return Outgoing(self.topics.dlq, key, value, partition, headers)
        record = enrich(result, self.clock_us(), self.policy)
        self.counts.enriched += 1
        tenant = result.tenant_id.encode("utf-8")
        if self.link_bodies:
            value, link_body = self._links.encode(record)
        else:
            value, link_body = self._links.message(record), None
        return Enriched(record, tenant, value, link_body, self._home(tenant))
