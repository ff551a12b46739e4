-- The checkpoint as a C2SP signed note (c2sp.org/tlog-checkpoint), signed by the same key as the statement:
-- what witnesses and transparency-log tooling check. Empty for checkpoints signed before notes existed.
ALTER TABLE {db}.checkpoints ADD COLUMN IF NOT EXISTS note String DEFAULT '' AFTER signature;
