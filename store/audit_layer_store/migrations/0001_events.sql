-- The chained audit events, one row per (tenant_id, seq).
-- ReplacingMergeTree is the backstop for exactly-once: a re-inserted row replaces its twin;
-- insert_deduplication_token (with the dedup window below) is the first line.
CREATE TABLE IF NOT EXISTS {db}.events
(
    tenant_id        LowCardinality(String),
    seq              UInt64,
    event_id         UUID,
    timestamp        DateTime64(6, 'UTC'),
    duration_ms      Nullable(Float64),
    user_id          Nullable(String),
    session_id       Nullable(String),
    trace_id         Nullable(String),
    span_id          Nullable(String),
    provider         LowCardinality(Nullable(String)),
    operation        LowCardinality(Nullable(String)),
    model            LowCardinality(Nullable(String)),
    response_model   LowCardinality(Nullable(String)),
    model_parameters Map(String, String),
    prompt           Nullable(String) CODEC(ZSTD(3)),
    prompt_sha256    Nullable(String),
    response         Nullable(String) CODEC(ZSTD(3)),
    response_sha256  Nullable(String),
    input_tokens     Nullable(Int64),
    output_tokens    Nullable(Int64),
    total_tokens     Nullable(Int64),
    finish_reason    LowCardinality(Nullable(String)),
    action           Enum8('ALLOW' = 1, 'REJECT' = 2, 'FAIL_RETRY' = 3),
    reason_codes     Array(LowCardinality(String)),
    error_type       LowCardinality(Nullable(String)),
    decision_type    LowCardinality(Nullable(String)),
    decision_outcome LowCardinality(Nullable(String)),
    confidence       Nullable(Float64),
    reasoning        Nullable(String) CODEC(ZSTD(3)),
    declared_tags    Array(LowCardinality(String)),
    metadata         Map(String, String),
    sdk_name         LowCardinality(String),
    sdk_version      LowCardinality(String),
    ingested_at      DateTime64(6, 'UTC'),
    risk_level       Enum8('LOW' = 1, 'MEDIUM' = 2, 'HIGH' = 3, 'CRITICAL' = 4),
    risk_reasons     Array(LowCardinality(String)),
    compliance_tags  Array(LowCardinality(String)),
    enricher_version LowCardinality(String),
    prev_hash        FixedString(32),
    hash             FixedString(32),
    link_schema      LowCardinality(String),
    kafka_partition  UInt32,
    kafka_offset     UInt64,
    loaded_at        DateTime64(3, 'UTC') DEFAULT now64(3)
)
ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMM(timestamp)
ORDER BY (tenant_id, seq)
SETTINGS non_replicated_deduplication_window = 10000
