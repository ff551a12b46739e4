"""A tenant's Merkle subtree roots from ClickHouse: small subtrees from the stored link hashes,
large ones from `merkle_nodes`, computed and kept the first time a proof needs them."""

from __future__ import annotations

from audit_layer_schemas.merkle import leaf_hash, node_hash
from audit_layer_store.store import ClickHouseStore

# subtrees smaller than this are computed from the links, read a block at a time; larger ones are kept
BLOCK = 1024
_LINK = 255  # the level prefetch's query gives a link row


class DamagedLog(RuntimeError):
    """Stored links are missing where a complete subtree should be."""


class StoredSubtrees:
    """`SubtreeRoots` of one tenant over ClickHouse. Call `save()` to keep what was computed."""

    def __init__(self, store: ClickHouseStore, tenant: str) -> None:
        self.store = store
        self.tenant = tenant
        self._nodes: dict[tuple[int, int], bytes | None] | None = None
        self._new: list[list[object]] = []
        self._blocks: dict[int, list[bytes]] = {}
        self.leaf_reads = 0

    def _stored(self) -> dict[tuple[int, int], bytes | None]:
        if self._nodes is None:
            self._nodes = {}
        return self._nodes

    def _node(self, level: int, idx: int) -> bytes | None:
        nodes = self._stored()
        if (level, idx) not in nodes:
            found = self.store.query(
                f"SELECT hash FROM {self.store.database}.merkle_nodes WHERE tenant_id = {{t:String}} "
                "AND level = {l:UInt8} AND idx = {i:UInt64} LIMIT 1",
                parameters={"t": self.tenant, "l": level, "i": idx}).result_rows
            nodes[(level, idx)] = bytes(found[0][0]) if found else None
        return nodes[(level, idx)]

    def prefetch(self, calls: list[tuple[int, int]]) -> bool:
        """Read, in one query, every stored node and link block that these `perfect` calls need.
        False when a node they need is not stored (the index is behind: `extend` catches it up)."""
        keys = sorted({(size.bit_length() - 1, start // size) for start, size in calls if size >= BLOCK})
        firsts = sorted({start - start % BLOCK for start, size in calls if size < BLOCK} - set(self._blocks))
        db = self.store.database
        parts, parameters = [], {"t": self.tenant, "k": keys}
        if keys:
            parts.append(f"SELECT level, idx, hash FROM {db}.merkle_nodes WHERE tenant_id = {{t:String}} "
                         "AND (level, idx) IN {k:Array(Tuple(UInt8, UInt64))}")
        if firsts:
            ranges = " OR ".join(f"seq BETWEEN {f + 1} AND {f + BLOCK}" for f in firsts)
            # level 255 marks a link (no stored node has it): both reads in one round trip
            parts.append(f"SELECT toUInt8(255) AS level, seq AS idx, hash FROM {db}.events "
                         f"WHERE tenant_id = {{t:String}} AND ({ranges})")
        if not parts:
            return True
        rows = self.store.query(" UNION ALL ".join(parts), parameters=parameters).result_rows
        nodes = self._stored()
        nodes.update({key: None for key in keys})
        nodes.update({(int(level), int(idx)): bytes(h) for level, idx, h in rows if level != _LINK})
        links = _distinct(self.tenant, sorted((int(idx), bytes(h)) for level, idx, h in rows if level == _LINK))
        for first in firsts:
            block = [(seq, h) for seq, h in links if first < seq <= first + BLOCK]
            if [seq for seq, _ in block] != list(range(first + 1, first + 1 + len(block))):
                raise DamagedLog(f"tenant {self.tenant}: stored links from seq {first + 1} are not contiguous; "
                                 "the log is damaged; run `audit-layer verify`")
            self._blocks[first] = [leaf_hash(h) for _, h in block]
            self.leaf_reads += len(block)
        return all(nodes[key] is not None for key in keys)

    def _leaves(self, start: int, size: int) -> list[bytes]:
        """Leaf hashes [start, start + size) within one aligned block (read once, up to BLOCK)."""
        first = start - start % BLOCK
        block = self._blocks.get(first)
        if block is None or len(block) < start - first + size:
            rows = _distinct(self.tenant, self.store.query(
                f"SELECT seq, hash FROM {self.store.database}.events WHERE tenant_id = {{t:String}} "
                "AND seq BETWEEN {a:UInt64} AND {b:UInt64} ORDER BY seq",
                parameters={"t": self.tenant, "a": first + 1, "b": first + BLOCK}).result_rows)
            block = [leaf_hash(bytes(h)) for _, h in rows]
            if [int(seq) for seq, _ in rows] != list(range(first + 1, first + 1 + len(rows))):
                raise DamagedLog(f"tenant {self.tenant}: stored links from seq {first + 1} are not contiguous; "
                                 "the log is damaged; run `audit-layer verify`")
            self._blocks[first] = block
            self.leaf_reads += len(block)
        if len(block) < start - first + size:
            raise DamagedLog(f"tenant {self.tenant} has links to seq {first + len(block)}, a proof needs seq "
                             f"{start + size}: the log is damaged; run `audit-layer verify`")
        return block[start - first:start - first + size]

    def perfect(self, start: int, size: int) -> bytes:
        if size < BLOCK:
            return _tree(self._leaves(start, size))
        level = size.bit_length() - 1
        key = (level, start // size)
        found = self._node(*key)
        if found is None:
            half = size // 2
            found = node_hash(self.perfect(start, half), self.perfect(start + half, half))
            self._keep(level, key[1], found)
        return found

    def extend(self, size: int) -> int:
        """Store the roots of every complete block (and the subtrees above) in the first `size`
        leaves that are not stored yet, reading the new links in one stream. Returns how many."""
        level = BLOCK.bit_length() - 1
        [(count, top)] = self.store.query(
            f"SELECT count(), max(idx) FROM {self.store.database}.merkle_nodes WHERE tenant_id = {{t:String}} "
            "AND level = {l:UInt8}", parameters={"t": self.tenant, "l": level}).result_rows
        have = int(top) + 1 if count else 0
        full = size // BLOCK
        if have >= full:
            return 0
        first_seq, expected = have * BLOCK + 1, have * BLOCK + 1
        block: list[bytes] = []
        idx = have
        sql = (f"SELECT seq, hash FROM {self.store.database}.events WHERE tenant_id = {{t:String}} "
               "AND seq BETWEEN {a:UInt64} AND {b:UInt64} ORDER BY seq")
        with self.store.locked() as client, client.query_row_block_stream(
                sql, parameters={"t": self.tenant, "a": first_seq, "b": full * BLOCK}) as stream:
            last: tuple[int, bytes] | None = None
            for rows in stream:
                for seq, digest in rows:
                    if last is not None and last == (seq, bytes(digest)):
                        continue  # a not yet merged twin of a re-inserted row (ReplacingMergeTree)
                    last = (seq, bytes(digest))
                    if seq != expected:
                        raise DamagedLog(f"tenant {self.tenant}: expected seq {expected}, found {seq}; "
                                         "the log is damaged; run `audit-layer verify`")
                    expected += 1
                    block.append(leaf_hash(bytes(digest)))
                    if len(block) == BLOCK:
                        self._keep(level, idx, _tree(block))
                        idx, block = idx + 1, []
        if idx != full:
            raise DamagedLog(f"tenant {self.tenant} has links only to seq {expected - 1}, fewer than {size}")
        lower_first, lower_end = have, full
        while lower_end // 2 > lower_first // 2:  # the parents of the new nodes, level by level
            parent_level = level + 1
            first, end = lower_first // 2, lower_end // 2
            for i in range(first, end):
                if self._node(parent_level, i) is None:
                    left, right = self._node(level, 2 * i), self._node(level, 2 * i + 1)
                    if left is None or right is None:
                        raise DamagedLog(f"tenant {self.tenant}: merkle node ({level}, {2 * i}) is missing")
                    self._keep(parent_level, i, node_hash(left, right))
            level, lower_first, lower_end = parent_level, first, end
        return self.save()

    def _keep(self, level: int, idx: int, digest: bytes) -> None:
        self._stored()[(level, idx)] = digest
        self._new.append([self.tenant, level, idx, digest])

    def save(self) -> int:
        """Keep the subtree roots computed since the last save; returns how many."""
        count = len(self._new)
        if self._new:
            self.store.insert("merkle_nodes", self._new, ["tenant_id", "level", "idx", "hash"])
            self._new = []
        return count


def _distinct(tenant: str, rows: list[tuple[int, bytes]]) -> list[tuple[int, bytes]]:
    """Rows without FINAL may hold not yet merged twins of a re-inserted row: drop exact twins;
    two different hashes for one seq is a damaged log."""
    out: list[tuple[int, bytes]] = []
    for seq, digest in rows:
        if out and out[-1][0] == seq:
            if bytes(out[-1][1]) != bytes(digest):
                raise DamagedLog(f"tenant {tenant} stores two different links at seq {seq}: run `audit-layer verify`")
            continue
        out.append((seq, digest))
    return out


def _tree(leaves: list[bytes]) -> bytes:
    while len(leaves) > 1:
        leaves = [node_hash(leaves[i], leaves[i + 1]) for i in range(0, len(leaves), 2)]
    return leaves[0]


__all__ = ["BLOCK", "DamagedLog", "StoredSubtrees"]
