"""Waiting out a Kafka outage inside a worker instead of exiting: which errors mean "the broker is away,
try again" and how long to keep trying. A fatal error (a fenced producer, a bad credential) is never
waited out: the worker stops on it."""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TypeVar

from confluent_kafka import KafkaError, KafkaException

T = TypeVar("T")

# what librdkafka reports while a broker or the group/transaction coordinator is away or moving; several of
# these are not flagged retriable on a consumer's commit, though retrying is exactly right for them
_AWAY = frozenset({
    KafkaError._TRANSPORT, KafkaError._TIMED_OUT, KafkaError._ALL_BROKERS_DOWN, KafkaError._WAIT_COORD,
    KafkaError._MSG_TIMED_OUT, KafkaError.REQUEST_TIMED_OUT, KafkaError.NETWORK_EXCEPTION,
    KafkaError.COORDINATOR_NOT_AVAILABLE, KafkaError.NOT_COORDINATOR, KafkaError.COORDINATOR_LOAD_IN_PROGRESS,
    KafkaError.REBALANCE_IN_PROGRESS, KafkaError.NOT_ENOUGH_REPLICAS, KafkaError.LEADER_NOT_AVAILABLE,
    KafkaError.NOT_LEADER_FOR_PARTITION, KafkaError.CONCURRENT_TRANSACTIONS,
    # a partition the client no longer knows while the broker is away (its metadata gone with it): met by the
    # chain heads' restore, which runs on assignment, when the broker stopped just then (the 60 s drill)
    KafkaError._UNKNOWN_PARTITION,
})
# the group moved on without this member: what it was doing for a partition is its next owner's to redo
_LEFT_BEHIND = frozenset({KafkaError.ILLEGAL_GENERATION, KafkaError.UNKNOWN_MEMBER_ID,
                          KafkaError.FENCED_INSTANCE_ID, KafkaError._STATE})


@dataclass(frozen=True)
class OutagePolicy:
    """How long a worker waits for Kafka before it gives up and exits for its supervisor."""

    max_wait_s: float = 1800.0
    first_backoff_s: float = 0.5
    max_backoff_s: float = 5.0
    log_every_s: float = 30.0
    # one librdkafka call blocked this long, far past any timeout we give one (60 s at most), is stuck
    stuck_call_s: float = 180.0
    # adding offsets to a transaction is given 30 s; not back after this long, it is the librdkafka hang, and
    # the sequencer replaces its producer instead of waiting for the guard above
    offsets_deadline_s: float = 60.0


def is_outage(error: KafkaError) -> bool:
    return not error.fatal() and not error.txn_requires_abort() and (error.retriable() or error.code() in _AWAY)


def left_behind(error: KafkaError) -> bool:
    return error.code() in _LEFT_BEHIND


def brokers_listening(bootstrap_servers: str, timeout_s: float = 3.0) -> bool:
    """Whether any of the bootstrap servers accepts a TCP connection: the one sign of Kafka's presence that can
    be read while the worker's own client is blocked inside a call. A list it cannot read counts as listening,
    so that the stuck-call guard keeps its exit rather than wait on a hung call for ever."""
    for server in bootstrap_servers.split(","):
        address = server.strip().split("://")[-1]
        host, colon, port = address.rpartition(":")
        if not colon or "]" in port:  # no port given: librdkafka's default
            host, port = address, "9092"
        if not port.isdigit():
            return True
        try:
            with socket.create_connection((host.strip("[]"), int(port)), timeout=timeout_s):
                return True
        except OSError:
            continue
    return False


