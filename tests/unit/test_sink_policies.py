"""The sink's policies (sink.py): when a batch is loaded, and when a tenant's Merkle index is extended."""

from __future__ import annotations

from audit_layer_ledger.merkle_index import BLOCK
from audit_layer_sinks.sink import BatchPolicy, MerkleIndexPolicy


def test_a_tenant_is_indexed_at_its_first_checkpoint_of_the_run() -> None:
    assert MerkleIndexPolicy().due(None, 1_000, idle=False)


def test_under_load_an_index_waits_for_its_blocks() -> None:
    policy = MerkleIndexPolicy(blocks=8)
    indexed = 3 * BLOCK + 500
    assert not policy.due(indexed, indexed + 1_000, idle=False)
    assert not policy.due(indexed, 11 * BLOCK - 1, idle=False)  # seven complete blocks wait
    assert policy.due(indexed, 11 * BLOCK, idle=False)  # the eighth completes


def test_an_idle_sink_indexes_whatever_waits() -> None:
    assert MerkleIndexPolicy(blocks=8).due(5 * BLOCK, 5 * BLOCK + 1, idle=True)


def test_one_block_a_time_is_the_old_behaviour() -> None:
    policy = MerkleIndexPolicy(blocks=1)
    assert not policy.due(BLOCK, 2 * BLOCK - 1, idle=False)
    assert policy.due(BLOCK, 2 * BLOCK, idle=False)


def test_a_batch_is_due_at_its_rows_or_its_age() -> None:
    policy = BatchPolicy(max_rows=20_000, max_age=0.1)
    assert not policy.due(500, 0.09)
    assert policy.due(500, 0.1)
    assert policy.due(20_000, 0.0)
