-- Analytics: codecs, skipping indexes, retention with legal hold, and daily aggregates.

-- Codecs: keys and clocks grow in small steps, so store the deltas; hashes are random bytes,
-- which no codec shrinks, so do not spend CPU on them.
ALTER TABLE {db}.events MODIFY COLUMN seq UInt64 CODEC(Delta, ZSTD(1));
ALTER TABLE {db}.events MODIFY COLUMN timestamp DateTime64(6, 'UTC') CODEC(Delta, ZSTD(1));
ALTER TABLE {db}.events MODIFY COLUMN ingested_at DateTime64(6, 'UTC') CODEC(Delta, ZSTD(1));
ALTER TABLE {db}.events MODIFY COLUMN kafka_offset UInt64 CODEC(Delta, ZSTD(1));
ALTER TABLE {db}.events MODIFY COLUMN prev_hash FixedString(32) CODEC(NONE);
ALTER TABLE {db}.events MODIFY COLUMN hash FixedString(32) CODEC(NONE);

-- Skipping indexes for the filters that do not follow the sort key (tenant_id, seq):
-- a decision by id, a data subject's or session's history, and time ranges inside a month.
ALTER TABLE {db}.events ADD INDEX IF NOT EXISTS idx_event_id event_id TYPE bloom_filter(0.001) GRANULARITY 1;
ALTER TABLE {db}.events ADD INDEX IF NOT EXISTS idx_user_id user_id TYPE bloom_filter(0.01) GRANULARITY 2;
ALTER TABLE {db}.events ADD INDEX IF NOT EXISTS idx_session_id session_id TYPE bloom_filter(0.01) GRANULARITY 2;
ALTER TABLE {db}.events ADD INDEX IF NOT EXISTS idx_timestamp timestamp TYPE minmax GRANULARITY 1;
ALTER TABLE {db}.events ADD INDEX IF NOT EXISTS idx_risk_level risk_level TYPE set(8) GRANULARITY 2;
ALTER TABLE {db}.events MATERIALIZE INDEX idx_event_id;
ALTER TABLE {db}.events MATERIALIZE INDEX idx_user_id;
ALTER TABLE {db}.events MATERIALIZE INDEX idx_session_id;
ALTER TABLE {db}.events MATERIALIZE INDEX idx_timestamp;
ALTER TABLE {db}.events MATERIALIZE INDEX idx_risk_level;

-- Retention: the days of the row's retention class (set by the sink from the RETENTION-* tag the
-- enrichment policy gave it; 180 days, the EU AI Act's six-month minimum for deployers' logs,
-- when it has none). A legal hold keeps the row whatever its age. Expired data leaves by whole
-- parts only (ttl_only_drop_parts): no row-by-row rewrites of an audit table.
ALTER TABLE {db}.events ADD COLUMN IF NOT EXISTS retention_days UInt16 DEFAULT 180 AFTER policy_version;
ALTER TABLE {db}.events ADD COLUMN IF NOT EXISTS legal_hold UInt8 DEFAULT 0 AFTER retention_days;
ALTER TABLE {db}.events MODIFY SETTING ttl_only_drop_parts = 1;
ALTER TABLE {db}.events MODIFY TTL if(legal_hold = 1, toDateTime('2106-01-01 00:00:00', 'UTC'), toDateTime(timestamp) + toIntervalDay(retention_days));

-- Legal holds, set and lifted by `audit-layer hold`; the newest row of a hold_id is its state.
CREATE TABLE IF NOT EXISTS {db}.legal_holds
(
    hold_id    String,
    tenant_id  LowCardinality(String),
    user_id    Nullable(String),
    session_id Nullable(String),
    reason     String,
    set_by     String,
    set_at     DateTime64(3, 'UTC'),
    lifted_by  Nullable(String),
    lifted_at  Nullable(DateTime64(3, 'UTC')),
    version    UInt64
)
ENGINE = ReplacingMergeTree(version)
ORDER BY (tenant_id, hold_id);

