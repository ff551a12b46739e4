-- API keys of the REST service. Only the SHA-256 of each secret is kept: the secret is 32 random
-- bytes, so a fast hash cannot be reversed by guessing, and checking a key stays a hash and a
-- compare. A revocation is a newer version of the row (revoked_at set); readers use FINAL.
CREATE TABLE IF NOT EXISTS {db}.api_keys
(
    key_id        String,
    tenant_id     LowCardinality(String),
    name          String,
    scopes        Array(LowCardinality(String)),
    secret_sha256 FixedString(32),
    rate_per_s    Float64,
    created_by    String,
    created_at    DateTime64(3, 'UTC'),
    revoked_at    Nullable(DateTime64(3, 'UTC')),
    version       UInt64
)
ENGINE = ReplacingMergeTree(version)
ORDER BY key_id;
