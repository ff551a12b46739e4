"""Dead-lettering of bad input, bounded so a bad deploy stops instead of dead-lettering everything."""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass


class DlqLimitExceeded(RuntimeError):
    """Too much input is going to the DLQ: the worker stops so a human looks."""


@dataclass(frozen=True)
class DlqPolicy:
    """At most `max_messages` dead letters in any `window_seconds`; past that the worker stops."""

    max_messages: int = 1000
    window_seconds: float = 60.0


@dataclass(frozen=True)
class DeadLetter:
    reason: str
    detail: str
    topic: str
    partition: int
    offset: int

    def headers(self) -> list[tuple[str, bytes]]:
        return [
            ("dlq.reason", self.reason.encode()),
            ("dlq.detail", self.detail[:2000].encode("utf-8", "replace")),
            ("dlq.source", f"{self.topic}:{self.partition}:{self.offset}".encode()),
            ("dlq.at_us", str(time.time_ns() // 1000).encode()),
        ]


class DlqLimiter:
    def __init__(self, policy: DlqPolicy, clock: Callable[[], float] | None = None) -> None:
        self.policy = policy
        self._clock = clock or time.monotonic
        self._times: deque[float] = deque()

    def record(self) -> None:
        """Count one dead letter; raises DlqLimitExceeded when the policy's limit is passed."""
        now = self._clock()
        self._times.append(now)
        while self._times and now - self._times[0] > self.policy.window_seconds:
            self._times.popleft()
        if len(self._times) > self.policy.max_messages:
            raise DlqLimitExceeded(
                f"more than {self.policy.max_messages} messages dead-lettered within "
                f"{self.policy.window_seconds:g}s; stopping. Inspect the DLQ topic, fix the producer, "
                "then restart (raise --dlq-max to accept more)"
            )
