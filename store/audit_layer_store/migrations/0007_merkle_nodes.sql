-- Roots of perfect Merkle subtrees of each tenant's tree (1,024 leaves and up), kept on first use
-- so an inclusion or consistency proof reads O(log n) of them instead of every leaf. The chain is
-- append-only, so a complete subtree never changes; a wrong stored node only makes a proof that
-- fails against the signed root, and `verify` recomputes everything from the links.
CREATE TABLE IF NOT EXISTS {db}.merkle_nodes
(
    tenant_id LowCardinality(String),
    level     UInt8,
    idx       UInt64,
    hash      FixedString(32) CODEC(NONE)
)
ENGINE = ReplacingMergeTree
ORDER BY (tenant_id, level, idx)
