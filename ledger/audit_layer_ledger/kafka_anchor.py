"""The `audit.checkpoints` topic as an anchor: every signed checkpoint the sequencers published, up to what
the sink says it has loaded (its committed offsets), so a checkpoint in transit is never a false alarm."""

from __future__ import annotations

import time
import uuid

from audit_layer_schemas import CHECKPOINT, AvroCodec, DecodeError
from audit_layer_schemas.kafka_clients import client_settings
from confluent_kafka import Consumer, KafkaException, TopicPartition

from audit_layer_ledger.anchors import Anchor
from audit_layer_ledger.evidence import StoredCheckpoint


class AnchorUnavailable(RuntimeError):
    pass


def _checkpoint(codec: AvroCodec, value: bytes | None) -> StoredCheckpoint | None:
    try:
        cp = codec.decode(value) if value is not None else None
    except DecodeError:
        return None  # not a checkpoint: proves nothing
    if cp is None:
        return None
    return StoredCheckpoint(cp["tenant_id"], cp["first_seq"], cp["last_seq"], bytes(cp["head_hash"]),
                            bytes(cp["merkle_root"]), cp["created_at_us"], cp["key_id"], bytes(cp["signature"]),
                            cp.get("note", ""))


def read_checkpoint_topic(bootstrap: str, topic: str, sink_group: str = "audit-sink",
                          timeout: float = 10.0, settings: dict[str, str] | None = None) -> Anchor:
    base = {**client_settings(bootstrap), "enable.auto.commit": False, "isolation.level": "read_committed",
            **(settings or {})}
    try:
        # only asks for the sink group's committed offsets: never joins that group
        with_group = Consumer({**base, "group.id": sink_group})
        try:
            metadata = with_group.list_topics(topic, timeout=timeout)
            info = metadata.topics.get(topic)
            if info is None or info.error is not None or not info.partitions:
                raise AnchorUnavailable(f"topic {topic} does not exist on {bootstrap}")
            loaded = with_group.committed([TopicPartition(topic, p) for p in sorted(info.partitions)],
                                          timeout=timeout)
        finally:
            with_group.close()
        reader = Consumer({**base, "group.id": f"audit-verify-{uuid.uuid4().hex[:8]}",
                           "auto.offset.reset": "earliest"})
    except KafkaException as exc:
        raise AnchorUnavailable(f"cannot read {topic} on {bootstrap}: {exc}") from None
    codec = AvroCodec(CHECKPOINT)
    checkpoints = []
    try:
        ends = {tp.partition: tp.offset for tp in loaded if tp.offset > 0}
        if ends:
            reader.assign([TopicPartition(topic, p, 0) for p in ends])
        deadline = time.monotonic() + timeout
        while ends:
            if time.monotonic() > deadline:
                raise AnchorUnavailable(f"{topic}: not read up to the sink's offsets {ends} within {timeout:g}s")
            msg = reader.poll(0.2)
            if msg is not None and msg.error() is None:
                partition, offset = msg.partition(), msg.offset()
                if partition in ends and offset is not None and offset < ends[partition]:
                    cp = _checkpoint(codec, msg.value())
                    if cp is not None:
                        checkpoints.append(cp)
            # transaction markers take offsets but are never delivered: the position tells when a partition is done
            for tp in reader.position([TopicPartition(topic, p) for p in ends]):
                if tp.offset >= ends[tp.partition]:
                    del ends[tp.partition]
    finally:
        reader.close()
    return Anchor(f"kafka {topic} (loaded by {sink_group})", tuple(checkpoints))
