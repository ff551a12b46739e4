"""Proofs from stored subtree roots equal proofs from every leaf, and read O(log n) of them."""

from __future__ import annotations

import random
from typing import Any

import pytest
from audit_layer_ledger import merkle_index
from audit_layer_ledger.merkle_index import DamagedLog, StoredSubtrees
from audit_layer_samples.datasets import chain, load, varied_events
from audit_layer_schemas.merkle import (
    LeafList,
    consistency_path,
    inclusion_path,
    leaf_hash,
    range_root,
    verify_consistency,
    verify_inclusion,
)

pytestmark = pytest.mark.integration


def test_stored_subtrees_give_the_same_proofs_and_are_kept(store: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(merkle_index, "BLOCK", 16)  # many levels of stored nodes from a few hundred links
    chained = chain(varied_events("acme", 300))
    load(store, chained)
    leaves = [leaf_hash(c["hash"]) for c in chained]
    memory = LeafList(leaves)
    rng = random.Random(5)

    cold = StoredSubtrees(store, "acme")
    for size in (1, 2, 16, 17, 100, 256, 257, 300):
        index = rng.randrange(size)
        path = inclusion_path(index, size, cold)
        assert path == inclusion_path(index, size, memory)
        assert verify_inclusion(index, size, leaves[index], path, range_root(memory, 0, size))
    for first, second in ((1, 300), (16, 17), (100, 256), (255, 300), (299, 300)):
        proof = consistency_path(first, second, cold)
        assert proof == consistency_path(first, second, memory)
        assert verify_consistency(first, second, range_root(memory, 0, first), range_root(memory, 0, second), proof)
    assert cold.save() > 0

    warm = StoredSubtrees(store, "acme")
    assert inclusion_path(3, 300, warm) == inclusion_path(3, 300, memory)
    assert warm.leaf_reads <= 2 * 16  # the leaf's own block and the tree's last one, nothing else
    assert warm.save() == 0

    # a wrong stored node yields a proof that fails against the root, never a false "valid"
    store.command(f"ALTER TABLE {store.database}.merkle_nodes UPDATE hash = unhex(repeat('00', 32)) "
                  "WHERE level = 7 SETTINGS mutations_sync = 2")
    doctored = inclusion_path(3, 300, StoredSubtrees(store, "acme"))
    assert not verify_inclusion(3, 300, leaves[3], doctored, range_root(memory, 0, 300))


def test_missing_links_are_reported_not_papered_over(store: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(merkle_index, "BLOCK", 16)
    load(store, chain(varied_events("acme", 40)))
    store.command(f"ALTER TABLE {store.database}.events DELETE WHERE seq = 20 SETTINGS mutations_sync = 2")
    with pytest.raises(DamagedLog, match="not contiguous"):
        inclusion_path(25, 40, StoredSubtrees(store, "acme"))


def test_extend_keeps_every_complete_subtree_in_one_pass(store: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(merkle_index, "BLOCK", 16)
    chained = chain(varied_events("acme", 300))
    load(store, chained)
    memory = LeafList([leaf_hash(c["hash"]) for c in chained])
    index = StoredSubtrees(store, "acme")
    assert index.extend(100) == 6 + 3 + 1  # blocks 0-5, their parents at 32 (3), at 64 (1)
    assert index.extend(100) == 0
    grown = StoredSubtrees(store, "acme")
    assert grown.extend(300) > 0 and grown.extend(300) == 0
    stored = {(lv, i): bytes(h) for lv, i, h in store.query(
        f"SELECT level, idx, hash FROM {store.database}.merkle_nodes FINAL").result_rows}
    assert {lv for lv, _ in stored} == {4, 5, 6, 7, 8}
    for (lv, i), digest in stored.items():
        assert digest == memory.perfect(i << lv, 1 << lv)
    assert len(stored) == 18 + 9 + 4 + 2 + 1
    warm = StoredSubtrees(store, "acme")
    assert inclusion_path(150, 300, warm) == inclusion_path(150, 300, memory) and warm.leaf_reads <= 16 + 12


def test_prefetch_reads_what_a_proof_needs_in_one_query(store: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    from audit_layer_schemas.merkle import inclusion_needs

    monkeypatch.setattr(merkle_index, "BLOCK", 16)
    chained = chain(varied_events("acme", 300))
    load(store, chained)
    memory = LeafList([leaf_hash(c["hash"]) for c in chained])
    # before the index is extended, prefetch says so (build_proof then extends it)
    behind = StoredSubtrees(store, "acme")
    assert behind.prefetch(inclusion_needs(150, 300)) is False
    assert inclusion_path(150, 300, behind) == inclusion_path(150, 300, memory)  # still right, just slower
    StoredSubtrees(store, "acme").extend(300)
    for index in (0, 17, 150, 287, 299):
        source = StoredSubtrees(store, "acme")
        queries = 0
        real_query = store.query

        def counted(*a: Any, _real: Any = real_query, **k: Any) -> Any:
            nonlocal queries
            queries += 1
            return _real(*a, **k)

        monkeypatch.setattr(store, "query", counted)
        assert source.prefetch(inclusion_needs(index, 300)) is True
        assert queries == 1
        monkeypatch.undo()
        monkeypatch.setattr(merkle_index, "BLOCK", 16)
        monkeypatch.setattr(store, "query", lambda *a, **k: pytest.fail("queried after prefetch"))
        assert inclusion_path(index, 300, source) == inclusion_path(index, 300, memory)
        monkeypatch.undo()
        monkeypatch.setattr(merkle_index, "BLOCK", 16)
