"""RFC 6962 / RFC 9162 Merkle trees over a tenant's chain: roots, inclusion and consistency proofs.

Leaves are the chain's link hashes: leaf hash = SHA-256(0x00 || link hash), node hash =
SHA-256(0x01 || left || right). `Frontier` keeps only the roots of the perfect subtrees, so
the sequencer computes the root of an ever-growing tree in O(log n) memory.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

EMPTY_ROOT = hashlib.sha256(b"").digest()


def leaf_hash(data: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def _split(n: int) -> int:
    """The largest power of two smaller than n (n > 1)."""
    return 1 << ((n - 1).bit_length() - 1)


class SubtreeRoots(Protocol):
    """Roots of perfect subtrees: `perfect(start, size)` is MTH(leaves[start:start+size]) for a
    power-of-two `size` and a `start` that is a multiple of it. A source may compute them from the
    leaves or read them from storage; the proofs below ask only for O(log n) of them."""

    def perfect(self, start: int, size: int) -> bytes: ...


class LeafList:
    """Subtree roots computed from the leaves in memory."""

    def __init__(self, leaves: Sequence[bytes]) -> None:
        self.leaves = leaves

    def perfect(self, start: int, size: int) -> bytes:
        if size == 1:
            return self.leaves[start]
        half = size // 2
        return node_hash(self.perfect(start, half), self.perfect(start + half, half))


class _Recorder:
    """A source that records which subtree roots a proof asks for (to fetch them in one go)."""

    def __init__(self) -> None:
        self.calls: list[tuple[int, int]] = []

    def perfect(self, start: int, size: int) -> bytes:
        self.calls.append((start, size))
        return EMPTY_ROOT


def inclusion_needs(index: int, size: int) -> list[tuple[int, int]]:
    """The (start, size) perfect subtrees `inclusion_path(index, size, ...)` reads."""
    recorder = _Recorder()
    inclusion_path(index, size, recorder)
    return recorder.calls


def range_root(source: SubtreeRoots, start: int, n: int) -> bytes:
    """MTH of leaves[start:start+n] where `start` is aligned as RFC 6962's splits leave it."""
    if n == 0:
        return EMPTY_ROOT
    if n & (n - 1) == 0:
        return source.perfect(start, n)
    k = _split(n)
    return node_hash(source.perfect(start, k), range_root(source, start + k, n - k))


def root(leaves: Sequence[bytes]) -> bytes:
    """MTH over leaf hashes."""
    return range_root(LeafList(leaves), 0, len(leaves))


def inclusion_path(index: int, size: int, source: SubtreeRoots) -> list[bytes]:
    """The audit path of leaf `index` (0-based) in the tree of the first `size` leaves."""
    if not 0 <= index < size:
        raise ValueError(f"leaf {index} is not in a tree of {size}")
    path: list[bytes] = []
    start, n = 0, size
    while n > 1:
        k = _split(n)
        if index - start < k:
            path.append(range_root(source, start + k, n - k))
            n = k
        else:
            path.append(source.perfect(start, k))
            start, n = start + k, n - k
    return path[::-1]  # RFC 6962 lists the path from the leaf up


def inclusion_proof(index: int, leaves: Sequence[bytes]) -> list[bytes]:
    """The audit path of leaf `index` (0-based) in the tree of `leaves`."""
    return inclusion_path(index, len(leaves), LeafList(leaves))


def verify_inclusion(index: int, size: int, leaf: bytes, path: Sequence[bytes], expected_root: bytes) -> bool:
    if not 0 <= index < size:
        return False
    fn, sn, r = index, size - 1, leaf
    for p in path:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            if not fn & 1:
                while not fn & 1 and fn != 0:
                    fn >>= 1
                    sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    return sn == 0 and r == expected_root


def consistency_path(first: int, size: int, source: SubtreeRoots) -> list[bytes]:
    """Proof that the tree of the first `first` leaves is a prefix of the tree of `size` leaves."""
    if not 0 <= first <= size:
        raise ValueError(f"size {first} is not within a tree of {size}")
    if first in (0, size):
        return []
    path: list[bytes] = []
    start, n, m, complete = 0, size, first, True
    while m != n:
        k = _split(n)
        if m <= k:
            path.append(range_root(source, start + k, n - k))
            n = k
        else:
            path.append(source.perfect(start, k))
            start, n, m, complete = start + k, n - k, m - k, False
    if not complete:
        path.append(range_root(source, start, n))
    return path[::-1]


def consistency_proof(first: int, leaves: Sequence[bytes]) -> list[bytes]:
    """Proof that the tree of the first `first` leaves is a prefix of the tree of all `leaves`."""
    return consistency_path(first, len(leaves), LeafList(leaves))


def verify_consistency(first: int, second: int, first_root: bytes, second_root: bytes,
                       path: Sequence[bytes]) -> bool:
    if first > second:
        return False
    if first == second:
        return not path and first_root == second_root
    if first == 0:
        return not path
    if not path:
        return False
    proof = list(path)
    if first & (first - 1) == 0:  # an exact power of two: the first tree is a node of the second
        proof.insert(0, first_root)
    fn, sn = first - 1, second - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = proof[0]
    for c in proof[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            if not fn & 1:
                while not fn & 1 and fn != 0:
                    fn >>= 1
                    sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    return sn == 0 and fr == first_root and sr == second_root


@dataclass(frozen=True)
class Frontier:
    """The roots of the perfect subtrees of a tree of `size` leaves, largest (leftmost) first."""

    size: int = 0
    nodes: tuple[bytes, ...] = ()

    def append(self, leaf: bytes) -> Frontier:
        nodes = list(self.nodes)
        size = self.size
        node = leaf
        # each trailing 1 bit of the old size is a full subtree the new leaf completes
        carry = size
        while carry & 1:
            node = node_hash(nodes.pop(), node)
            carry >>= 1
        nodes.append(node)
        return Frontier(size + 1, tuple(nodes))

    def root(self) -> bytes:
        if not self.nodes:
            return EMPTY_ROOT
        r = self.nodes[-1]
        for node in reversed(self.nodes[:-1]):
            r = node_hash(node, r)
        return r


class GrowingFrontier:
    """A `Frontier` grown in place, for a verifier that appends millions of leaves in a row."""

    def __init__(self) -> None:
        self.size = 0
        self.nodes: list[bytes] = []

    def append(self, leaf: bytes) -> None:
        node, carry, nodes = leaf, self.size, self.nodes
        while carry & 1:
            node = node_hash(nodes.pop(), node)
            carry >>= 1
        nodes.append(node)
        self.size += 1

    def root(self) -> bytes:
        return Frontier(self.size, tuple(self.nodes)).root()
