-- event_ids (0006) was sorted by the event id alone, so ReplacingMergeTree merged away one of two
-- tenants that sent the same id (ids come from clients): a lookup by id then missed a stored event.
-- Its replacement keeps every (id, tenant, seq); a lookup names the tenant whenever it knows it.
CREATE TABLE IF NOT EXISTS {db}.event_keys
(
    event_id  UUID,
    tenant_id LowCardinality(String),
    seq       UInt64
)
ENGINE = ReplacingMergeTree
ORDER BY (event_id, tenant_id, seq);

CREATE MATERIALIZED VIEW IF NOT EXISTS {db}.event_keys_mv TO {db}.event_keys AS
SELECT event_id, tenant_id, seq FROM {db}.events;

-- every stored event, also those the view saw already: equal keys collapse in the merges
INSERT INTO {db}.event_keys
SELECT event_id, tenant_id, seq FROM {db}.events;

DROP VIEW IF EXISTS {db}.event_ids_mv;

DROP TABLE IF EXISTS {db}.event_ids