-- Daily aggregates per tenant, decision type, model, action and risk level: the compliance
-- summary reads these, not the raw rows, so it takes the same time for a day or for years.
CREATE TABLE IF NOT EXISTS {db}.events_daily
(
    tenant_id        LowCardinality(String),
    day              Date,
    decision_type    LowCardinality(String),
    provider         LowCardinality(String),
    model            LowCardinality(String),
    action           Enum8('ALLOW' = 1, 'REJECT' = 2, 'FAIL_RETRY' = 3),
    risk_level       Enum8('LOW' = 1, 'MEDIUM' = 2, 'HIGH' = 3, 'CRITICAL' = 4),
    events           SimpleAggregateFunction(sum, UInt64),
    refusals         SimpleAggregateFunction(sum, UInt64),
    content_filtered SimpleAggregateFunction(sum, UInt64),
    pii_events       SimpleAggregateFunction(sum, UInt64),
    unreviewed_high  SimpleAggregateFunction(sum, UInt64),
    input_tokens     SimpleAggregateFunction(sum, Int64),
    output_tokens    SimpleAggregateFunction(sum, Int64),
    latency_ms       AggregateFunction(quantilesTDigest(0.5, 0.9, 0.99), Nullable(Float64))
)
ENGINE = AggregatingMergeTree
PARTITION BY toYYYYMM(day)
ORDER BY (tenant_id, day, decision_type, provider, model, action, risk_level);

CREATE MATERIALIZED VIEW IF NOT EXISTS {db}.events_daily_mv TO {db}.events_daily AS
SELECT
    tenant_id,
    toDate(timestamp) AS day,
    ifNull(decision_type, '') AS decision_type,
    ifNull(provider, '') AS provider,
    ifNull(model, '') AS model,
    action,
    risk_level,
    count() AS events,
    countIf(has(reason_codes, 'refusal')) AS refusals,
    countIf(has(reason_codes, 'content_filter')) AS content_filtered,
    countIf(notEmpty(pii_found)) AS pii_events,
    countIf(risk_level >= 'HIGH' AND NOT mapContains(metadata, 'human_reviewed_by')) AS unreviewed_high,
    sum(ifNull(input_tokens, 0)) AS input_tokens,
    sum(ifNull(output_tokens, 0)) AS output_tokens,
    quantilesTDigestState(0.5, 0.9, 0.99)(duration_ms) AS latency_ms
FROM {db}.events
GROUP BY tenant_id, day, decision_type, provider, model, action, risk_level;

-- Compliance tags per tenant and day (an event has several, so they get their own table).
CREATE TABLE IF NOT EXISTS {db}.events_daily_tags
(
    tenant_id LowCardinality(String),
    day       Date,
    tag       LowCardinality(String),
    events    SimpleAggregateFunction(sum, UInt64)
)
ENGINE = AggregatingMergeTree
PARTITION BY toYYYYMM(day)
ORDER BY (tenant_id, day, tag);

CREATE MATERIALIZED VIEW IF NOT EXISTS {db}.events_daily_tags_mv TO {db}.events_daily_tags AS
SELECT tenant_id, toDate(timestamp) AS day, tag, count() AS events
FROM {db}.events
ARRAY JOIN compliance_tags AS tag
GROUP BY tenant_id, day, tag;

-- Backfill the aggregates from rows stored before this migration, once (a re-run finds them
-- filled). Migrations run before the sink consumes, so no row arrives in between.
INSERT INTO {db}.events_daily
SELECT tenant_id, toDate(timestamp), ifNull(decision_type, ''), ifNull(provider, ''), ifNull(model, ''), action,
       risk_level, count(), countIf(has(reason_codes, 'refusal')), countIf(has(reason_codes, 'content_filter')),
       countIf(notEmpty(pii_found)), countIf(risk_level >= 'HIGH' AND NOT mapContains(metadata, 'human_reviewed_by')),
       sum(ifNull(input_tokens, 0)), sum(ifNull(output_tokens, 0)), quantilesTDigestState(0.5, 0.9, 0.99)(duration_ms)
FROM {db}.events FINAL
WHERE (SELECT count() FROM {db}.events_daily) = 0
GROUP BY tenant_id, toDate(timestamp), ifNull(decision_type, ''), ifNull(provider, ''), ifNull(model, ''), action, risk_level;

INSERT INTO {db}.events_daily_tags
SELECT tenant_id, toDate(timestamp), tag, count()
FROM {db}.events FINAL
ARRAY JOIN compliance_tags AS tag
WHERE (SELECT count() FROM {db}.events_daily_tags) = 0
GROUP BY tenant_id, toDate(timestamp), tag;

-- Verification runs, so a report can state the chain's status without recomputing it.
CREATE TABLE IF NOT EXISTS {db}.verifications
(
    tenant_id             LowCardinality(String),
    verified_at           DateTime64(3, 'UTC'),
    ok                    UInt8,
    links                 UInt64,
    last_seq              UInt64,
    head_hash             FixedString(32),
    checkpoints_verified  UInt64,
    finding               Nullable(String)
)
ENGINE = MergeTree
ORDER BY (tenant_id, verified_at)
