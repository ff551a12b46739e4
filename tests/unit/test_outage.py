"""Waiting out a Kafka outage: retried while the broker is away, raised at once for anything else, given
up after the policy's limit; logged now and then, not once per try."""

from __future__ import annotations

import logging
import time

import pytest
from audit_layer_processors.outage import OutagePolicy, OutageWait, RateLimitedLog, is_outage, left_behind
from audit_layer_schemas.kafka_clients import TopicMissing, partition_count
from confluent_kafka import KafkaError, KafkaException
from confluent_kafka.admin import ClusterMetadata, PartitionMetadata, TopicMetadata


class FakeTime:
    def __init__(self) -> None:
        self.now = 0.0

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def _failing(times: int, code: int, **flags: bool) -> tuple[list[int], object]:
    calls: list[int] = []

    def operation() -> str:
        calls.append(1)
        if len(calls) <= times:
            raise KafkaException(KafkaError(code, "test", **flags))
        return "done"
    return calls, operation


def test_an_outage_is_waited_out_with_growing_pauses(caplog: pytest.LogCaptureFixture) -> None:
    time = FakeTime()
    wait = OutageWait(OutagePolicy(max_wait_s=600, log_every_s=30), logging.getLogger("t"), sleep=time.sleep,
                      clock=time.clock)
    calls, operation = _failing(100, KafkaError._TIMED_OUT)
    with caplog.at_level(logging.INFO):
        assert wait.call("committing", operation) == "done"  # type: ignore[arg-type]
    assert len(calls) == 101
    assert 400 < time.now < 520  # 0.5, 1, 2, 4, then 5 s pauses
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert 10 <= len(warnings) <= 20, len(warnings)
    assert "Kafka answers again" in caplog.records[-1].getMessage()


def test_an_outage_longer_than_the_policy_is_raised() -> None:
    time = FakeTime()
    wait = OutageWait(OutagePolicy(max_wait_s=60), logging.getLogger("t"), sleep=time.sleep, clock=time.clock)
    calls, operation = _failing(10_000, KafkaError._TRANSPORT)
    with pytest.raises(KafkaException):
        wait.call("committing", operation)  # type: ignore[arg-type]
    assert 60 < time.now < 70 and 14 < len(calls) < 25


@pytest.mark.parametrize(("code", "flags"), [
    (KafkaError._FENCED, {"fatal": True}),
    (KafkaError._TIMED_OUT, {"fatal": True}),
    (KafkaError._TIMED_OUT, {"txn_requires_abort": True}),
    (KafkaError.ILLEGAL_GENERATION, {}),
    (KafkaError.TOPIC_AUTHORIZATION_FAILED, {}),
])
def test_anything_but_an_outage_is_raised_at_once(code: int, flags: dict[str, bool]) -> None:
    time = FakeTime()
    wait = OutageWait(OutagePolicy(), logging.getLogger("t"), sleep=time.sleep, clock=time.clock)
    calls, operation = _failing(1, code, **flags)
    with pytest.raises(KafkaException):
        wait.call("committing", operation)  # type: ignore[arg-type]
    assert len(calls) == 1 and time.now == 0


def test_what_counts_as_an_outage_and_as_left_behind() -> None:
    assert is_outage(KafkaError(KafkaError._WAIT_COORD))
    assert is_outage(KafkaError(KafkaError._UNKNOWN_PARTITION))  # metadata gone with the broker (a restore's lookup)
    assert is_outage(KafkaError(KafkaError.UNKNOWN, retriable=True))
    assert not is_outage(KafkaError(KafkaError.UNKNOWN))
    assert left_behind(KafkaError(KafkaError.UNKNOWN_MEMBER_ID))
    assert not left_behind(KafkaError(KafkaError._TIMED_OUT))


def test_a_consumers_errors_are_logged_once_per_period(caplog: pytest.LogCaptureFixture) -> None:
    time = FakeTime()
    limited = RateLimitedLog(logging.getLogger("t"), every_s=30, clock=time.clock)
    with caplog.at_level(logging.WARNING):
        for _ in range(130):  # 13 a second for 10 s
            limited.warning("transport", "consumer: broker down")
            time.sleep(1 / 13)
        time.sleep(25)
        limited.warning("transport", "consumer: broker down")
        limited.warning("other", "consumer: something else")
    lines = [r.getMessage() for r in caplog.records]
    assert lines == ["consumer: broker down", "consumer: broker down (129 more like it not shown)",
                     "consumer: something else"]


