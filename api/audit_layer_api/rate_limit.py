"""Per-key rate limits: a token bucket per API key (pure; the clock is passed in).

A key may burst up to BURST_SECONDS worth of its rate, then is held to the rate. A refused request
learns how long to wait (`Retry-After`), rounded up to whole seconds as HTTP wants.
"""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass

BURST_SECONDS = 2.0


@dataclass(frozen=True)
class RateDecision:
    allowed: bool
    retry_after_s: int = 0


class RateLimiter:
    def __init__(self, burst_seconds: float = BURST_SECONDS) -> None:
        self.burst_seconds = burst_seconds
        self._buckets: dict[str, tuple[float, float]] = {}  # key id -> (tokens, at)
        self._lock = threading.Lock()

    def take(self, key_id: str, rate_per_s: float, now: float, cost: float = 1.0) -> RateDecision:
        capacity = max(rate_per_s * self.burst_seconds, cost)
        with self._lock:
            tokens, at = self._buckets.get(key_id, (capacity, now))
            tokens = min(capacity, tokens + (now - at) * rate_per_s)
            if tokens >= cost:
                self._buckets[key_id] = (tokens - cost, now)
                return RateDecision(True)
            self._buckets[key_id] = (tokens, now)
        return RateDecision(False, max(1, math.ceil((cost - tokens) / rate_per_s)))

    def blocked(self, key_id: str, rate_per_s: float, now: float) -> RateDecision:
        """Whether `take` would refuse, without taking anything."""
        capacity = max(rate_per_s * self.burst_seconds, 1.0)
        with self._lock:
            tokens, at = self._buckets.get(key_id, (capacity, now))
        tokens = min(capacity, tokens + (now - at) * rate_per_s)
        if tokens >= 1.0:
            return RateDecision(True)
        return RateDecision(False, max(1, math.ceil((1.0 - tokens) / rate_per_s)))
