"""Rebuilding chain heads on assignment, never from the heads topic alone (pure; the sequencer reads Kafka).

A tenant's head goes to audit.chain-heads only in the transactions that sign one of its checkpoints, which
keeps that topic a small fraction of the log (BENCHMARKS.md, "chain heads"). The links chained since are in
audit.events.chained, committed in the same transactions as everything else, so a restore takes the last
head of each tenant and replays the partition's chained tail over it. The same replay refills the
duplicate window with the event ids it reads, so no event ids are stored twice.

audit.chain-heads is compacted, and anyone with write access to Kafka can append to it: an older head, or a
tombstone, would make the sequencer restart a tenant's chain at an old seq (or at genesis) and hand out seqs
that are already stored. So a head must agree with the rest of the evidence:
- a head is written with every checkpoint, so it knows the tenant's newest signed checkpoint; one that does
  not is a rolled-back head, and a tenant with a signed checkpoint but no head lost its head;
- replayed links continue the head: its own seq carries its hash, the next seq its hash as prev_hash;
- the newest chained link of a tenant is never below its head (a head from elsewhere).
A tenant whose replayed links start above its head + 1 is a gap: the caller reads further back and replays
again, and a gap at the start of the topic is a problem.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from audit_layer_schemas.chain import GENESIS_HASH
from audit_layer_schemas.merkle import Frontier, leaf_hash

from audit_layer_processors.chain_state import DedupPolicy, Head


@dataclass(frozen=True)
class Seen:
    """The newest (seq, hash) of a tenant among its signed checkpoints."""

    seq: int
    hash: bytes


@dataclass(frozen=True)
class ChainedLink:
    """What the restore needs of one chained event, in partition order."""

    tenant: str
    seq: int
    prev_hash: bytes
    hash: bytes
    event_id: str


@dataclass(frozen=True)
class Restored:
    heads: dict[str, Head]
    problems: list[str] = field(default_factory=list)
    # tenants whose replayed links begin above their head + 1: the replay must start further back
    gaps: list[str] = field(default_factory=list)


@dataclass
class _Replay:
    head: Head | None
    seq: int
    hash: bytes
    frontier: Frontier
    recent: dict[str, None]
    newest_seen: int = 0
    broken: bool = False


def _start(head: Head | None) -> _Replay:
    if head is None:
        return _Replay(None, 0, GENESIS_HASH, Frontier(), {})
    return _Replay(head, head.seq, head.hash, Frontier(head.seq, head.frontier),
                   dict.fromkeys(head.recent_event_ids))


def restore_heads(heads: Mapping[str, Head], links: Iterable[ChainedLink], checkpoints: Mapping[str, Seen],
                  dedup: DedupPolicy, now_us: int) -> Restored:
    """The heads to resume from: each tenant's head advanced over the replayed links, or why not. A tenant
    never signed counts its checkpoint interval from `now_us`."""
    problems: list[str] = []
    gaps: list[str] = []
    replays = {tenant: _start(head) for tenant, head in heads.items()}
    for link in links:
        replay = replays.get(link.tenant)
        if replay is None:
            replay = replays[link.tenant] = _start(None)
        if replay.broken:
            continue
        replay.newest_seen = max(replay.newest_seen, link.seq)
        replay.recent[link.event_id] = None
        if len(replay.recent) > dedup.window:
            del replay.recent[next(iter(replay.recent))]
        if link.seq < replay.seq:
            continue
        if link.seq == replay.seq:
            if replay.seq > 0 and link.hash != replay.hash:
                problems.append(f"tenant {link.tenant}: the head's hash at seq {link.seq} is not the chained event's")
                replay.broken = True
            continue
        if link.seq > replay.seq + 1:
            gaps.append(link.tenant)
            replay.broken = True
            continue
        if link.prev_hash != replay.hash:
            problems.append(f"tenant {link.tenant}: the chained event at seq {link.seq} does not continue the "
                            f"chain at seq {replay.seq}")
            replay.broken = True
            continue
        replay.seq, replay.hash = link.seq, link.hash
        replay.frontier = replay.frontier.append(leaf_hash(link.hash))
    for tenant, replay in sorted(replays.items()):
        head = replay.head
        if head is not None and 0 < replay.newest_seen < head.seq:
            problems.append(f"tenant {tenant}: the head claims seq {head.seq} but the newest chained event is seq "
                            f"{replay.newest_seen} (a head from elsewhere)")
    for tenant, signed in sorted(checkpoints.items()):
        head = heads.get(tenant)
        if head is None:
            problems.append(f"tenant {tenant}: no chain head (deleted, or a tombstone) although its checkpoint at "
                            f"seq {signed.seq} is signed: resuming would restart its chain at seq 1")
        elif head.last_checkpoint_seq < signed.seq:
            problems.append(f"tenant {tenant}: the head knows checkpoints up to seq {head.last_checkpoint_seq} but "
                            f"seq {signed.seq} is signed (a rolled-back head): resuming would hand out stored "
                            "seqs again")
        elif head.seq == signed.seq and head.hash != signed.hash:
            problems.append(f"tenant {tenant}: the head's hash at seq {head.seq} is not the signed one")
    restored = {}
    for tenant, replay in replays.items():
        base = replay.head or Head.genesis()
        restored[tenant] = Head(replay.seq, replay.hash, tuple(replay.recent), replay.frontier.nodes,
                                base.last_checkpoint_seq, base.last_checkpoint_at_us or now_us)
    return Restored(restored, problems, sorted(set(gaps)))
