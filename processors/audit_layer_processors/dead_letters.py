"""The dead-letter topic for the on-call engineer: list what it holds and why, show one message, and
replay chosen ones to the topic they came from once the cause is fixed.

Reading is a plain assigned consumer from the start of each partition to its end (no group, no
committed offsets: looking never changes anything). A replay produces the original key and bytes to
the source topic named in the `dlq.source` header, with `dlq.replayed_from` naming the dead letter;
the sequencer drops an event id it has already chained, so replaying twice makes one record. What
cannot be fixed by a replay (a message that fails the same check) is dead-lettered again, with its
reason.
"""

from __future__ import annotations

import base64
import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass, field

from audit_layer_schemas.kafka_clients import partition_count, producer_settings, reader_settings
from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, KafkaException, Producer, TopicPartition

REPLAYED_FROM = "dlq.replayed_from"


class DeadLetterError(ValueError):
    pass


@dataclass(frozen=True)
class Ref:
    """A message of the dead-letter topic: `PARTITION:OFFSET`."""

    partition: int
    offset: int

    @classmethod
    def parse(cls, text: str) -> Ref:
        parts = text.split(":")
        if len(parts) != 2 or not all(p.isdigit() for p in parts):
            raise DeadLetterError(f"{text!r} is not PARTITION:OFFSET (as `audit-layer dlq list` shows them)")
        return cls(int(parts[0]), int(parts[1]))

    def __str__(self) -> str:
        return f"{self.partition}:{self.offset}"


@dataclass(frozen=True)
class DeadLetterMessage:
    ref: Ref
    key: bytes | None
    value: bytes | None
    headers: dict[str, str] = field(default_factory=dict)

    @property
    def reason(self) -> str:
        return self.headers.get("dlq.reason", "(no reason header)")

    @property
    def detail(self) -> str:
        return self.headers.get("dlq.detail", "")

    @property
    def source(self) -> tuple[str, int, int] | None:
        """(topic, partition, offset) the message was read from before it was dead-lettered."""
        parts = self.headers.get("dlq.source", "").rsplit(":", 2)
        if len(parts) != 3 or not parts[0] or not parts[1].isdigit() or not parts[2].isdigit():
            return None
        return parts[0], int(parts[1]), int(parts[2])

    @property
    def dead_lettered_at(self) -> str:
        at = self.headers.get("dlq.at_us", "")
        if not at.isdigit():
            return "-"
        return dt.datetime.fromtimestamp(int(at) / 1e6, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")

    def as_dict(self, *, payload: bool = False) -> dict[str, object]:
        out: dict[str, object] = {
            "ref": str(self.ref), "reason": self.reason, "detail": self.detail,
            "source": None if self.source is None else "{}:{}:{}".format(*self.source),
            "dead_lettered_at": self.dead_lettered_at, "bytes": len(self.value or b""),
            "key": None if self.key is None else self.key.decode("utf-8", "replace"),
            "replayed_from": self.headers.get(REPLAYED_FROM)}
        if payload:
            out["value_base64"] = None if self.value is None else base64.b64encode(self.value).decode()
        return out


def read(bootstrap_servers: str, topic: str, *, timeout: float = 10.0) -> Iterator[DeadLetterMessage]:
    """Every message of the dead-letter topic, partition by partition, oldest first."""
    consumer = Consumer(reader_settings(bootstrap_servers, "audit-layer-dlq-reader", **{"enable.partition.eof": True}))
    try:
        partitions = partition_count(consumer, topic, timeout)
        ends = {}
        for p in range(partitions):
            low, high = consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=timeout)
            if high > low:
                ends[p] = high
        if not ends:
            return
        consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in ends])
        done: set[int] = set()
        while len(done) < len(ends):
            message = consumer.poll(timeout)
            if message is None:
                raise DeadLetterError(f"no answer from Kafka within {timeout:g} s while reading {topic}")
            partition, offset, error = message.partition() or 0, message.offset() or 0, message.error()
            if error is not None:
                if error.code() == KafkaError._PARTITION_EOF:
                    done.add(partition)
                    continue
                raise KafkaException(error)
            raw = message.headers()
            pairs = list(raw.items()) if isinstance(raw, dict) else raw or []
            yield DeadLetterMessage(Ref(partition, offset), message.key(), message.value(),
                                    {k: (v.encode() if isinstance(v, str) else v or b"").decode("utf-8", "replace")
                                     for k, v in pairs})
            if offset + 1 >= ends[partition]:
                done.add(partition)
    finally:
        consumer.close()


def replay(bootstrap_servers: str, letters: list[DeadLetterMessage], default_topic: str,
           timeout: float = 30.0) -> list[tuple[Ref, str]]:
    """Produces each letter's key and bytes to its source topic; returns (ref, topic) of each, after every
    one was acknowledged (acks=all), or raises."""
    producer = Producer(producer_settings(bootstrap_servers))
    failures: list[str] = []
    sent = []

    def delivered(err: object, _msg: object) -> None:
        if err is not None:
            failures.append(str(err))

    for letter in letters:
        if letter.value is None:
            raise DeadLetterError(f"{letter.ref} has no bytes to replay")
        source = letter.source
        topic = source[0] if source else default_topic
        producer.produce(topic, key=letter.key, value=letter.value, on_delivery=delivered,
                         headers=[(REPLAYED_FROM, str(letter.ref).encode())])
        sent.append((letter.ref, topic))
    left = producer.flush(timeout)
    if left or failures:
        raise DeadLetterError(f"Kafka did not acknowledge {left or len(failures)} replayed message(s): "
                              f"{'; '.join(failures[:3]) or 'timed out'}; replay them again (the sequencer drops "
                              "an event it already chained)")
    return sent
