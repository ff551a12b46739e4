"""Per-tenant chain heads and the linking of a batch of events (pure; no Kafka here).

A ChainBatch works on a copy of the heads: the worker applies `staged` to its state only
after the Kafka transaction that carries the batch has committed.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from audit_layer_schemas.chain import GENESIS_HASH, LinkEncoder
from audit_layer_schemas.checkpoint import CheckpointStatement
from audit_layer_schemas.merkle import Frontier, leaf_hash
from audit_layer_schemas.signed_note import checkpoint_body, origin


@dataclass(frozen=True)
class Head:
    seq: int
    hash: bytes
    recent_event_ids: tuple[str, ...] = ()
    frontier: tuple[bytes, ...] = ()
    last_checkpoint_seq: int = 0
    last_checkpoint_at_us: int = 0

    @classmethod
    def genesis(cls) -> Head:
        return cls(0, GENESIS_HASH)


@dataclass(frozen=True)
class DedupPolicy:
    """How many recent event ids per tenant are remembered to drop redelivered duplicates."""

    window: int = 2000


@dataclass(frozen=True)
class CheckpointPolicy:
    """A signed checkpoint per tenant every `every_events` events or `every_seconds` seconds."""

    every_events: int = 1000
    every_seconds: float = 10.0


Sign = Callable[[CheckpointStatement], bytes]


@dataclass(frozen=True)
class Signer:
    key_id: str
    sign: Sign
    # the C2SP signed-note form of each checkpoint (signed_note.py): the prefix of every tenant's log origin,
    # and a function from (origin, note body) to the whole signed note, signed under the origin as key name
    # (as witnesses expect); without them checkpoints carry no note
    log_name: str = ""
    sign_note: Callable[[str, str], str] | None = None


@dataclass
class _Working:
    seq: int
    hash: bytes
    recent: dict[str, None] = field(default_factory=dict)
    frontier: Frontier = field(default_factory=Frontier)
    last_checkpoint_seq: int = 0
    last_checkpoint_at_us: int = 0


@dataclass(frozen=True)
class Link:
    tenant_id: str
    seq: int
    prev_hash: bytes
    hash: bytes


class ChainBatch:
    def __init__(self, heads: Mapping[str, Head], encoder: LinkEncoder, dedup: DedupPolicy,
                 checkpoints: CheckpointPolicy | None = None, signer: Signer | None = None,
                 now_us: int = 0) -> None:
        self._heads = heads
        self._encoder = encoder
        self._dedup = dedup
        self._policy = checkpoints
        self._signer = signer
        self._now_us = now_us
        self._working: dict[str, _Working] = {}
        self.duplicates = 0
        self.checkpoints: list[dict[str, Any]] = []

    def _work(self, tenant: str) -> _Working:
        working = self._working.get(tenant)
        if working is None:
            head = self._heads.get(tenant) or Head.genesis()
            working = _Working(head.seq, head.hash, dict.fromkeys(head.recent_event_ids),
                               Frontier(head.seq, head.frontier), head.last_checkpoint_seq,
                               head.last_checkpoint_at_us or self._now_us)
            self._working[tenant] = working
        return working

    def checkpoint(self, tenant: str) -> dict[str, Any] | None:
        """Sign the tenant's chain as it stands (None when nothing new since the last checkpoint)."""
        working = self._work(tenant)
        if self._signer is None or working.seq <= working.last_checkpoint_seq:
            return None
        statement = CheckpointStatement(tenant, working.last_checkpoint_seq + 1, working.seq, working.hash,
                                        working.frontier.root(), self._now_us, self._signer.key_id)
        record = {"tenant_id": tenant, "first_seq": statement.first_seq, "last_seq": statement.last_seq,
                  "head_hash": statement.head_hash, "merkle_root": statement.merkle_root,
                  "created_at_us": statement.created_at_us, "key_id": statement.key_id,
                  "signature": self._signer.sign(statement), "note": ""}
        if self._signer.sign_note is not None:
            log_origin = origin(self._signer.log_name, tenant)
            record["note"] = self._signer.sign_note(
                log_origin, checkpoint_body(log_origin, statement.last_seq, statement.merkle_root))
        working.last_checkpoint_seq, working.last_checkpoint_at_us = working.seq, self._now_us
        self.checkpoints.append(record)
        return record

    def checkpoint_due_by_time(self, tenants: Iterable[str]) -> None:
        if self._policy is None:
            return
        horizon = self._now_us - int(self._policy.every_seconds * 1_000_000)
        for tenant in tenants:
            # a tenant the batch has not touched is judged by its head: copying its state costs its window
            state: _Working | Head | None = self._working.get(tenant) or self._heads.get(tenant)
            if state is None:
                continue
            signed_at = state.last_checkpoint_at_us or self._now_us
            if state.seq > state.last_checkpoint_seq and signed_at <= horizon:
                self.checkpoint(tenant)

    def touched(self) -> set[str]:
        return set(self._working)

    def link(self, enriched: dict[str, Any], link_body: bytes | None = None) -> Link | None:
        """The next link of the event's tenant chain, or None when the event id was seen recently.
        `link_body`: the record's link body (LinkEncoder.encode), when the caller encoded it already."""
        event = enriched["event"]
        tenant, event_id = event["tenant_id"], event["event_id"]
        working = self._work(tenant)
        if event_id in working.recent:
            self.duplicates += 1
            return None
        seq = working.seq + 1
        digest = self._encoder.link_hash(working.hash, enriched, seq, link_body)
        link = Link(tenant, seq, working.hash, digest)
        working.seq, working.hash = seq, digest
        working.frontier = working.frontier.append(leaf_hash(digest))
        working.recent[event_id] = None
        if len(working.recent) > self._dedup.window:
            del working.recent[next(iter(working.recent))]
        if self._policy is not None and seq - working.last_checkpoint_seq >= self._policy.every_events:
            self.checkpoint(tenant)
        return link

    def staged(self) -> dict[str, Head]:
        return {t: Head(w.seq, w.hash, tuple(w.recent), w.frontier.nodes, w.last_checkpoint_seq,
                        w.last_checkpoint_at_us) for t, w in self._working.items()}


def latest_heads(heads: Iterable[tuple[str, Head]]) -> dict[str, Head]:
    """The newest head per tenant from a replay of the heads topic (highest seq wins)."""
    result: dict[str, Head] = {}
    for tenant, head in heads:
        current = result.get(tenant)
        if current is None or head.seq >= current.seq:
            result[tenant] = head
    return result
