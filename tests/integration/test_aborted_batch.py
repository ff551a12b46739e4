"""A transaction that fails at its first message is aborted and its whole batch chained again: every partition the
batch held is rewound, not only those the sequencer had reached. The broker-outage drill lost 1,444 events when a
produce failed in an erroneous state after the broker came back: the partitions after the failing message were
never rewound, and the next transactions committed offsets past them. Here the first chained produce of a batch
spanning several partitions fails once, as that one did; everything else is the real client and broker."""

from __future__ import annotations

from typing import Any

import pytest
from audit_layer_processors.chain_state import Signer
from audit_layer_processors.policy import load_policy
from audit_layer_processors.sequencer import Sequencer, SequencerConfig
from audit_layer_processors.signing import load_signer
from audit_layer_samples.factories import make_event
from audit_layer_schemas import Topics
from audit_layer_schemas.partition import partition_for
from audit_layer_sdk import AuditConfig, AuditPublisher
from confluent_kafka import KafkaError, KafkaException, Message, Producer

from tests.conftest import PARTITIONS, SIGNING_KEY, _ensure_key, run_until_chained

pytestmark = pytest.mark.integration
EVENTS = 240
TENANTS = [f"tenant-{i}" for i in range(4)]


class FailsOnceArmed(Producer):
    """The real producer, except that once armed its next produce to `topic` fails as librdkafka's did."""

    def __init__(self, config: dict[str, Any], topic: str) -> None:
        super().__init__(config)
        self.topic, self.armed, self.failed = topic, False, False

    def produce(self, topic: str, *args: Any, **kwargs: Any) -> None:
        if self.armed and topic == self.topic:
            self.armed, self.failed = False, True
            raise KafkaException(KafkaError(KafkaError._STATE, "Unable to produce message: Local: Erroneous state",
                                            txn_requires_abort=True))
        super().produce(topic, *args, **kwargs)


class FailsInItsFirstWideBatch(Sequencer):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.failed_batch_partitions: set[int] = set()
        super().__init__(*args, **kwargs)

    def _new_producer(self) -> Producer:
        return FailsOnceArmed(self._producer_settings(), self.config.topics.chained)

    def _process(self, messages: list[Message]) -> None:
        partitions = {m.partition() or 0 for m in messages if m.error() is None}
        producer = self._producer
        assert isinstance(producer, FailsOnceArmed)
        if not producer.failed and len(partitions) > 1:
            producer.armed = True
            self.failed_batch_partitions = partitions
        super()._process(messages)


def test_a_batch_aborted_at_its_first_message_is_chained_again_on_every_partition(kafka_bootstrap: str,
                                                                                   topics: Topics) -> None:
    assert len({partition_for(t.encode(), PARTITIONS) for t in TENANTS}) > 1, "the tenants must span partitions"
    _ensure_key()
    key = load_signer(SIGNING_KEY)
    config = SequencerConfig(kafka_bootstrap, topics, group_id=f"{topics.prefix}sequencer", enrich=load_policy(None))
    sequencer = FailsInItsFirstWideBatch(config, Signer(key.key_id, key.sign, "audit-layer.test", key.sign_note))
    publisher = AuditPublisher(AuditConfig(bootstrap_servers=kafka_bootstrap, topic=topics.events))
    for i in range(EVENTS):
        publisher.publish(make_event(TENANTS[i % len(TENANTS)]))
    assert publisher.flush(30) == 0
    # a duplicate would be chained after the last one: a second more to see it
    failure = run_until_chained(sequencer, EVENTS, timeout=60, settle=1.0)
    assert not failure, failure
    producer = sequencer._producer
    assert isinstance(producer, FailsOnceArmed) and producer.failed, "no batch spanning partitions failed"
    assert len(sequencer.failed_batch_partitions) > 1
    assert sequencer.counts["chained"] == EVENTS, sequencer.counts
