-- Signed checkpoints, one row per (tenant_id, last_seq); the statement bytes are rebuilt from the columns.
CREATE TABLE IF NOT EXISTS {db}.checkpoints
(
    tenant_id       LowCardinality(String),
    first_seq       UInt64,
    last_seq        UInt64,
    head_hash       FixedString(32),
    merkle_root     FixedString(32),
    created_at      DateTime64(6, 'UTC'),
    key_id          LowCardinality(String),
    signature       FixedString(64),
    kafka_partition UInt32,
    kafka_offset    UInt64,
    loaded_at       DateTime64(3, 'UTC') DEFAULT now64(3)
)
ENGINE = ReplacingMergeTree
ORDER BY (tenant_id, last_seq)
SETTINGS non_replicated_deduplication_window = 10000