class StuckCallGuard:
    """A worker blocked inside one Kafka client call far past the call's own timeout exits, for its supervisor
    to restart it, instead of holding its partitions while doing nothing. librdkafka's
    send_offsets_to_transaction can block past its timeout once the coordinator's broker is back
    (confluentinc/librdkafka#5456, #5511); the broker-outage drill met it. The sequencer gets around that one
    call in-process (`within`, then a new producer); the guard stays for any other call. Exiting keeps every
    guarantee: the open transaction is aborted by the successor, a sink's pending load is recovered from its
    intent.

    While Kafka is away a call may rightly block for the whole outage (a consumer's synchronous commit in
    flight when the broker went waits for its coordinator to come back; the 5-minute broker drill met that), so
    with `reachable` given, a call counts as stuck only once it has been blocked that long with Kafka there."""

    def __init__(self, stuck_after_s: float, log: logging.Logger, clock: Callable[[], float] = time.monotonic,
                 exit: Callable[[int], object] = os._exit, interval_s: float = 5.0,
                 reachable: Callable[[], bool] | None = None) -> None:
        self.stuck_after_s, self.log, self._clock, self._exit = stuck_after_s, log, clock, exit
        self._interval_s, self._reachable = interval_s, reachable
        self._call: tuple[str, float] | None = None
        self._away_at = float("-inf")  # when Kafka was last found away while a call was blocked
        self._thread: threading.Thread | None = None

    @contextlib.contextmanager
    def watching(self, what: str) -> Iterator[None]:
        if self._thread is None:
            self._thread = threading.Thread(target=self._watch, name="stuck-call-guard", daemon=True)
            self._thread.start()
        self._call = (what, self._clock())
        try:
            yield
        finally:
            self._call = None

    def check(self) -> None:
        call = self._call
        if call is None or self._clock() - max(call[1], self._away_at) <= self.stuck_after_s:
            return
        if self._reachable is not None and not self._reachable():
            self._away_at = self._clock()
            self.log.warning("%s: the Kafka client has not returned for %.0f s, and no broker accepts a "
                             "connection: waiting for Kafka, not a hang", call[0], self._clock() - call[1])
            return
        self.log.critical("%s: the Kafka client has not returned for %.0f s, far past the call's timeout (a "
                          "known librdkafka hang); exiting for the supervisor to restart this worker (the "
                          "transaction or load in progress is resumed or aborted by its successor)",
                          call[0], self._clock() - call[1])
        self._exit(3)

    def _watch(self) -> None:
        while True:
            time.sleep(self._interval_s)
            self.check()


class CallAbandoned(Exception):
    """A Kafka client call that had not returned by its deadline; it was left running on its own thread."""


def within(deadline_s: float, what: str, operation: Callable[[], T]) -> T:
    """`operation()` on a thread of its own, abandoned there (CallAbandoned) when it has not returned within
    `deadline_s`: for a call that can hang past its own timeout, when the caller has a way around it."""
    outcome: list[tuple[bool, object]] = []

    def run() -> None:
        try:
            outcome.append((True, operation()))
        except BaseException as exc:  # handed to the caller's thread, where it is raised
            outcome.append((False, exc))

    thread = threading.Thread(target=run, name=f"kafka-call: {what}", daemon=True)
    thread.start()
    thread.join(deadline_s)
    if not outcome:
        raise CallAbandoned(f"{what}: the Kafka client has not returned after {deadline_s:.0f} s, past the call's "
                            "own timeout (a known librdkafka hang)")
    returned, value = outcome[0]
    if not returned:
        raise value  # type: ignore[misc]
    return value  # type: ignore[return-value]


class OutageWait:
    """One call retried through an outage with growing pauses; says so in the log now and then, not per try."""

    def __init__(self, policy: OutagePolicy, log: logging.Logger, stop: threading.Event | None = None,
                 sleep: Callable[[float], object] = time.sleep, clock: Callable[[], float] = time.monotonic,
                 bootstrap_servers: str | None = None) -> None:
        self.policy, self.log, self.stop = policy, log, stop
        self._sleep, self._clock = sleep, clock
        self.guard = StuckCallGuard(policy.stuck_call_s, log, reachable=None if bootstrap_servers is None
                                    else lambda: brokers_listening(bootstrap_servers))

    def call(self, what: str, operation: Callable[[], T]) -> T:
        """`operation()`, again and again while it fails with an outage error; any other error, or an outage
        longer than the policy allows, is raised."""
        started = self._clock()
        backoff, said = self.policy.first_backoff_s, -self.policy.log_every_s
        tries = 0
        while True:
            try:
                with self.guard.watching(what):
                    result = operation()
            except KafkaException as exc:
                error: KafkaError = exc.args[0]
                waited = self._clock() - started
                if not is_outage(error) or waited > self.policy.max_wait_s:
                    raise
                if self.stop is not None and self.stop.is_set():
                    raise
                tries += 1
                if waited - said >= self.policy.log_every_s:
                    said = waited
                    self.log.warning("%s: Kafka unavailable for %.0f s (%s); waiting (gives up after %.0f s)",
                                     what, waited, error.str(), self.policy.max_wait_s)
                self._sleep(backoff)
                backoff = min(backoff * 2, self.policy.max_backoff_s)
                continue
            if tries:
                self.log.info("%s: Kafka answers again after %.1f s", what, self._clock() - started)
            return result


class RateLimitedLog:
    """One line per kind of problem every `every_s`, with how many were not shown: a consumer's errors during
    an outage are many a second."""

    def __init__(self, log: logging.Logger, every_s: float = 30.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.log, self.every_s, self._clock = log, every_s, clock
        self._last: dict[str, tuple[float, int]] = {}

    def warning(self, kind: str, message: str) -> None:
        now = self._clock()
        last, hidden = self._last.get(kind, (-self.every_s - 1, 0))
        if now - last < self.every_s:
            self._last[kind] = (last, hidden + 1)
            return
        self._last[kind] = (now, 0)
        self.log.warning("%s%s", message, f" ({hidden} more like it not shown)" if hidden else "")
