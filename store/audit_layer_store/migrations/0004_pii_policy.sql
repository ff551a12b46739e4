-- What the enrichment policy found and did: personal data kinds, the content action, digests of masked text.
ALTER TABLE {db}.events ADD COLUMN IF NOT EXISTS pii_found Array(LowCardinality(String)) AFTER enricher_version;
ALTER TABLE {db}.events ADD COLUMN IF NOT EXISTS content_action Enum8('KEEP' = 1, 'MASK' = 2, 'DROP' = 3) DEFAULT 'KEEP' AFTER pii_found;
ALTER TABLE {db}.events ADD COLUMN IF NOT EXISTS masked_prompt_sha256 Nullable(String) AFTER content_action;
ALTER TABLE {db}.events ADD COLUMN IF NOT EXISTS masked_response_sha256 Nullable(String) AFTER masked_prompt_sha256;
ALTER TABLE {db}.events ADD COLUMN IF NOT EXISTS policy_version LowCardinality(String) DEFAULT '' AFTER masked_response_sha256
