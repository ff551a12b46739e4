"""librdkafka's send_offsets_to_transaction can hang past its own timeout once the broker is back
(confluentinc/librdkafka#5456, #5511; the broker-outage drill met it). The sequencer then replaces its producer
in-process: the new one fences the hung one, the broker aborts the open transaction, and the batch is chained
again, exactly once. Here the first producer's call hangs on purpose; everything else is the real client and
broker."""

from __future__ import annotations

import threading
import time
from collections import defaultdict
from typing import Any

import pytest
from audit_layer_processors.chain_state import Signer
from audit_layer_processors.outage import OutagePolicy
from audit_layer_processors.policy import load_policy
from audit_layer_processors.sequencer import Sequencer, SequencerConfig
from audit_layer_processors.signing import load_signer
from audit_layer_samples.factories import make_event
from audit_layer_schemas import CHAINED_EVENT, AvroCodec, Topics
from audit_layer_sdk import AuditConfig, AuditPublisher
from confluent_kafka import Consumer, Producer, TopicPartition

from tests.conftest import PARTITIONS, SIGNING_KEY, _ensure_key, run_until_chained

pytestmark = pytest.mark.integration
EVENTS = 240


class HangsOnce(Producer):
    """The real producer, except that its first send_offsets_to_transaction does not return until released."""

    def __init__(self, config: dict[str, Any], entered: threading.Event, release: threading.Event) -> None:
        super().__init__(config)
        self.entered, self.release = entered, release

    def send_offsets_to_transaction(self, *args: Any, **kwargs: Any) -> None:
        if not self.entered.is_set():
            self.entered.set()
            self.release.wait()
            return
        super().send_offsets_to_transaction(*args, **kwargs)


class FirstProducerHangs(Sequencer):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.entered, self.release = threading.Event(), threading.Event()
        self.made = 0
        super().__init__(*args, **kwargs)

    def _new_producer(self) -> Producer:
        self.made += 1
        if self.made > 1:
            return super()._new_producer()
        return HangsOnce(self._producer_settings(), self.entered, self.release)


def _chained(bootstrap: str, topic: str, expected: int) -> list[dict[str, Any]]:
    codec = AvroCodec(CHAINED_EVENT)
    reader = Consumer({"bootstrap.servers": bootstrap, "group.id": f"{topic}-check",
                       "isolation.level": "read_committed", "enable.auto.commit": False})
    reader.assign([TopicPartition(topic, p, 0) for p in range(PARTITIONS)])
    found: list[dict[str, Any]] = []
    deadline = time.monotonic() + 30
    try:
        while time.monotonic() < deadline:
            found.extend(codec.decode(m.value()) for m in reader.consume(500, 0.5)  # type: ignore[arg-type]
                         if m.error() is None)
            if len(found) >= expected:
                time.sleep(1)  # anything past the expected count would be a duplicate: read it too
                found.extend(codec.decode(m.value()) for m in reader.consume(500, 1.0)  # type: ignore[arg-type]
                             if m.error() is None)
                break
    finally:
        reader.close()
    return found


def test_a_hung_offsets_call_is_left_behind_and_the_batch_chained_once(kafka_bootstrap: str,
                                                                        topics: Topics) -> None:
    _ensure_key()
    key = load_signer(SIGNING_KEY)
    config = SequencerConfig(kafka_bootstrap, topics, group_id=f"{topics.prefix}sequencer",
                             outage=OutagePolicy(offsets_deadline_s=8.0), enrich=load_policy(None))
    sequencer = FirstProducerHangs(config, Signer(key.key_id, key.sign, "audit-layer.test", key.sign_note))
    publisher = AuditPublisher(AuditConfig(bootstrap_servers=kafka_bootstrap, topic=topics.events))
    for i in range(EVENTS):
        publisher.publish(make_event(f"tenant-{i % 4}"))
    assert publisher.flush(30) == 0
    # once stopped, the hung call returns; its producer was fenced long ago
    failure = run_until_chained(sequencer, EVENTS, timeout=120, after_stop=sequencer.release.set)
    assert not failure, failure
    assert sequencer.entered.is_set(), "the first offsets call never ran"
    # at least the hung one (a slow machine may take a real call past the short deadline too: replaced alike)
    assert sequencer.counts["producers_replaced"] >= 1 and sequencer.counts["chained"] == EVENTS, sequencer.counts

    records = _chained(kafka_bootstrap, topics.chained, EVENTS)
    ids = [r["event"]["event"]["event_id"] for r in records]
    assert len(ids) == len(set(ids)) == EVENTS  # the hung transaction's events were aborted, not kept
    seqs: dict[str, list[int]] = defaultdict(list)
    for record in records:
        seqs[record["event"]["event"]["tenant_id"]].append(record["seq"])
    assert {t: sorted(s) for t, s in seqs.items()} == {f"tenant-{i}": list(range(1, EVENTS // 4 + 1))
                                                       for i in range(4)}
