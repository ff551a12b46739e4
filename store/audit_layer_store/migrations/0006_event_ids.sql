-- A decision by its id in milliseconds at any size: event id -> (tenant, seq), sorted by id, filled
-- by a materialized view; the row itself is then one primary-key read of events. Ids are not
-- personal data, so they outlive an erasure; a lookup of an expired row finds nothing in events.
CREATE TABLE IF NOT EXISTS {db}.event_ids
(
    event_id  UUID,
    tenant_id LowCardinality(String),
    seq       UInt64
)
ENGINE = ReplacingMergeTree
ORDER BY event_id;

CREATE MATERIALIZED VIEW IF NOT EXISTS {db}.event_ids_mv TO {db}.event_ids AS
SELECT event_id, tenant_id, seq FROM {db}.events;

INSERT INTO {db}.event_ids
SELECT event_id, tenant_id, seq FROM {db}.events
WHERE (SELECT count() FROM {db}.event_ids) = 0
