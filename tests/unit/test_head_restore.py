"""Heads are rebuilt from the last written head and the chained links since, and a head the rest of the
evidence contradicts stops the restore (pure)."""

from __future__ import annotations

import uuid

from audit_layer_processors.chain_state import DedupPolicy, Head
from audit_layer_processors.head_restore import ChainedLink, Seen, restore_heads
from audit_layer_schemas.chain import GENESIS_HASH
from audit_layer_schemas.merkle import Frontier, leaf_hash

NOW = 1_800_000_000_000_000
DEDUP = DedupPolicy(window=1000)


def _chain(tenant: str, count: int) -> list[ChainedLink]:
    links, prev = [], GENESIS_HASH
    for seq in range(1, count + 1):
        digest = uuid.uuid5(uuid.NAMESPACE_OID, f"{tenant}/{seq}").bytes * 2
        links.append(ChainedLink(tenant, seq, prev, digest, f"{tenant}-event-{seq}"))
        prev = digest
    return links


def _head(links: list[ChainedLink], seq: int, checkpoint: int | None = None) -> Head:
    frontier = Frontier()
    for link in links[:seq]:
        frontier = frontier.append(leaf_hash(link.hash))
    return Head(seq, links[seq - 1].hash, (), frontier.nodes, seq if checkpoint is None else checkpoint, NOW - 5)


def _signed(links: list[ChainedLink], seq: int) -> Seen:
    return Seen(seq, links[seq - 1].hash)


def test_the_links_since_the_head_are_replayed_over_it() -> None:
    chain = _chain("a", 250)
    restored = restore_heads({"a": _head(chain, 100)}, chain[50:], {"a": _signed(chain, 100)}, DEDUP, NOW)
    assert restored.problems == [] and restored.gaps == []
    head = restored.heads["a"]
    assert (head.seq, head.hash) == (250, chain[-1].hash)
    assert head.frontier == _head(chain, 250).frontier  # the Merkle frontier advanced link by link
    assert head.last_checkpoint_seq == 100 and head.last_checkpoint_at_us == NOW - 5
    # the duplicate window is every event id the replay read, newest last
    assert head.recent_event_ids == tuple(link.event_id for link in chain[50:])


def test_a_tenant_without_a_head_starts_at_genesis_and_its_checkpoint_clock_starts_now() -> None:
    chain = _chain("new", 10)
    restored = restore_heads({}, chain, {}, DEDUP, NOW)
    head = restored.heads["new"]
    assert restored.problems == [] and head.seq == 10 and head.last_checkpoint_at_us == NOW


def test_the_duplicate_window_keeps_the_newest_ids() -> None:
    chain = _chain("a", 30)
    restored = restore_heads({}, chain, {}, DedupPolicy(window=5), NOW)
    assert restored.heads["a"].recent_event_ids == tuple(f"a-event-{s}" for s in range(26, 31))


def test_links_that_start_above_the_head_are_a_gap_to_read_further_back() -> None:
    chain = _chain("a", 300)
    restored = restore_heads({"a": _head(chain, 100)}, chain[200:], {}, DEDUP, NOW)
    assert restored.gaps == ["a"] and restored.problems == []
    assert restore_heads({}, chain[1:], {}, DEDUP, NOW).gaps == ["a"]


def test_a_rolled_back_head_stops() -> None:
    chain = _chain("a", 200)
    [problem] = restore_heads({"a": _head(chain, 50)}, chain[150:], {"a": _signed(chain, 100)}, DEDUP, NOW).problems
    assert "rolled-back head" in problem and "seq 100 is signed" in problem


def test_a_deleted_head_stops() -> None:
    chain = _chain("a", 100)
    [problem] = restore_heads({}, chain, {"a": _signed(chain, 100)}, DEDUP, NOW).problems
    assert "no chain head" in problem


def test_a_head_from_elsewhere_stops() -> None:
    chain, other = _chain("a", 100), _chain("b", 120)
    forged = Head(120, other[119].hash, (), (), 120, NOW)
    problems = restore_heads({"a": forged}, chain, {}, DEDUP, NOW).problems
    assert any("claims seq 120" in p for p in problems)
    wrong_hash = Head(100, other[99].hash, (), (), 100, NOW)
    assert "not the chained event's" in restore_heads({"a": wrong_hash}, chain, {}, DEDUP, NOW).problems[0]
    assert "not the signed one" in restore_heads({"a": wrong_hash}, [], {"a": _signed(chain, 100)}, DEDUP,
                                                 NOW).problems[0]


def test_a_link_that_does_not_continue_the_head_stops() -> None:
    chain, other = _chain("a", 100), _chain("a2", 100)
    spliced = [*chain[:60], ChainedLink("a", 61, other[59].hash, other[60].hash, "x")]
    [problem] = restore_heads({"a": _head(chain, 60)}, spliced, {}, DEDUP, NOW).problems
    assert "does not continue" in problem and "seq 61" in problem
