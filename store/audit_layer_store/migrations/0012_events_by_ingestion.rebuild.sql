-- Monthly partitions count from when the pipeline received the record (ingested_at, inside the chain's hash),
-- as retention does, never from the client's own clock: a client sending timestamps spread over decades would
-- otherwise make a partition per month. ClickHouse cannot alter a partition key, so this file is a rebuild
-- (rebuild.py): the table below is filled with every row, swapped in by name, and the old one dropped.
CREATE TABLE IF NOT EXISTS {db}.events_rebuild AS {db}.events
ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMM(ingested_at)
ORDER BY (tenant_id, seq)
TTL if(legal_hold = 1, toDateTime('2106-01-01 00:00:00', 'UTC'), toDateTime(ingested_at) + toIntervalDay(retention_days))
SETTINGS non_replicated_deduplication_window = 10000
