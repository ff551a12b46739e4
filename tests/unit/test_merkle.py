"""RFC 6962 Merkle trees against the Certificate Transparency reference vectors, and round trips."""

import pytest
from audit_layer_schemas.merkle import (
    EMPTY_ROOT,
    Frontier,
    consistency_proof,
    inclusion_proof,
    leaf_hash,
    root,
    verify_consistency,
    verify_inclusion,
)

# the reference inputs and tree heads of RFC 6962's reference implementation tests
CT_INPUTS = [bytes.fromhex(h) for h in
             ["", "00", "10", "2021", "3031", "40414243", "5051525354555657", "606162636465666768696a6b6c6d6e6f"]]
CT_ROOTS = [
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
]
CT_LEAVES = [leaf_hash(x) for x in CT_INPUTS]


def test_reference_roots_for_every_size() -> None:
    assert root([]) == EMPTY_ROOT
    for n in range(9):
        assert root(CT_LEAVES[:n]).hex() == CT_ROOTS[n], n


def test_reference_inclusion_proof() -> None:
    expected = ["96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
                "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"]
    assert [p.hex() for p in inclusion_proof(0, CT_LEAVES)] == expected


def test_frontier_root_equals_tree_root() -> None:
    frontier = Frontier()
    leaves = [leaf_hash(bytes([i, i * 3 % 256])) for i in range(130)]
    for n, leaf in enumerate(leaves, start=1):
        frontier = frontier.append(leaf)
        assert frontier.size == n and frontier.root() == root(leaves[:n])
        assert len(frontier.nodes) == bin(n).count("1")


@pytest.mark.parametrize("size", [1, 2, 3, 5, 8, 13, 33])
def test_every_inclusion_proof_verifies_and_tampering_fails(size: int) -> None:
    leaves = [leaf_hash(bytes([i])) for i in range(size)]
    head = root(leaves)
    for i in range(size):
        path = inclusion_proof(i, leaves)
        assert verify_inclusion(i, size, leaves[i], path, head)
        assert not verify_inclusion(i, size, leaf_hash(b"forged"), path, head)
        if path:
            assert not verify_inclusion(i, size, leaves[i], [*path[:-1], b"\x00" * 32], head)
        assert not verify_inclusion(size, size, leaves[i], path, head)  # index outside the tree


def test_consistency_between_every_pair_of_sizes() -> None:
    leaves = [leaf_hash(bytes([i])) for i in range(24)]
    for second in range(1, 25):
        for first in range(0, second + 1):
            path = consistency_proof(first, leaves[:second])
            r1, r2 = root(leaves[:first]), root(leaves[:second])
            assert verify_consistency(first, second, r1, r2, path), (first, second)
            if 0 < first < second:
                assert not verify_consistency(first, second, r1, root([*leaves[:second - 1], b"x" * 32]), path)
                assert not verify_consistency(first, second, leaf_hash(b"fork"), r2, path)
