"""A chain head restored from Kafka is never trusted alone (pure; the sequencer reads the evidence).

audit.chain-heads is a compacted topic anyone with write access to Kafka can append to: an older head
replayed, or a tombstone, would make the sequencer restart a tenant's chain at an old seq (or at genesis)
and hand out seqs that are already stored. A head is written in the same transaction as the chained
events and checkpoints it covers, so both must agree with it: the newest chained event of the tenant in
the partition's tail is the head's seq and hash exactly; the tenant's newest signed checkpoint is at or
below the head and, at the head's seq, has its hash.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from audit_layer_processors.chain_state import Head


@dataclass(frozen=True)
class Seen:
    """The newest (seq, hash) of a tenant in one source: the chained tail, or its signed checkpoints."""

    seq: int
    hash: bytes


def head_problems(heads: Mapping[str, Head], chained_tail: Mapping[str, Seen],
                  checkpoints: Mapping[str, Seen]) -> list[str]:
    """Why the restored heads cannot be resumed from (empty: they can)."""
    problems = []
    for tenant in sorted(set(chained_tail) | set(checkpoints)):
        head = heads.get(tenant)
        tail, signed = chained_tail.get(tenant), checkpoints.get(tenant)
        newest = tail or signed
        assert newest is not None
        if head is None:
            problems.append(f"tenant {tenant}: no chain head (deleted, or a tombstone) although the log holds its "
                            f"seq {newest.seq}: resuming would restart its chain at seq 1")
            continue
        if tail is not None:
            if head.seq < tail.seq:
                problems.append(f"tenant {tenant}: the head is at seq {head.seq} but chained events reach seq "
                                f"{tail.seq} (a rolled-back head): resuming would hand out stored seqs again")
            elif head.seq > tail.seq:
                problems.append(f"tenant {tenant}: the head claims seq {head.seq} but the newest chained event is "
                                f"seq {tail.seq} (a head from elsewhere)")
            elif head.hash != tail.hash:
                problems.append(f"tenant {tenant}: the head's hash at seq {head.seq} is not the chained event's")
        if signed is not None:
            if head.seq < signed.seq:
                problems.append(f"tenant {tenant}: the head is at seq {head.seq} below its signed checkpoint at seq "
                                f"{signed.seq} (a rolled-back head)")
            elif head.seq == signed.seq and head.hash != signed.hash:
                problems.append(f"tenant {tenant}: the head's hash at seq {head.seq} is not the signed one")
            elif head.last_checkpoint_seq < signed.seq:
                problems.append(f"tenant {tenant}: the head does not know the signed checkpoint at seq {signed.seq}")
    return problems
