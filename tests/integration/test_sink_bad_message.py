"""A chained message that is no datum of its schema, behind a header that says it is: the sink stops and names it,
whichever way it loads (the compiled codec's Native block, or ClickHouse reading the Avro); nothing of its batch
is stored and its offsets stay uncommitted, so the message and those beside it are still there to read."""

from __future__ import annotations

import random
import threading
import uuid
from typing import Any

import pytest
from audit_layer_samples.datasets import chain, varied_events
from audit_layer_schemas import CHAINED_EVENT, AvroCodec, Topics
from confluent_kafka import Consumer, Producer, TopicPartition

pytestmark = pytest.mark.integration


def _chained_messages(ids_seed: int) -> list[bytes]:
    """30 chained messages, all their bytes fixed by `ids_seed` (the event ids; times fixed too)."""
    rng = random.Random(ids_seed)
    events = [e.model_copy(update={"event_id": str(uuid.UUID(int=rng.getrandbits(128)))})
              for e in varied_events("acme", 30, start_us=1_790_000_000_000_000)]
    codec = AvroCodec(CHAINED_EVENT)
    return [codec.encode(c) for c in chain(events, ingested_at_us=1_790_000_000_100_000)]


# On the Avro path what the engine makes of a datum cut short depends on the bytes after it: with these ids
# (seed 0) its Avro reader refuses the file; with others (seed 3) it reads on into the next datum and the insert's
# UUID conversion refuses what it read. The second failed the sink with a raw engine error until the staged
# batch's every statement fell back to the Python decode; with random ids it did so in ~12 % of runs.
@pytest.mark.parametrize("native, ids_seed, engine_said", [
    ("on", 0, None),
    ("off", 0, "avro::Exception"),
    ("off", 3, "CANNOT_PARSE_UUID"),
])
def test_a_damaged_chained_message_stops_the_sink_naming_it(
    kafka_bootstrap: str, topics: Topics, store: Any, native: str, ids_seed: int, engine_said: str | None,
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture,
) -> None:
    monkeypatch.setenv("AUDIT_LAYER_AVRO_NATIVE", native)
    from audit_layer_sinks.sink import ClickHouseSink, SinkConfig, SinkStopped

    messages = _chained_messages(ids_seed)
    messages[17] = messages[17][:-6]  # the header of the current schema, a datum cut short
    producer = Producer({"bootstrap.servers": kafka_bootstrap})
    for message in messages:
        producer.produce(topics.chained, message, key=b"acme", partition=0)
    assert producer.flush(30) == 0

    sink = ClickHouseSink(SinkConfig(kafka_bootstrap, topics, group_id=f"{topics.prefix}sink"), store)
    assert (sink._avro.load.native_layout is not None) == (native == "on")
    failures: list[BaseException] = []

    def run() -> None:
        try:
            sink.run()
        except BaseException as exc:  # the test reads what stopped the sink
            failures.append(exc)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(60)
    assert not thread.is_alive(), "the sink kept running past a message it cannot read"
    sink.stop()
    assert len(failures) == 1 and isinstance(failures[0], SinkStopped)
    assert f"undecodable message at {topics.chained}:0:17" in str(failures[0])
    assert store.query(f"SELECT count() FROM {store.database}.events").result_rows == [(0,)]
    if engine_said is None:
        assert "staging the batch failed (message at 0:17: length beyond the datum)" in caplog.text
    else:
        assert "the engine refused the staged batch" in caplog.text and engine_said in caplog.text
    consumer = Consumer({"bootstrap.servers": kafka_bootstrap, "group.id": f"{topics.prefix}sink"})
    try:
        committed = consumer.committed([TopicPartition(topics.chained, 0)], timeout=10)[0]
        assert committed.offset == 0 and committed.metadata == "pending:29"  # the intent, not the load
    finally:
        consumer.close()
