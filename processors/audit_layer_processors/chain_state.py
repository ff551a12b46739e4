"""Per-tenant chain heads and the linking of a batch of events (pure; no Kafka here).

A ChainBatch works on a copy of the heads: the worker applies `staged` to its state only
after the Kafka transaction that carries the batch has committed.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from audit_layer_schemas.chain import GENESIS_HASH, LinkEncoder


@dataclass(frozen=True)
class Head:
    seq: int
    hash: bytes
    recent_event_ids: tuple[str, ...] = ()

    @classmethod
    def genesis(cls) -> Head:
        return cls(0, GENESIS_HASH)


@dataclass(frozen=True)
class DedupPolicy:
    """How many recent event ids per tenant are remembered to drop redelivered duplicates."""

    window: int = 2000


@dataclass
class _Working:
    seq: int
    hash: bytes
    recent: dict[str, None] = field(default_factory=dict)


@dataclass(frozen=True)
class Link:
    tenant_id: str
    seq: int
    prev_hash: bytes
    hash: bytes


class ChainBatch:
    def __init__(self, heads: Mapping[str, Head], encoder: LinkEncoder, dedup: DedupPolicy) -> None:
        self._heads = heads
        self._encoder = encoder
        self._dedup = dedup
        self._working: dict[str, _Working] = {}
        self.duplicates = 0

    def _work(self, tenant: str) -> _Working:
        working = self._working.get(tenant)
        if working is None:
            head = self._heads.get(tenant) or Head.genesis()
            working = _Working(head.seq, head.hash, dict.fromkeys(head.recent_event_ids))
            self._working[tenant] = working
        return working

    def link(self, enriched: dict[str, Any]) -> Link | None:
        """The next link of the event's tenant chain, or None when the event id was seen recently."""
        event = enriched["event"]
        tenant, event_id = event["tenant_id"], event["event_id"]
        working = self._work(tenant)
        if event_id in working.recent:
            self.duplicates += 1
            return None
        seq = working.seq + 1
        digest = self._encoder.link_hash(working.hash, enriched, seq)
        link = Link(tenant, seq, working.hash, digest)
        working.seq, working.hash = seq, digest
        working.recent[event_id] = None
        if len(working.recent) > self._dedup.window:
            del working.recent[next(iter(working.recent))]
        return link

    def staged(self) -> dict[str, Head]:
        return {t: Head(w.seq, w.hash, tuple(w.recent)) for t, w in self._working.items()}


def latest_heads(heads: Iterable[tuple[str, Head]]) -> dict[str, Head]:
    """The newest head per tenant from a replay of the heads topic (highest seq wins)."""
    result: dict[str, Head] = {}
    for tenant, head in heads:
        current = result.get(tenant)
        if current is None or head.seq >= current.seq:
            result[tenant] = head
    return result
