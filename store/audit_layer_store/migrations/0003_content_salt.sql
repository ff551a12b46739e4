-- The per-record salt of the content digests; erased together with prompt and response.
ALTER TABLE {db}.events ADD COLUMN IF NOT EXISTS content_salt Nullable(String) AFTER sdk_version