def test_a_call_blocked_far_past_its_timeout_makes_the_worker_exit(caplog: pytest.LogCaptureFixture) -> None:
    """The guard against librdkafka's send_offsets_to_transaction hang: exit (for the supervisor) once one call
    has been blocked longer than the policy's stuck_call_s; never while no call is in progress or within it."""
    from audit_layer_processors.outage import StuckCallGuard

    now = [1000.0]
    exits: list[int] = []
    guard = StuckCallGuard(180.0, logging.getLogger("t"), clock=lambda: now[0], exit=exits.append, interval_s=3600)
    guard.check()
    with guard.watching("adding offsets to the transaction"):
        now[0] += 179
        guard.check()
        assert exits == []
        now[0] += 2
        with caplog.at_level(logging.CRITICAL):
            guard.check()
    assert exits == [3]
    assert "adding offsets to the transaction" in caplog.text and "librdkafka" in caplog.text
    now[0] += 1000
    guard.check()  # the call returned: nothing is stuck
    assert exits == [3]


def test_a_call_blocked_while_no_broker_answers_is_the_outage_not_a_hang(caplog: pytest.LogCaptureFixture) -> None:
    """A synchronous commit in flight when the broker went waits for it to come back (the 5-minute broker drill
    met it, 182 s into the outage): the guard counts a call as stuck only for the time Kafka was there."""
    from audit_layer_processors.outage import StuckCallGuard

    now, up = [1000.0], [False]
    exits: list[int] = []
    guard = StuckCallGuard(180.0, logging.getLogger("t"), clock=lambda: now[0], exit=exits.append, interval_s=3600,
                           reachable=lambda: up[0])
    with guard.watching("committing offsets"):
        now[0] += 181
        with caplog.at_level(logging.WARNING):
            guard.check()
        assert exits == [] and "no broker accepts a connection" in caplog.text
        now[0] += 179  # the broker back just after it was last found away: not yet stuck
        up[0] = True
        guard.check()
        assert exits == []
        now[0] += 2  # blocked for 180 s with Kafka there: the hang
        guard.check()
    assert exits == [3]


def test_brokers_listening_is_whether_any_bootstrap_server_accepts_a_connection() -> None:
    import socket

    from audit_layer_processors.outage import brokers_listening

    with socket.create_server(("127.0.0.1", 0)) as server:
        port = server.getsockname()[1]
        assert brokers_listening(f"127.0.0.1:{port}")
        assert brokers_listening(f"127.0.0.1:1, PLAINTEXT://127.0.0.1:{port}")
    assert not brokers_listening(f"127.0.0.1:{port}", timeout_s=1)
    assert not brokers_listening("localhost.invalid", timeout_s=1)  # librdkafka's default port, no such host
    assert brokers_listening("127.0.0.1:not-a-port")  # cannot judge: the guard keeps its exit


def test_a_topic_without_a_leader_is_an_outage_and_an_unknown_one_is_missing() -> None:
    """What the brokers' metadata says of a topic (confluent-kafka's own metadata types): no leader while a
    broker restarts is waited out by the workers' outage wait; a topic they do not know is to be created."""
    class Answering:  # the client: list_topics answers with this metadata
        def __init__(self, error: KafkaError | None, partitions: int) -> None:
            self.metadata = ClusterMetadata()
            topic = TopicMetadata()
            topic.topic, topic.error = "audit.events", error
            topic.partitions = {i: PartitionMetadata() for i in range(partitions)}
            self.metadata.topics = {"audit.events": topic}

        def list_topics(self, topic: str, timeout: float) -> ClusterMetadata:
            return self.metadata

    assert partition_count(Answering(None, 6), "audit.events") == 6
    with pytest.raises(TopicMissing, match="create the topics"):
        partition_count(Answering(KafkaError(KafkaError.UNKNOWN_TOPIC_OR_PART), 0), "audit.events")
    with pytest.raises(TopicMissing):
        partition_count(Answering(None, 0), "audit.events")
    with pytest.raises(KafkaException) as leaderless:
        partition_count(Answering(KafkaError(KafkaError.LEADER_NOT_AVAILABLE), 6), "audit.events")
    assert is_outage(leaderless.value.args[0])


def test_a_call_past_its_deadline_is_abandoned_and_one_within_it_answers() -> None:
    """`within`: the value or the error of a call that returns in time, CallAbandoned for one that does not (it
    is left on its thread)."""
    import threading

    from audit_layer_processors.outage import CallAbandoned, within

    assert within(5.0, "quick", lambda: 42) == 42
    with pytest.raises(KafkaException):
        within(5.0, "refused", lambda: (_ for _ in ()).throw(KafkaException(KafkaError(KafkaError._FENCED))))
    release = threading.Event()
    started = time.monotonic()
    with pytest.raises(CallAbandoned, match=r"adding offsets.*0 s"):
        within(0.2, "adding offsets", release.wait)
    assert time.monotonic() - started < 2
    release.set()
